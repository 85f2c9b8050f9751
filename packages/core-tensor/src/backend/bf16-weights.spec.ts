// Frozen bf16 weights: the native widening product against float32 tfjs on the widened values, and a tiny model held in bf16.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { convertLinearLayerToLora, loraParameters, onlyOptimizeLoraParameters } from '../lora/convert';
import { createModelFromConfig, loadPretrained } from '../models/load';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { bf16Gather, bf16MatMul, Bf16Matrix, bf16ProductsNative, bf16ToNumber } from './bf16-weights';
import { nativeCompiler } from './native-build';

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / scale;
}

const TINY_OPT = {
  architectures: ['OPTForCausalLM'], model_type: 'opt', vocab_size: 96, hidden_size: 32, word_embed_proj_dim: 32, num_hidden_layers: 2,
  num_attention_heads: 4, ffn_dim: 64, max_position_embeddings: 32, do_layer_norm_before: true, activation_function: 'relu', dropout: 0,
  attention_dropout: 0, activation_dropout: 0, layerdrop: 0, init_std: 0.2, enable_bias: true, tie_word_embeddings: true, bos_token_id: 2,
  eos_token_id: 2, pad_token_id: 1,
};

const all = (): boolean => true;

describe('Bf16Matrix', () => {
  test('rounds to nearest even as torch does, keeps NaN, widens exactly', () => {
    const x = new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, NaN, 3.0e38]);
    const m = Bf16Matrix.fromFloat32(x, 2, 3);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1); 1 + 3·2^-8 rounds up to 1 + 2^-6.
    expect(Array.from(m.bits.subarray(0, 4), bf16ToNumber)).toEqual([1, 1, 1 + 2 ** -6, -2.5]);
    expect(Number.isNaN(bf16ToNumber(m.bits[4]))).toBe(true);
    expect(m.toFloat32(true)[1]).toBe(-2.5); // the [3, 2] transpose: its (0, 1) is the (1, 0) of the [2, 3] matrix
  });
});

describe('bf16 products and lookups [cpu and wasm]', () => {
  const [m, k, n] = [37, 45, 70];
  const w = Bf16Matrix.fromFloat32(randomArray(k * n, 1), k, n);
  const wt = Bf16Matrix.fromFloat32(randomArray(n * k, 2), n, k);
  const x = randomArray(m * k, 3);
  const bias = randomArray(n, 4);
  const dy = randomArray(m * n, 5);

  async function products(backend: 'cpu' | 'wasm'): Promise<Float32Array[]> {
    return runOn(backend, () => {
      const f = (xi: tf.Tensor, bi: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(tf.add(bf16MatMul(xi as tf.Tensor2D, w, false, bi as tf.Tensor1D), bf16MatMul(xi as tf.Tensor2D, wt, true)), tf.tensor2d(dy, [m, n])));
      const xs = tf.tensor2d(x, [m, k]);
      const b = tf.tensor1d(bias);
      const reference = tf.add(tf.add(tf.matMul(xs, tf.tensor2d(w.toFloat32(), [k, n])), b), tf.matMul(xs, tf.tensor2d(wt.toFloat32(), [n, k]), false, true));
      const [gx, gb] = tf.grads(f)([xs, b]);
      const refGx = tf.add(tf.matMul(tf.tensor2d(dy, [m, n]), tf.tensor2d(w.toFloat32(), [k, n]), false, true), tf.matMul(tf.tensor2d(dy, [m, n]), tf.tensor2d(wt.toFloat32(), [n, k])));
      return [tf.add(bf16MatMul(xs, w, false, b), bf16MatMul(xs, wt, true)), reference, gx, refGx, gb, tf.sum(tf.tensor2d(dy, [m, n]), 0)];
    });
  }

  test('x·W, x·Wᵀ, bias and the x/bias gradients equal float32 products on the widened values', async () => {
    const cpu = await products('cpu');
    for (let i = 0; i < cpu.length; i += 2) expect(relDiff(cpu[i], cpu[i + 1])).toBeLessThan(1e-6);
    const wasm = await products('wasm');
    if (nativeCompiler() != null) expect(bf16ProductsNative()).toBe(true);
    for (let i = 0; i < wasm.length; i += 2) expect(relDiff(wasm[i], wasm[i + 1])).toBeLessThan(2e-6);
  });

  test('row lookup widens the rows and names a bad id', async () => {
    await switchBackend('cpu');
    const t = bf16Gather(w, tf.tensor2d([[2, 0], [44, 2]], [2, 2], 'int32'));
    expect(t.shape).toEqual([2, 2, n]);
    const all32 = w.toFloat32();
    expect(Array.from(t.dataSync().subarray(n * 2, n * 3))).toEqual(Array.from(all32.subarray(44 * n, 45 * n)));
    t.dispose();
    expect(() => bf16Gather(w, tf.tensor1d([45], 'int32'))).toThrow(/id 45 is outside the table's 45 rows/);
  });
});

describe('a model with frozen bf16 weights [wasm]', () => {
  let dir: string;
  beforeAll(async () => {
    await switchBackend('wasm');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-bf16-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('logits and LoRA gradients match the float32 model with bf16-rounded weights; save widens; no leak', async () => {
    const ref = createModelFromConfig(TINY_OPT, { seed: 3 });
    await ref.save(dir);
    const half = await loadPretrained(dir, { bf16Weights: all });
    const before = tf.memory().numTensors;
    expect(half.bf16Parameters().size).toBe(14); // 2 layers x 6 linears + token and position tables
    let floats = 0;
    for (const name of half.bf16Parameters().keys()) floats += ref.namedParameters().get(name)!.size;
    expect(half.bf16Bytes()).toBe(2 * floats); // half of float32's bytes, none of it on the tensor heap
    // The float32 twin: the same weights, rounded to bf16, as ordinary variables.
    for (const [name, v] of ref.namedParameters()) {
      const h = half.bf16Parameters().get(name);
      if (h) tf.tidy(() => v.assign(tf.tensor(h.toFloat32(), v.shape))); // both in the internal [in, out] layout
    }
    const ids = [[5, 7, 9, 11, 13], [2, 4, 6, 8, 10]];
    const a = tf.tidy(() => ref.forward({ inputIds: ids }).dataSync().slice());
    const b = tf.tidy(() => half.forward({ inputIds: ids }).dataSync().slice());
    expect(relDiff(b, a)).toBeLessThan(2e-6);
    for (const model of [ref, half]) {
      convertLinearLayerToLora(model, { loraModuleName: 'decoder.layers.', loraDim: 4, seed: 9 });
      onlyOptimizeLoraParameters(model);
      for (const v of loraParameters(model).values()) tf.tidy(() => v.assign(tf.add(v, 0.05))); // a non-zero LoRA product
    }
    const grads = (model: typeof ref): Float32Array[] =>
      tf.tidy(() => {
        const vars = [...loraParameters(model).values()];
        const { grads: g } = tf.variableGrads(() => tf.mean(model.forward({ inputIds: ids })) as tf.Scalar, vars);
        return vars.map((v) => Float32Array.from(g[v.name].dataSync()));
      });
    const ga = grads(ref);
    const gb = grads(half);
    ga.forEach((g, i) => expect(relDiff(gb[i], g)).toBeLessThan(5e-6));
    const gen = await half.generate({ inputIds: [[5, 7, 9]] }, { maxNewTokens: 4 });
    expect(gen.sequences[0].length).toBe(7);
    await half.save(path.join(dir, 'saved'));
    const back = await loadPretrained(path.join(dir, 'saved'));
    const c = tf.tidy(() => back.forward({ inputIds: ids }).dataSync().slice());
    expect(relDiff(c, b)).toBeLessThan(2e-6);
    back.dispose();
    ref.dispose();
    half.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });
});
