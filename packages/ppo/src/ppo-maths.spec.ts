// Parity of the PPO maths with numbers computed by DeepSpeed-Chat's own code (dschat-reference/ppo), on host rows, cpu and wasm.
import * as tf from '@tensorflow/tfjs';
import { gatherLogProbs } from '@rlhfkit/core-tensor';
import { describeBackends } from '../../core-tensor/src/testing/backends';
import type { Experience } from './experience';
import { floatFromRows, intFromRows, sliceCols } from './matrix';
import {
  actorLossFn, answerEnds, computeRewards, criticLossFn, DSCHAT_PPO, getAdvantagesAndReturns, movingAverage, movingAverageHost,
} from './ppo-maths';
import { rlhfTargets } from './rlhf-targets';
import { ppoFixturePresent, readPpoGolden, worst } from './testing';

const present = ppoFixturePresent();
const golden = present ? readPpoGolden() : null;
const skippedSuite = (title: string): void => describe.skip(title, () => test('needs the fixture', () => undefined));
const run = present ? describe : skippedSuite;
const runBackends = present ? describeBackends : skippedSuite;

/** The bar: 1e-6, relative above 1. */
const TOL = 1e-6;
/** train_rlhf includes a log-softmax (fixture README: 1e-5). */
const E2E_TOL = 1e-5;

run('DeepSpeed-Chat PPO maths on host rows', () => {
  const g = golden!;
  test('the constants are DeepSpeed-Chat\'s', () => {
    const h = g.hyperparameters;
    expect(DSCHAT_PPO).toEqual({ klCtl: h.kl_ctl, clipRewardValue: h.clip_reward_value, cliprange: h.cliprange, cliprangeValue: h.cliprange_value, gamma: h.gamma, lam: h.lam });
  });

  g.cases.forEach((c, k) => {
    describe(`case ${k + 1} (seed ${c.seed})`, () => {
      test('compute_rewards: rewards, start and ends', () => {
        const i = c.compute_rewards.inputs;
        const out = computeRewards(i.prompts, i.log_probs, i.ref_log_probs, i.reward_score, i.action_mask);
        expect(worst(out, c.compute_rewards.output_rewards)).toBeLessThanOrEqual(TOL);
        expect(answerEnds(i.action_mask, i.prompts[0].length - 1)).toEqual(c.compute_rewards.internals.ends);
      });

      test('get_advantages_and_returns', () => {
        const i = c.get_advantages_and_returns.inputs;
        const out = getAdvantagesAndReturns(i.values, i.rewards, i.start);
        expect(worst(out.advantages, c.get_advantages_and_returns.advantages)).toBeLessThanOrEqual(TOL);
        expect(worst(out.returns, c.get_advantages_and_returns.returns)).toBeLessThanOrEqual(TOL);
      });

      test('actor_loss_fn and critic_loss_fn', () => {
        const a = c.actor_loss_fn.inputs;
        expect(worst([actorLossFn(a.logprobs, a.old_logprobs, a.advantages, a.mask)], [c.actor_loss_fn.loss])).toBeLessThanOrEqual(TOL);
        const v = c.critic_loss_fn.inputs;
        expect(worst([criticLossFn(v.values, v.old_values, v.returns, v.mask)], [c.critic_loss_fn.loss])).toBeLessThanOrEqual(TOL);
      });

      test('host matrices give what rows give', () => {
        const i = c.compute_rewards.inputs;
        const out = computeRewards(intFromRows(i.prompts), floatFromRows(i.log_probs), floatFromRows(i.ref_log_probs), Float32Array.from(i.reward_score), floatFromRows(i.action_mask));
        expect(worst(out.data, c.compute_rewards.output_rewards)).toBeLessThanOrEqual(TOL);
      });
    });
  });

  test('overrides: klCtl 0 leaves only the clipped score; a wider clip keeps it whole', () => {
    const i = g.cases[0].compute_rewards.inputs;
    const out = computeRewards(i.prompts, i.log_probs, i.ref_log_probs, i.reward_score, i.action_mask, { klCtl: 0, clipRewardValue: 100 });
    const ends = g.cases[0].compute_rewards.internals.ends;
    out.forEach((row, b) => {
      const at = Math.min(ends[b], row.length) - 1;
      row.forEach((x, t) => expect(x).toBeCloseTo(t === at ? i.reward_score[b] : 0, 5));
    });
  });

  test('moving_average: one and two updates', () => {
    const m = g.moving_average;
    for (const k of ['p', 'q'] as const) {
      const p = (m.before.model[k] as number[] | number[][]).flat();
      const e0 = (m.before.ema[k] as number[] | number[][]).flat();
      const e1 = movingAverageHost(p, e0, m.beta);
      expect(worst(e1, (m.ema_after_1_update[k] as number[] | number[][]).flat())).toBeLessThanOrEqual(2e-6);
      expect(worst(movingAverageHost(p, e1, m.beta), (m.ema_after_2_updates_same_model[k] as number[] | number[][]).flat())).toBeLessThanOrEqual(2e-6);
    }
  });
});

runBackends('DeepSpeed-Chat PPO maths with tensors', () => {
  const g = golden!;

  test('every function matches the fixture and leaves no tensor behind', () => {
    const before = tf.memory().numTensors;
    for (const c of g.cases) {
      const i = c.compute_rewards.inputs;
      const r = tf.tidy(() => computeRewards(tf.tensor2d(i.prompts), tf.tensor2d(i.log_probs), tf.tensor2d(i.ref_log_probs), tf.tensor1d(i.reward_score), tf.tensor2d(i.action_mask)));
      expect(worst(r.arraySync(), c.compute_rewards.output_rewards)).toBeLessThanOrEqual(TOL);
      r.dispose();
      const gi = c.get_advantages_and_returns.inputs;
      const gae = tf.tidy(() => {
        const o = getAdvantagesAndReturns(tf.tensor2d(gi.values), tf.tensor2d(gi.rewards), gi.start);
        return [o.advantages, o.returns];
      });
      expect(worst(gae[0].arraySync() as number[][], c.get_advantages_and_returns.advantages)).toBeLessThanOrEqual(TOL);
      expect(worst(gae[1].arraySync() as number[][], c.get_advantages_and_returns.returns)).toBeLessThanOrEqual(TOL);
      tf.dispose(gae);
      const a = c.actor_loss_fn.inputs;
      const al = tf.tidy(() => actorLossFn(tf.tensor2d(a.logprobs), tf.tensor2d(a.old_logprobs), tf.tensor2d(a.advantages), tf.tensor2d(a.mask)));
      expect(worst([al.dataSync()[0]], [c.actor_loss_fn.loss])).toBeLessThanOrEqual(TOL);
      al.dispose();
      const v = c.critic_loss_fn.inputs;
      const cl = tf.tidy(() => criticLossFn(tf.tensor2d(v.values), tf.tensor2d(v.old_values), tf.tensor2d(v.returns), tf.tensor2d(v.mask)));
      expect(worst([cl.dataSync()[0]], [c.critic_loss_fn.loss])).toBeLessThanOrEqual(TOL);
      cl.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  test('moving_average on variables', () => {
    const m = g.moving_average;
    const model = new Map([['p', tf.tensor(m.before.model.p as number[][])], ['q', tf.tensor(m.before.model.q as number[])]]);
    const ema = new Map([['p', tf.variable(tf.tensor(m.before.ema.p as number[][]))], ['q', tf.variable(tf.tensor(m.before.ema.q as number[]))]]);
    movingAverage(model, ema, m.beta);
    expect(worst(ema.get('p')!.arraySync() as number[][], m.ema_after_1_update.p as number[][])).toBeLessThanOrEqual(2e-6);
    movingAverage(model, ema, m.beta);
    expect(worst(Array.from(ema.get('q')!.dataSync()), m.ema_after_2_updates_same_model.q as number[])).toBeLessThanOrEqual(2e-6);
    tf.dispose([...model.values(), ...ema.values()]);
  });

  g.train_rlhf_end_to_end.forEach((e, k) => {
    test(`train_rlhf end to end, case ${k + 1}: internals and both losses`, () => {
      const x = e.inputs_as_generate_experience_returns;
      const exp: Experience = {
        prompts: intFromRows(x.prompts),
        inputIds: intFromRows(x.input_ids),
        attentionMask: intFromRows(x.attention_mask),
        logprobs: floatFromRows(x.logprobs),
        refLogprobs: floatFromRows(x.ref_logprobs),
        values: floatFromRows(x.value),
        rewards: Float32Array.from(x.rewards),
        rawScores: Float32Array.from(x.rewards),
        promptIndex: x.prompts.map((_, i) => i),
        rowAdvantages: null,
      };
      const t = rlhfTargets(exp);
      expect(t.start).toBe(e.internals.start);
      expect(t.ends).toEqual(e.internals.ends);
      expect(worst(t.rewards.data, e.internals.old_rewards_after_zeroing)).toBeLessThanOrEqual(E2E_TOL);
      expect(worst(t.oldValues!.data, sliceCols(floatFromRows(e.internals.old_values_after_zeroing), t.start).data)).toBeLessThanOrEqual(E2E_TOL);
      expect(worst(t.advantages.data, e.internals.advantages)).toBeLessThanOrEqual(E2E_TOL);
      expect(worst(t.returns!.data, e.internals.returns)).toBeLessThanOrEqual(E2E_TOL);
      // The caller's values are not mutated here (DeepSpeed-Chat zeroes them in place; the zeroing is idempotent).
      expect(Array.from(exp.values!.data)).toEqual(Array.from(floatFromRows(x.value).data));
      const [b, l] = exp.inputIds.shape;
      const newLp = tf.tidy(() => {
        const logits = tf.tensor3d(e.mock_actor_logits_for_new_logprobs);
        return gatherLogProbs(tf.slice(logits, [0, 0, 0], [b, l - 1, e.shapes.vocab]) as tf.Tensor3D, tf.slice(tf.tensor2d(x.input_ids, undefined, 'int32'), [0, 1], [b, l - 1]) as tf.Tensor2D);
      });
      expect(worst(newLp.arraySync(), e.internals.actor_log_prob_new)).toBeLessThanOrEqual(E2E_TOL);
      const actorLoss = tf.tidy(() => actorLossFn(tf.slice(newLp, [0, t.start], [b, l - 1 - t.start]) as tf.Tensor2D, t.oldLogprobs, t.advantages, t.actionMask));
      expect(worst([actorLoss.dataSync()[0]], [e.actor_loss])).toBeLessThanOrEqual(E2E_TOL);
      const values = floatFromRows(e.mock_critic_forward_value_full.map((r) => r.slice(0, -1)));
      expect(worst(values.data, e.internals.critic_value_new)).toBeLessThanOrEqual(1e-7);
      const criticLoss = tf.tidy(() => criticLossFn(tf.tensor2d(sliceCols(values, t.start).data, [b, l - 1 - t.start]), t.oldValues!, t.returns!, t.actionMask));
      expect(worst([criticLoss.dataSync()[0]], [e.critic_loss])).toBeLessThanOrEqual(E2E_TOL);
      tf.dispose([newLp, actorLoss, criticLoss]);
    });
  });
});
