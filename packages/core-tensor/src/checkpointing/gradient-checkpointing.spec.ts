// Gradient checkpointing: same gradients as plain backprop (fixtures, dropout, LoRA), no leak, lower peak memory.
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { convertLinearLayerToLora, onlyOptimizeLoraParameters } from '../lora/convert';
import type { CausalLM } from '../models/causal-lm';
import { createModelFromConfig, loadPretrained } from '../models/load';
import { causalLmLoss } from '../models/loss';
import { fixturesPresent, HF_FIXTURES, PARITY_MODELS, readGolden } from '../models/parity-suite';
import { Rng } from '../rng';
import { maxAbsDiff, useBackend } from '../testing/backends';
import { disableGradientCheckpointing, enableGradientCheckpointing, isGradientCheckpointingEnabled } from './gradient-checkpointing';

type Rows = number[][];
interface Batch {
  input_ids: Rows;
  attention_mask: Rows;
  labels: Rows;
  passed_position_ids: Rows | null;
}

/** Loss and host copies of every trainable parameter's gradient (HF names, internal layout), leaving no tensor. */
function lossAndGrads(m: CausalLM, c: Batch): { loss: number; grads: Map<string, Float32Array> } {
  const named = [...m.trainableParameters()];
  const { value, grads } = tf.variableGrads(
    () => tf.tidy(() => causalLmLoss(m.forward({ inputIds: c.input_ids, attentionMask: c.attention_mask, positionIds: c.passed_position_ids ?? undefined }), c.labels)),
    named.map(([, v]) => v),
  );
  const out = new Map<string, Float32Array>();
  for (const [n, v] of named) if (grads[v.name]) out.set(n, Float32Array.from(grads[v.name].dataSync()));
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: out };
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** Worst ||a - b|| / ||b|| over parameters (b = plain backprop); every parameter must be present in both. */
function worstRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let worst = 0;
  for (const [n, gb] of b) {
    const ga = a.get(n)!;
    const d = Float32Array.from(ga, (x, i) => x - gb[i]);
    const nb = norm(gb);
    worst = Math.max(worst, nb > 0 ? norm(d) / nb : norm(d));
  }
  return worst;
}

const run = fixturesPresent() ? describe : describe.skip;

run('gradient checkpointing on the fixture models (wasm)', () => {
  useBackend('wasm');

  for (const name of PARITY_MODELS) {
    test(`${name}: right-padded loss gradients equal plain backprop (1e-5 rel) and the golden norms; no leak`, async () => {
      const g = readGolden(name);
      const m = await loadPretrained(path.join(HF_FIXTURES, name));
      const plain = lossAndGrads(m, g.right_padded);
      enableGradientCheckpointing(m);
      expect(isGradientCheckpointingEnabled(m)).toBe(true);
      // Count layer calls: a checkpointed layer runs twice per step (forward, then the recompute in backward).
      let calls = 0;
      for (const layer of m.layers) {
        const apply = layer.apply.bind(layer);
        layer.apply = (h, ctx, kv) => (calls++, apply(h, ctx, kv));
      }
      const before = tf.memory().numTensors;
      const ckpt = lossAndGrads(m, g.right_padded);
      expect(tf.memory().numTensors).toBe(before);
      expect(calls).toBe(2 * m.layers.length);
      expect(ckpt.loss).toBe(plain.loss);
      expect(worstRelDiff(ckpt.grads, plain.grads)).toBeLessThan(1e-5);
      for (const [n, ref] of Object.entries(g.gradients.params)) {
        const data = ckpt.grads.get(n)!;
        // Golden values are in HF layout; the norm is layout-independent.
        expect(Math.abs(norm(data) - ref.grad_l2_norm) / ref.grad_l2_norm).toBeLessThan(1e-4);
      }
      const total = Math.sqrt([...ckpt.grads.values()].reduce((s, x) => s + norm(x) ** 2, 0));
      expect(Math.abs(total - g.gradients.global_grad_l2_norm) / g.gradients.global_grad_l2_norm).toBeLessThan(1e-4);
      disableGradientCheckpointing(m);
      expect(isGradientCheckpointingEnabled(m)).toBe(false);
      m.dispose();
    });
  }

  test('dropout on (GPT-2, p=0.1, training): the recomputed layers redraw the same masks, same seed -> same grads', async () => {
    const g = readGolden('gpt2');
    const m = await loadPretrained(path.join(HF_FIXTURES, 'gpt2'));
    m.train();
    m.rng = new Rng(21);
    const plain = lossAndGrads(m, g.right_padded);
    m.rng = new Rng(22);
    const otherSeed = lossAndGrads(m, g.right_padded);
    enableGradientCheckpointing(m);
    m.rng = new Rng(21);
    const ckpt = lossAndGrads(m, g.right_padded);
    const rngAfterCkpt = m.rng.getState();
    m.rng = new Rng(21);
    disableGradientCheckpointing(m);
    lossAndGrads(m, g.right_padded);
    expect(rngAfterCkpt).toEqual(m.rng.getState()); // backward's replay leaves the stream where plain training leaves it
    expect(ckpt.loss).toBe(plain.loss);
    expect(worstRelDiff(ckpt.grads, plain.grads)).toBeLessThan(1e-5);
    expect(worstRelDiff(otherSeed.grads, plain.grads)).toBeGreaterThan(1e-3); // dropout really was on
    m.dispose();
  });

  test('LoRA (dropout 0.1, only LoRA trainable) through checkpointed layers: same grads for every R and L', async () => {
    const c = readGolden('opt').right_padded;
    const m = await loadPretrained(path.join(HF_FIXTURES, 'opt'));
    convertLinearLayerToLora(m, { loraModuleName: 'decoder.layers.', loraDim: 4, loraDropout: 0.1 });
    onlyOptimizeLoraParameters(m);
    const r = new Rng(5);
    for (const [n, v] of m.namedParameters()) {
      if (n.endsWith('lora_left_weight')) tf.tidy(() => v.assign(tf.tensor(r.fillNormal(new Float32Array(v.size), 0, 0.1), v.shape)));
    }
    m.train();
    m.rng = new Rng(9);
    const plain = lossAndGrads(m, c);
    enableGradientCheckpointing(m);
    m.rng = new Rng(9);
    const ckpt = lossAndGrads(m, c);
    expect(plain.grads.size).toBe(24);
    expect(ckpt.loss).toBe(plain.loss);
    expect(worstRelDiff(ckpt.grads, plain.grads)).toBeLessThan(1e-5);
    m.dispose();
  });

  test('inference is untouched: forward without a tape and KV-cache generation run the plain layers', async () => {
    const g = readGolden('llama');
    const m = await loadPretrained(path.join(HF_FIXTURES, 'llama'));
    enableGradientCheckpointing(m);
    const before = tf.memory().numTensors;
    const s = g.generation.single[0];
    const out = await m.generate(s.prompt, { maxNewTokens: g.generation.max_new_tokens });
    expect(out.newTokens[0]).toEqual(s.new_tokens);
    const logits = m.forward({ inputIds: g.single_A.input_ids });
    expect(maxAbsDiff(logits.dataSync().subarray(0, 3000), g.single_A.logits_first3.flat())).toBeLessThan(1e-4);
    logits.dispose();
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

describe('gradient checkpointing memory and time (wasm)', () => {
  useBackend('wasm');

  test('peak bytes during tf.variableGrads drop on a 6-layer OPT at 128 tokens', async () => {
    const raw = {
      model_type: 'opt', vocab_size: 128, hidden_size: 64, ffn_dim: 256, num_hidden_layers: 6, num_attention_heads: 4,
      max_position_embeddings: 128, word_embed_proj_dim: 64, do_layer_norm_before: true, dropout: 0, attention_dropout: 0,
    };
    const m = createModelFromConfig(raw, { seed: 3, initStd: 0.1 });
    const B = 4;
    const T = 128;
    const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 31 + t * 7) % 128));
    const batch: Batch = { input_ids: ids, attention_mask: ids.map((r) => r.map(() => 1)), labels: ids, passed_position_ids: null };
    const measure = async (): Promise<{ peak: number; ms: number; grads: Map<string, Float32Array> }> => {
      lossAndGrads(m, batch); // warm-up: kernels and the wasm heap
      const t0 = performance.now();
      let grads = lossAndGrads(m, batch).grads;
      const ms = performance.now() - t0; // timed outside tf.profile, whose per-kernel bookkeeping skews it
      const info = await tf.profile(() => {
        grads = lossAndGrads(m, batch).grads;
      });
      return { peak: info.peakBytes - (tf.memory().numBytes - info.newBytes), ms, grads };
    };
    const plain = await measure();
    enableGradientCheckpointing(m);
    const ckpt = await measure();
    disableGradientCheckpointing(m);
    console.log(
      `[gradient checkpointing] OPT 6x64, batch ${B}x${T}: peak above baseline plain ${(plain.peak / 2 ** 20).toFixed(2)} MiB, ` +
        `checkpointed ${(ckpt.peak / 2 ** 20).toFixed(2)} MiB (${((100 * ckpt.peak) / plain.peak).toFixed(0)}%); ` +
        `time per step plain ${plain.ms.toFixed(0)} ms, checkpointed ${ckpt.ms.toFixed(0)} ms`,
    );
    expect(ckpt.peak).toBeLessThan(0.7 * plain.peak);
    expect(worstRelDiff(ckpt.grads, plain.grads)).toBeLessThan(1e-5);
    m.dispose();
  });
});
