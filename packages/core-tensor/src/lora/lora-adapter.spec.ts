// LoRA layer parity with DeepSpeed-Chat's LinearLayer_LoRA (dschat-reference/lora golden) and its init distribution.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Linear } from '../models/linear';
import { Rng } from '../rng';
import { maxAbsDiff, useBackend } from '../testing/backends';
import { kaimingUniformBound, LoraAdapter, type LoraHost } from './lora-adapter';

const GOLDEN = path.resolve(__dirname, '../../../../../shared/fixtures/dschat-reference/lora/golden.json');
const present = fs.existsSync(GOLDEN);
if (!present) console.warn(`[skip] DeepSpeed-Chat LoRA fixture not found at ${GOLDEN}; its parity tests are skipped`);

type Rows = number[][];
interface LoraGolden {
  shapes: { in: number; out: number; lora_dim: number };
  effective_scaling: number;
  weight: Rows;
  bias: number[];
  lora_right_weight_from_reset_parameters: Rows;
  lora_left_weight: Rows;
  x: Rows;
  y_unfused: Rows;
  weight_after_fuse_lora_weight: Rows;
  y_fused: Rows;
  grad_check: { probe: Rows; grad_lora_right_weight: Rows; grad_lora_left_weight: Rows };
}

const transpose = (m: Rows): Rows => m[0].map((_, j) => m.map((r) => r[j]));

describe('LoRA layer vs DeepSpeed-Chat LinearLayer_LoRA [cpu]', () => {
  useBackend('cpu');
  const host: LoraHost = { training: false, rng: new Rng(0) };

  (present ? test : test.skip)('unfused/fused outputs, fused weight, unfuse roundtrip and R/L gradients within 2e-6', () => {
    const g = JSON.parse(fs.readFileSync(GOLDEN, 'utf8')) as LoraGolden;
    const { in: nIn, out: nOut, lora_dim: r } = g.shapes;
    const before = tf.memory().numTensors;
    const weight = tf.tidy(() => tf.variable(tf.tensor2d(transpose(g.weight)), false)); // internal [in, out]
    const bias = tf.tidy(() => tf.variable(tf.tensor1d(g.bias), true));
    const layer = new Linear('golden', weight, bias, 'linear');
    const a = new LoraAdapter(layer, { loraDim: r, loraScaling: 1, loraDropout: 0 }, host, new Rng(1));
    layer.adapter = a;
    expect(a.scaling).toBe(g.effective_scaling);
    expect(a.right.shape).toEqual([nIn, r]);
    expect(a.left.shape).toEqual([r, nOut]);
    expect(Array.from(a.left.dataSync()).every((v) => v === 0)).toBe(true); // DS-Chat: zeros_
    tf.tidy(() => {
      a.right.assign(tf.tensor2d(g.lora_right_weight_from_reset_parameters));
      a.left.assign(tf.tensor2d(g.lora_left_weight));
    });
    const x = tf.tensor2d(g.x);

    const yUnfused = tf.tidy(() => layer.apply(x));
    expect(maxAbsDiff(yUnfused.dataSync(), g.y_unfused.flat())).toBeLessThan(2e-6);

    const probe = tf.tensor2d(g.grad_check.probe);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x), probe)) as tf.Scalar, [a.right, a.left, weight]);
    expect(grads[weight.name]).toBeNull(); // base weight frozen (requires_grad=False in DS-Chat): no gradient
    expect(maxAbsDiff(grads[a.right.name].dataSync(), g.grad_check.grad_lora_right_weight.flat())).toBeLessThan(2e-6);
    expect(maxAbsDiff(grads[a.left.name].dataSync(), g.grad_check.grad_lora_left_weight.flat())).toBeLessThan(2e-6);
    tf.dispose([value, ...Object.values(grads).filter((t): t is tf.Tensor => t !== null)]);

    const original = Float32Array.from(weight.dataSync());
    a.fuse();
    a.fuse(); // idempotent, as DS-Chat's fuse_lora flag
    expect(a.fused).toBe(true);
    const wHf = tf.transpose(weight);
    expect(maxAbsDiff(wHf.dataSync(), g.weight_after_fuse_lora_weight.flat())).toBeLessThan(2e-6);
    const yFused = layer.apply(x);
    expect(maxAbsDiff(yFused.dataSync(), g.y_fused.flat())).toBeLessThan(2e-6);
    a.unfuse();
    a.unfuse();
    expect(a.fused).toBe(false);
    expect(maxAbsDiff(weight.dataSync(), original)).toBeLessThan(2e-6);
    const yAgain = tf.tidy(() => layer.apply(x));
    expect(maxAbsDiff(yAgain.dataSync(), g.y_unfused.flat())).toBeLessThan(2e-6);

    tf.dispose([yUnfused, yFused, yAgain, wHf, x, probe, weight, bias]);
    a.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  (present ? test : test.skip)("the fixture's R (torch kaiming_uniform_, a=√5, on [in, r]) lies within 1/√r, beyond 1/√in", () => {
    const g = JSON.parse(fs.readFileSync(GOLDEN, 'utf8')) as LoraGolden;
    const flat = g.lora_right_weight_from_reset_parameters.flat().map(Math.abs);
    const maxAbs = Math.max(...flat);
    // torch's fan_in of an [in, r] tensor is r: the bound is 1/√r = 0.5, and this draw exceeds 1/√in = 0.354.
    expect(maxAbs).toBeLessThan(1 / Math.sqrt(g.shapes.lora_dim));
    expect(maxAbs).toBeGreaterThan(1 / Math.sqrt(g.shapes.in));
    expect(kaimingUniformBound(g.shapes.lora_dim)).toBeCloseTo(1 / Math.sqrt(g.shapes.lora_dim), 12);
  });

  test('init: R uniform in ±1/√r (mean 0, variance bound²/3), L zeros; same seed same values', () => {
    const make = (seed: number): { a: LoraAdapter; w: tf.Variable } => {
      const w = tf.variable(tf.zeros([64, 48]), true);
      return { a: new LoraAdapter(new Linear('l', w, null, 'linear'), { loraDim: 16 }, host, new Rng(seed)), w };
    };
    const { a, w } = make(7);
    const v = Array.from(a.right.dataSync());
    const bound = 1 / Math.sqrt(16);
    expect(v.length).toBe(64 * 16);
    expect(Math.max(...v.map(Math.abs))).toBeLessThan(bound);
    expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.98 * bound); // 1024 draws reach the edge
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length;
    expect(Math.abs(mean)).toBeLessThan(4 * Math.sqrt(bound ** 2 / 3 / v.length));
    expect(Math.abs(variance / (bound ** 2 / 3) - 1)).toBeLessThan(0.1);
    expect(Array.from(a.left.dataSync()).every((x) => x === 0)).toBe(true);
    const again = make(7);
    const other = make(8);
    expect(maxAbsDiff(again.a.right.dataSync(), v)).toBe(0);
    expect(maxAbsDiff(other.a.right.dataSync(), v)).toBeGreaterThan(0.1);
    for (const m of [{ a, w }, again, other]) {
      m.a.dispose();
      m.w.dispose();
    }
  });

  test('dropout hits only the LoRA branch input, only in training, seeded by the host RNG', () => {
    const w = tf.variable(tf.randomNormal([8, 6], 0, 1, 'float32', 1), false);
    const trainHost = { training: true, rng: new Rng(3) };
    const layer = new Linear('l', w, null, 'linear');
    const a = new LoraAdapter(layer, { loraDim: 4, loraDropout: 0.5 }, trainHost, new Rng(1));
    a.left.assign(tf.randomNormal([4, 6], 0, 1, 'float32', 2));
    layer.adapter = a;
    const x = tf.randomNormal([5, 8], 0, 1, 'float32', 4) as tf.Tensor2D;
    const base = tf.matMul(x, w);
    const y1 = layer.apply(x);
    trainHost.rng = new Rng(3);
    const y2 = layer.apply(x);
    const y3 = layer.apply(x);
    // Hand-built expectation for y1: the mask tf.dropout draws with the same seed, applied to x on the branch only.
    const seed = new Rng(3).nextU32();
    const xd = tf.dropout(x, 0.5, undefined, seed);
    const expected = tf.add(base, tf.mul(tf.matMul(tf.matMul(xd, a.right), a.left), 0.25));
    expect(maxAbsDiff(y1.dataSync(), expected.dataSync())).toBeLessThan(1e-5);
    expect(maxAbsDiff(y1.dataSync(), y2.dataSync())).toBe(0);
    expect(maxAbsDiff(y1.dataSync(), y3.dataSync())).toBeGreaterThan(1e-3);
    trainHost.training = false;
    const yEval = layer.apply(x);
    const plain = tf.add(base, tf.mul(tf.matMul(tf.matMul(x, a.right), a.left), 0.25));
    expect(maxAbsDiff(yEval.dataSync(), plain.dataSync())).toBeLessThan(1e-5);
    tf.dispose([w, x, base, y1, y2, y3, xd, expected, yEval, plain]);
    a.dispose();
  });

  test('bad loraDim / loraDropout are clear errors', () => {
    const w = tf.variable(tf.zeros([4, 4]), true);
    const layer = new Linear('model.layers.0.q_proj', w, null, 'linear');
    expect(() => new LoraAdapter(layer, { loraDim: 0 }, host, new Rng(0))).toThrow(/model\.layers\.0\.q_proj: loraDim \(--lora_dim\) must be a positive integer, got 0/);
    expect(() => new LoraAdapter(layer, { loraDim: 2, loraDropout: 1 }, host, new Rng(0))).toThrow(/loraDropout must be in \[0, 1\)/);
    w.dispose();
  });
});
