// A linear layer with its HF module name and a hook for adapters (LoRA), weights kept as [in, out].
import * as tf from '@tensorflow/tfjs';
import { bf16MatMul, Bf16Matrix } from '../backend/bf16-weights';
import { canUseLinearNoGrad, linearNoGrad } from '../backend/fast-linear';
import { nativeActivationKind, nativeLinear } from '../backend/native-linear';

/**
 * Something that wraps a linear layer's output, e.g. DeepSpeed-Chat's LinearLayer_LoRA:
 * given the layer input x [n, in] and the base output x·W+b [n, out], return the layer's output [n, out].
 */
export interface LinearAdapter {
  apply(x: tf.Tensor2D, baseOutput: tf.Tensor2D, layer: Linear): tf.Tensor2D;
  /**
   * Variables the adapter adds, by name relative to the layer (e.g. `lora_right_weight`). CausalLM lists them
   * as `<layer name>.<name>` in namedParameters()/trainableParameters(), so optimizers and checkpointing see them.
   */
  parameters?(): Map<string, tf.Variable>;
  /** Frees the adapter's variables; CausalLM.dispose() calls it. */
  dispose?(): void;
}

/** How HF stores this layer's weight: nn.Linear as [out, in], GPT-2's Conv1D as [in, out]. */
export type HfLinearLayout = 'linear' | 'conv1d';

export class Linear {
  /** Consulted on every apply(); set it to hook LoRA in, null to run the plain layer. */
  adapter: LinearAdapter | null = null;
  /** The weight when it is held as frozen bfloat16 outside the tensor heap ([in, out]); then `weight` is unavailable. */
  readonly weight16: Bf16Matrix | null;
  private readonly weight32: tf.Variable | null;

  constructor(
    /** HF module name, e.g. `model.decoder.layers.0.self_attn.q_proj` (the weight is `<name>.weight`). */
    readonly name: string,
    /** [in, out] whatever the HF layout (nn.Linear weights are transposed at load and save); a Bf16Matrix for a frozen bf16 weight. */
    weight: tf.Variable | Bf16Matrix,
    /** [out], or null for bias-free layers. */
    readonly bias: tf.Variable | null,
    readonly hfLayout: HfLinearLayout,
  ) {
    this.weight16 = weight instanceof Bf16Matrix ? weight : null;
    this.weight32 = weight instanceof Bf16Matrix ? null : weight;
  }

  /** [in, out] float32 variable; throws for a frozen bfloat16 weight (see weight16), which has none. */
  get weight(): tf.Variable {
    if (this.weight32 == null) {
      throw new Error(`${this.name}: its weight is frozen bfloat16 outside the tensor heap (--frozen_dtype bf16), so it has no float32 variable`);
    }
    return this.weight32;
  }

  get inFeatures(): number {
    return this.weight16 ? this.weight16.rows : (this.weight.shape[0] as number);
  }

  get outFeatures(): number {
    return this.weight16 ? this.weight16.cols : (this.weight.shape[1] as number);
  }

  /** x [..., in] -> [..., out]. */
  apply(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    const x2 = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D; // [n, in]
    let y: tf.Tensor;
    if (this.weight16) {
      y = bf16MatMul(x2, this.weight16, false, this.bias as tf.Tensor1D | null); // [n, out]: the weight widened as it is packed
    } else if (canUseLinearNoGrad()) {
      y = linearNoGrad(x2, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D | null); // [n, out]: wasm's _FusedMatMul
    } else {
      // Training on wasm with the native kernels: product, bias and its gradients as one op each way.
      const kind = x2.dtype === 'float32' ? nativeActivationKind('linear') : null;
      y = kind != null
        ? nativeLinear(x2, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D | null, kind) // [n, out]
        : tf.fused.matMul({ a: x2, b: this.weight as tf.Tensor2D, bias: this.bias ?? undefined }); // [n, out]
    }
    if (this.adapter) y = this.adapter.apply(x2, y as tf.Tensor2D, this);
    return x.rank === 2 ? y : tf.reshape(y, [...lead, this.outFeatures]); // [..., out]
  }

  /**
   * act(x · W + b) where `act` is the activation HF calls `actName` and `fallback` computes it: one native op each
   * way on wasm (backend/native-linear.ts) when the layer has no adapter, else apply() then fallback.
   */
  applyActivated(x: tf.Tensor, actName: string, fallback: (y: tf.Tensor) => tf.Tensor): tf.Tensor {
    const kind = this.adapter == null && this.weight16 == null && x.dtype === 'float32' ? nativeActivationKind(actName) : null;
    if (kind == null) return fallback(this.apply(x));
    const lead = x.shape.slice(0, -1);
    const x2 = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D; // [n, in]
    const y = nativeLinear(x2, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D | null, kind); // [n, out]
    return x.rank === 2 ? y : tf.reshape(y, [...lead, this.outFeatures]); // [..., out]
  }
}
