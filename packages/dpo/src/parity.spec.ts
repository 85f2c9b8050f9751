// Parity with DeepSpeed-Chat's DPO (get_batch_logps, the divergence mask, the loss lines, the policy gradient) on the hf-reference models, cpu and wasm.
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadPretrained, type CausalLM } from '@rlhfkit/core-tensor';
import { describeBackends, maxAbsDiff } from '../../core-tensor/src/testing/backends';
import { computeDpoBatch, dpoTrainingLoss, referenceLogps } from './batch';
import { dpoLabelMask, toIntMatrix } from './dpo-math';
import { HF_REFERENCE, hfReferencePresent, readDpoGolden, type GoldenCase } from './testing';

const present = hfReferencePresent();
// Without the models the suite shows as skipped (hfReferencePresent printed why) and its body never runs.
const skipDescribe = describe.skip;
const skippedSuite = (title: string): void => skipDescribe(title, () => test('needs the hf-reference models', () => undefined));
const run = present ? describeBackends : skippedSuite;
const golden = readDpoGolden();
const CASES = ['opt_pad_eq_eos', 'opt_pad1', 'llama'] as const;

const LOSS_TOL = 1e-5;
const LOGP_REL_TOL = 1e-5;
const REWARD_TOL = 1e-5;
const GRAD_REL_TOL = 1e-5;

/** Largest |a - b| / max(|b|, 1e-3): relative where the value is not near 0 (a fully masked row's sum is exactly 0). */
function maxRelDiff(a: readonly number[], b: readonly number[]): number {
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.max(Math.abs(b[i]), 1e-3)));
}

/** L2 norm on the host in float64 (a float32 sum over 64k squares on wasm is off by ~1e-4 relative). */
function hostNorm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** Every finding is also printed once, so the report's numbers come from the run. */
const findings: string[] = [];
afterAll(() => {
  if (findings.length) process.stdout.write(`DPO parity vs DeepSpeed-Chat (max diffs):\n${findings.join('\n')}\n`);
});

run('DeepSpeed-Chat DPO parity', (backend) => {
  for (const name of CASES) {
    describe(name, () => {
      const g: GoldenCase = golden.cases[name];
      let policy: CausalLM;
      let reference: CausalLM;
      beforeAll(async () => {
        policy = (await loadPretrained(path.join(HF_REFERENCE, g.policy))).eval();
        reference = (await loadPretrained(path.join(HF_REFERENCE, g.reference))).eval();
      });
      afterAll(() => {
        policy.dispose();
        reference.dispose();
      });

      test('label mask and divergence indices are exact', () => {
        const { mask, divergence } = dpoLabelMask(g.input_ids, g.pad_token_id);
        expect(divergence).toEqual(g.divergence_ind);
        expect(Array.from(mask.data)).toEqual(g.label_mask.flat());
      });

      test('computeDpoBatch: log-probs, loss and rewards for each beta / label_smoothing', () => {
        for (const s of g.settings) {
          const r = computeDpoBatch(policy, reference, { inputIds: g.input_ids, attentionMask: g.attention_mask }, {
            beta: s.beta, labelSmoothing: s.label_smoothing, padTokenId: g.pad_token_id,
          });
          const logpRel = Math.max(maxRelDiff(r.policyLogps, g.policy_logps), maxRelDiff(r.refLogps, g.ref_logps));
          const lossAbs = Math.abs(r.loss - s.loss);
          const rewardAbs = Math.max(maxAbsDiff(r.chosenRewards, s.chosen_rewards), maxAbsDiff(r.rejectedRewards, s.rejected_rewards));
          findings.push(`  [${backend}] ${name} beta ${s.beta} ls ${s.label_smoothing}: logps rel ${logpRel.toExponential(2)}, loss abs ${lossAbs.toExponential(2)}, rewards abs ${rewardAbs.toExponential(2)}`);
          expect(logpRel).toBeLessThan(LOGP_REL_TOL);
          expect(lossAbs).toBeLessThan(LOSS_TOL);
          expect(rewardAbs).toBeLessThan(REWARD_TOL);
        }
      });

      test('the training graph: the same loss, and the policy gradient of DeepSpeed-Chat', () => {
        const pg = g.policy_grad;
        const s = { beta: pg.beta, labelSmoothing: pg.label_smoothing };
        const ids = toIntMatrix(g.input_ids, 'ids');
        const mask = toIntMatrix(g.attention_mask, 'mask');
        const { mask: labelMask, divergence } = dpoLabelMask(ids, g.pad_token_id);
        const batch = { inputIds: ids, attentionMask: mask, labelMask, divergence, refLogps: referenceLogps(reference, ids, mask, labelMask) };
        const vars = [...policy.namedParameters()];
        const { value, grads } = tf.variableGrads(() => dpoTrainingLoss(policy, batch, s), vars.map(([, v]) => v));
        const byName = new Map(vars.map(([n, v]) => [n, grads[v.name]]));
        const lossAbs = Math.abs(value.dataSync()[0] - g.settings[0].loss);
        let total = 0;
        for (const t of byName.values()) if (t) total += hostNorm(t.dataSync()) ** 2;
        const totalRel = Math.abs(Math.sqrt(total) - pg.total_l2_norm) / pg.total_l2_norm;
        let worst = 0;
        for (const [tname, want] of Object.entries(pg.tensors)) {
          const got = byName.get(tname);
          expect(got).toBeDefined();
          // rlhfkit keeps linear weights as [in, out]; the golden's first values are in HF's [out, in] order.
          const hf = policy.isTransposed(tname) ? tf.tidy(() => tf.transpose(got!)) : got!;
          const values = hf.dataSync();
          const norm = hostNorm(values);
          const first = Array.from(values.slice(0, want.first_values.length));
          if (hf !== got) hf.dispose();
          worst = Math.max(worst, Math.abs(norm - want.l2_norm) / want.l2_norm, maxAbsDiff(first, want.first_values) / Math.max(want.l2_norm, 1e-6));
        }
        findings.push(`  [${backend}] ${name} training graph: loss abs ${lossAbs.toExponential(2)}, grad norm rel ${totalRel.toExponential(2)}, named tensors rel ${worst.toExponential(2)}`);
        tf.dispose([value, ...Object.values(grads)]);
        expect(lossAbs).toBeLessThan(LOSS_TOL);
        expect(totalRel).toBeLessThan(GRAD_REL_TOL);
        expect(worst).toBeLessThan(GRAD_REL_TOL);
      });
    });
  }
});
