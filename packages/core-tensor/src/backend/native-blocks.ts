// A pre-LN decoder layer's two residual blocks (self-attention, MLP) as one native kernel each way (native/blocks.cc).
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import { heapAccess, nativeOps, registerOnce, wasmOf, type NativeOpsAddon } from './native-ops';

/**
 * Attention block: x [n, d], LayerNorm weight and bias, q/k/v/out weights [d, d] and biases [d], optional additive
 * mask [1 or batch, 1, t, t]; attrs batch, heads, eps, qScale, divisor -> y = x + attention(LN(x)) · Wo + bo, and what
 * the backward reads (LN(x), its mean and rstd, q, k, v, the probabilities, the attention output). Its gradient kernel
 * returns dx and the gradient of every parameter, in input order.
 * MLP block: y [n, d], LayerNorm weight and bias, W1 [d, ffn], b1, W2 [ffn, d], b2; attrs act, eps ->
 * z = y + act(LN(y) · W1 + b1) · W2 + b2, and LN(y), mean, rstd, act(pre) and (not for relu) pre.
 */
export const ATTN_BLOCK = 'RlhfkitAttnBlock';
export const ATTN_BLOCK_GRAD = 'RlhfkitAttnBlockGrad';
export const MLP_BLOCK = 'RlhfkitMlpBlock';
export const MLP_BLOCK_GRAD = 'RlhfkitMlpBlockGrad';

interface BlocksAddon extends NativeOpsAddon {
  attnBlock(heap: Float32Array, table: Float64Array): void;
  attnBlockGrad(heap: Float32Array, table: Float64Array): void;
  mlpBlock(heap: Float32Array, table: Float64Array): void;
  mlpBlockGrad(heap: Float32Array, table: Float64Array): void;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type Infos = Record<string, tf.TensorInfo | undefined>;

function blocksAddon(): BlocksAddon {
  const a = nativeOps() as BlocksAddon | null;
  if (a == null || typeof a.attnBlock !== 'function') throw new Error('rlhfkit: the native decoder blocks are not available');
  return a;
}

function attnForward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const i = args.inputs as Infos;
  const x = i.x as tf.TensorInfo;
  const [n, d] = x.shape;
  const b = Number(args.attrs?.batch);
  const heads = Number(args.attrs?.heads);
  const t = n / b;
  const out = (shape: number[]): tf.TensorInfo => backend.makeOutput(shape, 'float32');
  const [y, h, mean, rstd, q, k, v, probs, a] = [out([n, d]), out([n, d]), out([n]), out([n]), out([n, d]), out([n, d]), out([n, d]), out([b, heads, t, t]), out([n, d])];
  const m = heapAccess(backend);
  const mask = i.mask;
  blocksAddon().attnBlock(m.heap, Float64Array.from([
    m.at(x), m.at(i.lnW), m.at(i.lnB), m.at(i.wq), m.at(i.bq), m.at(i.wk), m.at(i.bk), m.at(i.wv), m.at(i.bv), m.at(i.wo), m.at(i.bo),
    m.at(mask), mask != null ? mask.shape[0] : 1, b, t, heads, d / heads, Number(args.attrs?.eps), Number(args.attrs?.qScale), Number(args.attrs?.divisor),
    m.at(y), m.at(h), m.at(mean), m.at(rstd), m.at(q), m.at(k), m.at(v), m.at(probs), m.at(a),
  ]));
  return [y, h, mean, rstd, q, k, v, probs, a];
}

function attnBackward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const i = args.inputs as Infos;
  const [n, d] = (i.x as tf.TensorInfo).shape;
  const b = Number(args.attrs?.batch);
  const heads = Number(args.attrs?.heads);
  const out = (shape: number[]): tf.TensorInfo => backend.makeOutput(shape, 'float32');
  const grads = [out([n, d]), out([d]), out([d]), out([d, d]), out([d]), out([d, d]), out([d]), out([d, d]), out([d]), out([d, d]), out([d])];
  const m = heapAccess(backend);
  blocksAddon().attnBlockGrad(m.heap, Float64Array.from([
    m.at(i.dy), m.at(i.x), m.at(i.lnW), m.at(i.h), m.at(i.mean), m.at(i.rstd), m.at(i.q), m.at(i.k), m.at(i.v), m.at(i.probs), m.at(i.a),
    m.at(i.wq), m.at(i.wk), m.at(i.wv), m.at(i.wo), b, n / b, heads, d / heads, Number(args.attrs?.qScale), Number(args.attrs?.divisor),
    ...grads.map((g) => m.at(g)),
  ]));
  return grads;
}

function mlpForward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const i = args.inputs as Infos;
  const y = i.y as tf.TensorInfo;
  const [n, d] = y.shape;
  const ffn = (i.w1 as tf.TensorInfo).shape[1];
  const act = Number(args.attrs?.act);
  const out = (shape: number[]): tf.TensorInfo => backend.makeOutput(shape, 'float32');
  const [z, h, mean, rstd, f] = [out([n, d]), out([n, d]), out([n]), out([n]), out([n, ffn])];
  const pre = act !== 1 ? out([n, ffn]) : null; // relu (1) reads its slope off f
  const m = heapAccess(backend);
  blocksAddon().mlpBlock(m.heap, Float64Array.from([
    m.at(y), m.at(i.lnW), m.at(i.lnB), m.at(i.w1), m.at(i.b1), m.at(i.w2), m.at(i.b2), n, d, ffn, act, Number(args.attrs?.eps),
    m.at(z), m.at(h), m.at(mean), m.at(rstd), m.at(pre), m.at(f),
  ]));
  return pre != null ? [z, h, mean, rstd, f, pre] : [z, h, mean, rstd, f];
}

function mlpBackward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const i = args.inputs as Infos;
  const [n, d] = (i.y as tf.TensorInfo).shape;
  const ffn = (i.w1 as tf.TensorInfo).shape[1];
  const act = Number(args.attrs?.act);
  const out = (shape: number[]): tf.TensorInfo => backend.makeOutput(shape, 'float32');
  const grads = [out([n, d]), out([d]), out([d]), out([d, ffn]), out([ffn]), out([ffn, d]), out([d])];
  const m = heapAccess(backend);
  blocksAddon().mlpBlockGrad(m.heap, Float64Array.from([
    m.at(i.dz), m.at(i.y), m.at(i.lnW), m.at(i.h), m.at(i.mean), m.at(i.rstd), m.at(i.pre), m.at(i.f), m.at(i.w1), m.at(i.w2), n, d, ffn, act,
    ...grads.map((g) => m.at(g)),
  ]));
  return grads;
}

export function registerNativeBlockKernels(): string[] {
  const added: string[] = [];
  for (const [name, fn] of [[ATTN_BLOCK, attnForward], [ATTN_BLOCK_GRAD, attnBackward], [MLP_BLOCK, mlpForward], [MLP_BLOCK_GRAD, mlpBackward]] as const) {
    if (registerOnce(name, fn)) added.push(name);
  }
  return added;
}

/** Whether the fused blocks can run now: wasm with the native kernels (and an addon that has them). */
export function canUseNativeBlocks(): boolean {
  if (!wasmFastPaths.nativeBlocks) return false;
  const a = nativeOps() as BlocksAddon | null;
  return a != null && typeof a.attnBlock === 'function' && tf.getKernel(ATTN_BLOCK, 'wasm') != null;
}

export interface AttnBlockParams {
  lnW: tf.Tensor; lnB: tf.Tensor;
  wq: tf.Tensor; bq: tf.Tensor; wk: tf.Tensor; bk: tf.Tensor; wv: tf.Tensor; bv: tf.Tensor; wo: tf.Tensor; bo: tf.Tensor;
}

export interface MlpBlockParams {
  lnW: tf.Tensor; lnB: tf.Tensor; w1: tf.Tensor; b1: tf.Tensor; w2: tf.Tensor; b2: tf.Tensor;
}

/**
 * x + attention(LN(x)) · Wo + bo for x [batch * t, d] (q pre-scaled by qScale as HF's OPT does, scores divided by
 * divisor), differentiable in x and every parameter; the mask (a constant) is [1 or batch, 1, t, t] or null.
 */
export function nativeAttentionBlock(
  x: tf.Tensor2D, p: AttnBlockParams, mask: tf.Tensor4D | null, attrs: { batch: number; heads: number; eps: number; qScale: number; divisor: number },
): tf.Tensor2D {
  const ins = (v: tf.Tensor[]): tf.NamedTensorMap => {
    const [xi, lnW, lnB, wq, bq, wk, bk, wv, bv, wo, bo] = v;
    return { x: xi, lnW, lnB, wq, bq, wk, bk, wv, bv, wo, bo, ...(mask != null ? { mask } : {}) };
  };
  const all = [x, p.lnW, p.lnB, p.wq, p.bq, p.wk, p.bk, p.wv, p.bv, p.wo, p.bo];
  if (!tf.engine().isTapeOn()) {
    const outs = tf.engine().runKernel(ATTN_BLOCK, ins(all), attrs) as tf.Tensor[];
    tf.dispose(outs.slice(1));
    return outs[0] as tf.Tensor2D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const v = args.slice(0, -1) as tf.Tensor[];
    const [y, h, mean, rstd, q, k, vv, probs, a] = tf.engine().runKernel(ATTN_BLOCK, ins(v), attrs) as tf.Tensor[];
    save([v[0], v[1], h, mean, rstd, q, k, vv, probs, a, v[3], v[5], v[7], v[9]]);
    const gradFunc = (dy: tf.Tensor, s: tf.Tensor[]): tf.Tensor[] => {
      const [xs, lnW, hs, ms, rs, qs, ks, vs, ps, as, wq, wk, wv, wo] = s;
      return tf.engine().runKernel(ATTN_BLOCK_GRAD, { dy, x: xs, lnW, h: hs, mean: ms, rstd: rs, q: qs, k: ks, v: vs, probs: ps, a: as, wq, wk, wv, wo }, attrs) as tf.Tensor[];
    };
    return { value: y, gradFunc };
  });
  return op(...all) as tf.Tensor2D;
}

/** y + act(LN(y) · W1 + b1) · W2 + b2 for y [n, d] (act: a NATIVE_ACTIVATIONS kind), differentiable in y and every parameter. */
export function nativeMlpBlock(y: tf.Tensor2D, p: MlpBlockParams, attrs: { act: number; eps: number }): tf.Tensor2D {
  const ins = (v: tf.Tensor[]): tf.NamedTensorMap => {
    const [yi, lnW, lnB, w1, b1, w2, b2] = v;
    return { y: yi, lnW, lnB, w1, b1, w2, b2 };
  };
  const all = [y, p.lnW, p.lnB, p.w1, p.b1, p.w2, p.b2];
  if (!tf.engine().isTapeOn()) {
    const outs = tf.engine().runKernel(MLP_BLOCK, ins(all), attrs) as tf.Tensor[];
    tf.dispose(outs.slice(1));
    return outs[0] as tf.Tensor2D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const v = args.slice(0, -1) as tf.Tensor[];
    const [z, h, mean, rstd, f, pre] = tf.engine().runKernel(MLP_BLOCK, ins(v), attrs) as tf.Tensor[];
    save(pre != null ? [v[0], v[1], h, mean, rstd, f, v[3], v[5], pre] : [v[0], v[1], h, mean, rstd, f, v[3], v[5]]);
    const gradFunc = (dz: tf.Tensor, s: tf.Tensor[]): tf.Tensor[] => {
      const [ys, lnW, hs, ms, rs, fs, w1, w2, ps] = s;
      const inputs: tf.NamedTensorMap = { dz, y: ys, lnW, h: hs, mean: ms, rstd: rs, f: fs, w1, w2, ...(ps != null ? { pre: ps } : {}) };
      return tf.engine().runKernel(MLP_BLOCK_GRAD, inputs, attrs) as tf.Tensor[];
    };
    return { value: z, gradFunc };
  });
  return op(...all) as tf.Tensor2D;
}
