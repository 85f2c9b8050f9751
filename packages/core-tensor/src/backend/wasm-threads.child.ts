// Child process for wasm-threads.spec.ts: starts wasm with N threads (and a workload), checks a matmul, prints JSON, and must exit by itself.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './init-backend';

async function main(): Promise<void> {
  const threads = Number(process.argv[2] ?? 2);
  const workload = process.argv[3] === 'train' ? 'train' : 'generate';
  const info = await initBackend({ threads, quiet: true, workload });
  // 96x80 . 80x64 of small integers: exact in float32, so any thread split must give the same numbers.
  const a = tf.tensor2d(Array.from({ length: 96 * 80 }, (_, i) => (i % 7) - 3), [96, 80]);
  const b = tf.tensor2d(Array.from({ length: 80 * 64 }, (_, i) => (i % 5) - 2), [80, 64]);
  const got = tf.matMul(a, b).dataSync();
  let maxErr = 0;
  for (let i = 0; i < 96; i += 7) {
    for (let j = 0; j < 64; j += 5) {
      let s = 0;
      for (let k = 0; k < 80; k++) s += (((i * 80 + k) % 7) - 3) * (((k * 64 + j) % 5) - 2);
      maxErr = Math.max(maxErr, Math.abs(got[i * 64 + j] - s));
    }
  }
  // The embedding gradient (our JS UnsortedSegmentSum) on the shared, growable heap of the threaded build.
  const table = tf.ones([4, 2]);
  const grad = tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d([1, 1, 3], 'int32')).sum())(table);
  const embeddingGrad = Array.from(grad.dataSync());
  process.stdout.write(JSON.stringify({ name: info.name, threads: info.threads, nativeMatMulThreads: info.nativeMatMulThreads, notes: info.notes, maxErr, embeddingGrad }) + '\n');
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
