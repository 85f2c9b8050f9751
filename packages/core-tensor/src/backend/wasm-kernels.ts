// Registers what the wasm backend lacks or runs slowly, before any model runs on it.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { wrapWasmMatMul } from './batch-mat-mul';
import { registerCpuBridge } from './cpu-bridge';
import { wrapWasmSum } from './leading-sum';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum';

/** What registerWasmKernels changed (empty lists on a repeat call). */
export interface WasmKernelReport {
  /** Kernels implemented natively in JS on the wasm heap. */
  native: string[];
  /** Kernels that run the cpu backend's implementation on copies of the data. */
  bridged: string[];
  /** Stock wasm kernels replaced by a faster or corrected wrapper. */
  wrapped: string[];
}

/**
 * Makes the wasm backend able to train every model the cpu backend can, at native speed where it matters.
 * Call before the first model runs: a training step that hits a missing kernel fails half-way and leaks
 * its intermediate tensors. Safe to call any number of times, before or after `tf.setBackend('wasm')`.
 */
export function registerWasmKernels(): WasmKernelReport {
  const native: string[] = [];
  if (tf.getKernel('UnsortedSegmentSum', 'wasm') == null) {
    tf.registerKernel(unsortedSegmentSumConfig);
    native.push('UnsortedSegmentSum');
  }
  const bridged = registerCpuBridge();
  const wrapped = [...wrapWasmMatMul(), ...wrapWasmSum()];
  return { native, bridged, wrapped };
}
