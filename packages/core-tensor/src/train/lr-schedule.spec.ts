// Specs for the LR schedules against values worked out by hand from transformers' formulas.
import * as tf from '@tensorflow/tfjs';
import { AdamW } from './adamw';
import { lrAt, lrLambda, LrScheduler, parseScheduleName, ScheduleName } from './lr-schedule';

// warmup 10, total 110 => decay phase of 100 steps; "mid" = step 60 (progress 0.5), "end" = 110, "past" = 150/160.
const O = { warmupSteps: 10, totalSteps: 110 };

function at(name: ScheduleName, steps: number[], extra: object = {}): number[] {
  return steps.map((s) => lrLambda(name, s, { ...O, ...extra }));
}

describe('lrLambda (transformers get_scheduler)', () => {
  it('linear: 0 -> 1 over warmup, then down to 0 and clamped', () => {
    const got = at('linear', [0, 5, 10, 60, 110, 150]);
    expect(got).toEqual([0, 0.5, 1, 0.5, 0, 0]);
  });

  it('cosine (half wave): mid 0.5, quarter 0.5+sqrt(2)/4, end 0, rises again past the end', () => {
    const got = at('cosine', [5, 10, 35, 60, 110, 160]);
    const expected = [0.5, 1, 0.5 + Math.SQRT2 / 4, 0.5, 0, 0.5]; // past end: progress 1.5 -> cos(1.5 pi) = 0
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
  });

  it('cosine_with_restarts (2 cycles): restart at mid, 0 at and past the end', () => {
    const got = at('cosine_with_restarts', [5, 10, 35, 59, 60, 85, 110, 150], { numCycles: 2 });
    // step 59: progress 0.49 -> frac 0.98 -> 0.5(1+cos(0.98 pi))
    const expected = [0.5, 1, 0.5, 0.5 * (1 + Math.cos(0.98 * Math.PI)), 1, 0.5, 0, 0];
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
  });

  it('polynomial (power 2, lrEnd 1e-4, base 1e-3): mid = 9e-4 * 0.25 + 1e-4, end and past = lrEnd', () => {
    const o = { ...O, baseLr: 1e-3, power: 2, lrEnd: 1e-4 };
    expect(lrAt('polynomial', 5, o)).toBeCloseTo(5e-4, 15);
    expect(lrAt('polynomial', 10, o)).toBeCloseTo(1e-3, 15);
    expect(lrAt('polynomial', 60, o)).toBeCloseTo(3.25e-4, 15);
    expect(lrAt('polynomial', 110, o)).toBeCloseTo(1e-4, 15);
    expect(lrAt('polynomial', 150, o)).toBeCloseTo(1e-4, 15);
    expect(() => lrAt('polynomial', 1, { ...o, lrEnd: 2e-3 })).toThrow(/must be smaller/);
  });

  it('constant and constant_with_warmup', () => {
    expect(at('constant', [0, 5, 1000])).toEqual([1, 1, 1]);
    expect(at('constant_with_warmup', [0, 5, 10, 1000])).toEqual([0, 0.5, 1, 1]);
  });

  it('inverse_sqrt: timescale defaults to warmup; 1/sqrt((step+shift)/timescale)', () => {
    expect(at('inverse_sqrt', [5, 10, 40, 90])).toEqual([0.5, 1, 0.5, 1 / 3]);
    // timescale 20, warmup 10: shift 10, step 70 -> 1/sqrt(80/20)
    expect(lrLambda('inverse_sqrt', 70, { warmupSteps: 10, timescale: 20 })).toBe(0.5);
    // no warmup: timescale 10000
    expect(lrLambda('inverse_sqrt', 30000, {})).toBe(0.5);
  });

  it('cosine_with_min_lr: floor at minLrRate', () => {
    expect(at('cosine_with_min_lr', [60, 110], { minLrRate: 0.1 })).toEqual([0.55, 0.1].map((x) => expect.closeTo(x, 12)));
    expect(lrLambda('cosine_with_min_lr', 110, { ...O, minLr: 1e-5, baseLr: 1e-4 })).toBeCloseTo(0.1, 12);
  });

  it('no warmup: step 0 is the full lr', () => {
    expect(lrLambda('linear', 0, { totalSteps: 10 })).toBe(1);
    expect(lrLambda('cosine', 0, { totalSteps: 10 })).toBe(1);
  });

  it('rejects bad input with an actionable message', () => {
    expect(() => lrLambda('linear', 3, {})).toThrow(/needs totalSteps/);
    expect(() => parseScheduleName('cosin')).toThrow(/choose one of linear, cosine/);
    expect(parseScheduleName('cosine_with_restarts')).toBe('cosine_with_restarts');
  });
});

describe('LrScheduler', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('drives every group from its own initial lr and resumes its position', () => {
    const vars = { a: tf.variable(tf.zeros([2])), l: tf.variable(tf.zeros([2])) };
    // DeepSpeed-Chat style: optimizer lr 1e-3, LoRA group 5e-4
    const opt = new AdamW([{ params: ['a'] }, { params: ['l'], lr: 5e-4 }], vars, { lr: 1e-3 });
    const sched = new LrScheduler(opt, 'linear', { warmupSteps: 2, totalSteps: 6 });
    expect(opt.groups.map((g) => g.lr)).toEqual([0, 0]); // LambdaLR applies lambda(0) at construction
    sched.step();
    expect(sched.lastLr()).toEqual([5e-4, 2.5e-4]);
    sched.step();
    sched.step(); // position 3: (6-3)/4 = 0.75
    expect(sched.lastLr()).toEqual([7.5e-4, 3.75e-4]);

    const saved = JSON.parse(JSON.stringify(sched.stateDict()));
    const opt2 = new AdamW([{ params: ['a'] }, { params: ['l'], lr: 5e-4 }], vars, { lr: 1e-3 });
    const s2 = new LrScheduler(opt2, 'linear', { warmupSteps: 2, totalSteps: 6 });
    s2.loadStateDict(saved);
    expect(s2.stepCount).toBe(3);
    expect(opt2.getLr(1)).toBe(3.75e-4);
    s2.step();
    sched.step();
    expect(s2.lastLr()).toEqual(sched.lastLr());
    expect(() => new LrScheduler(opt2, 'cosine', { totalSteps: 6 }).loadStateDict(saved)).toThrow(/used schedule 'linear'/);
    opt.dispose();
    opt2.dispose();
    tf.dispose(Object.values(vars));
  });

  it('polynomial uses the optimizer default lr as lr_init, also for the LoRA group', () => {
    const vars = { l: tf.variable(tf.zeros([1])) };
    const opt = new AdamW([{ params: ['l'], lr: 5e-4 }], vars, { lr: 1e-3 });
    const sched = new LrScheduler(opt, 'polynomial', { totalSteps: 4, lrEnd: 1e-4 });
    for (let i = 0; i < 5; i++) sched.step();
    // past the end: factor = lrEnd / lr_init = 0.1, applied to the group's 5e-4
    expect(opt.getLr(0)).toBeCloseTo(5e-5, 15);
    opt.dispose();
    vars.l.dispose();
  });
});
