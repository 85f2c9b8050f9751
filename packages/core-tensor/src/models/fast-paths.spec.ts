// The wasm decoding fast paths (fused attention, in-place KV cache, fused LayerNorm, direct linear) change no result.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmFastPaths, type WasmFastPath } from '../backend/fast-paths';
import { maxAbsDiff, switchBackend } from '../testing/backends';
import type { CausalLM } from './causal-lm';
import { loadPretrained } from './load';

const HF_FIXTURES = path.resolve(__dirname, '../../../../../shared/fixtures/hf-reference');
const have = fs.existsSync(path.join(HF_FIXTURES, 'llama', 'golden.json'));
if (!have) console.warn(`[skip] HF fixtures not found at ${HF_FIXTURES}; fast-path specs are skipped`);

const ALL: WasmFastPath[] = ['decodeAttention', 'kvInPlace', 'layerNorm', 'linearNoGrad'];
const withPaths = <T>(on: boolean, fn: () => T): T => {
  const prev = setWasmFastPaths(Object.fromEntries(ALL.map((p) => [p, on])));
  try {
    return fn();
  } finally {
    setWasmFastPaths(prev);
  }
};

(have ? describe : describe.skip)('wasm decoding fast paths', () => {
  beforeAll(async () => {
    await switchBackend('wasm');
  });

  // OPT (LayerNorm, learned positions), LLaMA (GQA, rotary, RMSNorm), GPT-2 (fused qkv, tied head).
  test.each(['opt', 'llama', 'gpt2'])('%s: cached one-token steps equal the full forward, on and off, growing the buffer', async (name) => {
    const m: CausalLM = await loadPretrained(path.join(HF_FIXTURES, name));
    const ids = [[5, 9, 14, 3, 7, 2, 11, 8], [4, 4, 6, 10, 12, 1, 3, 9]];
    const full = m.forward({ inputIds: ids });
    const stepLogits = (on: boolean): Float32Array[] => withPaths(on, () => {
      const cache = m.createCache();
      cache.reserve(4); // smaller than needed: the in-place buffer must grow
      const out: Float32Array[] = [];
      tf.dispose(m.forward({ inputIds: ids.map((r) => r.slice(0, 3)) }, { cache }));
      for (let t = 3; t < 6; t++) {
        const l = m.forward({ inputIds: ids.map((r) => [r[t]]) }, { cache });
        out.push(Float32Array.from(l.dataSync()));
        l.dispose();
      }
      // Two tokens at once after in-place steps: the cache goes back to exact tensors.
      const two = m.forward({ inputIds: ids.map((r) => r.slice(6, 8)) }, { cache });
      out.push(Float32Array.from(two.dataSync()));
      two.dispose();
      cache.dispose();
      return out;
    });
    const before = tf.memory().numTensors;
    const fast = stepLogits(true);
    const plain = stepLogits(false);
    expect(tf.memory().numTensors).toBe(before);
    const v = m.config.vocabSize;
    const fullData = full.dataSync();
    const at = (b: number, t: number): Float32Array => fullData.subarray((b * 8 + t) * v, (b * 8 + t + 1) * v) as Float32Array;
    for (let s = 0; s < 3; s++) {
      for (let b = 0; b < 2; b++) {
        expect(maxAbsDiff(fast[s].subarray(b * v, (b + 1) * v), at(b, 3 + s))).toBeLessThan(1e-5);
        expect(maxAbsDiff(plain[s].subarray(b * v, (b + 1) * v), at(b, 3 + s))).toBeLessThan(1e-5);
      }
    }
    for (let b = 0; b < 2; b++) {
      for (let j = 0; j < 2; j++) expect(maxAbsDiff(fast[3].subarray((b * 2 + j) * v, (b * 2 + j + 1) * v), at(b, 6 + j))).toBeLessThan(1e-5);
    }
    full.dispose();
    m.dispose();
  });

  test('left-padded batched greedy generation: same tokens and scores within 1e-5 with and without the fast paths', async () => {
    const m = await loadPretrained(path.join(HF_FIXTURES, 'opt'));
    const input = [[2, 31, 415, 926, 53, 589], [2, 88, 419]];
    const gen = (on: boolean) => withPaths(on, () => m.generate(input, { maxNewTokens: 6, outputScores: true, eosTokenId: null }));
    const before = tf.memory().numTensors;
    const fast = await gen(true);
    const plain = await gen(false);
    expect(tf.memory().numTensors).toBe(before);
    expect(fast.sequences).toEqual(plain.sequences);
    fast.scores!.forEach((s, i) => expect(maxAbsDiff(s, plain.scores![i])).toBeLessThan(1e-5));
    m.dispose();
  });
});
