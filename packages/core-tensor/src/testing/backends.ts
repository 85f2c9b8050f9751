// Spec helpers: run a describe block on cpu and/or wasm (with rlhfkit's wasm kernels) in one line.
import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from '../backend/wasm-kernels';

export type TestBackend = 'cpu' | 'wasm';
export const TEST_BACKENDS: readonly TestBackend[] = ['cpu', 'wasm'];

/** Switches to `name` (kernels registered, tfjs's tfjs-node advert silenced) and returns the previous backend. */
export async function switchBackend(name: TestBackend): Promise<string | null> {
  registerWasmKernels();
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu != null) cpu.firstUse = false;
  const previous = tf.engine().backendName ?? null;
  if (!(await tf.setBackend(name))) throw new Error(`useBackend: tf.setBackend('${name}') failed`);
  return previous;
}

/**
 * Inside a describe block: run its tests on `name`, restoring the previous backend afterwards.
 *
 *   describe('opt forward', () => { useBackend('wasm'); test(...); });
 */
export function useBackend(name: TestBackend): void {
  let previous: string | null = null;
  beforeAll(async () => {
    previous = await switchBackend(name);
  });
  afterAll(async () => {
    if (previous != null && previous !== name) await tf.setBackend(previous);
  });
}

/**
 * One describe block per backend, each with useBackend set up:
 *
 *   describeBackends('opt forward', (backend) => { test('matches HF', () => { ... }); });
 */
export function describeBackends(title: string, body: (backend: TestBackend) => void, backends: readonly TestBackend[] = TEST_BACKENDS): void {
  for (const backend of backends) {
    describe(`${title} [${backend}]`, () => {
      useBackend(backend);
      body(backend);
    });
  }
}

/** How many tensors `fn` leaves behind (0 for a leak-free step); disposes what fn returns. */
export function tensorsLeftBy(fn: () => tf.TensorContainer | void): number {
  const before = tf.memory().numTensors;
  const out = fn();
  if (out != null) tf.dispose(out);
  return tf.memory().numTensors - before;
}

/** Runs `fn` in tf.tidy on backend `name`; returns its outputs as plain arrays, leaving no tensor behind. */
export async function runOn(name: TestBackend, fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await switchBackend(name);
  const out = tf.tidy(fn);
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(list);
  return values;
}

/** Largest |a[i] - b[i]|; throws if the lengths differ. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > m || Number.isNaN(d)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Deterministic uniform values in [lo, hi) (mulberry32), for inputs that both backends must share. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}
