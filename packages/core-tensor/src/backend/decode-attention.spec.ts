// The one-query attention kernel (SIMD and JS paths) against softmax(q·kᵀ/div + bias)·v written out in float64.
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, switchBackend } from '../testing/backends';
import { decodeAttentionKernel } from './decode-attention';

/** The definition, per (batch, head): GQA head h reads kv head floor(h / (heads / kvHeads)). */
function reference(
  q: Float32Array, k: Float32Array, v: Float32Array, bias: Float32Array | null,
  b: number, heads: number, kvHeads: number, cap: number, len: number, d: number, divisor: number,
): Float64Array {
  const out = new Float64Array(b * heads * d);
  for (let bi = 0; bi < b; bi++) {
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / (heads / kvHeads));
      const scores = Array.from({ length: len }, (_, j) => {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(bi * heads + h) * d + c] * k[((bi * kvHeads + kh) * cap + j) * d + c];
        return dot / divisor + (bias ? bias[bi * len + j] : 0);
      });
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const sum = e.reduce((a, x) => a + x, 0);
      for (let c = 0; c < d; c++) {
        let acc = 0;
        for (let j = 0; j < len; j++) acc += (e[j] / sum) * v[((bi * kvHeads + kh) * cap + j) * d + c];
        out[(bi * heads + h) * d + c] = acc;
      }
    }
  }
  return out;
}

describe('RlhfkitDecodeAttention on wasm', () => {
  beforeAll(async () => {
    await switchBackend('wasm');
  });

  // [name, batch, heads, kvHeads, cap, length, headDim, with padding bias]
  const cases: [string, number, number, number, number, number, number, boolean][] = [
    ['MHA, SIMD path (d % 4 == 0)', 2, 4, 4, 9, 9, 16, false],
    ['GQA 4 heads on 2, padding bias, buffer longer than the filled part', 3, 4, 2, 12, 7, 8, true],
    ['MQA, JS path (d = 6)', 2, 3, 1, 5, 5, 6, true],
    ['one cached position', 1, 2, 2, 4, 1, 4, false],
  ];
  test.each(cases)('%s', (_name, b, heads, kvHeads, cap, len, d, withBias) => {
    const q = randomArray(b * heads * d, 1, -2, 2);
    const k = randomArray(b * kvHeads * cap * d, 2, -2, 2);
    const v = randomArray(b * kvHeads * cap * d, 3);
    // Padding: the first position of batch row 0 is masked as the model's bias does (-1e9).
    const bias = withBias ? Float32Array.from({ length: b * len }, (_, i) => (i === 0 ? -1e9 : 0)) : null;
    const want = reference(q, k, v, bias, b, heads, kvHeads, cap, len, d, 3);
    const before = tf.memory().numTensors;
    const got = tf.tidy(() => decodeAttentionKernel(
      tf.tensor4d(q, [b, heads, 1, d]), tf.tensor4d(k, [b, kvHeads, cap, d]), tf.tensor4d(v, [b, kvHeads, cap, d]),
      bias ? tf.tensor4d(bias, [b, 1, 1, len]) : null, 3, len,
    ));
    expect(got.shape).toEqual([b, heads, 1, d]);
    expect(maxAbsDiff(got.dataSync(), want)).toBeLessThan(2e-6);
    got.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('rejects shapes that do not fit, naming them', () => {
    expect(() => tf.tidy(() => decodeAttentionKernel(tf.zeros([1, 2, 1, 4]), tf.zeros([1, 2, 3, 4]), tf.zeros([1, 2, 3, 4]), tf.zeros([1, 1, 1, 2]), 1, 3)))
      .toThrow(/bias must be \[1, 1, 1, 3\]/);
    expect(() => tf.tidy(() => decodeAttentionKernel(tf.zeros([1, 3, 1, 4]), tf.zeros([1, 2, 3, 4]), tf.zeros([1, 2, 3, 4]), null, 1, 3)))
      .toThrow(/do not fit/);
    expect(() => tf.tidy(() => decodeAttentionKernel(tf.zeros([1, 2, 1, 4]), tf.zeros([1, 2, 3, 4]), tf.zeros([1, 2, 3, 4]), null, 1, 4)))
      .toThrow(/length 4 is outside \[1, 3\]/);
  });
});
