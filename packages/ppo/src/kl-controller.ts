// The KL coefficient: DeepSpeed-Chat's fixed kl_ctl, or Ziegler et al.'s adaptive controller (as TRL's AdaptiveKLController).

/**
 * Fixed (target null): `value` never changes. Adaptive: after each batch, with e = clip(KL / target - 1, -0.2, 0.2),
 * value ← value · (1 + e · n / horizon), where KL is the batch's mean KL per answer and n the answers it had.
 */
export class KlController {
  value: number;

  constructor(initial: number, readonly target: number | null = null, readonly horizon = 10000) {
    if (!(initial >= 0) || !Number.isFinite(initial)) throw new RangeError(`KL coefficient must be a finite number >= 0, got ${initial}`);
    if (target !== null && !(target > 0)) throw new RangeError(`KL target must be > 0, got ${target}`);
    if (!(horizon > 0)) throw new RangeError(`KL horizon must be > 0, got ${horizon}`);
    this.value = initial;
  }

  get adaptive(): boolean {
    return this.target !== null;
  }

  /** Records one batch's mean KL per answer over `n` answers; returns the new coefficient. */
  update(kl: number, n: number): number {
    if (this.target === null || !Number.isFinite(kl)) return this.value;
    const e = Math.min(Math.max(kl / this.target - 1, -0.2), 0.2);
    this.value *= 1 + (e * n) / this.horizon;
    return this.value;
  }
}
