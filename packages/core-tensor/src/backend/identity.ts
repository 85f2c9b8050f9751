// Zero-copy Identity on wasm: the engine clones every tensor it saves for backward, and stock wasm copies each one.
import * as tf from '@tensorflow/tfjs';
import { KernelArgs, KernelResult, unwrapWasmKernel, wrapWasmKernel } from './kernel-wrap';
import { asWasm } from './wasm-internals';

interface RefCounting {
  incRef(dataId: tf.DataId): void;
}

/**
 * Tensors are immutable and the wasm backend counts references per buffer (Reshape already shares its input),
 * so Identity can share too, as the cpu backend's does. XNNPACK caches packed weights by buffer id, which
 * stays right: a shared buffer has one id and one content. Strings keep the stock kernel.
 */
function identityWrapper(stock: tf.KernelConfig): (args: KernelArgs) => KernelResult {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string') return stock.kernelFunc(args);
    (asWasm(args.backend) as unknown as RefCounting).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
}

export function wrapWasmIdentity(): string[] {
  return wrapWasmKernel('Identity', identityWrapper) ? ['Identity'] : [];
}

export function unwrapWasmIdentity(): void {
  unwrapWasmKernel('Identity');
}
