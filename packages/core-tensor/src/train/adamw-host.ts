// AdamW's update with its moments in host memory (outside the tensor heap), bit-identical to the float32 tfjs composite.
import type { AdamWScalars } from '../backend/adamw-kernel';

/**
 * Above this many optimized elements an AdamW keeps its moments on the host: two float32 moments per element would take
 * a large share of the wasm backend's 4 GiB heap (a 350M-parameter model's are 2.6 GB), and the fused kernels need a
 * second set of outputs while they run. The update is the same float32 arithmetic either way.
 */
export const HOST_MOMENTS_MIN_ELEMENTS = 32 * 1024 * 1024;

/** The scalars of one update, as adamw.ts computes them in double precision (the kernels' AdamWScalars), and maximize. */
export interface HostAdamWScalars extends AdamWScalars {
  maximize: boolean;
}

const f = Math.fround;

/**
 * One AdamW step for one parameter: updates `m`, `v` (and `maxV` with amsgrad) in place and returns the new parameter.
 * Every operation is rounded to float32 in the order of the tfjs composite (train/adamw.ts `update`): a product or sum
 * of two floats computed in double and rounded once is the correctly rounded float32 result (and so are sqrt and
 * division), so this matches the wasm/cpu kernels bit for bit.
 */
export function adamWHostStep(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, maxV: Float32Array | null, s: HostAdamWScalars): Float32Array {
  const n = param.length;
  const out = new Float32Array(n);
  const b1 = f(s.beta1);
  const ob1 = f(1 - s.beta1);
  const b2 = f(s.beta2);
  const ob2 = f(1 - s.beta2);
  const bc2 = f(s.bc2Sqrt);
  const eps = f(s.eps);
  const step = f(s.stepSize);
  const decay = f(s.decay);
  const decays = s.decay !== 1;
  const sign = s.maximize ? -1 : 1;
  for (let i = 0; i < n; i++) {
    const g = sign * grad[i];
    const p = decays ? f(param[i] * decay) : param[i];
    const mi = f(f(m[i] * b1) + f(g * ob1));
    const vi = f(f(v[i] * b2) + f(f(g * g) * ob2));
    m[i] = mi;
    v[i] = vi;
    let vu = vi;
    if (maxV != null) {
      vu = maxV[i] > vi ? maxV[i] : vi;
      maxV[i] = vu;
    }
    const denom = f(f(f(Math.sqrt(vu)) / bc2) + eps);
    out[i] = f(p - f(f(mi / denom) * step));
  }
  return out;
}
