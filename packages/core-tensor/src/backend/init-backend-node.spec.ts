// Checks that auto prefers tfjs-node when it is installed (simulated: it never installs on the CI machines).
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './init-backend';

// A stand-in @tensorflow/tfjs-node: like the real package, requiring it registers a 'tensorflow' backend.
// It borrows the cpu backend's implementation; only the choice is under test here.
jest.mock('@tensorflow/tfjs-node', () => {
  const tfjs = jest.requireActual('@tensorflow/tfjs');
  const cpuFactory = tfjs.findBackendFactory('cpu');
  tfjs.registerBackend('tensorflow', () => Object.assign(cpuFactory(), { isUsingGpuDevice: false }), 3);
  return {};
}, { virtual: true });

test('auto picks tfjs-node over wasm when tfjs-node-gpu is missing and tfjs-node loads', async () => {
  const writes: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
    writes.push(String(c));
    return true;
  });
  try {
    const info = await initBackend({ threads: 2 });
    expect(info.name).toBe('node');
    expect(info.tfjsBackend).toBe('tensorflow');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(info.threads).toBe(0);
    expect(info.notes[0]).toMatch(/^@tensorflow\/tfjs-node-gpu could not be loaded/);
    expect(info.notes).toContain('--threads applies to the wasm backend only; libtensorflow sizes its own pool');
    expect(info.wasmKernels).toBeUndefined();
  } finally {
    spy.mockRestore();
    tf.removeBackend('tensorflow');
  }
  expect(writes).toEqual(['rlhfkit: backend node (libtensorflow)\n']);
});
