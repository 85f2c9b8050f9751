// Test-only: the HF parity suite (logits, hidden states, losses, gradients, greedy generation) run per backend.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from './causal-lm';
import { loadPretrained } from './load';
import { causalLmLoss } from './loss';
import { maxAbsDiff } from '../testing/backends';

/** Where the transformers-made fixtures live (outside the repo; never copied in). */
export const HF_FIXTURES = path.resolve(__dirname, '../../../../../shared/fixtures/hf-reference');
export const PARITY_MODELS = ['opt', 'opt-proj', 'llama', 'gpt2'] as const;

type Rows = number[][];

interface PaddedCase {
  input_ids: Rows;
  attention_mask: Rows;
  labels: Rows;
  passed_position_ids: Rows | null;
  logits: (number[] | null)[][];
  loss: number;
  loss_valid_only: number;
}

export interface Golden {
  single_A: { input_ids: Rows; loss: number; hidden_states: number[][][]; logits_first3: Rows; logits_last3: Rows };
  right_padded: PaddedCase;
  left_padded: PaddedCase;
  gradients: { loss: number; global_grad_l2_norm: number; params: Record<string, { shape: number[]; grad_l2_norm: number; grad_first8_flat: number[] }> };
  generation: {
    max_new_tokens: number;
    single: { prompt: number[]; new_tokens: number[]; full_sequence: number[] }[];
    left_padded_batch: { input_ids: Rows; attention_mask: Rows; first_step_position_ids: Rows; sequences: Rows; new_tokens: Rows };
  };
}

export function fixturesPresent(): boolean {
  const ok = fs.existsSync(path.join(HF_FIXTURES, 'opt', 'golden.json'));
  if (!ok) console.warn(`[skip] HF parity fixtures not found at ${HF_FIXTURES}; parity specs are skipped`);
  return ok;
}

export function readGolden(name: string): Golden {
  return JSON.parse(fs.readFileSync(path.join(HF_FIXTURES, name, 'golden.json'), 'utf8')) as Golden;
}

/** L2 norm accumulated in float64 on the host (a float32 device sum over 64k terms drifts by ~1e-4 on wasm). */
function hostNorm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** Labels that drop predictions made from a padding position (the README's loss_valid_only). */
function validOnlyLabels(c: PaddedCase): Rows {
  return c.labels.map((row, b) => row.map((x, t) => (t > 0 && c.attention_mask[b][t - 1] === 0 ? -100 : x)));
}

/** Every HF parity check for one model on the current backend. */
export function describeModelParity(name: string, backend: 'cpu' | 'wasm'): void {
  describe(`${name} vs transformers 4.36.2`, () => {
    let g: Golden;
    let model: CausalLM;
    beforeAll(async () => {
      expect(tf.getBackend()).toBe(backend);
      g = readGolden(name);
      model = await loadPretrained(path.join(HF_FIXTURES, name));
    });
    afterAll(() => model?.dispose());

    test('single sequence: logits, hidden states and loss; forward leaks no tensor', () => {
      const before = tf.memory().numTensors;
      const out = model.forwardOutputs({ inputIds: g.single_A.input_ids }, { outputHiddenStates: true });
      const logits = out.logits!;
      const [, t, v] = logits.shape;
      const flat = logits.dataSync();
      expect(maxAbsDiff(flat.subarray(0, 3 * v), g.single_A.logits_first3.flat())).toBeLessThan(1e-4);
      expect(maxAbsDiff(flat.subarray((t - 3) * v), g.single_A.logits_last3.flat())).toBeLessThan(1e-4);
      expect(out.hiddenStates!.length).toBe(g.single_A.hidden_states.length);
      out.hiddenStates!.forEach((h, i) => expect(maxAbsDiff(h.dataSync(), g.single_A.hidden_states[i].flat())).toBeLessThan(1e-4));
      expect(maxAbsDiff(out.lastHiddenState.dataSync(), g.single_A.hidden_states[2].flat())).toBeLessThan(1e-4);
      const loss = causalLmLoss(logits, g.single_A.input_ids);
      expect(Math.abs(loss.dataSync()[0] - g.single_A.loss)).toBeLessThan(1e-5);
      [logits, out.lastHiddenState, ...out.hiddenStates!, loss].forEach((x) => x.dispose());
      expect(tf.memory().numTensors).toBe(before);
    });

    for (const kind of ['right_padded', 'left_padded'] as const) {
      test(`${kind} batch: every non-pad logit row and the loss`, () => {
        const c = g[kind];
        const logits = model.forward({ inputIds: c.input_ids, attentionMask: c.attention_mask, positionIds: c.passed_position_ids ?? undefined });
        const all = logits.arraySync();
        let worst = 0;
        let rows = 0;
        c.logits.forEach((seq, b) =>
          seq.forEach((ref, t) => {
            if (ref === null) return;
            rows++;
            worst = Math.max(worst, maxAbsDiff(all[b][t], ref));
          }),
        );
        expect(rows).toBe(c.attention_mask.flat().filter((m) => m === 1).length);
        expect(worst).toBeLessThan(1e-4);
        const loss = causalLmLoss(logits, kind === 'right_padded' ? c.labels : validOnlyLabels(c));
        expect(Math.abs(loss.dataSync()[0] - (kind === 'right_padded' ? c.loss : c.loss_valid_only))).toBeLessThan(1e-5);
        logits.dispose();
        loss.dispose();
      });
    }

    test('gradients of the right-padded loss: norms, global norm, first values; no leak', () => {
      const c = g.right_padded;
      const params = model.namedParameters();
      const names = [...params.keys()];
      const vars = [...params.values()];
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(
        () => tf.tidy(() => causalLmLoss(model.forward({ inputIds: c.input_ids, attentionMask: c.attention_mask, positionIds: c.passed_position_ids ?? undefined }), c.labels)),
        vars,
      );
      expect(Math.abs(value.dataSync()[0] - g.gradients.loss)).toBeLessThan(1e-5);
      let sq = 0;
      const host = new Map<string, Float32Array>();
      names.forEach((n, i) => {
        const gt = grads[vars[i].name];
        const hf = model.isTransposed(n) ? tf.transpose(gt) : gt;
        const data = hf.dataSync() as Float32Array;
        if (hf !== gt) hf.dispose();
        host.set(n, data);
        sq += hostNorm(data) ** 2;
      });
      expect(Math.abs(Math.sqrt(sq) - g.gradients.global_grad_l2_norm) / g.gradients.global_grad_l2_norm).toBeLessThan(1e-4);
      for (const [n, ref] of Object.entries(g.gradients.params)) {
        const data = host.get(n);
        expect(data).toBeDefined();
        expect(Math.abs(hostNorm(data!) - ref.grad_l2_norm) / ref.grad_l2_norm).toBeLessThan(1e-4);
        expect(maxAbsDiff(data!.subarray(0, 8), ref.grad_first8_flat)).toBeLessThan(1e-5);
      }
      value.dispose();
      Object.values(grads).forEach((x) => x.dispose());
      expect(tf.memory().numTensors).toBe(before);
    });

    test('greedy generation: single prompts, left-padded batch, positions; no leak', async () => {
      const gen = g.generation;
      const before = tf.memory().numTensors;
      for (const s of gen.single) {
        const out = await model.generate(s.prompt, { maxNewTokens: gen.max_new_tokens });
        expect(out.newTokens[0]).toEqual(s.new_tokens);
        expect(out.sequences[0]).toEqual(s.full_sequence);
      }
      const lp = gen.left_padded_batch;
      const offset = model.config.modelType === 'opt' ? 2 : 0; // the golden OPT ids are rows of embed_positions
      const pos = model.generationPositionIds(lp.attention_mask).map((r) => r.map((p) => p + offset));
      expect(pos).toEqual(lp.first_step_position_ids);
      const out = await model.generate({ inputIds: lp.input_ids, attentionMask: lp.attention_mask }, { maxNewTokens: gen.max_new_tokens });
      expect(out.sequences).toEqual(lp.sequences);
      expect(out.newTokens).toEqual(lp.new_tokens);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}
