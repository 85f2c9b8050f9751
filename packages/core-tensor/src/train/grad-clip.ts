// Gradient clipping by global norm with torch.nn.utils.clip_grad_norm_ semantics.
import * as tf from '@tensorflow/tfjs';

export interface ClipGradNormOptions {
  /** 2 (default) for the L2 norm, Infinity for the max-abs norm. */
  normType?: 2 | number;
  /** Throw instead of reporting when the total norm is NaN or infinite (torch's error_if_nonfinite). */
  errorIfNonfinite?: boolean;
}

export interface ClipGradNormResult {
  /** The global norm before clipping (what torch returns and DeepSpeed logs as grad_norm). */
  totalNorm: number;
  /** The factor applied: min(1, maxNorm / (totalNorm + 1e-6)); 1 when nothing was scaled. */
  coef: number;
  clipped: boolean;
  /** False when totalNorm is NaN or infinite; then the gradients are left untouched and the step should be skipped. */
  finite: boolean;
}

/**
 * Clips gradients in place: entries of `grads` that get scaled are replaced by new tensors and the old ones
 * disposed, so a map owned by a GradientAccumulator stays consistent. total_norm is the norm of the
 * per-tensor norms, coef = maxNorm / (total_norm + 1e-6), applied only when it is below 1.
 *
 * One deliberate difference from torch: with a non-finite norm torch multiplies every gradient by NaN or 0;
 * here they are left as they are and `finite: false` tells the caller to skip the update (what DeepSpeed's
 * overflow check does), so one bad batch cannot poison the weights.
 */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): ClipGradNormResult {
  const normType = options.normType ?? 2;
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  if (grads.size === 0) return { totalNorm: 0, coef: 1, clipped: false, finite: true };
  const totalNorm = globalNorm([...grads.values()], normType);
  const finite = Number.isFinite(totalNorm);
  if (!finite) {
    if (options.errorIfNonfinite) {
      throw new Error(`clipGradNorm: the total norm of order ${normType} of the gradients is ${totalNorm}; a loss or gradient is NaN/Inf (check the learning rate and the input batch)`);
    }
    return { totalNorm, coef: 1, clipped: false, finite };
  }
  const coef = maxNorm / (totalNorm + 1e-6);
  if (coef >= 1) return { totalNorm, coef: 1, clipped: false, finite };
  for (const [name, g] of grads) {
    grads.set(name, tf.mul(g, coef));
    g.dispose();
  }
  return { totalNorm, coef, clipped: true, finite };
}

/** The global norm of a list of tensors: the norm of their per-tensor norms (as torch computes it). */
export function globalNorm(tensors: tf.Tensor[], normType: number = 2): number {
  if (tensors.length === 0) return 0;
  const t = tf.tidy(() => {
    if (normType === Infinity) return tf.max(tf.stack(tensors.map((g) => tf.max(tf.abs(g)))));
    if (normType === 2) return tf.sqrt(tf.sum(tf.square(tf.stack(tensors.map((g) => tf.sqrt(tf.sum(tf.square(g))))))));
    const p = normType;
    const per = tensors.map((g) => tf.pow(tf.sum(tf.pow(tf.abs(g), p)), 1 / p));
    return tf.pow(tf.sum(tf.pow(tf.stack(per), p)), 1 / p);
  });
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}
