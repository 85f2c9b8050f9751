// Critic-free advantage estimators against hand-computed groups, and the adaptive KL controller.
import type { Experience } from './experience';
import { criticFreeTargets, groupAdvantages, GRPO_EPS } from './estimators';
import { KlController } from './kl-controller';
import { floatFromRows, intFromRows } from './matrix';

describe('groupAdvantages', () => {
  test('GRPO: (r - group mean) / (unbiased std + 1e-4), per prompt', () => {
    const out = groupAdvantages('grpo', [1, 2, 3, 10, 10], [0, 0, 0, 1, 1]);
    const std = Math.sqrt(((1 - 2) ** 2 + 0 + (3 - 2) ** 2) / 2); // 1
    expect(out[0]).toBeCloseTo(-1 / (std + GRPO_EPS), 6);
    expect(out[1]).toBeCloseTo(0, 6);
    expect(out[2]).toBeCloseTo(1 / (std + GRPO_EPS), 6);
    // a tie: equal rewards give no signal (and no division by zero)
    expect(out[3]).toBe(0);
    expect(out[4]).toBe(0);
  });

  test('RLOO: r minus the mean of the other answers to the same prompt', () => {
    const out = groupAdvantages('rloo', [1, 2, 6, 4, 4], [0, 0, 0, 1, 1]);
    expect(Array.from(out)).toEqual([1 - 4, 2 - 3.5, 6 - 1.5, 0, 0]);
  });

  test('a group of one has no baseline: advantage 0 (GRPO and RLOO)', () => {
    const g = groupAdvantages('grpo', [5, 1, 3], [0, 1, 1]);
    expect(g[0]).toBe(0);
    expect(g[1]).toBeCloseTo(-1 / (Math.SQRT2 + GRPO_EPS), 6);
    expect(g[2]).toBeCloseTo(1 / (Math.SQRT2 + GRPO_EPS), 6);
    expect(groupAdvantages('rloo', [5], [0])[0]).toBe(0);
  });

  test('REINFORCE with the batch mean as baseline', () => {
    expect(Array.from(groupAdvantages('reinforce_baseline', [1, 2, 3, 6], [0, 0, 1, 2]))).toEqual([-2, -1, 0, 3]);
  });
});

function experience(rewards: number[], promptIndex: number[]): Experience {
  // P = 2, answers of 3, 2 and 3 tokens; pad 0.
  const ids = intFromRows([
    [4, 5, 6, 7, 8],
    [4, 5, 6, 7, 0],
    [9, 9, 6, 7, 8],
  ]);
  const mask = intFromRows([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]);
  return {
    prompts: intFromRows([[4, 5], [4, 5], [9, 9]]),
    inputIds: ids,
    attentionMask: mask,
    logprobs: floatFromRows([[-1, -1, -1, -1], [-1, -1, -1, -1], [-1, -1, -1, -1]]),
    refLogprobs: floatFromRows([[-1, -1.5, -1, -1], [-1, -1, -1, -1], [-1, -1, -1, -1]]),
    values: null,
    rewards: Float32Array.from(rewards),
    rawScores: Float32Array.from(rewards),
    promptIndex,
    rowAdvantages: null,
  };
}

describe('criticFreeTargets', () => {
  test('KL in the loss (GRPO): the row advantage on every answer token, nothing elsewhere', () => {
    const t = criticFreeTargets(experience([1, 3, 2], [0, 0, 1]), { estimator: 'rloo', klInLoss: true });
    expect(t.start).toBe(1);
    // W = 4 - 1 = 3; row 1 has 2 answer tokens (mask [1,1,0] from position 1).
    expect(Array.from(t.advantages.data)).toEqual([-2, -2, -2, 2, 2, 0, 0, 0, 0]);
    expect(t.oldValues).toBeNull();
    expect(t.returns).toBeNull();
  });

  test('KL as a reward: reward-to-go of -β·KL per token plus the row advantage at the end (GAE with V = 0, λ = 1)', () => {
    const t = criticFreeTargets(experience([1, 3, 2], [0, 0, 1]), { estimator: 'rloo', klInLoss: false, klCtl: 0.1 });
    // Row 0: per-token rewards from start 1: [-0.1·0.5 = -0.05 at t=1, 0, -2 (adv) at t=3]; reward-to-go:
    expect(t.advantages.data[0]).toBeCloseTo(-0.05 - 2, 6);
    expect(t.advantages.data[1]).toBeCloseTo(-2, 6);
    expect(t.advantages.data[2]).toBeCloseTo(-2, 6);
    // Row 1 ended early: its advantage sits at index start + n = 3 (masked), DeepSpeed-Chat's placement; it still flows back.
    expect(t.advantages.data[3]).toBeCloseTo(2, 6);
  });
});

describe('KlController', () => {
  test('fixed: never moves', () => {
    const k = new KlController(0.1);
    expect(k.update(100, 64)).toBe(0.1);
  });

  test('adaptive: proportional error clipped to ±0.2, scaled by n / horizon', () => {
    const k = new KlController(0.1, 6, 10000);
    expect(k.update(12, 100)).toBeCloseTo(0.1 * (1 + 0.2 * 0.01), 12);
    expect(k.update(3, 100)).toBeCloseTo(0.1 * (1 + 0.2 * 0.01) * (1 - 0.2 * 0.01), 12);
    expect(k.update(6.6, 1000)).toBeCloseTo(0.1 * (1 + 0.2 * 0.01) * (1 - 0.2 * 0.01) * (1 + 0.1 * 0.1), 12);
  });
});
