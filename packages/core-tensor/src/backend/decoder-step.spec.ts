// Trains a tiny OPT-like decoder for a few AdamW steps on cpu and on wasm: same losses, same weights, no leaks.
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, switchBackend, TestBackend } from '../testing/backends';
import { disposeAll, initAdamW, initTinyDecoder, TinyDecoderConfig, tinyTrainStep } from './tiny-decoder';

// dModel 32, T 32 and 2 heads (head size 16) make the attention, projection and head products cross the fast-path threshold.
const cfg: TinyDecoderConfig = { vocab: 48, dModel: 32, heads: 2, layers: 2, maxLen: 32 };
const B = 2;
const T = 32;
const STEPS = 3;

async function train(backend: TestBackend): Promise<{ losses: number[]; weights: Float32Array[]; leaked: number[] }> {
  await switchBackend(backend);
  const params = initTinyDecoder(cfg, 5);
  const opt = initAdamW(params);
  const ids = tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % cfg.vocab), [B, T], 'int32');
  // Next-token labels with the prompt half masked out, as SFT does.
  const labels = tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i % T < T / 2 ? -100 : (i * 37 + 48) % cfg.vocab)), [B, T], 'int32');
  const losses: number[] = [];
  const leaked: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const before = tf.memory().numTensors;
    losses.push(tinyTrainStep(params, cfg, opt, ids, labels, 3e-3));
    leaked.push(tf.memory().numTensors - before);
  }
  const weights = [...params.values()].map((v) => Float32Array.from(v.dataSync()));
  disposeAll(params, opt.m, opt.v);
  tf.dispose([ids, labels]);
  return { losses, weights, leaked };
}

describe('tiny decoder training step, cpu vs wasm', () => {
  test('losses and weights agree and no step leaks a tensor', async () => {
    const cpu = await train('cpu');
    const wasm = await train('wasm');
    expect(wasm.leaked).toEqual(new Array(STEPS).fill(0));
    expect(cpu.leaked).toEqual(new Array(STEPS).fill(0));
    // Near log(48) = 3.87 at init, then falling: the step really trains.
    expect(cpu.losses[0]).toBeGreaterThan(3.7);
    expect(cpu.losses[0]).toBeLessThan(4.0);
    expect(cpu.losses[STEPS - 1]).toBeLessThan(cpu.losses[0] - 0.05);
    for (let s = 0; s < STEPS; s++) expect(Math.abs(wasm.losses[s] - cpu.losses[s])).toBeLessThan(1e-4);
    for (let i = 0; i < cpu.weights.length; i++) expect(maxAbsDiff(wasm.weights[i], cpu.weights[i])).toBeLessThan(1e-4);
  });
});
