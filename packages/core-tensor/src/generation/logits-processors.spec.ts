// Logits processors against hand-computed cases (HF semantics).
import { Rng } from '../rng';
import { applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP, argmax, sampleFromScores } from './logits-processors';
import { generationConfigFromJson, resolveGeneration } from './generation-config';

const NEG = -Infinity;

test('repetition penalty divides positive and multiplies negative scores of ids in the row, once per id', () => {
  const s = new Float32Array([2, -1, 0.5, 3]);
  applyRepetitionPenalty(s, [0, 1, 1], 2);
  expect(Array.from(s)).toEqual([1, -2, 0.5, 3]);
});

test('temperature divides every score', () => {
  const s = new Float32Array([1, -2, 4]);
  applyTemperature(s, 0.5);
  expect(Array.from(s)).toEqual([2, -4, 8]);
});

test('top-k keeps the k largest and ties with the k-th', () => {
  const s = new Float32Array([1, 3, 2, 3, 0]);
  applyTopK(s, 2);
  expect(Array.from(s)).toEqual([NEG, 3, NEG, 3, NEG]);
  const t = new Float32Array([1, 3, 2]);
  applyTopK(t, 2);
  expect(Array.from(t)).toEqual([NEG, 3, 2]);
});

test('top-p drops the tail whose cumulative probability is <= 1 - p and keeps the top token', () => {
  const probs = [0.1, 0.2, 0.3, 0.4];
  const s = new Float32Array(probs.map(Math.log));
  applyTopP(s, 0.5); // ascending cum: 0.1, 0.3, 0.6, 1.0 -> 0.1 and 0.3 are <= 0.5
  expect(Array.from(s).map((x) => x === NEG)).toEqual([true, true, false, false]);
  const t = new Float32Array(probs.map(Math.log));
  applyTopP(t, 0.75); // cum <= 0.25: only the 0.1 token
  expect(Array.from(t).map((x) => x === NEG)).toEqual([true, false, false, false]);
  const u = new Float32Array([0, 5]);
  applyTopP(u, 0.01); // the top token always survives
  expect(u[1]).toBe(5);
});

test('argmax takes the first maximum; sampling never picks a removed token and follows the weights', () => {
  expect(argmax([1, 5, 5, 2])).toBe(1);
  const rng = new Rng(3);
  expect(sampleFromScores(new Float32Array([NEG, 0, NEG]), rng)).toBe(1);
  const counts = [0, 0];
  for (let i = 0; i < 4000; i++) counts[sampleFromScores(new Float32Array([0, Math.log(3)]), rng)]++;
  expect(counts[1] / 4000).toBeGreaterThan(0.72); // p = 0.75
  expect(counts[1] / 4000).toBeLessThan(0.78);
});

test('generation settings: call > generation_config.json > config ids > HF defaults', () => {
  const file = generationConfigFromJson({ bos_token_id: 2, eos_token_id: [2, 7], pad_token_id: 1, max_length: 30, do_sample: true, top_k: 5 });
  const r = resolveGeneration({ topK: 3, seed: 1 }, file, { eos: 9, pad: null }, 12);
  expect(r.eos).toEqual([2, 7]);
  expect(r.pad).toBe(1);
  expect(r.maxNewTokens).toBe(18);
  expect(r.doSample).toBe(true);
  expect(r.topK).toBe(3);
  expect(r.topP).toBe(1);
  const d = resolveGeneration({}, {}, { eos: 5, pad: null }, 4);
  expect([d.maxNewTokens, d.doSample, d.topK, d.pad, d.eos]).toEqual([16, false, 50, 5, [5]]);
  expect(resolveGeneration({ maxNewTokens: 3 }, { maxLength: 100 }, { eos: null, pad: null }, 4).maxNewTokens).toBe(3);
  expect(() => resolveGeneration({ doSample: true, temperature: 0 }, {}, { eos: null, pad: null }, 1)).toThrow(/temperature must be > 0/);
});
