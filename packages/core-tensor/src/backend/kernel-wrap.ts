// Replaces a registered wasm kernel with a wrapper that can fall back to it, idempotently and reversibly.
import * as tf from '@tensorflow/tfjs';

/**
 * Marks our kernelFuncs; its value is the stock config they wrap. Symbol.for, so a second copy of this
 * module (jest registries, tsx + node) still recognises a wrapper and does not wrap it twice.
 */
const STOCK = Symbol.for('rlhfkit.wasm.stockKernel');

export type KernelArgs = Parameters<tf.KernelFunc>[0];
export type KernelResult = ReturnType<tf.KernelFunc>;

function stockOf(config: tf.KernelConfig | undefined): tf.KernelConfig | undefined {
  return config == null ? undefined : (config.kernelFunc as unknown as Record<symbol, tf.KernelConfig | undefined>)[STOCK];
}

/**
 * Wraps wasm's `kernelName` with `makeWrapper(stock)`. The wrapper keeps the stock setupFunc, so the stock
 * kernel still gets its cwrap whenever wasm starts. Returns false when it was already wrapped or is absent.
 */
export function wrapWasmKernel(kernelName: string, makeWrapper: (stock: tf.KernelConfig) => (args: KernelArgs) => KernelResult): boolean {
  const stock = tf.getKernel(kernelName, 'wasm');
  if (stock == null || stockOf(stock) != null) return false;
  const kernelFunc = makeWrapper(stock);
  Object.defineProperty(kernelFunc, STOCK, { value: stock });
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ ...stock, kernelFunc: kernelFunc as tf.KernelFunc });
  return true;
}

/** Puts the stock kernel back (benchmarks and specs compare both in one process). */
export function unwrapWasmKernel(kernelName: string): void {
  const stock = stockOf(tf.getKernel(kernelName, 'wasm'));
  if (stock == null) return;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel(stock);
}

/** Runs the currently registered wasm kernel `name` directly (inside another kernel, outside the engine). */
export function runWasmKernel(name: string, backend: unknown, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
  return tf.getKernel(name, 'wasm').kernelFunc({
    inputs, backend: backend as tf.KernelBackend, attrs,
  }) as tf.TensorInfo;
}
