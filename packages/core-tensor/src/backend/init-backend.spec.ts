// Checks backend choice: option/env parsing, clear errors, the auto fallback to wasm, printing once, idempotence.
import * as tf from '@tensorflow/tfjs';
import { setWasmFastPaths } from './fast-paths';
import { BackendInfo, currentBackendInfo, initBackend, resolveChoice, resolveThreads } from './init-backend';

// Simulate a tfjs upgrade that breaks the threads patch; the real patch is exercised in wasm-threads.spec.ts.
jest.mock('./wasm-threads', () => ({
  ...jest.requireActual('./wasm-threads'),
  patchForWasmThreads: () => {
    throw new Error('simulated: worker source changed');
  },
}));

function captureStderr(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return { lines, restore: () => spy.mockRestore() };
}

describe('resolving --backend / RLHFKIT_BACKEND and --threads / RLHFKIT_THREADS', () => {
  const env = { ...process.env };
  afterEach(() => {
    process.env = { ...env };
  });

  test('the option wins over the environment, which wins over auto', () => {
    process.env.RLHFKIT_BACKEND = 'cpu';
    expect(resolveChoice({ backend: 'wasm' })).toEqual({ choice: 'wasm', from: '--backend' });
    expect(resolveChoice({})).toEqual({ choice: 'cpu', from: 'RLHFKIT_BACKEND' });
    delete process.env.RLHFKIT_BACKEND;
    expect(resolveChoice({})).toEqual({ choice: 'auto', from: 'default' });
    expect(resolveChoice({ backend: ' Node-GPU ' }).choice).toBe('node-gpu');
  });

  test('an unknown backend names its source and the valid choices', () => {
    process.env.RLHFKIT_BACKEND = 'gpu';
    expect(() => resolveChoice({})).toThrow("unknown backend 'gpu' (from RLHFKIT_BACKEND); use one of auto, node-gpu, node, wasm, cpu");
  });

  test('threads default to the CPUs the process may use, are capped at the worker pool, and must be whole numbers', () => {
    const defaulted: string[] = [];
    delete process.env.RLHFKIT_THREADS;
    expect(resolveThreads({}, defaulted, () => 2)).toBe(2);
    expect(defaulted).toEqual(['threads: 2, the CPUs this process may use (--threads or RLHFKIT_THREADS to change)']);
    expect(resolveThreads({}, [], () => 1)).toBe(1);
    expect(resolveThreads({}, [], () => 96)).toBe(8);
    const notes: string[] = [];
    expect(resolveThreads({ threads: 1 }, notes, () => 2)).toBe(1);
    process.env.RLHFKIT_THREADS = '3';
    expect(resolveThreads({}, notes)).toBe(3);
    expect(resolveThreads({ threads: 2 }, notes)).toBe(2);
    expect(resolveThreads({ threads: 64 }, notes)).toBe(8);
    expect(resolveThreads({}, notes, () => 2)).toBe(3);
    expect(notes).toEqual(['threads capped at 8 (the wasm backend\'s worker pool)']);
    process.env.RLHFKIT_THREADS = 'two';
    expect(() => resolveThreads({}, [])).toThrow("threads must be a whole number >= 1, got 'two' (from RLHFKIT_THREADS)");
    expect(() => resolveThreads({ threads: 0 }, [])).toThrow('(from --threads)');
  });
});

describe('initBackend', () => {
  test('an explicitly requested backend that cannot load is an error saying why and what to do', async () => {
    await expect(initBackend({ backend: 'node-gpu', quiet: true })).rejects.toThrow(
      /backend node-gpu \(from --backend\) could not start: @tensorflow\/tfjs-node-gpu could not be loaded \(.*Cannot find module.*npm i @tensorflow\/tfjs-node-gpu@4\.22\.0/s);
    await expect(initBackend({ backend: 'node', quiet: true })).rejects.toThrow(/npm i @tensorflow\/tfjs-node@4\.22\.0.*pick another backend \(wasm, cpu\)/);
    await expect(initBackend({ backend: 'tpu' })).rejects.toThrow("unknown backend 'tpu'");
    expect(currentBackendInfo()).toBeNull();
  });

  let info: BackendInfo;
  let printed: string[] = [];

  test('auto falls through the missing tfjs-node packages to wasm with its kernels, and prints one line', async () => {
    const err = captureStderr();
    // Without the native kernels XNNPACK asks for the 2 threads (and the simulated patch failure happens).
    const prev = setWasmFastPaths({ nativeMatMul: false });
    try {
      info = await initBackend({ threads: 2 });
      await initBackend();
    } finally {
      err.restore();
      setWasmFastPaths(prev);
    }
    printed = err.lines;
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.requested).toBe('auto');
    expect(info.simd).toBe(true);
    expect(info.notes[0]).toMatch(/^@tensorflow\/tfjs-node-gpu could not be loaded/);
    expect(info.notes[1]).toMatch(/^@tensorflow\/tfjs-node could not be loaded/);
    expect(info.wasmKernels?.native).toEqual([
      'UnsortedSegmentSum', 'RlhfkitDecodeAttention', 'RlhfkitRmsNorm', 'RlhfkitRmsNormGrad', 'RlhfkitLayerNorm', 'RlhfkitLayerNormGrad',
      'RlhfkitLinear', 'RlhfkitLinearGrad', 'RlhfkitLabelLogProbs', 'RlhfkitLabelLogProbsGrad', 'RlhfkitAttention', 'RlhfkitAttentionGrad',
      'RlhfkitAttnBlock', 'RlhfkitAttnBlockGrad', 'RlhfkitMlpBlock', 'RlhfkitMlpBlockGrad',
      'RlhfkitLlamaAttnBlock', 'RlhfkitLlamaAttnBlockGrad', 'RlhfkitLlamaMlpBlock', 'RlhfkitLlamaMlpBlockGrad',
    ]);
    expect(info.wasmKernels?.bridged).toContain('Einsum');
    expect(info.wasmKernels?.wrapped).toEqual(['BatchMatMul', '_FusedMatMul', 'Sum', 'Identity', 'GatherV2', 'Transpose']);
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
  });

  test('threads that cannot start cost one printed line, and training goes on single-threaded', () => {
    expect(info.threads).toBe(1);
    expect(info.notes).toContain('wasm threads could not start: simulated: worker source changed');
    expect(printed).toEqual([
      'rlhfkit: wasm threads could not start (simulated: worker source changed); continuing with 1 thread\n',
      'rlhfkit: backend wasm (simd, 1 thread)\n',
    ]);
  });

  test('later calls return the same info, and refuse a different explicit backend', async () => {
    const err = captureStderr();
    try {
      expect(await initBackend({ backend: 'wasm' })).toBe(info);
      expect(await initBackend({ backend: 'auto' })).toBe(info);
      await expect(initBackend({ backend: 'cpu' })).rejects.toThrow('already runs on wasm; choose the backend once, at start-up');
    } finally {
      err.restore();
    }
    expect(err.lines).toEqual([]);
    expect(currentBackendInfo()).toBe(info);
  });
});
