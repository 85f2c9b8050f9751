// LayerNorm (OPT, GPT-2) and RMSNorm (LLaMA) over the last axis, with their HF module names.
import * as tf from '@tensorflow/tfjs';
import { canUseFusedLayerNorm, canUseFusedRmsNorm, fusedLayerNorm, fusedRmsNorm } from '../backend/layer-norm';

export class LayerNorm {
  constructor(
    readonly name: string,
    /** [d], or null when elementwise_affine is false. */
    readonly weight: tf.Variable | null,
    readonly bias: tf.Variable | null,
    readonly eps: number,
  ) {}

  apply(x: tf.Tensor): tf.Tensor {
    // On wasm, one kernel replaces ~9 (backend/layer-norm.ts): natively at any size, else for small inputs (decoding).
    if ((this.weight == null) === (this.bias == null) && x.dtype === 'float32' && canUseFusedLayerNorm(x.size)) {
      return fusedLayerNorm(x, this.weight, this.bias, this.eps);
    }
    const mean = tf.mean(x, -1, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.mul(centred, centred), -1, true); // biased, as torch's layer_norm
    let y = tf.mul(centred, tf.rsqrt(tf.add(variance, this.eps)));
    if (this.weight) y = tf.mul(y, this.weight);
    if (this.bias) y = tf.add(y, this.bias);
    return y;
  }
}

/** w * x * rsqrt(mean(x^2) + eps); compute is float32 throughout, as HF upcasts. */
export class RMSNorm {
  constructor(readonly name: string, readonly weight: tf.Variable, readonly eps: number) {}

  apply(x: tf.Tensor): tf.Tensor {
    if (x.dtype === 'float32' && canUseFusedRmsNorm()) return fusedRmsNorm(x, this.weight, this.eps); // backend/layer-norm.ts
    const ms = tf.mean(tf.mul(x, x), -1, true);
    return tf.mul(this.weight, tf.mul(x, tf.rsqrt(tf.add(ms, this.eps))));
  }
}
