// One decoding step of a whole model as a single native call (native/decode.cc), on weights packed once per KV cache.
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import { canWriteInPlace } from './kv-write';
import { heapAccess, nativeOps, type NativeOpsAddon } from './native-ops';
import { asWasm, type WasmBackend } from './wasm-internals';

/**
 * A weight as decoding reads it: W(p, j) = weight[offset + p*rowStride + j*colStride] for p < in, j < out, plus an
 * optional bias (out values from biasOffset). A Linear's [in, out] weight is (out, 1); a tied head's [vocab, d]
 * embedding read transposed is (1, d); GPT-2's fused c_attn gives q, k and v as column ranges of one weight.
 */
export interface DecodeLinear {
  weight: tf.Tensor;
  offset: number;
  rowStride: number;
  colStride: number;
  in: number;
  out: number;
  bias: tf.Tensor | null;
  biasOffset: number;
}

export interface DecodeLayer {
  ln1: { w: tf.Tensor | null; b: tf.Tensor | null };
  ln2: { w: tf.Tensor | null; b: tf.Tensor | null };
  q: DecodeLinear; k: DecodeLinear; v: DecodeLinear; o: DecodeLinear; fc1: DecodeLinear; fc2: DecodeLinear;
  /** Attention scores are divided by this (OPT: 1, its q is pre-scaled by qScale). */
  divisor: number;
}

/** What an architecture hands the native decoder: a LayerNorm decoder with learned positions (OPT, GPT-2). */
export interface DecodeSpec {
  d: number; heads: number; headDim: number; ffn: number; vocab: number;
  /** NATIVE_ACTIVATIONS kind of the MLP. */
  act: number;
  /** LayerNorm before attention and MLP; false = after each residual add (OPT-350m). */
  preLn: boolean;
  eps: number;
  qScale: number;
  tok: tf.Tensor;
  pos: tf.Tensor | null;
  posOffset: number;
  finalLn: { w: tf.Tensor | null; b: tf.Tensor | null } | null;
  head: DecodeLinear;
  layers: DecodeLayer[];
}

/** A KV layer as decoding sees it (models/types.ts LayerKV). */
interface KvBuffers {
  k: tf.Tensor4D | null;
  v: tf.Tensor4D | null;
  length?: number;
}

/** The packed weights and plan of one model, kept with a KV cache for as long as it lives. */
export class NativeDecodeState {
  private packed: tf.Tensor[] = [];
  private plan: Float64Array | null = null;
  /** The data ids the plan was made from: a reassigned weight (a training step) makes it stale. */
  private ids: tf.DataId[] = [];

  /** The panel width the weights were packed for (the sgemm kernel set's register tile width). */
  private nr = 0;

  /** The plan for `spec`, packing its weights on first use or when any of them (or the kernel set) changed. */
  planFor(spec: DecodeSpec, addon: NativeOpsAddon, backend: WasmBackend): Float64Array {
    const tensors = specTensors(spec);
    const info = addon.info();
    const nr = info.kernels.find((k) => k.name === info.kernel)?.nr ?? 0;
    if (this.plan != null && nr === this.nr && tensors.length === this.ids.length && tensors.every((t, i) => t.dataId === this.ids[i])) return this.plan;
    this.dispose();
    this.nr = nr;
    const pack = (l: DecodeLinear): tf.Tensor => {
      const panels = Math.ceil(l.out / nr) * nr * l.in;
      const info = backend.makeOutput([panels], 'float32');
      const h = heapAccess(backend);
      addon.packPanels(h.heap, h.at(l.weight) + l.offset, l.rowStride, l.colStride, l.in, l.out, nr, h.at(info));
      const t = tf.keep(tf.engine().makeTensorFromTensorInfo(info, backend as unknown as tf.KernelBackend));
      this.packed.push(t);
      return t;
    };
    const packedHead = pack(spec.head);
    const packedLayers = spec.layers.map((l) => [l.q, l.k, l.v, l.o, l.fc1, l.fc2].map(pack));
    const h = heapAccess(backend);
    const lin = (l: DecodeLinear, w: tf.Tensor): number[] => [h.at(w), l.bias != null ? h.at(l.bias) + l.biasOffset : -1, l.in, l.out];
    const plan: number[] = [
      spec.layers.length, spec.d, spec.heads, spec.headDim, spec.ffn, spec.vocab, spec.act, spec.preLn ? 1 : 0, spec.eps, spec.qScale,
      h.at(spec.tok), h.at(spec.pos), spec.posOffset, h.at(spec.finalLn?.w), h.at(spec.finalLn?.b), nr, ...lin(spec.head, packedHead),
    ];
    spec.layers.forEach((l, i) => {
      const [q, k, v, o, fc1, fc2] = packedLayers[i];
      plan.push(h.at(l.ln1.w), h.at(l.ln1.b), h.at(l.ln2.w), h.at(l.ln2.b), ...lin(l.q, q), ...lin(l.k, k), ...lin(l.v, v), ...lin(l.o, o),
        ...lin(l.fc1, fc1), ...lin(l.fc2, fc2), l.divisor);
    });
    this.plan = Float64Array.from(plan);
    this.ids = tensors.map((t) => t.dataId);
    return this.plan;
  }

  dispose(): void {
    tf.dispose(this.packed);
    this.packed = [];
    this.plan = null;
    this.ids = [];
  }
}

function specTensors(spec: DecodeSpec): tf.Tensor[] {
  const out: tf.Tensor[] = [spec.tok];
  const add = (t: tf.Tensor | null | undefined): void => {
    if (t != null) out.push(t);
  };
  add(spec.pos);
  add(spec.finalLn?.w);
  add(spec.finalLn?.b);
  const lin = (l: DecodeLinear): void => {
    out.push(l.weight);
    add(l.bias);
  };
  lin(spec.head);
  for (const l of spec.layers) {
    add(l.ln1.w); add(l.ln1.b); add(l.ln2.w); add(l.ln2.b);
    [l.q, l.k, l.v, l.o, l.fc1, l.fc2].forEach(lin);
  }
  return out;
}

/** Whether a native decoding step can run now: wasm with the native kernels, in-place caches, no tape. */
export function canUseNativeDecode(): boolean {
  return wasmFastPaths.nativeDecode && canWriteInPlace() && nativeOps() != null;
}

/**
 * Makes every layer's cache a buffer [b, heads, cap, hd] with room for `needed` positions (the same growth as
 * kv-cache.ts's appendInPlace; `grow` is it); returns false when a layer cannot be.
 */
export type GrowLayer = (kv: KvBuffers, b: number, heads: number, hd: number, needed: number) => boolean;

/**
 * logits [b, vocab] of one new token per row: ids and positions int32 [b, 1] (HF position ids), paddingBias
 * [b, 1, 1, past + 1] or null. Writes the step's keys and values into the caches at `past`; the caller updates
 * the lengths. Null when it cannot run (the caller then runs the tfjs layers).
 */
export function nativeDecodeStep(
  spec: DecodeSpec, state: NativeDecodeState, kvs: KvBuffers[], past: number, grow: GrowLayer,
  ids: tf.Tensor2D, positions: tf.Tensor2D, paddingBias: tf.Tensor4D | null,
): tf.Tensor2D | null {
  const addon = nativeOps();
  const [b, q] = ids.shape;
  if (addon == null || typeof addon.decodeStep !== 'function' || q !== 1 || ids.dtype !== 'int32' || positions.dtype !== 'int32') return null;
  if (paddingBias != null && (paddingBias.shape[0] !== b || paddingBias.shape[3] !== past + 1 || paddingBias.dtype !== 'float32')) return null;
  for (const kv of kvs) if (!grow(kv, b, spec.heads, spec.headDim, past + 1)) return null;
  const backend = asWasm(tf.backend());
  const plan = state.planFor(spec, addon, backend);
  const logits = backend.makeOutput([b, spec.vocab], 'float32');
  const h = heapAccess(backend);
  const cap = (kvs[0].k as tf.Tensor4D).shape[2];
  const step = [b, past, cap, h.at(ids), h.at(positions), h.at(paddingBias), h.at(logits)];
  for (const kv of kvs) step.push(h.at(kv.k), h.at(kv.v));
  try {
    addon.decodeStep(h.heap, plan, Float64Array.from(step));
  } catch (e) {
    backend.disposeData(logits.dataId);
    throw e;
  }
  return tf.engine().makeTensorFromTensorInfo(logits, backend as unknown as tf.KernelBackend) as tf.Tensor2D;
}
