// KV cache through forward(), dropout only in training, LoRA hook on Linear, trainable flags, layer runner, GQA.
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { maxAbsDiff, useBackend } from '../testing/backends';
import { attention } from './attention';
import { createModelFromConfig, loadPretrained } from './load';
import { fixturesPresent, HF_FIXTURES, readGolden } from './parity-suite';
import type { LayerContext } from './types';

const run = fixturesPresent() ? describe : describe.skip;

/** Logits rows [b][vocab] at position t. */
function at(x: tf.Tensor3D, t: number): number[] {
  const [b, , v] = x.shape;
  const row = tf.slice(x, [0, t, 0], [b, 1, v]);
  const out = Array.from(row.dataSync());
  row.dispose();
  return out;
}

run('model features (cpu)', () => {
  useBackend('cpu');

  test('forward with a KV cache equals the full forward (OPT left-padded: positions continue from the mask)', async () => {
    const m = await loadPretrained(path.join(HF_FIXTURES, 'opt'));
    const lp = readGolden('opt').left_padded;
    const ids = lp.input_ids;
    const mask = lp.attention_mask;
    const extra = [[11, 12], [13, 14]];
    const full = m.forward({ inputIds: ids.map((r, i) => [...r, ...extra[i]]), attentionMask: mask.map((r) => [...r, 1, 1]) });
    const cache = m.createCache();
    const before = tf.memory().numTensors;
    tf.dispose(m.forward({ inputIds: ids, attentionMask: mask }, { cache }));
    const s1 = m.forward({ inputIds: extra.map((r) => [r[0]]) }, { cache });
    const s2 = m.forward({ inputIds: extra.map((r) => [r[1]]) }, { cache });
    expect(cache.length).toBe(ids[0].length + 2);
    const t = ids[0].length;
    expect(maxAbsDiff(at(s1, 0), at(full, t))).toBeLessThan(1e-5);
    expect(maxAbsDiff(at(s2, 0), at(full, t + 1))).toBeLessThan(1e-5);
    tf.dispose([s1, s2, full]);
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before - 1); // only `full` (made before) is gone
    m.dispose();
  });

  test('forward with a KV cache equals the full forward (LLaMA: rotary positions past..past+q)', async () => {
    const m = await loadPretrained(path.join(HF_FIXTURES, 'llama'));
    const ids = readGolden('llama').single_A.input_ids;
    const full = m.forward({ inputIds: ids });
    const cache = m.createCache();
    tf.dispose(m.forward({ inputIds: [ids[0].slice(0, 9)] }, { cache }));
    const rest = m.forward({ inputIds: [ids[0].slice(9)] }, { cache });
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(at(rest, i), at(full, 9 + i))).toBeLessThan(1e-5);
    tf.dispose([full, rest]);
    cache.dispose();
    m.dispose();
  });

  test('dropout runs only in training mode, reproducibly per RNG seed', async () => {
    const m = await loadPretrained(path.join(HF_FIXTURES, 'gpt2')); // embd/attn/resid_pdrop 0.1
    const ids = readGolden('gpt2').single_A.input_ids;
    const logitsOf = (): Float32Array => {
      const x = m.forward({ inputIds: ids });
      const d = x.dataSync() as Float32Array;
      x.dispose();
      return d;
    };
    const evalA = logitsOf();
    m.train();
    m.rng = new Rng(5);
    const trainA = logitsOf();
    m.rng = new Rng(5);
    const trainB = logitsOf();
    const trainC = logitsOf();
    m.eval();
    expect(maxAbsDiff(trainA, trainB)).toBe(0);
    expect(maxAbsDiff(trainA, trainC)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(trainA, evalA)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(logitsOf(), evalA)).toBe(0);
    m.dispose();
  });

  test('linear layers are listed by HF module name and an adapter on one changes exactly its output', async () => {
    const m = await loadPretrained(path.join(HF_FIXTURES, 'llama'));
    const linears = m.linearLayers();
    expect(linears.size).toBe(2 * 7 + 1);
    expect(linears.has('model.layers.0.self_attn.q_proj')).toBe(true);
    const head = linears.get('lm_head')!;
    expect([head.inFeatures, head.outFeatures, head.hfLayout]).toEqual([64, 1000, 'linear']);
    const ids = [[1, 5, 9]];
    const base = m.forward({ inputIds: ids });
    head.adapter = { apply: (_x, out) => tf.add(out, 1) as tf.Tensor2D };
    const adapted = m.forward({ inputIds: ids });
    head.adapter = null;
    const plus = tf.sub(adapted, base);
    expect(maxAbsDiff(plus.dataSync(), new Float32Array(3 * 1000).fill(1))).toBeLessThan(1e-5);
    tf.dispose([base, adapted, plus]);
    const gpt2 = createModelFromConfig({ model_type: 'gpt2', vocab_size: 20, n_embd: 8, n_head: 2, n_layer: 1, n_positions: 8 });
    expect([...gpt2.linearLayers().values()].map((l) => l.hfLayout)).toEqual(['conv1d', 'conv1d', 'conv1d', 'conv1d']);
    gpt2.dispose();
    m.dispose();
  });

  test('trainable flags per parameter; layer runner sees every layer and changes nothing by default', async () => {
    const m = await loadPretrained(path.join(HF_FIXTURES, 'opt'), { trainable: false });
    expect(m.trainableParameters().size).toBe(0);
    m.setTrainable((n) => n.includes('layers.1.'));
    expect([...m.trainableParameters().keys()].every((n) => n.includes('layers.1.'))).toBe(true);
    expect(m.trainableParameters().size).toBe(16);
    const ids = [[2, 7, 8]];
    const a = m.forward({ inputIds: ids });
    const seen: number[] = [];
    m.setLayerRunner((layer, h, ctx: LayerContext, kv) => {
      seen.push(layer.index);
      expect([...layer.parameters().keys()].every((k) => k.startsWith(`${layer.name}.`))).toBe(true);
      return layer.apply(h, ctx, kv);
    });
    const b = m.forward({ inputIds: ids });
    m.setLayerRunner(null);
    expect(seen).toEqual([0, 1]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([a, b]);
    m.dispose();
  });

  test('out-of-range ids and positions in host arrays are clear errors', async () => {
    const m = await loadPretrained(path.join(HF_FIXTURES, 'gpt2'));
    expect(() => m.forward({ inputIds: [[1, 1000]] })).toThrow(/inputIds\[0\]\[1\] is 1000, outside \[0, 1000\); the model's vocab_size is 1000/);
    expect(() => m.forward({ inputIds: [[1, 2]], positionIds: [[0, 128]] })).toThrow(/positionIds\[0\]\[1\] is 128, outside \[0, 128\)/);
    await expect(m.generate([5, 2000])).rejects.toThrow(/prompt ids\[0\]\[1\] is 2000/);
    m.dispose();
  });

  test('grouped-query attention equals attention over repeated key/value heads (MQA and GQA)', () => {
    const ctx: LayerContext = { batch: 1, queryLen: 3, pastLen: 0, maskBias: null, rope: null, training: false, dropout: (x) => x };
    for (const kvHeads of [1, 2]) {
      const r = new Rng(kvHeads);
      const q = tf.tensor4d(r.fillNormal(new Float32Array(4 * 3 * 8)), [1, 4, 3, 8]);
      const k = tf.tensor4d(r.fillNormal(new Float32Array(kvHeads * 3 * 8)), [1, kvHeads, 3, 8]);
      const v = tf.tensor4d(r.fillNormal(new Float32Array(kvHeads * 3 * 8)), [1, kvHeads, 3, 8]);
      const rep = (x: tf.Tensor4D): tf.Tensor4D => {
        const parts = tf.split(x, kvHeads, 1);
        return tf.concat(parts.flatMap((p) => new Array(4 / kvHeads).fill(p)), 1) as tf.Tensor4D; // head h -> kv h / group
      };
      const a = attention(q, k, v, ctx, undefined, { scoreDivisor: Math.sqrt(8), dropoutRate: 0 });
      const b = attention(q, rep(k), rep(v), ctx, undefined, { scoreDivisor: Math.sqrt(8), dropoutRate: 0 });
      expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThan(1e-6);
    }
  });
});
