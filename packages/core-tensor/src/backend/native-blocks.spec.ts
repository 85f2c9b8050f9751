// The fused pre-LN decoder blocks (OPT's and LLaMA's) against the unfused layer on the cpu backend: loss and every gradient (rel 3e-6).
import * as tf from '@tensorflow/tfjs';
import { createModelFromConfig } from '../models/load';
import { causalLmLoss } from '../models/loss';
import { maxAbsDiff, switchBackend } from '../testing/backends';
import { setWasmFastPaths } from './fast-paths';
import { nativeCompiler, type NativeGemmAddon } from './native-build';
import { nativeGemmAddon } from './native-gemm';

const OPT = {
  model_type: 'opt', vocab_size: 157, hidden_size: 48, num_hidden_layers: 2, num_attention_heads: 3, ffn_dim: 80, max_position_embeddings: 64,
  word_embed_proj_dim: 48, do_layer_norm_before: true, activation_function: 'relu', tie_word_embeddings: true, enable_bias: true,
  dropout: 0, attention_dropout: 0, activation_dropout: 0, layerdrop: 0, pad_token_id: 1, bos_token_id: 2, eos_token_id: 2,
};

const LLAMA = {
  model_type: 'llama', vocab_size: 157, hidden_size: 48, intermediate_size: 72, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-6, hidden_act: 'silu', tie_word_embeddings: false,
  attention_bias: false, attention_dropout: 0, rope_theta: 10000, pad_token_id: 1, bos_token_id: 2, eos_token_id: 2,
};

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-3;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / scale;
}

/** Loss and the gradient of every parameter of a right-padded batch, as the SFT step computes them. */
async function lossAndGrads(config: Record<string, unknown>, backend: 'cpu' | 'wasm'): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  await switchBackend(backend);
  const model = createModelFromConfig(config, { seed: 7 });
  try {
    model.train();
    const ids = [[5, 6, 7, 8, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18, 1, 1, 1, 1], [19, 20, 21, 22, 23, 24, 25, 1, 1]];
    const mask = ids.map((r) => r.map((t, i) => (t === 1 && i > 4 ? 0 : 1)));
    const vars = model.trainableParameters();
    const { value, grads } = tf.variableGrads(() => causalLmLoss(model.forward({ inputIds: ids, attentionMask: mask }), ids), [...vars.values()]);
    const byVar = new Map([...vars].map(([n, v]) => [v.name, n]));
    const out = new Map<string, Float32Array>();
    for (const [vn, g] of Object.entries(grads)) out.set(byVar.get(vn) as string, Float32Array.from(g.dataSync()));
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, grads: out };
  } finally {
    model.dispose();
  }
}

/** The layers on the native blocks (each block's backward called once per layer) match the unfused layer on cpu, leak-free. */
async function expectBlocksMatchUnfused(config: Record<string, unknown>, attnGrad: string, mlpGrad: string): Promise<void> {
  const ref = await lossAndGrads(config, 'cpu');
  await switchBackend('wasm');
  const addon = nativeGemmAddon() as NativeGemmAddon;
  addon.resetStats();
  const before = tf.memory().numTensors;
  const got = await lossAndGrads(config, 'wasm');
  expect(tf.memory().numTensors).toBe(before);
  const calls = Object.fromEntries(addon.stats().map((s) => [s.name, s.calls]));
  expect(calls[attnGrad]).toBe(2);
  expect(calls[mlpGrad]).toBe(2);
  expect(Math.abs(got.loss - ref.loss)).toBeLessThan(2e-6);
  for (const [name, g] of ref.grads) {
    const err = relDiff(got.grads.get(name) as Float32Array, g);
    if (!(err < 3e-6)) throw new Error(`${name}: relative error ${err}`);
  }
}

const haveNative = nativeCompiler() != null;
const maybe = haveNative ? describe : describe.skip;

maybe('native pre-LN decoder blocks (wasm) vs the unfused layer (cpu)', () => {
  test.each([['relu', 'relu'], ['gelu', 'gelu'], ['silu', 'silu']])('OPT with %s: the loss (abs 2e-6) and every gradient (rel 3e-6), with padding', async (_n, act) => {
    await expectBlocksMatchUnfused({ ...OPT, activation_function: act }, 'attn_block_grad', 'mlp_block_grad');
  });

  test.each([
    ['GQA, no biases', LLAMA],
    ['multi-head with attention biases', { ...LLAMA, num_key_value_heads: 4, attention_bias: true }],
    ['tied head, gelu', { ...LLAMA, tie_word_embeddings: true, hidden_act: 'gelu' }],
  ])('LLaMA %s: the loss (abs 2e-6) and every gradient (rel 3e-6), with padding', async (_n, config) => {
    await expectBlocksMatchUnfused(config, 'llama_attn_block_grad', 'llama_mlp_block_grad');
  });

  test('the same gradients as the per-op native kernels, and dropout while training keeps the per-op path', async () => {
    await switchBackend('wasm');
    const fused = await lossAndGrads(OPT, 'wasm');
    const addon = nativeGemmAddon() as NativeGemmAddon;
    const prev = setWasmFastPaths({ nativeOps: false });
    let perOp: Awaited<ReturnType<typeof lossAndGrads>>;
    try {
      perOp = await lossAndGrads(OPT, 'wasm');
    } finally {
      setWasmFastPaths(prev);
    }
    for (const [name, g] of perOp.grads) expect(relDiff(fused.grads.get(name) as Float32Array, g)).toBeLessThan(3e-6);
    addon.resetStats();
    await lossAndGrads({ ...OPT, dropout: 0.1 }, 'wasm');
    expect(addon.stats().find((s) => s.name === 'attn_block_grad')).toBeUndefined();
  });
});
