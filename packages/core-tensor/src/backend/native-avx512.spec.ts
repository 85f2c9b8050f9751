// AVX-512: 'auto' picks it where the CPU has it and it checks out against AVX2; products, decoding and a training step then agree.
import * as tf from '@tensorflow/tfjs';
import { createModelFromConfig } from '../models/load';
import { causalLmLoss } from '../models/loss';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { nativeCompiler, type NativeGemmAddon } from './native-build';
import { nativeGemmAddon, selectNativeKernel } from './native-gemm';
import { resetNativeOpsCheck } from './native-ops';

const OPT = {
  model_type: 'opt', vocab_size: 211, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, ffn_dim: 136, max_position_embeddings: 64,
  word_embed_proj_dim: 64, do_layer_norm_before: true, activation_function: 'relu', tie_word_embeddings: true, enable_bias: true,
  dropout: 0, attention_dropout: 0, activation_dropout: 0, layerdrop: 0, pad_token_id: 1, bos_token_id: 2, eos_token_id: 2,
};

const haveNative = nativeCompiler() != null;
const maybe = haveNative ? describe : describe.skip;

maybe('AVX-512 kernels', () => {
  let addon: NativeGemmAddon;
  beforeAll(async () => {
    await switchBackend('wasm');
    addon = nativeGemmAddon() as NativeGemmAddon;
  });

  test('the self-check that gates auto: the AVX-512 tile shape in plain loops agrees with AVX2, a wrong set would not', () => {
    const info = addon.info();
    if (!info.kernels.some((k) => k.name === 'avx2+fma' && k.supported)) return;
    expect(addon.checkKernels('reference-12x32', 'avx2+fma')).toBe(true);
    expect(addon.checkKernels('generic', 'avx2+fma')).toBe(true);
  });

  const avx512 = (): boolean => addon.info().kernels.some((k) => k.name === 'avx512f' && k.supported);

  test('where the CPU has AVX-512 (else skipped, saying so): auto picks it, and it agrees with AVX2 on products, decoding and a training step', async () => {
    if (!avx512()) {
      process.stderr.write('native-avx512.spec: this CPU has no AVX-512; auto keeps AVX2+FMA and the AVX-512 checks did not run here\n');
      expect(selectNativeKernel('auto')).toBe('avx2+fma');
      return;
    }
    expect(addon.info().kernels.find((k) => k.name === 'avx512f')?.verified).toBe(true);
    expect(selectNativeKernel('auto')).toBe('avx512f');
    const run = async (kernel: string): Promise<{ mm: Float32Array; tokens: number[][]; losses: number[] }> => {
      selectNativeKernel(kernel);
      resetNativeOpsCheck();
      const [mm] = await runOn('wasm', () => tf.matMul(tf.tensor2d(randomArray(97 * 131, 1), [97, 131]), tf.tensor2d(randomArray(131 * 67, 2), [131, 67])));
      const model = createModelFromConfig(OPT, { seed: 9 });
      try {
        model.eval();
        const out = await model.generate([[5, 6, 7, 8], [9, 10]], { maxNewTokens: 8 });
        model.train();
        const ids = tf.tensor2d(Array.from({ length: 2 * 24 }, (_, i) => 3 + ((i * 37) % 200)), [2, 24], 'int32');
        const vars = [...model.trainableParameters().values()];
        const losses: number[] = [];
        for (let s = 0; s < 2; s++) {
          const { value, grads } = tf.variableGrads(() => causalLmLoss(model.forward({ inputIds: ids }), ids), vars);
          losses.push(value.dataSync()[0]);
          for (const v of vars) v.assign(tf.tidy(() => tf.sub(v, tf.mul(grads[v.name], 0.05))));
          tf.dispose([value, ...Object.values(grads)]);
        }
        ids.dispose();
        return { mm, tokens: out.newTokens, losses };
      } finally {
        model.dispose();
      }
    };
    try {
      const a = await run('avx512f');
      const b = await run('avx2+fma');
      expect(maxAbsDiff(a.mm, b.mm)).toBeLessThan(1e-4);
      expect(a.tokens).toEqual(b.tokens);
      a.losses.forEach((l, i) => expect(Math.abs(l - b.losses[i])).toBeLessThan(1e-5));
    } finally {
      selectNativeKernel('auto');
      resetNativeOpsCheck();
    }
  });
});
