// Token/position embedding table [rows, dim] looked up by integer ids.
import * as tf from '@tensorflow/tfjs';

export class Embedding {
  constructor(readonly name: string, readonly weight: tf.Variable) {}

  get numRows(): number {
    return this.weight.shape[0];
  }

  /** ids [...] int32 -> [..., dim]. Its gradient is UnsortedSegmentSum (polyfilled on wasm by core-tensor). */
  apply(ids: tf.Tensor): tf.Tensor {
    return tf.gather(this.weight, ids);
  }
}
