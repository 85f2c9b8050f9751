// Token/position embedding table [rows, dim] looked up by integer ids (float32, or frozen bfloat16 outside the heap).
import * as tf from '@tensorflow/tfjs';
import { bf16Gather, Bf16Matrix } from '../backend/bf16-weights';

export class Embedding {
  /** The table when it is held as frozen bfloat16 (then `weight` is unavailable). */
  readonly weight16: Bf16Matrix | null;
  private readonly weight32: tf.Variable | null;

  constructor(readonly name: string, weight: tf.Variable | Bf16Matrix) {
    this.weight16 = weight instanceof Bf16Matrix ? weight : null;
    this.weight32 = weight instanceof Bf16Matrix ? null : weight;
  }

  /** The float32 table; throws for a frozen bfloat16 one (see weight16). */
  get weight(): tf.Variable {
    if (this.weight32 == null) throw new Error(`${this.name}: the table is frozen bfloat16 outside the tensor heap (--frozen_dtype bf16), so it has no float32 variable`);
    return this.weight32;
  }

  get numRows(): number {
    return this.weight16 ? this.weight16.rows : this.weight.shape[0];
  }

  /** ids [...] int32 -> [..., dim]. Its gradient is UnsortedSegmentSum (polyfilled on wasm by core-tensor); a bf16 table has none. */
  apply(ids: tf.Tensor): tf.Tensor {
    return this.weight16 ? bf16Gather(this.weight16, ids) : tf.gather(this.weight, ids);
  }
}
