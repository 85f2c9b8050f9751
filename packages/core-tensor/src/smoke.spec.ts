import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { VERSION } from '@rlhfkit/core-tensor';
test('tfjs on wasm', async () => {
  await tf.setBackend('wasm');
  expect(tf.getBackend()).toBe('wasm');
  expect(Array.from(tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync())).toEqual([2, 2, 2, 2]);
  expect(VERSION).toBe('0.1.0');
});
