// A linear layer with its bias and activation as one native kernel forward and one backward (dx, dW, db in a single op).
import * as tf from '@tensorflow/tfjs';
import { heapAccess, NATIVE_ACTIVATIONS, nativeOps, registerOnce, wasmOf } from './native-ops';

/**
 * Forward: x [n, in], w [in, out], optional bias [out], attr act (NATIVE_ACTIVATIONS) -> y [n, out], plus the
 * pre-activation [n, out] for activations other than linear and relu (their gradient needs it; relu's reads y).
 * Backward: dy, x, w, and pre (or y for relu) -> dx [n, in], dw [in, out], and db [out] when attr hasBias.
 */
export const NATIVE_LINEAR = 'RlhfkitLinear';
export const NATIVE_LINEAR_GRAD = 'RlhfkitLinearGrad';

const LINEAR = NATIVE_ACTIVATIONS.linear;
const RELU = NATIVE_ACTIVATIONS.relu;

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** Whether the activation needs its pre-activation saved for the gradient. */
function keepsPre(act: number): boolean {
  return act !== LINEAR && act !== RELU;
}

function linearForward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const { x, w, bias } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const native = nativeOps();
  if (x == null || w == null || native == null) throw new Error(`${NATIVE_LINEAR}: needs x, w and the native kernels`);
  const act = Number(args.attrs?.act ?? LINEAR);
  const [n, k] = x.shape;
  const out = w.shape[1];
  const y = backend.makeOutput([n, out], 'float32');
  const pre = keepsPre(act) ? backend.makeOutput([n, out], 'float32') : null;
  const h = heapAccess(backend);
  // The bias (and relu) are applied in the product's last pass.
  native.gemm(h.heap, 1, n, out, k, false, false, h.at(x), 0, h.at(w), 0, h.at(pre ?? y), h.at(bias), act === RELU, null, null);
  if (pre != null) native.activation(h.heap, h.at(pre), h.at(y), n, out, act);
  return pre != null ? [y, pre] : [y];
}

function linearBackward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const { dy, x, w, pre } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const native = nativeOps();
  if (dy == null || x == null || w == null || native == null) throw new Error(`${NATIVE_LINEAR_GRAD}: needs dy, x, w and the native kernels`);
  const act = Number(args.attrs?.act ?? LINEAR);
  const hasBias = Boolean(args.attrs?.hasBias);
  const [n, k] = x.shape;
  const out = w.shape[1];
  const dx = backend.makeOutput([n, k], 'float32');
  const dw = backend.makeOutput([k, out], 'float32');
  const db = hasBias ? backend.makeOutput([out], 'float32') : null;
  const dpre = act !== LINEAR ? backend.makeOutput([n, out], 'float32') : null;
  try {
    const h = heapAccess(backend);
    // dpre = dy * act'(pre) and db = its column sums, in one pass (linear: db only, dpre is dy itself).
    if (dpre != null || db != null) native.activationGrad(h.heap, h.at(dy), h.at(act !== LINEAR ? pre : null), h.at(dpre), h.at(db), n, out, act);
    const g = h.at(dpre ?? dy);
    native.gemm(h.heap, 1, n, k, out, false, true, g, 0, h.at(w), 0, h.at(dx), -1, false, null, null); // dx = g · wᵀ
    native.gemm(h.heap, 1, k, out, n, true, false, h.at(x), 0, g, 0, h.at(dw), -1, false, null, null); // dw = xᵀ · g
  } finally {
    if (dpre != null) backend.disposeData(dpre.dataId);
  }
  return db != null ? [dx, dw, db] : [dx, dw];
}

export function registerNativeLinearKernels(): string[] {
  const added: string[] = [];
  if (registerOnce(NATIVE_LINEAR, linearForward)) added.push(NATIVE_LINEAR);
  if (registerOnce(NATIVE_LINEAR_GRAD, linearBackward)) added.push(NATIVE_LINEAR_GRAD);
  return added;
}

/** The native kind of an activation name, or null when the native kernels do not run it (or do not run now). */
export function nativeActivationKind(name: string): number | null {
  const kind = NATIVE_ACTIVATIONS[name];
  return kind != null && nativeOps() != null && tf.getKernel(NATIVE_LINEAR, 'wasm') != null ? kind : null;
}

/**
 * act(x · w + bias) as one op: x [n, in], w [in, out], bias [out] or null, act a NATIVE_ACTIVATIONS kind. Differentiable
 * in x, w and bias; check nativeActivationKind() first.
 */
export function nativeLinear(x: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor1D | null, act: number): tf.Tensor2D {
  const engine = tf.engine();
  const attrs = { act };
  if (!engine.isTapeOn()) {
    const outs = engine.runKernel(NATIVE_LINEAR, bias != null ? { x, w, bias } : { x, w }, attrs) as tf.Tensor[];
    if (outs.length > 1) outs[1].dispose();
    return outs[0] as tf.Tensor2D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xin, win, bin] = args as tf.Tensor[];
    const outs = tf.engine().runKernel(NATIVE_LINEAR, bias != null ? { x: xin, w: win, bias: bin } : { x: xin, w: win }, attrs) as tf.Tensor[];
    const y = outs[0];
    // Saved, not closed over: a checkpointing runner or the caller's tidy may free them before the backward pass.
    save(act === LINEAR ? [xin, win] : [xin, win, outs[1] ?? y]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const inputs: tf.NamedTensorMap = saved.length > 2 ? { dy, x: saved[0], w: saved[1], pre: saved[2] } : { dy, x: saved[0], w: saved[1] };
      return tf.engine().runKernel(NATIVE_LINEAR_GRAD, inputs, { act, hasBias: bias != null }) as tf.Tensor[];
    };
    return { value: y, gradFunc };
  });
  return (bias != null ? op(x, w, bias) : op(x, w)) as tf.Tensor2D;
}
