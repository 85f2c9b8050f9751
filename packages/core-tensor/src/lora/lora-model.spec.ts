// LoRA on real fixture models: layer selection, freezing, fused == unfused forward, fused save/reload, resume state.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadStateDict } from '../io/checkpoint';
import type { CausalLM } from '../models/causal-lm';
import { createModelFromConfig, loadPretrained } from '../models/load';
import { causalLmLoss } from '../models/loss';
import { fixturesPresent, HF_FIXTURES, readGolden } from '../models/parity-suite';
import { Rng } from '../rng';
import { maxAbsDiff, useBackend } from '../testing/backends';
import { getOptimizerGroupedParameters } from '../train/param-groups';
import {
  convertLinearLayerToLora, convertLoraToLinearLayer, fuseLora, loraLayers, loraParameters, onlyOptimizeLoraParameters, unfuseLora,
} from './convert';
import { fusedStateDict, loadLoraStateDict, loraStateDict, saveFused } from './state';

const run = fixturesPresent() ? describe : describe.skip;

function logitsOf(m: CausalLM, ids: number[][], mask?: number[][]): Float32Array {
  const x = m.forward({ inputIds: ids, attentionMask: mask });
  const d = Float32Array.from(x.dataSync());
  x.dispose();
  return d;
}

/** Gives every LoRA left factor N(0, 0.1²) values so the branch is not a no-op (DS-Chat starts it at zero). */
function randomizeLeft(m: CausalLM, seed: number): void {
  const r = new Rng(seed);
  for (const a of loraLayers(m).values()) {
    tf.tidy(() => a.left.assign(tf.tensor(r.fillNormal(new Float32Array(a.left.size), 0, 0.1), a.left.shape)));
  }
}

run('LoRA on the OPT fixture model (wasm)', () => {
  useBackend('wasm');
  const OPT = path.join(HF_FIXTURES, 'opt');
  let c: ReturnType<typeof readGolden>['right_padded'];
  beforeAll(() => {
    c = readGolden('opt').right_padded;
  });

  test("'decoder.layers.' wraps the 12 block linears (not the tied head), freezes only their weights, lists R/L", async () => {
    const m = await loadPretrained(OPT);
    const before = logitsOf(m, c.input_ids, c.attention_mask);
    const made = convertLinearLayerToLora(m, { loraModuleName: 'decoder.layers.', loraDim: 4 });
    expect(made.size).toBe(12);
    expect([...made.keys()].every((n) => n.startsWith('model.decoder.layers.'))).toBe(true);
    const named = m.namedParameters();
    expect(named.get('model.decoder.layers.0.self_attn.q_proj.lora_right_weight')!.shape).toEqual([64, 4]);
    expect(named.get('model.decoder.layers.1.fc2.lora_left_weight')!.shape).toEqual([4, 64]);
    expect(named.get('model.decoder.layers.0.fc1.lora_left_weight')!.shape).toEqual([4, 128]);
    expect(loraParameters(m).size).toBe(24);
    expect(m.isTransposed('model.decoder.layers.0.fc1.lora_right_weight')).toBe(false);
    // DS-Chat freezes the wrapped weight only; its bias and every other parameter keep requires_grad.
    const trainable = new Set(m.trainableParameters().keys());
    expect(trainable.has('model.decoder.layers.0.self_attn.q_proj.weight')).toBe(false);
    expect(trainable.has('model.decoder.layers.0.self_attn.q_proj.bias')).toBe(true);
    expect(trainable.has('model.decoder.embed_tokens.weight')).toBe(true);
    expect(trainable.has('model.decoder.layers.0.self_attn.q_proj.lora_left_weight')).toBe(true);
    // L starts at zero: the wrapped model computes exactly what the plain one did.
    expect(maxAbsDiff(logitsOf(m, c.input_ids, c.attention_mask), before)).toBeLessThan(1e-6);
    expect(convertLinearLayerToLora(m, { loraModuleName: 'decoder.layers.', loraDim: 4 }).size).toBe(0); // already wrapped
    m.dispose();
  });

  test('unfused LoRA forward equals the fused forward (1e-5); unfuse restores; only LoRA gets gradients under onlyOptimize', async () => {
    const m = await loadPretrained(OPT);
    const plain = logitsOf(m, c.input_ids, c.attention_mask);
    convertLinearLayerToLora(m, { loraModuleName: 'decoder.layers.', loraDim: 4, loraScaling: 2 });
    randomizeLeft(m, 11);
    const unfused = logitsOf(m, c.input_ids, c.attention_mask);
    expect(maxAbsDiff(unfused, plain)).toBeGreaterThan(1e-2); // the branch really changes the output
    fuseLora(m);
    fuseLora(m);
    expect([...loraLayers(m).values()].every((a) => a.fused)).toBe(true);
    expect(maxAbsDiff(logitsOf(m, c.input_ids, c.attention_mask), unfused)).toBeLessThan(1e-5);
    unfuseLora(m);
    expect(maxAbsDiff(logitsOf(m, c.input_ids, c.attention_mask), unfused)).toBeLessThan(1e-5);

    onlyOptimizeLoraParameters(m);
    const trainable = m.trainableParameters();
    expect([...trainable.keys()].sort()).toEqual([...loraParameters(m).keys()].sort());
    const groups = getOptimizerGroupedParameters([...trainable.keys()], 0.1, { loraLr: 5e-4 });
    expect(groups).toEqual([{ params: [...trainable.keys()], weightDecay: 0.1, lr: 5e-4 }]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => tf.tidy(() => causalLmLoss(m.forward({ inputIds: c.input_ids, attentionMask: c.attention_mask }), c.labels)),
      [...m.namedParameters().values()],
    );
    const byName = new Map([...m.namedParameters()].map(([n, v]) => [n, grads[v.name]]));
    for (const [n, g] of byName) {
      if (n.includes('lora_')) {
        expect(g).toBeTruthy();
        expect(Math.max(...Array.from(g!.dataSync()).map(Math.abs))).toBeGreaterThan(0);
      } else {
        expect(g ?? null).toBeNull();
      }
    }
    tf.dispose([value, ...Object.values(grads).filter((t): t is tf.Tensor => t !== null)]);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  test('saveFused writes fused weights and no LoRA tensor; reload gives the LoRA logits; the model is unchanged', async () => {
    const m = await loadPretrained(OPT);
    convertLinearLayerToLora(m, { loraModuleName: 'decoder.layers.', loraDim: 4 });
    randomizeLeft(m, 12);
    const want = logitsOf(m, c.input_ids, c.attention_mask);
    const q = m.namedParameters().get('model.decoder.layers.0.self_attn.q_proj.weight')!;
    const qBefore = Float32Array.from(q.dataSync());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-lora-'));
    try {
      await saveFused(m, dir);
      const sd = loadStateDict(dir);
      expect([...sd.keys()].filter((k) => k.includes('lora'))).toEqual([]);
      expect(sd.size).toBe(m.stateDict().size);
      const fsd = fusedStateDict(m);
      expect(maxAbsDiff(sd.get('model.decoder.layers.1.fc1.weight')!.data, fsd.get('model.decoder.layers.1.fc1.weight')!.data)).toBe(0);
      expect(maxAbsDiff(q.dataSync(), qBefore)).toBe(0);
      expect(loraLayers(m).get('model.decoder.layers.0.fc1')!.fused).toBe(false);
      const back = await loadPretrained(dir);
      expect(maxAbsDiff(logitsOf(back, c.input_ids, c.attention_mask), want)).toBeLessThan(1e-5);
      back.dispose();
      // Saving a fused model writes the weight as it is (the product is already inside).
      fuseLora(m);
      await saveFused(m, dir);
      const back2 = await loadPretrained(dir);
      expect(maxAbsDiff(logitsOf(back2, c.input_ids, c.attention_mask), want)).toBeLessThan(1e-5);
      back2.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    m.dispose();
  });

  test('loraStateDict -> loadLoraStateDict resumes exactly; mismatches are clear errors', async () => {
    const a = await loadPretrained(OPT);
    convertLinearLayerToLora(a, { loraModuleName: 'decoder.layers.', loraDim: 4, seed: 1 });
    randomizeLeft(a, 13);
    const sd = loraStateDict(a);
    expect(sd.size).toBe(24);
    expect(sd.get('model.decoder.layers.0.fc1.lora_right_weight')!.shape).toEqual([64, 4]);
    const b = await loadPretrained(OPT);
    convertLinearLayerToLora(b, { loraModuleName: 'decoder.layers.', loraDim: 4, seed: 2 });
    expect(maxAbsDiff(logitsOf(b, c.input_ids), logitsOf(a, c.input_ids))).toBeGreaterThan(1e-3);
    loadLoraStateDict(b, sd);
    expect(maxAbsDiff(logitsOf(b, c.input_ids), logitsOf(a, c.input_ids))).toBe(0);

    const missing = new Map(sd);
    missing.delete('model.decoder.layers.1.fc2.lora_left_weight');
    expect(() => loadLoraStateDict(b, missing, 'ckpt/lora.safetensors')).toThrow(/ckpt\/lora\.safetensors: missing tensor 'model\.decoder\.layers\.1\.fc2\.lora_left_weight'/);
    const c8 = await loadPretrained(OPT);
    convertLinearLayerToLora(c8, { loraModuleName: 'decoder.layers.', loraDim: 8 });
    expect(() => loadLoraStateDict(c8, sd)).toThrow(/has shape \[64,4\] but the model needs \[64,8\]; check --lora_dim/);
    const fcOnly = await loadPretrained(OPT);
    convertLinearLayerToLora(fcOnly, { loraModuleName: 'fc', loraDim: 4 });
    expect(() => loadLoraStateDict(fcOnly, sd)).toThrow(/self_attn\.\w+_proj\.lora_\w+' belongs to no LoRA layer/);
    fuseLora(a);
    expect(() => loraStateDict(a)).toThrow(/is fused.*unfuseLora/);
    [a, b, c8, fcOnly].forEach((m) => m.dispose());
  });

  test('convertLoraToLinearLayer fuses, removes and frees the adapters', async () => {
    const m = await loadPretrained(OPT);
    const base = tf.memory().numTensors;
    convertLinearLayerToLora(m, { loraModuleName: 'decoder.layers.', loraDim: 4 });
    randomizeLeft(m, 14);
    const want = logitsOf(m, c.input_ids);
    expect(convertLoraToLinearLayer(m)).toHaveLength(12);
    expect(loraLayers(m).size).toBe(0);
    expect([...m.namedParameters().keys()].some((k) => k.includes('lora'))).toBe(false);
    expect(tf.memory().numTensors).toBe(base);
    expect(maxAbsDiff(logitsOf(m, c.input_ids), want)).toBeLessThan(1e-5);
    m.dispose();
  });
});

run('LoRA layer selection on GPT-2 (Conv1D) and LLaMA (untied head) (wasm)', () => {
  useBackend('wasm');

  test('GPT-2 Conv1D layers are wrapped by default and the math holds in [in, out] layout; excluded on request', async () => {
    const m = await loadPretrained(path.join(HF_FIXTURES, 'gpt2'));
    const ids = readGolden('gpt2').single_A.input_ids;
    expect(() => convertLinearLayerToLora(m, { loraModuleName: 'h.', loraDim: 2, includeConv1d: false })).toThrow(
      /no linear layer name of this GPT2LMHeadModel contains 'h\.' .*among nn\.Linear layers/,
    );
    const made = convertLinearLayerToLora(m, { loraModuleName: 'h.', loraDim: 2 });
    expect([...made.keys()]).toEqual(['transformer.h.0.attn.c_attn', 'transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_fc', 'transformer.h.0.mlp.c_proj',
      'transformer.h.1.attn.c_attn', 'transformer.h.1.attn.c_proj', 'transformer.h.1.mlp.c_fc', 'transformer.h.1.mlp.c_proj']);
    expect(m.namedParameters().get('transformer.h.0.attn.c_attn.lora_left_weight')!.shape).toEqual([2, 192]);
    randomizeLeft(m, 15);
    const unfused = logitsOf(m, ids);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-lora-gpt2-'));
    try {
      await saveFused(m, dir); // Conv1D weights stay [in, out] on disk
      const back = await loadPretrained(dir);
      expect(maxAbsDiff(logitsOf(back, ids), unfused)).toBeLessThan(1e-5);
      back.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    m.dispose();
  });

  test("LLaMA: DS-Chat's 'layers.' leaves lm_head alone; 'lm_head' wraps the untied head", () => {
    const raw = { model_type: 'llama', vocab_size: 50, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 };
    const before = tf.memory().numTensors;
    const m = createModelFromConfig(raw);
    const made = convertLinearLayerToLora(m, { loraModuleName: 'layers.', loraDim: 2 });
    expect(made.size).toBe(7);
    expect(made.has('lm_head')).toBe(false);
    const head = convertLinearLayerToLora(m, { loraModuleName: 'lm_head', loraDim: 2 });
    expect([...head.keys()]).toEqual(['lm_head']);
    expect(m.trainableParameters().has('lm_head.weight')).toBe(false);
    m.dispose(); // frees the LoRA variables too
    expect(tf.memory().numTensors).toBe(before);
    const opt = createModelFromConfig({ model_type: 'opt', vocab_size: 50, hidden_size: 16, ffn_dim: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 });
    expect(() => convertLinearLayerToLora(opt, { loraModuleName: 'lm_head', loraDim: 2 })).toThrow(/no linear layer name of this OPTForCausalLM contains 'lm_head'/);
    opt.dispose();
  });
});
