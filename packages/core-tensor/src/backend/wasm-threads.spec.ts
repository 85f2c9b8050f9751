// Checks opt-in multi-threaded wasm: the worker rewrite, clean failure, correct results, and processes that exit.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './init-backend';
import { setWasmFastPaths } from './fast-paths';
import { nativeCompiler } from './native-build';
import { defaultWasmThreadFiles, patchForWasmThreads, rewriteWorkerSource, WORKER_BLOB_LOAD } from './wasm-threads';

describe('wasm threads in Node', () => {
  test('the shipped pthread worker still contains the Blob-URL loader, and the rewrite loads the real script', () => {
    const files = defaultWasmThreadFiles();
    const source = fs.readFileSync(files.workerScript, 'utf8');
    expect(source).toContain(WORKER_BLOB_LOAD);
    const rewritten = rewriteWorkerSource(source, files.threadedScript);
    expect(rewritten).not.toContain('URL.createObjectURL');
    expect(rewritten).toContain(`importScripts(${JSON.stringify(files.threadedScript)})`);
  });

  test('a worker that no longer matches fails before anything is patched, saying what to update', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-threads-'));
    const worker = path.join(dir, 'worker.js');
    fs.writeFileSync(worker, 'self.onmessage = () => {};');
    const blob = globalThis.Blob;
    const createObjectURL = URL.createObjectURL;
    const cpus = (require('node:os') as typeof os).cpus;
    try {
      expect(() => patchForWasmThreads(2, { workerScript: worker, threadedScript: defaultWasmThreadFiles().threadedScript }))
        .toThrow(/no longer contains the Blob-URL loader.*update WORKER_BLOB_LOAD in core-tensor\/src\/backend\/wasm-threads\.ts/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(globalThis.Blob).toBe(blob);
    expect(URL.createObjectURL).toBe(createObjectURL);
    expect((require('node:os') as typeof os).cpus).toBe(cpus);
    expect(tf.env().getFlags().WASM_HAS_MULTITHREAD_SUPPORT).not.toBe(true);
  });

  test('a plain node process with 2 threads computes exactly and exits by itself', () => {
    const child = path.join(__dirname, 'wasm-threads.child.ts');
    const started = Date.now();
    // Without the native kernels, so that XNNPACK itself runs on the 2 threads.
    const r = spawnSync(process.execPath, ['--import', 'tsx', child, '2'], {
      cwd: path.resolve(__dirname, '../../../..'), encoding: 'utf8', timeout: 60_000, env: { ...process.env, RLHFKIT_NATIVE: '0' },
    });
    expect(r.error).toBeUndefined(); // a timeout (workers keeping Node alive) shows up here
    expect(r.stderr).toBe('rlhfkit: native matmul off (RLHFKIT_NATIVE=0); matmuls stay on XNNPACK\n');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { name: string; threads: number; maxErr: number; embeddingGrad: number[] };
    expect(out).toMatchObject({ name: 'wasm', threads: 2, maxErr: 0 });
    expect(out.embeddingGrad).toEqual([0, 0, 2, 2, 0, 0, 1, 1]);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  test('with the native kernels they take the threads and XNNPACK runs on 1 (training and generation); without them XNNPACK keeps 2', () => {
    const child = path.join(__dirname, 'wasm-threads.child.ts');
    const spawn = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['--import', 'tsx', child, '2', 'train'], {
      cwd: path.resolve(__dirname, '../../../..'), encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env },
    });
    const off = spawn({ RLHFKIT_NATIVE: '0' });
    expect(off.error).toBeUndefined();
    expect(off.status).toBe(0);
    const offOut = JSON.parse(off.stdout.trim()) as { threads: number; nativeMatMulThreads?: number; maxErr: number };
    expect(offOut).toMatchObject({ threads: 2, maxErr: 0 });
    expect(offOut.nativeMatMulThreads).toBeUndefined();
    if (nativeCompiler() == null) {
      process.stderr.write('wasm-threads.spec: no C++ compiler, so no native matmul: the split-threads case is not run\n');
      return;
    }
    const on = spawn({ RLHFKIT_NATIVE: '', RLHFKIT_NATIVE_THREADS: '' });
    expect(on.error).toBeUndefined();
    expect(on.status).toBe(0);
    const out = JSON.parse(on.stdout.trim()) as { threads: number; nativeMatMulThreads?: number; notes: string[]; maxErr: number; embeddingGrad: number[] };
    expect(out).toMatchObject({ threads: 1, nativeMatMulThreads: 2, maxErr: 0 });
    expect(out.embeddingGrad).toEqual([0, 0, 2, 2, 0, 0, 1, 1]);
    expect(out.notes).toContain('the native kernels run on 2 threads, the other wasm kernels on 1');
    const gen = spawnSync(process.execPath, ['--import', 'tsx', child, '2'], {
      cwd: path.resolve(__dirname, '../../../..'), encoding: 'utf8', timeout: 120_000, env: { ...process.env, RLHFKIT_NATIVE: '', RLHFKIT_NATIVE_THREADS: '' },
    });
    expect(gen.status).toBe(0);
    expect(JSON.parse(gen.stdout.trim())).toMatchObject({ threads: 1, nativeMatMulThreads: 2, maxErr: 0 });
  });

  test('inside jest too: 2 threads start, match the single-threaded answer, and the backend shuts down', async () => {
    setWasmFastPaths({ nativeMatMul: false }); // XNNPACK itself on the 2 threads
    const info = await initBackend({ threads: 2, quiet: true });
    setWasmFastPaths({ nativeMatMul: true });
    expect(info.threads).toBe(2);
    const a = tf.tensor2d(Array.from({ length: 128 * 96 }, (_, i) => ((i * 13) % 11) - 5), [128, 96]);
    const b = tf.tensor2d(Array.from({ length: 96 * 72 }, (_, i) => ((i * 7) % 9) - 4), [96, 72]);
    const got = tf.matMul(a, b, false, false).dataSync();
    const av = a.dataSync();
    const bv = b.dataSync();
    for (const [i, j] of [[0, 0], [127, 71], [64, 33]]) {
      let s = 0;
      for (let k = 0; k < 96; k++) s += av[i * 96 + k] * bv[k * 72 + j];
      expect(got[i * 72 + j]).toBe(s);
    }
    tf.dispose([a, b]);
    // Terminates the pthread workers, so this jest worker carries no threads into the next spec file.
    tf.removeBackend('wasm');
  });
});
