// Learning-rate schedules of transformers' get_scheduler, as pure functions and a resumable scheduler.

/** The schedule names of transformers' SchedulerType that rlhfkit implements (DeepSpeed-Chat's `--lr_scheduler_type`). */
export const SCHEDULE_NAMES = [
  'linear', 'cosine', 'cosine_with_restarts', 'polynomial', 'constant', 'constant_with_warmup', 'inverse_sqrt', 'cosine_with_min_lr',
] as const;
export type ScheduleName = (typeof SCHEDULE_NAMES)[number];

export interface ScheduleOptions {
  /** Linear warm-up from 0 over this many steps (default 0). */
  warmupSteps?: number;
  /** Total optimizer steps; required by every schedule that decays. */
  totalSteps?: number;
  /** cosine: waves (default 0.5, a half cosine to 0); cosine_with_restarts: hard restarts (default 1). */
  numCycles?: number;
  /** polynomial: exponent (default 1) and final lr (default 1e-7, must be below baseLr). */
  power?: number;
  lrEnd?: number;
  /** inverse_sqrt: time scale (default warmupSteps, or 10000 when there is no warm-up). */
  timescale?: number;
  /** cosine_with_min_lr: floor as a fraction of the lr (minLrRate) or absolute (minLr); exactly one. */
  minLrRate?: number;
  minLr?: number;
}

/** Options for `lrAt`: the schedule's knobs plus the peak lr (torch's optimizer.defaults['lr']). */
export interface LrAtOptions extends ScheduleOptions {
  baseLr: number;
}

function warmupFactor(step: number, warmup: number): number {
  return step / Math.max(1, warmup);
}

function needTotal(name: ScheduleName, o: ScheduleOptions): number {
  const t = o.totalSteps;
  if (t === undefined || !Number.isFinite(t) || t < 0) {
    throw new RangeError(`lr schedule '${name}' needs totalSteps (the number of optimizer steps), got ${t}`);
  }
  return t;
}

function minLrRate(opts: ScheduleOptions & { baseLr?: number }): number {
  if (opts.minLr !== undefined && opts.minLrRate !== undefined) throw new RangeError('cosine_with_min_lr: set only one of minLr or minLrRate');
  if (opts.minLrRate !== undefined) return opts.minLrRate;
  if (opts.minLr !== undefined) {
    if (!opts.baseLr) throw new RangeError('cosine_with_min_lr: minLr needs baseLr');
    return opts.minLr / opts.baseLr;
  }
  throw new RangeError('cosine_with_min_lr needs minLr or minLrRate');
}

/**
 * The multiplier LambdaLR applies to each group's initial lr after `step` scheduler steps, as in
 * transformers/optimization.py. `baseLr` matters only for polynomial and cosine_with_min_lr(minLr), which
 * express an absolute lr as a fraction of the optimizer's default lr.
 */
export function lrLambda(name: ScheduleName, step: number, o: ScheduleOptions & { baseLr?: number } = {}): number {
  const warmup = o.warmupSteps ?? 0;
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`lr schedule step must be a non-negative integer, got ${step}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new RangeError(`warmupSteps must be a non-negative integer, got ${warmup}`);
  switch (name) {
    case 'constant':
      return 1;
    case 'constant_with_warmup':
      return step < warmup ? warmupFactor(step, warmup) : 1;
    case 'linear': {
      const total = needTotal(name, o);
      if (step < warmup) return warmupFactor(step, warmup);
      return Math.max(0, (total - step) / Math.max(1, total - warmup));
    }
    case 'cosine':
    case 'cosine_with_min_lr': {
      const total = needTotal(name, o);
      if (step < warmup) return warmupFactor(step, warmup);
      const progress = (step - warmup) / Math.max(1, total - warmup);
      let factor = 0.5 * (1 + Math.cos(Math.PI * (o.numCycles ?? 0.5) * 2 * progress));
      if (name === 'cosine_with_min_lr') {
        const rate = minLrRate(o);
        factor = factor * (1 - rate) + rate;
      }
      return Math.max(0, factor);
    }
    case 'cosine_with_restarts': {
      const total = needTotal(name, o);
      if (step < warmup) return warmupFactor(step, warmup);
      const progress = (step - warmup) / Math.max(1, total - warmup);
      if (progress >= 1) return 0;
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * (((o.numCycles ?? 1) * progress) % 1))));
    }
    case 'polynomial': {
      const total = needTotal(name, o);
      const lrInit = o.baseLr;
      const lrEnd = o.lrEnd ?? 1e-7;
      const power = o.power ?? 1;
      if (lrInit === undefined) throw new RangeError("lr schedule 'polynomial' needs baseLr (the optimizer's lr)");
      if (!(lrInit > lrEnd)) throw new RangeError(`lr schedule 'polynomial': lrEnd (${lrEnd}) must be smaller than the initial lr (${lrInit})`);
      if (step < warmup) return warmupFactor(step, warmup);
      if (step > total) return lrEnd / lrInit;
      const decaySteps = total - warmup;
      // transformers divides by zero here; a schedule with no decay phase simply ends at lrEnd.
      const pctRemaining = decaySteps > 0 ? 1 - (step - warmup) / decaySteps : 0;
      return ((lrInit - lrEnd) * pctRemaining ** power + lrEnd) / lrInit;
    }
    case 'inverse_sqrt': {
      if (step < warmup) return warmupFactor(step, warmup);
      const timescale = o.timescale ?? (warmup || 10_000);
      return 1 / Math.sqrt((step + timescale - warmup) / timescale);
    }
    default:
      throw new RangeError(`unknown lr schedule '${String(name)}'; choose one of ${SCHEDULE_NAMES.join(', ')}`);
  }

}

/** The learning rate after `step` scheduler steps for a group whose initial lr is `baseLr`. */
export function lrAt(name: ScheduleName, step: number, o: LrAtOptions): number {
  return o.baseLr * lrLambda(name, step, o);
}

/** Checks a user-given schedule name (e.g. from `--lr_scheduler_type`) and narrows its type. */
export function parseScheduleName(name: string): ScheduleName {
  if ((SCHEDULE_NAMES as readonly string[]).includes(name)) return name as ScheduleName;
  throw new RangeError(`unknown lr schedule '${name}'; choose one of ${SCHEDULE_NAMES.join(', ')}`);
}

/** What a scheduler drives: AdamW satisfies this. */
export interface LrTarget {
  groups: { lr: number; initialLr: number }[];
  /** The optimizer's default lr (torch's optimizer.defaults['lr']); used by polynomial. */
  defaults?: { lr: number };
}

/** Saved scheduler position; the schedule itself is rebuilt from the config on resume. */
export interface LrSchedulerState {
  name: ScheduleName;
  step: number;
}

/**
 * LambdaLR over an optimizer's groups: on construction each group's lr becomes initialLr * lambda(0);
 * every `step()` (call it after each optimizer step) advances one position and sets the new lrs.
 */
export class LrScheduler {
  private position = 0;
  private readonly baseLr: number;

  constructor(private readonly target: LrTarget, readonly name: ScheduleName, private readonly options: ScheduleOptions & { baseLr?: number } = {}) {
    parseScheduleName(name);
    this.baseLr = options.baseLr ?? target.defaults?.lr ?? target.groups[0]?.initialLr ?? 0;
    this.apply();
  }

  /** Number of `step()` calls so far (torch's last_epoch). */
  get stepCount(): number {
    return this.position;
  }

  step(): void {
    this.position += 1;
    this.apply();
  }

  /** The lr each group has now. */
  lastLr(): number[] {
    return this.target.groups.map((g) => g.lr);
  }

  /** The multiplier at the current position. */
  factor(): number {
    return lrLambda(this.name, this.position, { ...this.options, baseLr: this.baseLr });
  }

  stateDict(): LrSchedulerState {
    return { name: this.name, step: this.position };
  }

  loadStateDict(state: LrSchedulerState): void {
    if (state.name !== this.name) {
      throw new Error(`LrScheduler.loadStateDict: the checkpoint used schedule '${state.name}' but this run uses '${this.name}'; pass the same --lr_scheduler_type to resume`);
    }
    if (!Number.isInteger(state.step) || state.step < 0) throw new RangeError(`LrScheduler.loadStateDict: bad step ${state.step}`);
    this.position = state.step;
    this.apply();
  }

  private apply(): void {
    const f = this.factor();
    for (const g of this.target.groups) g.lr = g.initialLr * f;
  }
}
