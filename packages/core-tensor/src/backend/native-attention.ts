// Multi-head attention over whole sequences (training, scoring) as one native kernel each way, on rows [b*t, heads*hd].
import * as tf from '@tensorflow/tfjs';
import { heapAccess, nativeOps, registerOnce, wasmOf } from './native-ops';

/**
 * Forward: q, k, v [b*t, heads*hd] (head h in columns h*hd..), optional additive bias [1 or b, 1, t, t]; attrs batch,
 * heads, divisor -> out [b*t, heads*hd] = softmax(q·kᵀ / divisor + bias)·v per head, and probs [b, heads, t, t].
 * Backward: dout, q, k, v, probs (attrs as forward) -> dq, dk, dv. No head split or merge transposes either way.
 */
export const NATIVE_ATTENTION = 'RlhfkitAttention';
export const NATIVE_ATTENTION_GRAD = 'RlhfkitAttentionGrad';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function sizes(q: tf.TensorInfo, attrs: tf.NamedAttrMap | undefined): { b: number; t: number; heads: number; hd: number; divisor: number } {
  const b = Number(attrs?.batch);
  const heads = Number(attrs?.heads);
  const [rows, d] = q.shape;
  return { b, t: rows / b, heads, hd: d / heads, divisor: Number(attrs?.divisor ?? 1) };
}

function forward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const { q, k, v, bias } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const native = nativeOps();
  if (q == null || k == null || v == null || native == null) throw new Error(`${NATIVE_ATTENTION}: needs q, k, v and the native kernels`);
  const { b, t, heads, hd, divisor } = sizes(q, args.attrs);
  const d = heads * hd;
  const out = backend.makeOutput([b * t, d], 'float32');
  const probs = backend.makeOutput([b, heads, t, t], 'float32');
  const h = heapAccess(backend);
  const biasBatch = bias != null ? bias.shape[0] : 1;
  native.attention(h.heap, h.at(q), d, h.at(k), d, h.at(v), d, h.at(bias), biasBatch, h.at(out), h.at(probs), b, t, heads, hd, divisor);
  return [out, probs];
}

function backward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const { dout, q, k, v, probs } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const native = nativeOps();
  if (dout == null || q == null || k == null || v == null || probs == null || native == null) {
    throw new Error(`${NATIVE_ATTENTION_GRAD}: needs dout, q, k, v, probs and the native kernels`);
  }
  const { b, t, heads, hd, divisor } = sizes(q, args.attrs);
  const d = heads * hd;
  const [dq, dk, dv] = [0, 1, 2].map(() => backend.makeOutput([b * t, d], 'float32'));
  const h = heapAccess(backend);
  native.attentionGrad(h.heap, h.at(dout), h.at(q), d, h.at(k), d, h.at(v), d, h.at(probs), h.at(dq), h.at(dk), h.at(dv), b, t, heads, hd, divisor);
  return [dq, dk, dv];
}

export function registerNativeAttentionKernels(): string[] {
  const added: string[] = [];
  if (registerOnce(NATIVE_ATTENTION, forward)) added.push(NATIVE_ATTENTION);
  if (registerOnce(NATIVE_ATTENTION_GRAD, backward)) added.push(NATIVE_ATTENTION_GRAD);
  return added;
}

/**
 * Whether nativeAttention can run for `t` query rows per sequence with this bias: wasm with the native kernels,
 * more than one query (decoding has its own kernel), float32, and a bias (if any) of [1 or b, 1, t, t].
 */
export function canUseNativeAttention(b: number, t: number, bias: tf.Tensor4D | null): boolean {
  if (t < 2 || nativeOps() == null || tf.getKernel(NATIVE_ATTENTION, 'wasm') == null) return false;
  if (bias == null) return true;
  const [bb, one, bq, bs] = bias.shape;
  return bias.dtype === 'float32' && (bb === 1 || bb === b) && one === 1 && bq === t && bs === t;
}

/**
 * softmax(q·kᵀ / divisor + bias)·v for every head: q, k, v [b*t, heads*hd] -> [b*t, heads*hd], differentiable in
 * q, k and v (the bias is a constant mask). The attention probabilities are kept for the backward pass.
 */
export function nativeAttention(
  q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, bias: tf.Tensor4D | null, batch: number, heads: number, divisor: number,
): tf.Tensor2D {
  const attrs = { batch, heads, divisor };
  const inputs = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor): tf.NamedTensorMap =>
    bias != null ? { q: qi, k: ki, v: vi, bias } : { q: qi, k: ki, v: vi };
  const engine = tf.engine();
  if (!engine.isTapeOn()) {
    const [out, probs] = engine.runKernel(NATIVE_ATTENTION, inputs(q, k, v), attrs) as tf.Tensor[];
    probs.dispose();
    return out as tf.Tensor2D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [qi, ki, vi] = args as tf.Tensor[];
    const [out, probs] = tf.engine().runKernel(NATIVE_ATTENTION, inputs(qi, ki, vi), attrs) as tf.Tensor[];
    save([qi, ki, vi, probs]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
      tf.engine().runKernel(NATIVE_ATTENTION_GRAD, { dout: dy, q: saved[0], k: saved[1], v: saved[2], probs: saved[3] }, attrs) as tf.Tensor[];
    return { value: out, gradFunc };
  });
  return op(q, k, v) as tf.Tensor2D;
}
