// The library starts the default backend on first use (each case a fresh process: the backend is chosen once per process).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '..');
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-lazy-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `body` (an async function body with `ct` = core-tensor's sources and `tf`) in a new node process through tsx. */
function fresh(body: string): { code: number | null; stdout: string; stderr: string } {
  const script = `const ct = require(${JSON.stringify(SRC)}); const tf = require(${JSON.stringify(require.resolve('@tensorflow/tfjs'))});
    (async () => { ${body} })().catch((e) => { console.log('ERROR ' + e.message); process.exit(3); });`;
  const r = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
    cwd: tmp, encoding: 'utf8', timeout: 120_000, env: { ...process.env, RLHFKIT_BACKEND: '', RLHFKIT_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the default backend starts on first use', () => {
  test('createTinyModel and loadPretrained before any initBackend: the default (wasm) starts, printed once', () => {
    const r = fresh(`
      console.log('before ' + ct.currentBackendInfo());
      await ct.createTinyModel('m', { hiddenSize: 16, layers: 1, heads: 2, merges: 50 });
      const model = await ct.loadPretrained('m');
      const out = await ct.generate(model, [[1, 2, 3]], { maxNewTokens: 2 });
      console.log('after ' + ct.currentBackendInfo().name + ' ' + tf.getBackend() + ' ' + out.newTokens[0].length);`);
    expect(r.stdout).toContain('before null');
    expect(r.stdout).toContain('after wasm wasm 2');
    expect(r.stderr.match(/rlhfkit: backend /g)).toHaveLength(1);
    expect(r.code).toBe(0);
  });

  test('a backend chosen with initBackend is kept', () => {
    const r = fresh(`
      await ct.initBackend({ backend: 'cpu', quiet: true });
      await ct.createTinyModel('m2', { hiddenSize: 16, layers: 1, heads: 2, merges: 50 });
      await ct.loadPretrained('m2');
      console.log('backend ' + tf.getBackend());`);
    expect(r.stdout).toContain('backend cpu');
    expect(r.code).toBe(0);
  });

  test("tf.setBackend('wasm') by the caller is kept and gets rlhfkit's kernels: the gather gradient (UnsortedSegmentSum) trains", () => {
    const r = fresh(`
      await tf.setBackend('wasm');
      await ct.createTinyModel('m3', { hiddenSize: 16, layers: 1, heads: 2, merges: 50 });
      const model = await ct.loadPretrained('m3');
      const ids = [[1, 2, 3, 4]];
      const { grads } = tf.variableGrads(() => ct.causalLmLoss(model.forward({ inputIds: ids }), ids));
      console.log('grads ' + Object.keys(grads).length + ' ' + tf.getBackend() + ' ' + ct.currentBackendInfo());`);
    expect(r.stdout).toMatch(/grads [1-9]\d* wasm null/);
    expect(r.code).toBe(0);
  });

  test('createModelFromConfig (synchronous) with no backend started names what to call first', () => {
    const r = fresh(`ct.createModelFromConfig(ct.tinyModelConfig({ hiddenSize: 16, layers: 1, heads: 2 }, 100, 99));`);
    expect(r.stdout).toContain('ERROR createModelFromConfig runs synchronously and no compute backend has started yet: `await initBackend()` first');
    expect(r.stdout).not.toContain('has not yet been initialized');
  });
});
