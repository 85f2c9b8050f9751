// Runs the cpu backend's kernel for kernels that wasm lacks (Einsum, conv filter gradients, ragged ops, ...).
import * as tf from '@tensorflow/tfjs';
import { asWasm, BackendValues, WasmBackend } from './wasm-internals';

/** Kernels never bridged: complex64 has no wasm storage, Draw needs a canvas, UnsortedSegmentSum has a native kernel. */
const NOT_BRIDGED = new Set(['Complex', 'ComplexAbs', 'FFT', 'IFFT', 'Imag', 'Real', 'Draw', 'UnsortedSegmentSum']);

interface CpuBackend {
  write(values: BackendValues, shape: number[], dtype: tf.DataType): tf.DataId;
  readSync(dataId: tf.DataId): BackendValues;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

// Kernel inputs are a name -> tensor map, but Einsum/AddN-style kernels pass an array, and ragged kernels
// nest arrays of tensors under one name; walk all of them.
type InputValue = tf.TensorInfo | InputValue[] | undefined;

function mapInputs(v: InputValue, f: (t: tf.TensorInfo) => tf.TensorInfo): InputValue {
  if (v == null) return v;
  if (Array.isArray(v)) return v.map((e) => mapInputs(e, f));
  return f(v);
}

function cpuBackend(): CpuBackend {
  const cpu = tf.findBackend('cpu');
  if (cpu == null) throw new Error('rlhfkit: the cpu backend is not registered, so wasm cannot borrow its kernels');
  return cpu as unknown as CpuBackend;
}

function bridgedKernel(kernelName: string): tf.KernelFunc {
  return ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => {
    const wasm: WasmBackend = asWasm(args.backend);
    const cpu = cpuBackend();
    const cpuKernel = tf.getKernel(kernelName, 'cpu');
    const written: tf.DataId[] = [];
    const toCpu = (t: tf.TensorInfo): tf.TensorInfo => {
      const dataId = cpu.write(wasm.readSync(t.dataId), t.shape, t.dtype);
      written.push(dataId);
      return { dataId, shape: t.shape, dtype: t.dtype };
    };
    const src = args.inputs as unknown as InputValue[] | Record<string, InputValue>;
    const inputs = Array.isArray(src)
      ? src.map((v) => mapInputs(v, toCpu))
      : Object.fromEntries(Object.entries(src).map(([k, v]) => [k, mapInputs(v, toCpu)]));
    let cpuOut: tf.TensorInfo | tf.TensorInfo[] = [];
    try {
      cpuOut = cpuKernel.kernelFunc({
        inputs: inputs as unknown as tf.NamedTensorInfoMap,
        backend: cpu as unknown as tf.KernelBackend,
        attrs: args.attrs,
      });
      const outs = Array.isArray(cpuOut) ? cpuOut : [cpuOut];
      const moved = outs.map((o) => wasm.makeOutput(o.shape, o.dtype, undefined, cpu.readSync(o.dataId)));
      return Array.isArray(cpuOut) ? moved : moved[0];
    } finally {
      // An output may alias an input (refCount 2); disposing both sides drops each reference once.
      for (const o of Array.isArray(cpuOut) ? cpuOut : [cpuOut]) cpu.disposeData(o.dataId);
      for (const id of written) cpu.disposeData(id);
    }
  }) as unknown as tf.KernelFunc;
}

/** Kernels the cpu backend has, wasm lacks, and the bridge can carry; computed so a tfjs upgrade needs no edit. */
export function bridgeableKernels(): string[] {
  const onWasm = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
  return tf.getKernelsForBackend('cpu')
    .map((k) => k.kernelName)
    .filter((name) => !onWasm.has(name) && !NOT_BRIDGED.has(name))
    .sort();
}

/** Registers the bridge for every bridgeable kernel; returns the names it registered. */
export function registerCpuBridge(): string[] {
  const names = bridgeableKernels();
  for (const kernelName of names) {
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: bridgedKernel(kernelName) });
  }
  return names;
}
