// The native decoding step against the tfjs layers: logits step by step (rel 1e-5), greedy tokens, padding, leaks.
import * as tf from '@tensorflow/tfjs';
import { createModelFromConfig } from '../models/load';
import type { CausalLM } from '../models/causal-lm';
import { paddingBiasFromRows } from '../models/masks';
import { maxAbsDiff, switchBackend } from '../testing/backends';
import { setWasmFastPaths } from './fast-paths';
import { nativeCompiler, type NativeGemmAddon } from './native-build';
import { configureNativeMatMul, nativeGemmAddon } from './native-gemm';

const OPT = {
  model_type: 'opt', vocab_size: 203, hidden_size: 48, num_hidden_layers: 2, num_attention_heads: 3, ffn_dim: 100, max_position_embeddings: 64,
  word_embed_proj_dim: 48, do_layer_norm_before: true, activation_function: 'relu', tie_word_embeddings: true, enable_bias: true,
  dropout: 0, attention_dropout: 0, activation_dropout: 0, layerdrop: 0, pad_token_id: 1, bos_token_id: 2, eos_token_id: 2,
};
const GPT2 = {
  model_type: 'gpt2', vocab_size: 190, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 64, n_inner: 72, activation_function: 'gelu_new',
  resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0, layer_norm_epsilon: 1e-5, bos_token_id: 0, eos_token_id: 0, scale_attn_by_inverse_layer_idx: true,
};

const VARIANTS: [string, Record<string, unknown>][] = [
  ['OPT pre-LN relu, tied head', OPT],
  ['OPT post-LN gelu, untied head', { ...OPT, do_layer_norm_before: false, activation_function: 'gelu', tie_word_embeddings: false }],
  ['GPT-2 gelu_new, scaled by layer index', GPT2],
];

/** max |a - b| over max(1, max |b|). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / scale;
}

/** The logits of a left-padded batch's prompt and `steps` decoding steps (greedy), through forwardStep. */
function decodeLogits(model: CausalLM, prompts: number[][], steps: number): { logits: Float32Array[]; tokens: number[][] } {
  const len = Math.max(...prompts.map((p) => p.length));
  const mask = prompts.map((p) => [...new Array<number>(len - p.length).fill(0), ...p.map(() => 1)]);
  const ids = prompts.map((p) => [...new Array<number>(len - p.length).fill(1), ...p]);
  const cache = model.createCache();
  cache.reserve(len + steps);
  const out: Float32Array[] = [];
  const tokens: number[][] = prompts.map(() => []);
  try {
    let idsT = tf.tensor2d(ids, undefined, 'int32');
    let posT = tf.tensor2d(model.generationPositionIds(mask), undefined, 'int32');
    let bias: tf.Tensor4D | null = paddingBiasFromRows(mask, len);
    for (let s = 0; s <= steps; s++) {
      const logits = model.forwardStep(idsT, posT, bias, cache, null);
      tf.dispose([idsT, posT, bias]);
      const host = logits.dataSync() as Float32Array;
      out.push(Float32Array.from(host));
      logits.dispose();
      const v = model.config.vocabSize;
      const next = prompts.map((_, r) => {
        const row = host.subarray(r * v, (r + 1) * v);
        return row.indexOf(Math.max(...row));
      });
      next.forEach((t, r) => {
        tokens[r].push(t);
        mask[r].push(1);
      });
      idsT = tf.tensor2d(next, [prompts.length, 1], 'int32');
      posT = tf.tensor2d(mask.map((m) => m.reduce((a, x) => a + x, 0) - 1), [prompts.length, 1], 'int32');
      bias = paddingBiasFromRows(mask, mask[0].length);
    }
    tf.dispose([idsT, posT, bias]);
  } finally {
    cache.dispose();
  }
  return { logits: out, tokens };
}

const haveNative = nativeCompiler() != null;
const maybe = haveNative ? describe : describe.skip;
if (!haveNative) process.stderr.write('native-decode.spec: no C++ compiler, so no native decoding: skipped\n');

maybe('native decoding step vs the tfjs layers (wasm)', () => {
  beforeAll(async () => {
    await switchBackend('wasm');
  });
  afterEach(() => setWasmFastPaths({ nativeDecode: true }));

  const prompts = [[5, 6, 7, 8, 9, 10], [11, 12, 13], [14, 15, 16, 17], [18]];

  test.each(VARIANTS)('%s: logits of every step (rel 1e-5), the same greedy tokens, no tensor left', async (_name, config) => {
    const model = createModelFromConfig(config, { seed: 3 });
    try {
      model.eval();
      const addon = nativeGemmAddon() as NativeGemmAddon;
      setWasmFastPaths({ nativeDecode: false });
      const ref = decodeLogits(model, prompts, 6);
      setWasmFastPaths({ nativeDecode: true });
      addon.resetStats();
      const before = tf.memory().numTensors;
      const got = decodeLogits(model, prompts, 6);
      expect(tf.memory().numTensors).toBe(before);
      expect(addon.stats().find((s) => s.name === 'decode_step')?.calls).toBe(6);
      got.logits.forEach((l, i) => expect(relDiff(l, ref.logits[i])).toBeLessThan(1e-5));
      expect(got.tokens).toEqual(ref.tokens);
      // generate() on top of it: the same tokens as the tfjs layers, with and without padding
      setWasmFastPaths({ nativeDecode: false });
      const a = await model.generate(prompts, { maxNewTokens: 9 });
      setWasmFastPaths({ nativeDecode: true });
      const b = await model.generate(prompts, { maxNewTokens: 9 });
      expect(b.newTokens).toEqual(a.newTokens);
    } finally {
      model.dispose();
    }
  });

  test('two threads give the same tokens; a weight changed between generations is packed again', async () => {
    const model = createModelFromConfig(OPT, { seed: 4 });
    try {
      model.eval();
      const one = await model.generate(prompts, { maxNewTokens: 8 });
      configureNativeMatMul({ threads: 2 });
      const two = await model.generate(prompts, { maxNewTokens: 8 });
      configureNativeMatMul({ threads: 1 });
      expect(two.newTokens).toEqual(one.newTokens);
      const w = model.namedParameters().get('model.decoder.layers.0.fc1.weight') as tf.Variable;
      w.assign(tf.tidy(() => tf.mul(w, 3)));
      setWasmFastPaths({ nativeDecode: false });
      const ref = await model.generate(prompts, { maxNewTokens: 8 });
      setWasmFastPaths({ nativeDecode: true });
      const after = await model.generate(prompts, { maxNewTokens: 8 });
      expect(after.newTokens).toEqual(ref.newTokens);
    } finally {
      model.dispose();
    }
  });

  test('a linear layer with an adapter (LoRA), or training mode, keeps the tfjs layers', async () => {
    const model = createModelFromConfig(OPT, { seed: 5 });
    try {
      const addon = nativeGemmAddon() as NativeGemmAddon;
      const decodeSteps = async (): Promise<number> => {
        addon.resetStats();
        await model.generate([[5, 6, 7]], { maxNewTokens: 3 });
        return addon.stats().find((s) => s.name === 'decode_step')?.calls ?? 0;
      };
      model.eval();
      expect(await decodeSteps()).toBe(2);
      const fc1 = model.linearLayers().get('model.decoder.layers.1.fc1');
      if (fc1 == null) throw new Error('no fc1');
      fc1.adapter = { apply: (_x, y) => y };
      expect(await decodeSteps()).toBe(0);
      fc1.adapter = null;
      model.train();
      expect(await decodeSteps()).toBe(0);
    } finally {
      model.dispose();
    }
  });
});
