// A LLaMA decoder layer's two residual blocks (RMSNorm, RoPE, GQA attention; RMSNorm, SwiGLU) as one native kernel each way.
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import { heapAccess, nativeOps, registerOnce, wasmOf, type NativeOpsAddon } from './native-ops';

/**
 * Attention block: x [n, d], RMSNorm weight, Wq [d, heads*hd], Wk and Wv [d, kvHeads*hd], Wo [heads*hd, d], optional
 * biases bq, bk, bv, bo, the rows' rotary tables cos and sin [n, hd], optional additive mask [1 or batch, 1, t, t];
 * attrs batch, heads, kvHeads, eps, divisor -> y = x + attention(RoPE(q), RoPE(k), v) · Wo + bo, and what the backward
 * reads (RMSNorm(x), its rstd, the rotated q and k, v, the probabilities, the attention output). Its gradient kernel
 * returns dx and the gradient of every parameter, in input order (bias gradients only for the biases given).
 * MLP block: y [n, d], RMSNorm weight, Wg and Wu [d, ffn], Wd [ffn, d], optional biases bg, bu, bd; attrs act, eps ->
 * z = y + (act(h · Wg + bg) * (h · Wu + bu)) · Wd + bd with h = RMSNorm(y), and h, rstd, g, u, f = act(g) * u.
 */
export const LLAMA_ATTN_BLOCK = 'RlhfkitLlamaAttnBlock';
export const LLAMA_ATTN_BLOCK_GRAD = 'RlhfkitLlamaAttnBlockGrad';
export const LLAMA_MLP_BLOCK = 'RlhfkitLlamaMlpBlock';
export const LLAMA_MLP_BLOCK_GRAD = 'RlhfkitLlamaMlpBlockGrad';

interface LlamaBlocksAddon extends NativeOpsAddon {
  llamaAttnBlock(heap: Float32Array, table: Float64Array): void;
  llamaAttnBlockGrad(heap: Float32Array, table: Float64Array): void;
  llamaMlpBlock(heap: Float32Array, table: Float64Array): void;
  llamaMlpBlockGrad(heap: Float32Array, table: Float64Array): void;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type Infos = Record<string, tf.TensorInfo | undefined>;

function addon(): LlamaBlocksAddon {
  const a = nativeOps() as LlamaBlocksAddon | null;
  if (a == null || typeof a.llamaAttnBlock !== 'function') throw new Error('rlhfkit: the native LLaMA blocks are not available');
  return a;
}

function attnSizes(i: Infos, attrs: tf.NamedAttrMap | undefined): { n: number; d: number; b: number; t: number; heads: number; kvHeads: number; hd: number } {
  const [n, d] = (i.x as tf.TensorInfo).shape;
  const b = Number(attrs?.batch);
  const heads = Number(attrs?.heads);
  const kvHeads = Number(attrs?.kvHeads);
  const hd = (i.wq as tf.TensorInfo).shape[1] / heads;
  return { n, d, b, t: n / b, heads, kvHeads, hd };
}

function attnForward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const i = args.inputs as Infos;
  const { n, d, b, t, heads, kvHeads, hd } = attnSizes(i, args.attrs);
  const out = (shape: number[]): tf.TensorInfo => backend.makeOutput(shape, 'float32');
  const [y, h, rstd, q, k, v, probs, a] = [out([n, d]), out([n, d]), out([n]), out([n, heads * hd]), out([n, kvHeads * hd]), out([n, kvHeads * hd]),
    out([b, heads, t, t]), out([n, heads * hd])];
  const m = heapAccess(backend);
  const mask = i.mask;
  addon().llamaAttnBlock(m.heap, Float64Array.from([
    m.at(i.x), m.at(i.lnW), m.at(i.wq), m.at(i.bq), m.at(i.wk), m.at(i.bk), m.at(i.wv), m.at(i.bv), m.at(i.wo), m.at(i.bo), m.at(i.cos), m.at(i.sin),
    m.at(mask), mask != null ? mask.shape[0] : 1, b, t, d, heads, kvHeads, hd, Number(args.attrs?.eps), Number(args.attrs?.divisor),
    m.at(y), m.at(h), m.at(rstd), m.at(q), m.at(k), m.at(v), m.at(probs), m.at(a),
  ]));
  return [y, h, rstd, q, k, v, probs, a];
}

function attnBackward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const i = args.inputs as Infos;
  const { n, d, b, t, heads, kvHeads, hd } = attnSizes(i, args.attrs);
  const bias = Number(args.attrs?.hasBias) === 1;
  const out = (shape: number[]): tf.TensorInfo => backend.makeOutput(shape, 'float32');
  const opt = (shape: number[]): tf.TensorInfo | null => (bias ? out(shape) : null);
  const qd = heads * hd;
  const kvd = kvHeads * hd;
  const grads = [out([n, d]), out([d]), out([d, qd]), opt([qd]), out([d, kvd]), opt([kvd]), out([d, kvd]), opt([kvd]), out([qd, d]), opt([d])];
  const m = heapAccess(backend);
  addon().llamaAttnBlockGrad(m.heap, Float64Array.from([
    m.at(i.dy), m.at(i.x), m.at(i.lnW), m.at(i.h), m.at(i.rstd), m.at(i.q), m.at(i.k), m.at(i.v), m.at(i.probs), m.at(i.a),
    m.at(i.wq), m.at(i.wk), m.at(i.wv), m.at(i.wo), m.at(i.cos), m.at(i.sin), b, t, d, heads, kvHeads, hd, Number(args.attrs?.divisor),
    ...grads.map((g) => m.at(g)),
  ]));
  return grads.filter((g): g is tf.TensorInfo => g != null);
}

function mlpForward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const i = args.inputs as Infos;
  const [n, d] = (i.y as tf.TensorInfo).shape;
  const ffn = (i.wg as tf.TensorInfo).shape[1];
  const out = (shape: number[]): tf.TensorInfo => backend.makeOutput(shape, 'float32');
  const [z, h, rstd, g, u, f] = [out([n, d]), out([n, d]), out([n]), out([n, ffn]), out([n, ffn]), out([n, ffn])];
  const m = heapAccess(backend);
  addon().llamaMlpBlock(m.heap, Float64Array.from([
    m.at(i.y), m.at(i.lnW), m.at(i.wg), m.at(i.bg), m.at(i.wu), m.at(i.bu), m.at(i.wd), m.at(i.bd), n, d, ffn, Number(args.attrs?.act), Number(args.attrs?.eps),
    m.at(z), m.at(h), m.at(rstd), m.at(g), m.at(u), m.at(f),
  ]));
  return [z, h, rstd, g, u, f];
}

function mlpBackward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const i = args.inputs as Infos;
  const [n, d] = (i.y as tf.TensorInfo).shape;
  const ffn = (i.wg as tf.TensorInfo).shape[1];
  const bias = Number(args.attrs?.hasBias) === 1;
  const out = (shape: number[]): tf.TensorInfo => backend.makeOutput(shape, 'float32');
  const opt = (shape: number[]): tf.TensorInfo | null => (bias ? out(shape) : null);
  const grads = [out([n, d]), out([d]), out([d, ffn]), opt([ffn]), out([d, ffn]), opt([ffn]), out([ffn, d]), opt([d])];
  const m = heapAccess(backend);
  addon().llamaMlpBlockGrad(m.heap, Float64Array.from([
    m.at(i.dz), m.at(i.y), m.at(i.lnW), m.at(i.h), m.at(i.rstd), m.at(i.g), m.at(i.u), m.at(i.f), m.at(i.wg), m.at(i.wu), m.at(i.wd),
    n, d, ffn, Number(args.attrs?.act), ...grads.map((g) => m.at(g)),
  ]));
  return grads.filter((g): g is tf.TensorInfo => g != null);
}

export function registerNativeLlamaBlockKernels(): string[] {
  const added: string[] = [];
  const kernels = [[LLAMA_ATTN_BLOCK, attnForward], [LLAMA_ATTN_BLOCK_GRAD, attnBackward], [LLAMA_MLP_BLOCK, mlpForward], [LLAMA_MLP_BLOCK_GRAD, mlpBackward]] as const;
  for (const [name, fn] of kernels) if (registerOnce(name, fn)) added.push(name);
  return added;
}

/** Whether the fused LLaMA blocks can run now: wasm with the native kernels (and an addon that has them), blocks on. */
export function canUseNativeLlamaBlocks(): boolean {
  if (!wasmFastPaths.nativeBlocks) return false;
  const a = nativeOps() as LlamaBlocksAddon | null;
  return a != null && typeof a.llamaAttnBlock === 'function' && tf.getKernel(LLAMA_ATTN_BLOCK, 'wasm') != null;
}

/** The attention block's weights: every bias or none (LLaMA's attention_bias). */
export interface LlamaAttnParams {
  lnW: tf.Tensor;
  wq: tf.Tensor; wk: tf.Tensor; wv: tf.Tensor; wo: tf.Tensor;
  bq: tf.Tensor | null; bk: tf.Tensor | null; bv: tf.Tensor | null; bo: tf.Tensor | null;
}

/** The MLP block's weights: every bias or none (LLaMA's mlp_bias). */
export interface LlamaMlpParams {
  lnW: tf.Tensor;
  wg: tf.Tensor; wu: tf.Tensor; wd: tf.Tensor;
  bg: tf.Tensor | null; bu: tf.Tensor | null; bd: tf.Tensor | null;
}

/**
 * Runs `kernel` on the named inputs (`names[i]` for `values[i]`, constants in `fixed`), differentiable in `values`: the
 * forward's saved outputs (outputs 1.. of the kernel) and the inputs named in `keep` go to `grad`, which returns one
 * gradient per value. Without a tape, only the first output is kept.
 */
function blockOp(
  kernel: string, gradKernel: string, names: string[], values: tf.Tensor[], fixed: tf.NamedTensorMap, saved: string[], keep: string[],
  gradName: string, attrs: tf.NamedAttrMap,
): tf.Tensor2D {
  const ins = (v: tf.Tensor[]): tf.NamedTensorMap => {
    const m: tf.NamedTensorMap = { ...fixed };
    names.forEach((n, j) => (m[n] = v[j]));
    return m;
  };
  if (!tf.engine().isTapeOn()) {
    const outs = tf.engine().runKernel(kernel, ins(values), attrs) as tf.Tensor[];
    tf.dispose(outs.slice(1));
    return outs[0] as tf.Tensor2D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const v = args.slice(0, -1) as tf.Tensor[];
    const outs = tf.engine().runKernel(kernel, ins(v), attrs) as tf.Tensor[];
    // Saved: the forward's outputs after the first, then the inputs the backward reads (constants included, so that a
    // recompute under gradient checkpointing keeps them alive).
    const kept = keep.map((n) => ins(v)[n]);
    save([...outs.slice(1), ...kept]);
    const gradFunc = (dy: tf.Tensor, s: tf.Tensor[]): tf.Tensor[] => {
      const g: tf.NamedTensorMap = { [gradName]: dy };
      saved.forEach((n, j) => (g[n] = s[j]));
      keep.forEach((n, j) => (g[n] = s[saved.length + j]));
      return tf.engine().runKernel(gradKernel, g, attrs) as tf.Tensor[];
    };
    return { value: outs[0], gradFunc };
  });
  return op(...values) as tf.Tensor2D;
}

/**
 * x + attention(RoPE(RMSNorm(x) · Wq + bq), RoPE(... · Wk + bk), ... · Wv + bv) · Wo + bo for x [batch * t, d], the rows'
 * rotary tables cos and sin [batch * t, hd] (constants), scores divided by divisor; differentiable in x and every parameter.
 */
export function nativeLlamaAttentionBlock(
  x: tf.Tensor2D, p: LlamaAttnParams, cos: tf.Tensor2D, sin: tf.Tensor2D, mask: tf.Tensor4D | null,
  attrs: { batch: number; heads: number; kvHeads: number; eps: number; divisor: number },
): tf.Tensor2D {
  const bias = p.bq != null && p.bk != null && p.bv != null && p.bo != null;
  const names = bias ? ['x', 'lnW', 'wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo'] : ['x', 'lnW', 'wq', 'wk', 'wv', 'wo'];
  const values = bias
    ? [x, p.lnW, p.wq, p.bq as tf.Tensor, p.wk, p.bk as tf.Tensor, p.wv, p.bv as tf.Tensor, p.wo, p.bo as tf.Tensor]
    : [x, p.lnW, p.wq, p.wk, p.wv, p.wo];
  const fixed: tf.NamedTensorMap = { cos, sin, ...(mask != null ? { mask } : {}) };
  return blockOp(LLAMA_ATTN_BLOCK, LLAMA_ATTN_BLOCK_GRAD, names, values, fixed, ['h', 'rstd', 'q', 'k', 'v', 'probs', 'a'],
    ['x', 'lnW', 'wq', 'wk', 'wv', 'wo', 'cos', 'sin'], 'dy', { ...attrs, hasBias: bias ? 1 : 0 });
}

/** y + (act(RMSNorm(y) · Wg + bg) * (RMSNorm(y) · Wu + bu)) · Wd + bd for y [n, d] (act: a NATIVE_ACTIVATIONS kind). */
export function nativeLlamaMlpBlock(y: tf.Tensor2D, p: LlamaMlpParams, attrs: { act: number; eps: number }): tf.Tensor2D {
  const bias = p.bg != null && p.bu != null && p.bd != null;
  const names = bias ? ['y', 'lnW', 'wg', 'bg', 'wu', 'bu', 'wd', 'bd'] : ['y', 'lnW', 'wg', 'wu', 'wd'];
  const values = bias ? [y, p.lnW, p.wg, p.bg as tf.Tensor, p.wu, p.bu as tf.Tensor, p.wd, p.bd as tf.Tensor] : [y, p.lnW, p.wg, p.wu, p.wd];
  return blockOp(LLAMA_MLP_BLOCK, LLAMA_MLP_BLOCK_GRAD, names, values, {}, ['h', 'rstd', 'g', 'u', 'f'], ['y', 'lnW', 'wg', 'wu', 'wd'], 'dz',
    { ...attrs, hasBias: bias ? 1 : 0 });
}
