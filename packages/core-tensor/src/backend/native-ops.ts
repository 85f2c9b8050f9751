// The native fused kernels (packages/core-tensor/native/ops.cc, attention.cc) as seen from TypeScript: availability and heap offsets.
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import type { NativeGemmAddon } from './native-build';
import { heapF32, nativeGemmAddon, nativeMatMulStatus } from './native-gemm';
import { asWasm, tensorData, type WasmBackend } from './wasm-internals';

/** What native/addon-ops.cc exports besides the gemm. Offsets count floats in `heap`; -1 stands for "none". */
export interface NativeOpsAddon extends NativeGemmAddon {
  opsSupported(): boolean;
  layerNorm(heap: Float32Array, x: number, w: number, b: number, y: number, mean: number, rstd: number, rows: number, d: number, eps: number): void;
  layerNormGrad(heap: Float32Array, dy: number, x: number, mean: number, rstd: number, w: number, dx: number, dw: number, db: number, rows: number, d: number): void;
  rmsNorm(heap: Float32Array, x: number, w: number, y: number, rstd: number, rows: number, d: number, eps: number): void;
  rmsNormGrad(heap: Float32Array, dy: number, x: number, rstd: number, w: number, dx: number, dw: number, rows: number, d: number): void;
  activation(heap: Float32Array, pre: number, y: number, rows: number, n: number, act: number): void;
  activationGrad(heap: Float32Array, dy: number, pre: number, dpre: number, dbias: number, rows: number, n: number, act: number): void;
  labelLogProbs(heap: Float32Array, logits: number, labels: number, out: number, lse: number, rows: number, v: number): void;
  labelLogProbsGrad(heap: Float32Array, dy: number, logits: number, labels: number, lse: number, dlogits: number, rows: number, v: number): void;
  adamw(heap: Float32Array, table: Float64Array): void;
  segmentSum(heap: Float32Array, x: number, ids: number, out: number, n: number, inner: number, segments: number): void;
  attention(
    heap: Float32Array, q: number, ldq: number, k: number, ldk: number, v: number, ldv: number, bias: number, biasBatch: number,
    out: number, probs: number, b: number, t: number, heads: number, hd: number, divisor: number,
  ): void;
  attentionGrad(
    heap: Float32Array, dout: number, q: number, ldq: number, k: number, ldk: number, v: number, ldv: number, probs: number,
    dq: number, dk: number, dv: number, b: number, t: number, heads: number, hd: number, divisor: number,
  ): void;
  /** W(p, j) = heap[src + p*rsb + j*csb] (k x n) into decoding's panels of nr columns at dst. */
  packPanels(heap: Float32Array, src: number, rsb: number, csb: number, k: number, n: number, nr: number, dst: number): void;
  /** One decoding step (layouts of plan and step: native/addon-decode.cc). */
  decodeStep(heap: Float32Array, plan: Float64Array, step: Float64Array): void;
}

/**
 * Activation kinds of the native kernels, by Hugging Face name (ACT2FN); absent names run as tfjs ops. The numbers
 * are native/ops.h's `Act`.
 */
export const NATIVE_ACTIVATIONS: Readonly<Record<string, number>> = Object.freeze({
  linear: 0, relu: 1, gelu: 2, gelu_new: 3, gelu_pytorch_tanh: 3, gelu_fast: 3, silu: 4, swish: 4, quick_gelu: 5,
});

let supportedByAddon = new WeakMap<object, boolean>();

/**
 * The fused kernels when they should run now: the wasm backend, the native matmul active with an AVX2 or AVX-512
 * kernel set (it is off with RLHFKIT_NATIVE=0, without a compiler, or on CPUs without AVX2), and the `nativeOps`
 * switch on. Null means "use the tfjs ops".
 */
export function nativeOps(): NativeOpsAddon | null {
  if (!wasmFastPaths.nativeOps || !wasmFastPaths.nativeMatMul || tf.getBackend() !== 'wasm') return null;
  const addon = nativeGemmAddon() as NativeOpsAddon | null;
  if (addon == null || typeof addon.opsSupported !== 'function') return null;
  let ok = supportedByAddon.get(addon);
  if (ok == null) {
    const kernel = nativeMatMulStatus().kernel ?? '';
    ok = addon.opsSupported() && (kernel === 'avx2+fma' || kernel.startsWith('avx512'));
    supportedByAddon.set(addon, ok);
  }
  return ok ? addon : null;
}

/** Forgets the cached per-addon check (specs that switch kernel sets). */
export function resetNativeOpsCheck(): void {
  supportedByAddon = new WeakMap();
}

/** The heap as floats and each tensor's float offset in it; take it only after every output is allocated. */
export interface HeapAccess {
  heap: Float32Array;
  /** The float offset of a tensor on the heap; -1 for null (an absent optional input). */
  at(t: tf.TensorInfo | null | undefined): number;
}

export function heapAccess(backend: WasmBackend): HeapAccess {
  const heap = heapF32(backend);
  return {
    heap,
    at: (t) => {
      if (t == null) return -1;
      const bytes = tensorData(backend, t).memoryOffset;
      if (bytes % 4 !== 0) throw new Error(`rlhfkit native kernels: tensor [${t.shape}] is not 4-byte aligned on the wasm heap`);
      return bytes / 4;
    },
  };
}

/** The wasm backend behind a kernel call (tfjs types it loosely). */
export function wasmOf(backend: unknown): WasmBackend {
  return asWasm(backend);
}

/** Registers a wasm kernel once (idempotent); returns whether it was added now. */
export function registerOnce(kernelName: string, kernelFunc: (args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => tf.TensorInfo | tf.TensorInfo[]): boolean {
  if (tf.getKernel(kernelName, 'wasm') != null) return false;
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  return true;
}
