// Checks how the native sgemm is built and loaded: the fallbacks, the one shared build, the cache key, clean exits.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { buildNativeGemm, defaultSourceDir, nativeBuildKey, nativeCompiler } from './native-build';
import { nativeGemmAddon, nativeMatMulCalls, nativeMatMulStatus, resetNativeMatMul } from './native-gemm';

const REPO = path.resolve(__dirname, '../../../..');

function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rlhfkit-native-${tag}-`));
}

/** Runs a large matmul on wasm (and on cpu for reference), collecting what is written to stderr meanwhile. */
async function matmulWithStderr(times: number): Promise<{ lines: string[]; err: number; calls: number }> {
  const av = randomArray(64 * 96, 1);
  const bv = randomArray(80 * 96, 2);
  const op = (): tf.Tensor => tf.matMul(tf.tensor2d(av, [64, 96]), tf.tensor2d(bv, [80, 96]), false, true);
  const [want] = await runOn('cpu', op);
  await switchBackend('wasm');
  const written: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  const calls = nativeMatMulCalls();
  let err = 0;
  try {
    for (let i = 0; i < times; i++) err = Math.max(err, maxAbsDiff((await runOn('wasm', op))[0], want));
  } finally {
    spy.mockRestore();
  }
  return { lines: written.join('').split('\n').filter(Boolean), err, calls: nativeMatMulCalls() - calls };
}

/** Sets environment variables for the duration of fn, then restores them. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v == null) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('native sgemm fallbacks', () => {
  afterEach(() => {
    resetNativeMatMul();
  });

  test('a compiler that does not exist: one printed line, then XNNPACK gives the right numbers', async () => {
    const cache = tmpDir('bogus');
    resetNativeMatMul({ cacheDir: cache });
    const r = await withEnv({ CXX: path.join(cache, 'no-such-g++') }, () => matmulWithStderr(3));
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^rlhfkit: native matmul unavailable \(.*no-such-g\+\+ could not run.*\); matmuls stay on XNNPACK/);
    expect(r.err).toBeLessThan(1e-4);
    expect(r.calls).toBe(0);
    expect(nativeMatMulStatus()).toMatchObject({ active: false });
    fs.rmSync(cache, { recursive: true, force: true });
  });

  test('a compiler that fails: one line naming the log, and XNNPACK', async () => {
    const cache = tmpDir('failing');
    const cxx = path.join(cache, 'failing-cxx.sh');
    fs.writeFileSync(cxx, '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "failing-cxx 1.0"; exit 0; fi\necho "error: no" >&2\nexit 1\n', { mode: 0o755 });
    resetNativeMatMul({ cacheDir: cache, cxx });
    const r = await matmulWithStderr(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/native matmul unavailable \(compiling failed \(exit 1; see .*build-error\.log\)\)/);
    expect(r.err).toBeLessThan(1e-4);
    const log = r.lines[0].match(/see (\S+build-error\.log)/)?.[1] as string;
    expect(fs.readFileSync(log, 'utf8')).toContain('error: no');
    fs.rmSync(cache, { recursive: true, force: true });
  });

  test('RLHFKIT_NATIVE=0: one printed line, then XNNPACK', async () => {
    const r = await withEnv({ RLHFKIT_NATIVE: '0' }, () => matmulWithStderr(2));
    expect(r.lines).toEqual(['rlhfkit: native matmul off (RLHFKIT_NATIVE=0); matmuls stay on XNNPACK']);
    expect(r.err).toBeLessThan(1e-4);
    expect(r.calls).toBe(0);
  });
});

const haveCompiler = nativeCompiler() != null;
if (!haveCompiler) process.stderr.write('native-build.spec: no C++ compiler ($CXX, g++, c++, clang++): skipping the build specs\n');
const run = haveCompiler ? describe : describe.skip;

run('native sgemm build', () => {
  test('the cache key follows the sources, the compiler and its version', () => {
    const src = tmpDir('src');
    for (const f of fs.readdirSync(defaultSourceDir())) fs.copyFileSync(path.join(defaultSourceDir(), f), path.join(src, f));
    const key = nativeBuildKey(src, 'g++', 'g++ 12.2.0');
    expect(key).toBe(nativeBuildKey(defaultSourceDir(), 'g++', 'g++ 12.2.0'));
    expect(nativeBuildKey(src, 'g++', 'g++ 13.1.0')).not.toBe(key);
    expect(nativeBuildKey(src, 'clang++', 'g++ 12.2.0')).not.toBe(key);
    fs.appendFileSync(path.join(src, 'gemm.cc'), '\n');
    expect(nativeBuildKey(src, 'g++', 'g++ 12.2.0')).not.toBe(key);
    fs.rmSync(src, { recursive: true, force: true });
  });

  /** A stand-in compiler that logs each compile, takes `seconds`, and produces the real (already built) addon. */
  function fakeCompiler(dir: string, seconds: number): { cxx: string; log: string } {
    expect(nativeGemmAddon()).not.toBeNull();
    const real = nativeMatMulStatus().file as string;
    const log = path.join(dir, 'compiles.log');
    const cxx = path.join(dir, 'fake-cxx.sh');
    fs.writeFileSync(cxx, [
      '#!/bin/sh',
      'if [ "$1" = "--version" ]; then echo "fake-cxx 1.0"; exit 0; fi',
      `echo $$ >> ${JSON.stringify(log)}`,
      `sleep ${seconds}`,
      'out=""; prev=""; for a in "$@"; do if [ "$prev" = "-o" ]; then out="$a"; fi; prev="$a"; done',
      `cp ${JSON.stringify(real)} "$out"`,
    ].join('\n') + '\n', { mode: 0o755 });
    return { cxx, log };
  }

  test('a build lock left by a process that died is taken over at once', () => {
    const cache = tmpDir('stale');
    const { cxx, log } = fakeCompiler(cache, 0);
    const key = nativeBuildKey(defaultSourceDir(), cxx, 'fake-cxx 1.0');
    fs.mkdirSync(path.join(cache, key));
    // process.stdout.write, not console.log: under nx FORCE_COLOR is set and console.log would colour the number.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(path.join(cache, key, 'build.lock'), `${dead.stdout.trim()} 2020-01-01T00:00:00Z\n`);
    const started = Date.now();
    const r = buildNativeGemm({ cxx, cacheDir: cache });
    expect(r).toMatchObject({ ok: true, compiled: true });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
    fs.rmSync(cache, { recursive: true, force: true });
  });

  test('concurrent processes share one compile and each loads the result', async () => {
    const cache = tmpDir('shared');
    // Slow enough that both processes overlap.
    const { cxx, log } = fakeCompiler(cache, 1);
    const script = `const b = require(${JSON.stringify(path.join(__dirname, 'native-build.ts'))});
      const r = b.buildNativeGemm({ cxx: ${JSON.stringify(cxx)}, cacheDir: ${JSON.stringify(cache)} });
      console.log(JSON.stringify(r.ok ? { ok: true, compiled: r.compiled, kernel: r.addon.info().kernel } : r));`;
    const child = (): Promise<string> => new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: REPO });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => { out += String(d); });
      p.stderr.on('data', (d: Buffer) => { err += String(d); });
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`))));
    });
    const results = (await Promise.all([child(), child()])).map((o) => JSON.parse(o.trim()) as { ok: boolean; compiled: boolean; kernel: string });
    expect(results.every((r) => r.ok && typeof r.kernel === 'string')).toBe(true);
    expect(results.filter((r) => r.compiled)).toHaveLength(1);
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
    const [dir] = fs.readdirSync(cache).filter((f) => fs.statSync(path.join(cache, f)).isDirectory());
    expect(dir).toBe(nativeBuildKey(defaultSourceDir(), cxx, 'fake-cxx 1.0'));
    expect(fs.readdirSync(path.join(cache, dir))).toEqual(['rlhfkit-gemm.node']); // no lock, no temporary file
    fs.rmSync(cache, { recursive: true, force: true });
  }, 60_000);

  test('threaded wasm (a SharedArrayBuffer heap) with 2 native threads computes right and exits by itself', () => {
    const dir = (f: string): string => JSON.stringify(path.join(__dirname, f));
    const script = `const tf = require('@tensorflow/tfjs');
      const { initBackend } = require(${dir('init-backend.ts')});
      const ng = require(${dir('native-gemm.ts')});
      const wi = require(${dir('wasm-internals.ts')});
      (async () => {
        const info = await initBackend({ threads: 2, xnnpackThreads: 2, quiet: true });
        const [m, k, n] = [260, 140, 180]; // over the threaded-wasm threshold (NATIVE_MATMUL_MIN_MACS_THREADED)
        const av = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
        const bv = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
        const got = tf.matMul(tf.tensor2d(av, [m, k]), tf.tensor2d(bv, [k, n])).dataSync();
        let err = 0;
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += av[i * k + p] * bv[p * n + j];
          err = Math.max(err, Math.abs(got[i * n + j] - s));
        }
        const shared = wi.heapBuffer(wi.asWasm(tf.backend())) instanceof SharedArrayBuffer;
        console.log(JSON.stringify({ threads: info.threads, shared, err, calls: ng.nativeMatMulCalls(), status: ng.nativeMatMulStatus() }));
      })();`;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    expect(r.error).toBeUndefined(); // a timeout (threads keeping Node alive) shows up here
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { threads: number; shared: boolean; err: number; calls: number; status: { active: boolean; threads: number } };
    const cpus = Math.min(2, os.availableParallelism()); // the addon never starts more threads than CPUs
    expect(out).toMatchObject({ threads: 2, shared: true, calls: 1, status: { active: true, threads: cpus } });
    expect(out.err).toBeLessThan(1e-4);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});
