// DeepSpeed-Chat's LinearLayer_LoRA as a Linear adapter: y = x·W + b + s·(dropout(x)·R·L), with fuse/unfuse.
import * as tf from '@tensorflow/tfjs';
import type { Linear, LinearAdapter } from '../models/linear';
import { Rng } from '../rng';

/** DeepSpeed-Chat's parameter names; AdamW grouping (train/param-groups.ts) matches on them. */
export const LORA_RIGHT = 'lora_right_weight';
export const LORA_LEFT = 'lora_left_weight';

/** What the adapter reads from its model: the training flag (dropout) and the RNG that seeds dropout masks. */
export interface LoraHost {
  readonly training: boolean;
  readonly rng: Rng;
}

export interface LoraLayerOptions {
  /** r, DeepSpeed-Chat's `--lora_dim` (> 0). */
  loraDim: number;
  /** Multiplied by 1/r to give the branch scale (DeepSpeed-Chat's lora_scaling, default 1). */
  loraScaling?: number;
  /** Dropout rate on the LoRA branch input, training mode only (default 0). */
  loraDropout?: number;
}

/**
 * The half-width of torch's kaiming_uniform_(t, a=√5) for a 2-D tensor: gain·√(3/fan_in) with
 * gain = √(2/(1+a²)), i.e. 1/√fan_in, where torch's fan_in is t.size(1). DeepSpeed-Chat allocates
 * lora_right_weight as [in, r], so its fan_in is r (not `in`, as it would be for PEFT's [r, in] lora_A).
 */
export function kaimingUniformBound(fanIn: number, a = Math.sqrt(5)): number {
  const gain = Math.sqrt(2 / (1 + a * a));
  return Math.sqrt(3) * (gain / Math.sqrt(fanIn));
}

/** [rows, cols] drawn as torch.nn.init.kaiming_uniform_(a=√5) would shape them (fan_in = cols), from `rng`. */
export function kaimingUniform(rows: number, cols: number, rng: Rng): Float32Array {
  const bound = kaimingUniformBound(cols);
  return rng.fillUniform(new Float32Array(rows * cols), -bound, bound);
}

export class LoraAdapter implements LinearAdapter {
  /** R, [in, r]: kaiming-uniform at creation. */
  readonly right: tf.Variable;
  /** L, [r, out]: zeros at creation, so a fresh adapter leaves the layer's output unchanged. */
  readonly left: tf.Variable;
  /** loraScaling / loraDim. */
  readonly scaling: number;
  readonly dropoutRate: number;
  readonly loraDim: number;
  private fusedFlag = false;
  /** With fuse({ exact: true }): the base weight before fusing, put back by unfuse() instead of subtracting. */
  private baseCopy: tf.Tensor | null = null;

  constructor(readonly layer: Linear, opts: LoraLayerOptions, private readonly host: LoraHost, initRng: Rng) {
    const r = opts.loraDim;
    if (!Number.isInteger(r) || r <= 0) {
      throw new RangeError(`LoRA on ${layer.name}: loraDim (--lora_dim) must be a positive integer, got ${r}`);
    }
    const rate = opts.loraDropout ?? 0;
    if (!(rate >= 0 && rate < 1)) throw new RangeError(`LoRA on ${layer.name}: loraDropout must be in [0, 1), got ${rate}`);
    this.loraDim = r;
    this.scaling = (opts.loraScaling ?? 1) / r;
    this.dropoutRate = rate;
    const { inFeatures, outFeatures } = layer;
    // Unnamed variables: tfjs names must be globally unique, and an actor and a critic share module names.
    this.right = tf.tidy(() => tf.variable(tf.tensor2d(kaimingUniform(inFeatures, r, initRng), [inFeatures, r]), true));
    this.left = tf.tidy(() => tf.variable(tf.zeros([r, outFeatures]), true));
  }

  /** true while the LoRA product is folded into the base weight (forward then skips the branch). */
  get fused(): boolean {
    return this.fusedFlag;
  }

  apply(x: tf.Tensor2D, baseOutput: tf.Tensor2D): tf.Tensor2D {
    if (this.fusedFlag) return baseOutput;
    return tf.tidy(() => {
      const xin = this.host.training && this.dropoutRate > 0 ? tf.dropout(x, this.dropoutRate, undefined, this.host.rng.nextU32()) : x;
      const branch = tf.matMul(tf.matMul(xin, this.right as tf.Tensor2D), this.left as tf.Tensor2D); // [n, out]
      return tf.add(baseOutput, tf.mul(branch, this.scaling)) as tf.Tensor2D;
    });
  }

  parameters(): Map<string, tf.Variable> {
    return new Map([
      [LORA_RIGHT, this.right],
      [LORA_LEFT, this.left],
    ]);
  }

  /** s·R·L [in, out]: the transpose of DeepSpeed-Chat's s·(Lᵀ·Rᵀ) [out, in], matching the internal weight layout. */
  delta(): tf.Tensor2D {
    return tf.tidy(() => tf.mul(tf.matMul(this.right as tf.Tensor2D, this.left as tf.Tensor2D), this.scaling) as tf.Tensor2D);
  }

  /**
   * W ← W + s·R·L, once (a second call does nothing, as DeepSpeed-Chat's fuse_lora flag). With `exact`, a copy of W is
   * kept and unfuse() puts it back bit for bit (DeepSpeed's hybrid engine fuses for every generation; subtracting
   * would let float32 rounding drift into the base weight over many steps), at the cost of one more weight in memory.
   */
  fuse(opts: { exact?: boolean } = {}): void {
    if (this.fusedFlag) return;
    if (this.layer.weight16 != null) {
      throw new Error(`LoRA on ${this.layer.name}: the base weight is frozen bfloat16, so the product cannot be folded into it; save with saveFused (it fuses on the host)`);
    }
    if (opts.exact) this.baseCopy = tf.keep(tf.clone(this.layer.weight));
    this.shiftWeight(1);
    this.fusedFlag = true;
  }

  /** W ← W − s·R·L when fused (or the exact copy back after fuse({ exact: true })); otherwise nothing. */
  unfuse(): void {
    if (!this.fusedFlag) return;
    if (this.baseCopy) {
      this.layer.weight.assign(this.baseCopy);
      this.baseCopy.dispose();
      this.baseCopy = null;
    } else {
      this.shiftWeight(-1);
    }
    this.fusedFlag = false;
  }

  /** Frees R and L (idempotent: convertLoraToLinearLayer and CausalLM.dispose may both reach it). */
  dispose(): void {
    this.baseCopy?.dispose();
    this.baseCopy = null;
    if (this.right.isDisposed) return;
    this.right.dispose();
    this.left.dispose();
  }

  private shiftWeight(sign: 1 | -1): void {
    tf.tidy(() => {
      const d = this.delta();
      this.layer.weight.assign(sign > 0 ? tf.add(this.layer.weight, d) : tf.sub(this.layer.weight, d));
    });
  }
}
