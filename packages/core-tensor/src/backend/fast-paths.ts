// Switches for rlhfkit's own wasm fast paths, so benchmarks and specs can compare each against the stock ops in one process.

/** All on by default; turning one off makes the model code use the plain tfjs ops it replaces. */
export const wasmFastPaths = {
  /** One-query attention as one SIMD kernel (decoding). */
  decodeAttention: true,
  /** KV cache written in place instead of concatenated per token (decoding). */
  kvInPlace: true,
  /** LayerNorm as one kernel for small inputs. */
  layerNorm: true,
  /** Linear layers straight through _FusedMatMul when no gradient is recorded. */
  linearNoGrad: true,
  /** AdamW's update as one SIMD pass per parameter. */
  adamw: true,
  /** Large matmuls on the native AVX2/AVX-512 sgemm (native-gemm.ts), built at first use; XNNPACK otherwise. */
  nativeMatMul: true,
  /**
   * The native fused kernels (native-ops.ts: LayerNorm/RMSNorm, linear + activation, attention, softmax
   * cross-entropy, AdamW, embedding gradient) wherever the native matmul runs.
   */
  nativeOps: true,
  /** A pre-LN OPT layer's attention and MLP blocks as one native op each way (native-blocks.ts). */
  nativeBlocks: true,
  /** Each decoding step of OPT/GPT-2 as one native call on weights packed per KV cache (native-decode.ts). */
  nativeDecode: true,
};

export type WasmFastPath = keyof typeof wasmFastPaths;

/** Sets the given switches; returns their previous values (pass them back to restore). */
export function setWasmFastPaths(settings: Partial<Record<WasmFastPath, boolean>>): Partial<Record<WasmFastPath, boolean>> {
  const previous: Partial<Record<WasmFastPath, boolean>> = {};
  for (const [k, v] of Object.entries(settings) as [WasmFastPath, boolean][]) {
    previous[k] = wasmFastPaths[k];
    wasmFastPaths[k] = v;
  }
  return previous;
}
