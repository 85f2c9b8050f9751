// Registers what the wasm backend lacks or runs slowly, before any model runs on it.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { wrapWasmMatMul } from './batch-mat-mul';
import { registerCpuBridge } from './cpu-bridge';
import { registerCpuKernels } from './cpu-kernels';
import { registerDecodeAttention } from './decode-attention';
import { wrapWasmGather } from './gather-rows';
import { wrapWasmIdentity } from './identity';
import { registerLayerNormKernels } from './layer-norm';
import { wrapWasmSum } from './leading-sum';
import { registerNativeAttentionKernels } from './native-attention';
import { registerNativeBlockKernels } from './native-blocks';
import { registerNativeLlamaBlockKernels } from './native-llama-blocks';
import { registerNativeLinearKernels } from './native-linear';
import { registerNativeLossKernels } from './native-loss';
import { wrapWasmTranspose } from './transpose';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum';

/** What registerWasmKernels changed (empty lists on a repeat call). */
export interface WasmKernelReport {
  /** Kernels implemented by rlhfkit on the wasm heap (JS, or SIMD code from simd-kernels.ts). */
  native: string[];
  /** Kernels that run the cpu backend's implementation on copies of the data. */
  bridged: string[];
  /** Stock wasm kernels replaced by a faster or corrected wrapper. */
  wrapped: string[];
}

/**
 * Makes the wasm backend able to train every model the cpu backend can, at native speed where it matters:
 * the missing UnsortedSegmentSum, fused decoding attention and LayerNorm kernels, a cpu bridge for the rest,
 * and faster or zero-copy versions of BatchMatMul, _FusedMatMul, Sum, Identity, GatherV2 and Transpose.
 * Also replaces the cpu backend's UnsortedSegmentSum (cpu-kernels.ts). Call before the first model runs: a training step that hits a missing kernel fails half-way and leaks
 * its intermediate tensors. Safe to call any number of times, before or after `tf.setBackend('wasm')`.
 */
export function registerWasmKernels(): WasmKernelReport {
  const native: string[] = [];
  if (tf.getKernel('UnsortedSegmentSum', 'wasm') == null) {
    tf.registerKernel(unsortedSegmentSumConfig);
    native.push('UnsortedSegmentSum');
  }
  native.push(...registerDecodeAttention(), ...registerLayerNormKernels(), ...registerNativeLinearKernels(), ...registerNativeLossKernels(), ...registerNativeAttentionKernels(),
    ...registerNativeBlockKernels(), ...registerNativeLlamaBlockKernels());
  const bridged = registerCpuBridge();
  // The cpu backend (tests' parity reference) gets its one slow training kernel replaced here too.
  registerCpuKernels();
  const wrapped = [...wrapWasmMatMul(), ...wrapWasmSum(), ...wrapWasmIdentity(), ...wrapWasmGather(), ...wrapWasmTranspose()];
  return { native, bridged, wrapped };
}
