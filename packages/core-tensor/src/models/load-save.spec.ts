// loadPretrained / save: round trips, HF key prefixes (bare AutoModel, DeepSpeed-Chat reward model), clear errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../io/safetensors';
import type { TensorToWrite } from '../io/host-tensor';
import { maxAbsDiff, useBackend } from '../testing/backends';
import { createModelFromConfig, loadPretrained } from './load';
import { fixturesPresent, HF_FIXTURES, PARITY_MODELS } from './parity-suite';

const run = fixturesPresent() ? describe : describe.skip;
const IDS = [[2, 31, 415, 926, 53, 589, 793]];

let tmpRoot: string;
beforeAll(() => {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-models-'));
});
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** A copy of a fixture folder with its weights rewritten by `edit` and config.json by `editConfig`. */
function variant(
  name: string,
  dirName: string,
  edit: (sd: Map<string, TensorToWrite>) => Map<string, TensorToWrite>,
  editConfig: (c: Record<string, unknown>) => Record<string, unknown> = (c) => c,
): string {
  const src = path.join(HF_FIXTURES, name);
  const dir = path.join(tmpRoot, dirName);
  fs.mkdirSync(dir, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(editConfig(cfg)));
  writeSafetensors(path.join(dir, 'model.safetensors'), edit(readSafetensors(path.join(src, 'model.safetensors'))));
  return dir;
}

function renameKeys(sd: Map<string, TensorToWrite>, from: string, to: string): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const [k, t] of sd) if (k.startsWith(from)) out.set(to + k.slice(from.length), t);
  return out;
}

run('loadPretrained and save', () => {
  useBackend('cpu');

  for (const name of PARITY_MODELS) {
    test(`${name}: save -> reload gives identical logits, the same keys/shapes and preserved configs`, async () => {
      const src = path.join(HF_FIXTURES, name);
      const a = await loadPretrained(src);
      const out = path.join(tmpRoot, `saved-${name}`);
      await a.save(out);
      const b = await loadPretrained(out);
      const la = a.forward({ inputIds: IDS });
      const lb = b.forward({ inputIds: IDS });
      expect(maxAbsDiff(la.dataSync(), lb.dataSync())).toBe(0);
      tf.dispose([la, lb]);
      const want = readSafetensorsHeader(path.join(src, 'model.safetensors'));
      const got = readSafetensorsHeader(path.join(out, 'model.safetensors'));
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [k, v] of want) expect(got.get(k)!.shape).toEqual(v.shape);
      const orig = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
      const saved = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
      expect(saved).toEqual({ ...orig, torch_dtype: 'float32' });
      const gen = JSON.parse(fs.readFileSync(path.join(src, 'generation_config.json'), 'utf8'));
      expect(JSON.parse(fs.readFileSync(path.join(out, 'generation_config.json'), 'utf8'))).toEqual(gen);
      expect(fs.readdirSync(out).filter((f) => f.includes('.tmp'))).toEqual([]);
      a.dispose();
      b.dispose();
    });
  }

  test('F16 and BF16 checkpoints load (compute stays float32) and the dtype is recorded in config.json', async () => {
    const a = await loadPretrained(path.join(HF_FIXTURES, 'gpt2'));
    const w = a.namedParameters().get('transformer.h.0.mlp.c_fc.weight')!.dataSync() as Float32Array;
    for (const [dtype, torchDtype, rel] of [['F16', 'float16', 2 ** -11], ['BF16', 'bfloat16', 2 ** -8]] as const) {
      const out = path.join(tmpRoot, `gpt2-${dtype}`);
      await a.save(out, { dtype });
      expect(readSafetensorsHeader(path.join(out, 'model.safetensors')).get('transformer.wte.weight')!.dtype).toBe(dtype);
      expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype).toBe(torchDtype);
      const b = await loadPretrained(out);
      const v = b.namedParameters().get('transformer.h.0.mlp.c_fc.weight')!;
      expect(v.dtype).toBe('float32');
      const got = v.dataSync();
      for (let i = 0; i < w.length; i++) expect(Math.abs(got[i] - w[i])).toBeLessThanOrEqual(Math.abs(w[i]) * rel + 1e-7);
      b.dispose();
    }
    a.dispose();
  });

  test('a bare AutoModel folder (no `model.` prefix) loads as the body and ties the head', async () => {
    const full = await loadPretrained(path.join(HF_FIXTURES, 'opt-proj'));
    const dir = variant('opt-proj', 'bare-opt', (sd) => renameKeys(sd, 'model.', ''));
    const bare = await loadPretrained(dir);
    expect(bare.unexpectedKeys).toEqual([]);
    const a = full.forward({ inputIds: IDS });
    const b = bare.forward({ inputIds: IDS });
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([a, b]);
    full.dispose();
    bare.dispose();
  });

  test('a DeepSpeed-Chat reward model (rwtranformer. + v_head) loads as the body and reports v_head', async () => {
    const full = await loadPretrained(path.join(HF_FIXTURES, 'opt-proj'));
    const dir = variant('opt-proj', 'dschat-rm', (sd) => {
      const out = renameKeys(sd, 'model.', 'rwtranformer.');
      out.set('v_head.weight', { shape: [1, 32], data: new Float32Array(32).fill(0.5) });
      return out;
    });
    const rm = await loadPretrained(dir, { bodyOnly: true });
    expect(rm.unexpectedKeys).toEqual(['v_head.weight']);
    expect(rm.extraTensors.get('v_head.weight')!.shape).toEqual([1, 32]);
    const a = full.forwardHidden({ inputIds: IDS });
    const b = rm.forwardHidden({ inputIds: IDS });
    expect(b.shape).toEqual([1, IDS[0].length, 32]); // after final_layer_norm and project_out
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([a, b]);
    full.dispose();
    rm.dispose();
  });

  test('untied LLaMA without lm_head: a clear error unless bodyOnly', async () => {
    const dir = variant('llama', 'llama-body', (sd) => renameKeys(sd, 'model.', ''));
    const before = tf.memory().numTensors;
    await expect(loadPretrained(dir)).rejects.toThrow(/missing tensor 'lm_head\.weight'.*tie_word_embeddings=false.*bodyOnly/);
    expect(tf.memory().numTensors).toBe(before); // a failed load frees what it built
    const body = await loadPretrained(dir, { bodyOnly: true });
    expect(body.hasLmHead).toBe(false);
    const h = body.forwardHidden({ inputIds: IDS });
    expect(() => body.lmHead(h)).toThrow(/bodyOnly.*no LM head/);
    h.dispose();
    body.dispose();
  });

  test('a shape mismatch names the key and both shapes; a missing tensor names the key and the file', async () => {
    const bad = variant('opt', 'bad-shape', (sd) => {
      const t = sd.get('model.decoder.layers.0.fc1.weight')!;
      sd.set('model.decoder.layers.0.fc1.weight', { shape: [127, 64], data: t.data.slice(0, 127 * 64) });
      return sd;
    });
    await expect(loadPretrained(bad)).rejects.toThrow(
      /model\.safetensors: tensor 'model\.decoder\.layers\.0\.fc1\.weight' has shape \[127, 64\] but .*config\.json implies \[128, 64\]/,
    );
    const missing = variant('opt', 'missing', (sd) => {
      sd.delete('model.decoder.layers.1.self_attn.v_proj.bias');
      return sd;
    });
    await expect(loadPretrained(missing)).rejects.toThrow(/missing\/model\.safetensors: missing tensor 'model\.decoder\.layers\.1\.self_attn\.v_proj\.bias'/);
  });

  test('an unknown model_type names the file and lists the supported types', async () => {
    const dir = variant('opt', 'mamba', (sd) => sd, (c) => ({ ...c, model_type: 'mamba' }));
    await expect(loadPretrained(dir)).rejects.toThrow(/mamba\/config\.json: model_type 'mamba' is not supported; rlhfkit supports: opt, llama, gpt2/);
    expect(() => createModelFromConfig({ vocab_size: 10 })).toThrow(/config\.json: key 'model_type' is missing/);
  });

  test('a config value of the wrong type names the key', () => {
    expect(() => createModelFromConfig({ model_type: 'llama', vocab_size: 10, hidden_size: 'big', num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 8 })).toThrow(
      /config\.json: key 'hidden_size' must be a positive integer, got "big"/,
    );
  });

  test('createModelFromConfig is deterministic per seed and saves a loadable folder', async () => {
    const cfg = { model_type: 'gpt2', vocab_size: 50, n_embd: 16, n_head: 2, n_layer: 1, n_positions: 32 };
    const a = createModelFromConfig(cfg, { seed: 3 });
    const b = createModelFromConfig(cfg, { seed: 3 });
    const c = createModelFromConfig(cfg, { seed: 4 });
    const w = (m: typeof a): Float32Array => m.namedParameters().get('transformer.h.0.attn.c_attn.weight')!.dataSync() as Float32Array;
    expect(maxAbsDiff(w(a), w(b))).toBe(0);
    expect(maxAbsDiff(w(a), w(c))).toBeGreaterThan(0);
    const out = path.join(tmpRoot, 'random-gpt2');
    await a.save(out);
    const r = await loadPretrained(out);
    expect(maxAbsDiff(w(r), w(a))).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).architectures).toEqual(['GPT2LMHeadModel']);
    [a, b, c, r].forEach((m) => m.dispose());
  });
});
