// The DPO mask and loss against hand-computed numbers: divergence cases, OPT's BOS = pad = eos, identical rows and models, leaks.
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { loadPretrained, type CausalLM } from '@rlhfkit/core-tensor';
import { tensorsLeftBy } from '../../core-tensor/src/testing/backends';
import { computeDpoBatch, dpoTrainingLoss, referenceLogps } from './batch';
import { dpoLabelMask, dpoTerms, logSigmoid, shiftedLabels, toIntMatrix } from './dpo-math';
import { makeTempDir, tinyOpt, useWasm } from './testing';

const rows = (m: { data: Int32Array; shape: [number, number] }): number[][] =>
  Array.from({ length: m.shape[0] }, (_, i) => Array.from(m.data.subarray(i * m.shape[1], (i + 1) * m.shape[1])));

beforeAll(useWasm);

describe('dpoLabelMask (DeepSpeed-Chat: ids != pad, then 0 before the first divergence in both rows)', () => {
  const P = 0;
  test('a pair that diverges, a prefix pair (divergence on a pad) and identical rows', () => {
    const ids = [
      [5, 6, 7, 8, P, P], // chosen 0
      [5, 6, 7, P, P, P], // chosen 1: rejected 1 continues it
      [4, 4, 4, P, P, P], // chosen 2: identical to rejected 2
      [5, 6, 9, 9, 9, P], // rejected 0: differs at 2
      [5, 6, 7, 3, 3, P], // rejected 1: differs at 3 (chosen has a pad there)
      [4, 4, 4, P, P, P], // rejected 2
    ];
    const { mask, divergence } = dpoLabelMask(ids, P);
    expect(divergence).toEqual([2, 3, 0]);
    expect(rows(mask)).toEqual([
      [0, 0, 1, 1, 0, 0],
      [0, 0, 0, 0, 0, 0], // nothing of chosen 1 is past the divergence
      [1, 1, 1, 0, 0, 0], // identical rows: nothing cut (their log-probs then cancel)
      [0, 0, 1, 1, 1, 0],
      [0, 0, 0, 1, 1, 0],
      [1, 1, 1, 0, 0, 0],
    ]);
  });

  test("OPT with pad = eos = BOS (id 2): the BOS and every eos-id token inside a row are left out", () => {
    const ids = [
      [2, 10, 11, 12, 2, 2],
      [2, 10, 13, 2, 14, 2],
    ];
    const { mask, divergence } = dpoLabelMask(ids, 2);
    expect(divergence).toEqual([2]);
    expect(rows(mask)).toEqual([
      [0, 0, 1, 1, 0, 0],
      [0, 0, 1, 0, 1, 0],
    ]);
    // With OPT's own <pad> (id 1) the same rows keep their eos tokens after the divergence.
    expect(rows(dpoLabelMask(ids, 1).mask)).toEqual([
      [0, 0, 1, 1, 1, 1],
      [0, 0, 1, 1, 1, 1],
    ]);
  });

  test('a batch must hold an even number of rows', () => {
    expect(() => dpoLabelMask([[1, 2, 3]], 0)).toThrow(/even number of rows/);
    expect(() => toIntMatrix([[1, 2], [3]], 'inputIds')).toThrow(/row 1 has 1 entries/);
  });

  test('shiftedLabels: position t holds token t+1 and its mask, the last position 0', () => {
    const ids = toIntMatrix([[7, 8, 9]], 'ids');
    const { labels, weights } = shiftedLabels(ids, toIntMatrix([[0, 1, 1]], 'mask'));
    expect(Array.from(labels.data)).toEqual([8, 9, 0]);
    expect(Array.from(weights)).toEqual([1, 1, 0]);
  });
});

describe('the loss lines', () => {
  const logSig = (z: number): number => Math.min(z, 0) - Math.log1p(Math.exp(-Math.abs(z)));

  test('logSigmoid: stable values, and gradient sigmoid(-z) including at z = 0', () => {
    const z = [-60, -3, 0, 0.5, 60];
    const got = tf.tidy(() => Array.from(logSigmoid(tf.tensor1d(z)).dataSync()));
    got.forEach((g, i) => expect(g).toBeCloseTo(logSig(z[i]), 6));
    const grad = tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(logSigmoid(x as tf.Tensor1D)))(tf.tensor1d(z)).dataSync()));
    grad.forEach((g, i) => expect(g).toBeCloseTo(1 / (1 + Math.exp(z[i])), 6));
  });

  test('dpoTerms: z, rewards and the label-smoothed loss by hand', () => {
    const pi = [-10, -20, -14, -18]; // chosen rows 0, 1; rejected rows 0, 1
    const ref = [-12, -19, -13, -18.5];
    for (const [beta, ls] of [[0.1, 0], [0.5, 0.2]]) {
      const cr = [beta * (pi[0] - ref[0]), beta * (pi[1] - ref[1])];
      const rr = [beta * (pi[2] - ref[2]), beta * (pi[3] - ref[3])];
      const z = [cr[0] - rr[0], cr[1] - rr[1]];
      const want = z.map((v) => -logSig(v) * (1 - ls) - logSig(-v) * ls).reduce((a, b) => a + b) / 2;
      const out = tf.tidy(() => {
        const t = dpoTerms(tf.tensor1d(pi), tf.tensor1d(ref), { beta, labelSmoothing: ls });
        return [t.loss, t.z, t.chosenRewards, t.rejectedRewards].map((x) => Array.from(x.dataSync()));
      });
      expect(out[0][0]).toBeCloseTo(want, 6);
      out[1].forEach((v, i) => expect(v).toBeCloseTo(z[i], 5));
      out[2].forEach((v, i) => expect(v).toBeCloseTo(cr[i], 5));
      out[3].forEach((v, i) => expect(v).toBeCloseTo(rr[i], 5));
    }
  });
});

describe('on a tiny model', () => {
  let root: string;
  let model: CausalLM;
  let other: CausalLM;
  const pad = 1256; // the tiny tokenizer's <|endoftext|> (256 + 1000 merges): pad = eos, as DeepSpeed-Chat sets it
  const inputs = {
    inputIds: [
      [40, 41, 42, 43, 44, pad],
      [40, 41, 42, 50, 51, 52],
      [40, 41, 42, 43, 44, pad], // identical to chosen 0
      [40, 41, 60, 61, pad, pad],
    ],
    attentionMask: [
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 0],
    ],
  };
  beforeAll(async () => {
    root = makeTempDir();
    model = (await loadPretrained(await tinyOpt(root))).eval();
    other = (await loadPretrained(await tinyOpt(root, 'tiny-opt-2'))).eval();
    // A different reference: the same architecture with every weight nudged.
    for (const v of other.namedParameters().values()) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.02, 'float32', 3))));
  });
  afterAll(() => {
    model.dispose();
    other.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('policy = reference: rewards 0 and loss ln 2, whatever the pairs', () => {
    const r = computeDpoBatch(model, model, inputs, { beta: 0.1, labelSmoothing: 0, padTokenId: pad });
    expect(r.chosenRewards).toEqual([0, 0]);
    expect(r.rejectedRewards).toEqual([0, 0]);
    expect(r.loss).toBeCloseTo(Math.LN2, 6);
    expect(r.policyLogps).toEqual(r.refLogps);
  });

  test('an identical pair contributes z = 0 (its two rows get the same log-probs) even when the models differ', () => {
    const r = computeDpoBatch(model, other, inputs, { beta: 0.1, labelSmoothing: 0, padTokenId: pad });
    expect(r.chosenRewards[0]).toBeCloseTo(r.rejectedRewards[0], 6);
    expect(r.chosenRewards[1]).not.toBeCloseTo(r.rejectedRewards[1], 3);
    expect(r.policyLogps[0]).toBe(r.policyLogps[2]);
  });

  test('no tensor is left behind by computeDpoBatch, the reference log-probs or a gradient of the training loss', () => {
    const ids = toIntMatrix(inputs.inputIds, 'ids');
    const mask = toIntMatrix(inputs.attentionMask, 'mask');
    const { mask: labelMask, divergence } = dpoLabelMask(ids, pad);
    const s = { beta: 0.1, labelSmoothing: 0.1 };
    expect(tensorsLeftBy(() => void computeDpoBatch(model, other, inputs, { ...s, padTokenId: pad }))).toBe(0);
    expect(tensorsLeftBy(() => void referenceLogps(other, ids, mask, labelMask))).toBe(0);
    const batch = { inputIds: ids, attentionMask: mask, labelMask, divergence, refLogps: referenceLogps(other, ids, mask, labelMask) };
    const vars = [...model.namedParameters().values()];
    expect(tensorsLeftBy(() => {
      const { value, grads } = tf.variableGrads(() => dpoTrainingLoss(model, batch, s), vars);
      return [value, ...Object.values(grads)];
    })).toBe(0);
  });
});
