// Checks the native sgemm against the cpu backend (every kernel set this CPU runs), its routing, threads and leaks.
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { fastBatchMatMul, planMatMul } from './batch-mat-mul';
import { setWasmFastPaths } from './fast-paths';
import { nativeCompiler, type NativeGemmAddon } from './native-build';
import {
  configureNativeMatMul, NATIVE_MATMUL_MIN_MACS, NATIVE_MATMUL_MIN_MACS_THREADED, nativeGemmAddon, nativeMatMulCalls,
  nativeMatMulStatus, selectNativeKernel, setNativeMatMulMinMacs, useNativeMatMul,
} from './native-gemm';
import { asWasm, type WasmBackend } from './wasm-internals';

const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/** max |got - want| over max |want|: the error relative to the size of the result. */
function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  return maxAbsDiff(got, want) / Math.max(scale, 1e-30);
}

function wasmDataIds(): number {
  return (tf.findBackend('wasm') as unknown as { numDataIds(): number }).numDataIds();
}

type Op = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor | tf.Tensor[];

/** Runs op on cpu and on wasm (native) from the same inputs; checks wasm leaves no tensor or heap buffer behind. */
async function compare(aShape: number[], bShape: number[], op: Op): Promise<{ wasm: Float32Array[]; cpu: Float32Array[]; calls: number }> {
  const av = randomArray(size(aShape), 11);
  const bv = randomArray(size(bShape), 12);
  const run = (): tf.Tensor | tf.Tensor[] => op(tf.tensor(av, aShape), tf.tensor(bv, bShape));
  const cpu = await runOn('cpu', run);
  await switchBackend('wasm');
  const tensors = tf.memory().numTensors;
  const ids = wasmDataIds();
  const before = nativeMatMulCalls();
  const wasm = await runOn('wasm', run);
  expect(tf.memory().numTensors).toBe(tensors);
  expect(wasmDataIds()).toBe(ids);
  return { wasm, cpu, calls: nativeMatMulCalls() - before };
}

// [label, a shape, b shape, transposeA, transposeB]
const SHAPES: [string, number[], number[], boolean, boolean][] = [
  ['1xN row', [1, 37], [37, 53], false, false],
  ['1xN row, B transposed', [1, 37], [53, 37], false, true],
  ['Nx1 column', [41, 29], [29, 1], false, false],
  ['Nx1 column, both transposed', [29, 41], [1, 29], true, true],
  ['K=1 outer product', [17, 1], [1, 23], false, false],
  ['K=1 outer product, A transposed', [1, 17], [1, 23], true, false],
  ['odd sizes', [97, 131], [131, 67], false, false],
  ['odd sizes A^T', [131, 97], [131, 67], true, false],
  ['odd sizes B^T', [97, 131], [67, 131], false, true],
  ['odd sizes A^T B^T', [131, 97], [67, 131], true, true],
  ['k over one cache block (accumulating passes)', [20, 600], [600, 30], false, false],
  ['k over one cache block, A^T B^T', [600, 20], [30, 600], true, true],
  ['rows over one cache block', [300, 20], [20, 19], false, false],
  ['n over one cache block', [7, 10], [10, 4200], false, false],
  ['few rows read B in place, ragged edge', [3, 70], [70, 45], false, false],
  ['batched', [3, 33, 45], [3, 45, 29], false, false],
  ['batched A^T', [3, 45, 33], [3, 45, 29], true, false],
  ['batched B^T (attention scores)', [2, 3, 32, 16], [2, 3, 32, 16], false, true],
  ['batched A^T B^T', [3, 45, 33], [3, 29, 45], true, true],
  ['batch dims missing on one side', [2, 3, 20, 16], [3, 16, 24], false, false],
  ['shared A, batched B', [1, 20, 16], [4, 16, 24], false, false],
  ['3-D times a 2-D weight (rows folded into one product)', [4, 30, 20], [20, 40], false, false],
  ['3-D transposed times a 2-D weight (not foldable)', [4, 20, 30], [20, 40], true, false],
  ['3-D times a transposed 2-D weight', [4, 30, 20], [40, 20], false, true],
];

const haveCompiler = nativeCompiler() != null;
if (!haveCompiler) process.stderr.write('native-gemm.spec: no C++ compiler ($CXX, g++, c++, clang++): skipping the native matmul specs\n');
const run = haveCompiler ? describe : describe.skip;

run('native sgemm on the wasm heap', () => {
  let addon: NativeGemmAddon;
  let previousMin: number | null = null;

  beforeAll(async () => {
    await switchBackend('wasm');
    const a = nativeGemmAddon();
    if (a == null) throw new Error(`the native matmul did not build: ${nativeMatMulStatus().reason}`);
    addon = a;
    previousMin = setNativeMatMulMinMacs(0); // every product goes native, however small
  });

  afterAll(() => {
    selectNativeKernel('auto');
    configureNativeMatMul({ threads: 1 });
    setNativeMatMulMinMacs(previousMin);
    setWasmFastPaths({ nativeMatMul: true });
  });

  test('a hand-computed product', async () => {
    const { wasm, calls } = await compare([2, 2], [2, 2], () => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])));
    expect(Array.from(wasm[0])).toEqual([19, 22, 43, 50]);
    expect(calls).toBe(1);
  });

  test('a float64 reference on a mid-size product with bias and relu', async () => {
    const [m, k, n] = [45, 300, 70];
    const av = randomArray(m * k, 3);
    const bv = randomArray(k * n, 4);
    const bias = randomArray(n, 5);
    await switchBackend('wasm');
    const [got] = await runOn('wasm', () => tf.fused.matMul({
      a: tf.tensor2d(av, [m, k]), b: tf.tensor2d(bv, [k, n]), bias: tf.tensor1d(bias), activation: 'relu',
    }));
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = bias[j];
        for (let p = 0; p < k; p++) s += av[i * k + p] * bv[p * n + j];
        want[i * n + j] = Math.max(0, s);
      }
    }
    expect(relError(got, want)).toBeLessThan(1e-6);
  });

  const KERNELS = ['avx512f', 'avx2+fma', 'generic', 'reference-12x32'];
  test.each(KERNELS)('kernel set %s equals cpu on every shape (relative error <= 1e-5)', async (kernel) => {
    const entry = addon.info().kernels.find((k) => k.name === kernel);
    if (entry == null || !entry.supported) {
      process.stderr.write(`native-gemm.spec: this CPU cannot run ${kernel}; its case list did not run here\n`);
      return;
    }
    expect(selectNativeKernel(kernel)).toBe(kernel);
    try {
      for (const [label, aShape, bShape, ta, tb] of SHAPES) {
        const { wasm, cpu, calls } = await compare(aShape, bShape, (a, b) => tf.matMul(a, b, ta, tb));
        const err = relError(wasm[0], cpu[0]);
        if (!(err <= 1e-5) || calls !== 1) throw new Error(`${kernel}, ${label}: relative error ${err}, native calls ${calls}`);
      }
    } finally {
      selectNativeKernel('auto');
    }
  });

  // cpu pairs flattened batches modulo each side's count, so [2,1]x[1,3] is compared with explicitly tiled operands.
  test('general broadcasting ([2,1,m,k] x [1,3,k,n]) matches tiled operands', async () => {
    const aShape = [2, 1, 12, 10];
    const bShape = [1, 3, 10, 14];
    const { wasm, calls } = await compare(aShape, bShape, (a, b) => tf.matMul(a, b));
    const [tiled] = await runOn('cpu', () =>
      tf.matMul(tf.tile(tf.tensor(randomArray(size(aShape), 11), aShape), [1, 3, 1, 1]),
        tf.tile(tf.tensor(randomArray(size(bShape), 12), bShape), [2, 1, 1, 1])));
    expect(relError(wasm[0], tiled)).toBeLessThan(1e-5);
    expect(calls).toBe(1);
  });

  const FUSED: [string, number[], boolean, tf.fused.Activation][] = [
    ['bias per column + relu (both in the kernel)', [40], false, 'relu'],
    ['bias [1, n] + relu (both in the kernel)', [1, 40], false, 'relu'],
    ['bias per column + sigmoid (activation afterwards)', [40], false, 'sigmoid'],
    ['bias per row-and-column + relu (both afterwards)', [24, 40], false, 'relu'],
    ['no bias + relu', [], false, 'relu'],
    ['bias per column + prelu', [40], true, 'prelu'],
  ];
  test.each(FUSED)('_FusedMatMul with %s equals cpu', async (_label, biasShape, prelu, activation) => {
    const biasV = randomArray(Math.max(1, size(biasShape)), 9);
    const alphaV = randomArray(40, 10, 0, 0.5);
    const { wasm, cpu, calls } = await compare([2, 24, 32], [2, 40, 32], (a, b) => tf.fused.matMul({
      a, b, transposeB: true, activation,
      bias: biasShape.length > 0 ? tf.tensor(biasV, biasShape) : undefined,
      preluActivationWeights: prelu ? tf.tensor1d(alphaV) : undefined,
    }));
    expect(relError(wasm[0], cpu[0])).toBeLessThan(1e-5);
    expect(calls).toBe(1);
  });

  test('gradients through transposed and batched products equal cpu, leaving nothing behind', async () => {
    const { wasm, cpu, calls } = await compare([2, 4, 32, 16], [16, 24], (a, b) =>
      tf.grads((x: tf.Tensor, w: tf.Tensor) => {
        const h = tf.matMul(x.reshape([256, 16]), w).reshape([2, 4, 32, 24]);
        const s = tf.softmax(tf.matMul(h, h, false, true));          // [2,4,32,32]
        return tf.matMul(s, h).square().sum();
      })([a, b]));
    expect(relError(wasm[0], cpu[0])).toBeLessThan(1e-5);
    expect(relError(wasm[1], cpu[1])).toBeLessThan(1e-5);
    expect(calls).toBeGreaterThanOrEqual(6);
  });

  test('2 threads give bit-identical results to 1 (split products, many row blocks, few rows, whole batch items per thread)', async () => {
    const results: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      configureNativeMatMul({ threads });
      const big = await compare([150, 200], [170, 200], (a, b) => tf.matMul(a, b, false, true));
      const tall = await compare([1103, 300], [300, 262], (a, b) => tf.matMul(a, b)); // row units over several row blocks
      const wide = await compare([40, 96], [96, 3000], (a, b) => tf.matMul(a, b)); // too few rows: one shared B
      const batch = await compare([8, 64, 64], [8, 64, 64], (a, b) => tf.matMul(a, b, true, false));
      results.push([big.wasm[0], tall.wasm[0], wide.wasm[0], batch.wasm[0]]);
      expect(relError(batch.wasm[0], batch.cpu[0])).toBeLessThan(1e-5);
      expect(relError(big.wasm[0], big.cpu[0])).toBeLessThan(1e-5);
      expect(relError(tall.wasm[0], tall.cpu[0])).toBeLessThan(1e-5);
      expect(relError(wide.wasm[0], wide.cpu[0])).toBeLessThan(1e-5);
    }
    configureNativeMatMul({ threads: 1 });
    results[0].forEach((r, i) => expect(maxAbsDiff(r, results[1][i])).toBe(0));
  });

  test('the native kernel and rlhfkit\'s XNNPACK path agree', async () => {
    await switchBackend('wasm');
    const a = tf.tensor(randomArray(3 * 40 * 64, 1), [3, 40, 64]);
    const b = tf.tensor(randomArray(3 * 48 * 64, 2), [3, 48, 64]);
    const native = tf.matMul(a, b, false, true);
    const backend = asWasm(tf.backend());
    const xnn = fastBatchMatMul(backend, a, b, false, true, planMatMul(a.shape, b.shape, false, true));
    const xv = Float32Array.from(backend.readSync(xnn.dataId) as Float32Array);
    backend.disposeData(xnn.dataId);
    expect(relError(native.dataSync(), xv)).toBeLessThan(1e-5);
    tf.dispose([a, b, native]);
  });

  test('the switch and the size threshold keep small or switched-off products on XNNPACK', async () => {
    setNativeMatMulMinMacs(20 * 20 * 20);
    try {
      expect((await compare([10, 10], [10, 10], (a, b) => tf.matMul(a, b))).calls).toBe(0);
      expect((await compare([20, 20], [20, 20], (a, b) => tf.matMul(a, b))).calls).toBe(1);
      setWasmFastPaths({ nativeMatMul: false });
      const off = await compare([40, 30], [30, 20], (a, b) => tf.matMul(a, b, false, false));
      expect(off.calls).toBe(0);
      expect(relError(off.wasm[0], off.cpu[0])).toBeLessThan(1e-5);
    } finally {
      setWasmFastPaths({ nativeMatMul: true });
      setNativeMatMulMinMacs(0);
    }
    expect(nativeMatMulStatus()).toMatchObject({ active: true });
  });

  test('threaded wasm keeps decoding-size products on XNNPACK (its threads stay warm), training-size ones go native', () => {
    const fake = (threads: number): WasmBackend => ({ wasm: { tfjs: { getThreadsCount: () => threads } } }) as unknown as WasmBackend;
    const previous = setNativeMatMulMinMacs(null);
    try {
      expect(useNativeMatMul(NATIVE_MATMUL_MIN_MACS - 1, fake(1))).toBeNull();
      expect(useNativeMatMul(NATIVE_MATMUL_MIN_MACS, fake(1))).toBe(addon);
      expect(useNativeMatMul(8 * 256 * 1024, fake(2))).toBeNull(); // a decoding step's FFN product
      expect(useNativeMatMul(1024 * 256 * 256, fake(2))).toBe(addon); // a training step's smallest
      expect(NATIVE_MATMUL_MIN_MACS_THREADED).toBeGreaterThan(8 * 256 * 1024);
    } finally {
      setNativeMatMulMinMacs(previous);
    }
  });

  test('a heap over a SharedArrayBuffer (threaded wasm) works like an ArrayBuffer one', () => {
    const [m, k, n] = [19, 33, 27];
    const out: Float32Array[] = [];
    for (const shared of [false, true]) {
      const buf = shared ? new SharedArrayBuffer(4096 * 4) : new ArrayBuffer(4096 * 4);
      const heap = new Float32Array(buf);
      heap.set(randomArray(m * k, 7), 16);
      heap.set(randomArray(k * n, 8), 1024);
      addon.gemm(heap, 1, m, n, k, false, false, 16, 0, 1024, 0, 2048, -1, false, null, null);
      out.push(heap.slice(2048, 2048 + m * n));
    }
    expect(maxAbsDiff(out[0], out[1])).toBe(0);
    expect(out[0].some((v) => v !== 0)).toBe(true);
  });

  // Sentinels around every operand: the kernel writes C and nothing else, whatever the kernel set, threads,
  // batch mode (whole items per thread or each item split) and ragged edges.
  test('nothing outside C is written', () => {
    const info = addon.info();
    const heap = new Float32Array(1 << 18);
    const cases: [number, number, number, number, boolean, boolean][] = [
      [1, 1, 37, 5, false, false], [1, 13, 1, 7, true, false], [1, 150, 170, 300, false, true], [8, 29, 31, 17, true, true],
      [8, 64, 64, 64, true, false], [3, 5, 4100, 3, false, false], [2, 300, 40, 9, false, false],
    ];
    try {
      for (const kernel of info.kernels.filter((k) => k.supported).map((k) => k.name)) {
        addon.setKernel(kernel);
        for (const threads of [1, 2]) {
          addon.setThreads(threads);
          for (const [batch, m, n, k, ta, tb] of cases) {
            heap.fill(-7.25);
            const aOff = 64;
            const bOff = aOff + batch * m * k + 64;
            const cOff = bOff + batch * k * n + 64;
            const biasOff = cOff + batch * m * n + 64;
            heap.set(randomArray(batch * m * k, 1), aOff);
            heap.set(randomArray(batch * k * n, 2), bOff);
            heap.set(randomArray(n, 3), biasOff);
            const before = heap.slice();
            addon.gemm(heap, batch, m, n, k, ta, tb, aOff, m * k, bOff, k * n, cOff, biasOff, true, null, null);
            for (let i = 0; i < heap.length; i++) {
              if (i >= cOff && i < cOff + batch * m * n) continue;
              if (heap[i] !== before[i]) throw new Error(`${kernel}, ${threads} threads, [${batch},${m},${n},${k}]: heap[${i}] changed`);
            }
          }
        }
      }
    } finally {
      addon.setKernel('auto');
      addon.setThreads(1);
    }
  });

  test('offsets outside the heap are refused with an error, not a crash', () => {
    const heap = new Float32Array(1024);
    expect(() => addon.gemm(heap, 1, 16, 16, 16, false, false, 0, 0, 256, 0, 1000, -1, false, null, null))
      .toThrow(/reaches outside the heap/);
    expect(() => addon.gemm(heap, 2, 8, 8, 8, false, false, 0, 64, 128, 64, 512, -1, false, new Int32Array([0, 99]), null))
      .toThrow(/batch item 1 reaches outside the heap/);
    expect(() => addon.gemm(heap, 1, 8, 8, 8, false, false, 0, 0, 64, 0, 128, -1, false, new Int32Array([0]), new Int32Array(0)))
      .toThrow(/shorter than the batch/);
  });
});
