// The one-pass AdamW kernel against torch.optim.AdamW's formula, bit for bit against the tfjs composite it replaces.
import * as tf from '@tensorflow/tfjs';
import { randomArray, switchBackend } from '../testing/backends';
import { AdamW } from '../train/adamw';
import { adamWUpdate } from './adamw-kernel';
import { setWasmFastPaths } from './fast-paths';

describe('fused AdamW on wasm', () => {
  beforeAll(async () => {
    await switchBackend('wasm');
  });

  test('one update equals the float32 formula (host, Math.fround per operation), including the n % 4 tail', () => {
    const n = 11;
    const [p, g, m] = [randomArray(n, 1), randomArray(n, 2, -0.1, 0.1), randomArray(n, 3, -0.01, 0.01)];
    const v = randomArray(n, 4, 0, 0.001);
    const s = { beta1: 0.9, beta2: 0.95, bc2Sqrt: Math.sqrt(1 - 0.95 ** 3), eps: 1e-8, stepSize: 1e-3 / (1 - 0.9 ** 3), decay: 1 - 1e-3 * 0.1 };
    const f = Math.fround;
    const [b1, omb1, b2, omb2, bc2, eps, step, decay] = [s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.bc2Sqrt, s.eps, s.stepSize, s.decay].map(f);
    const out = tf.tidy(() => adamWUpdate(tf.tensor1d(p), tf.tensor1d(g), tf.tensor1d(m), tf.tensor1d(v), s).map((t) => Array.from(t.dataSync())));
    for (let i = 0; i < n; i++) {
      const mi = f(f(m[i] * b1) + f(g[i] * omb1));
      const vi = f(f(v[i] * b2) + f(f(g[i] * g[i]) * omb2));
      const pi = f(f(p[i] * decay) - f(f(mi / f(f(f(Math.sqrt(vi)) / bc2) + eps)) * step));
      expect([out[0][i], out[1][i], out[2][i]]).toEqual([pi, mi, vi]);
    }
  });

  test('AdamW steps with the kernel leave the same weights and state as with the composite', () => {
    const run = (fused: boolean): ArrayLike<number>[] => {
      const prev = setWasmFastPaths({ adamw: fused });
      try {
        // tidy frees the initial values; the variables keep their data.
        const vars = new Map<string, tf.Variable>([
          ['w', tf.tidy(() => tf.variable(tf.tensor2d(randomArray(6 * 5, 7), [6, 5])))],
          ['b', tf.tidy(() => tf.variable(tf.tensor1d(randomArray(5, 8))))],
        ]);
        const opt = new AdamW([{ params: ['w'], weightDecay: 0.1 }, { params: ['b'], weightDecay: 0 }], vars, { lr: 1e-2, betas: [0.9, 0.95] });
        for (let k = 0; k < 3; k++) {
          const grads = new Map<string, tf.Tensor>([['w', tf.tensor2d(randomArray(30, 10 + k), [6, 5])], ['b', tf.tensor1d(randomArray(5, 20 + k))]]);
          opt.step(grads);
          tf.dispose([...grads.values()]);
        }
        const sd = opt.stateDict();
        const out: ArrayLike<number>[] = [...vars.values()].map((v) => Float32Array.from(v.dataSync()));
        out.push(sd.state.w.expAvg.data, sd.state.w.expAvgSq.data);
        opt.dispose();
        tf.dispose([...vars.values()]);
        return out;
      } finally {
        setWasmFastPaths(prev);
      }
    };
    const before = tf.memory().numTensors;
    const fused = run(true);
    const composite = run(false);
    fused.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(composite[i])));
    expect(tf.memory().numTensors).toBe(before);
  });
});
