// Gradient accumulation over micro-batches, with DeepSpeed's loss scaling by 1/gradient_accumulation_steps.
import * as tf from '@tensorflow/tfjs';
import type { NamedVariables } from './adamw';

/**
 * Sums gradients over micro-batches. `backward` scales each loss by 1/accumulationSteps before
 * differentiating (DeepSpeed's engine.backward does the same), so for equal-size micro-batches the
 * accumulated gradient equals the gradient of the mean loss over the whole batch.
 *
 *   const acc = new GradientAccumulator(gas);
 *   for (const mb of microBatches) {
 *     const loss = acc.backward(() => lossOf(mb), vars);
 *     if (acc.isBoundary()) { clipGradNorm(acc.grads(), 1.0); opt.step(acc.grads()); sched.step(); acc.zeroGrad(); }
 *   }
 */
export class GradientAccumulator {
  private readonly sums = new Map<string, tf.Tensor>();
  private micro = 0;

  constructor(readonly accumulationSteps = 1) {
    if (!Number.isInteger(accumulationSteps) || accumulationSteps < 1) {
      throw new RangeError(`gradient_accumulation_steps must be an integer >= 1, got ${accumulationSteps}`);
    }
  }

  /** Micro-batches added since the last zeroGrad. */
  get microSteps(): number {
    return this.micro;
  }

  /** True when the number of micro-batches is a multiple of accumulationSteps (time to step the optimizer). */
  isBoundary(): boolean {
    return this.micro > 0 && this.micro % this.accumulationSteps === 0;
  }

  /**
   * Runs `lossFn`, differentiates loss / accumulationSteps with respect to the trainable variables and adds
   * the gradients. Returns the unscaled loss value.
   */
  backward(lossFn: () => tf.Scalar, variables: NamedVariables): number {
    const entries = variables instanceof Map ? [...variables] : Object.entries(variables);
    const trainable = entries.filter(([, v]) => v.trainable);
    if (trainable.length === 0) throw new Error('GradientAccumulator.backward: none of the given variables is trainable');
    const nameOf = new Map(trainable.map(([name, v]) => [v.name, name]));
    let unscaled: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const loss = lossFn();
      unscaled = tf.keep(loss);
      return this.accumulationSteps === 1 ? loss : tf.div(loss, this.accumulationSteps);
    }, trainable.map(([, v]) => v));
    const out = new Map<string, tf.Tensor>();
    for (const [tfName, g] of Object.entries(grads)) out.set(nameOf.get(tfName) ?? tfName, g);
    const lossValue = (unscaled as tf.Scalar).dataSync()[0];
    tf.dispose([value, unscaled as tf.Scalar]);
    this.add(out);
    return lossValue;
  }

  /** Adds one micro-batch's gradients (already scaled as the caller wishes); takes ownership of the tensors. */
  add(grads: Map<string, tf.Tensor>): void {
    for (const [name, g] of grads) {
      const prev = this.sums.get(name);
      if (!prev) {
        this.sums.set(name, g);
        continue;
      }
      if (prev.shape.length !== g.shape.length || prev.shape.some((d, i) => d !== g.shape[i])) {
        throw new Error(`GradientAccumulator.add: gradient '${name}' has shape [${g.shape}] but earlier micro-batches gave [${prev.shape}]`);
      }
      this.sums.set(name, tf.add(prev, g));
      prev.dispose();
      g.dispose();
    }
    this.micro += 1;
  }

  /** The accumulated gradients (live: clipGradNorm may replace entries in place). */
  grads(): Map<string, tf.Tensor> {
    return this.sums;
  }

  /** Frees the accumulated gradients and starts a new accumulation window. */
  zeroGrad(): void {
    for (const g of this.sums.values()) g.dispose();
    this.sums.clear();
    this.micro = 0;
  }

  dispose(): void {
    this.zeroGrad();
  }
}
