// DeepSpeed-Chat's PPO maths as pure functions (compute_rewards, GAE, both clipped losses, EMA), on host rows or tensors.
import * as tf from '@tensorflow/tfjs';
import type { FloatMatrix, IntMatrix } from './matrix';

/** DeepSpeed-Chat's PPO constants (DeepSpeedPPOTrainer.__init__); every function takes overrides as its last argument. */
export interface PpoHyperParams {
  /** KL penalty coefficient β in rewards = -β·(log π - log π_ref). */
  klCtl: number;
  /** Reward-model scores are clipped to [-v, v]. */
  clipRewardValue: number;
  /** Policy ratio clip ε: ratio is clipped to [1-ε, 1+ε]. */
  cliprange: number;
  /** Value clip: new values are kept within old ± this. */
  cliprangeValue: number;
  /** Discount γ. */
  gamma: number;
  /** GAE λ. */
  lam: number;
}

export const DSCHAT_PPO: Readonly<PpoHyperParams> = Object.freeze({ klCtl: 0.1, clipRewardValue: 5, cliprange: 0.2, cliprangeValue: 0.2, gamma: 1.0, lam: 0.95 });

type Rows = number[][];
/** A [batch, T] input: plain rows, a host matrix, or a 2-D tensor. The output has the kind of the first matrix argument. */
export type MatrixInput = Rows | FloatMatrix | IntMatrix | tf.Tensor2D;
/** A [batch] input: numbers, a Float32Array or a 1-D tensor. */
export type VectorInput = readonly number[] | Float32Array | tf.Tensor1D;

const f32 = Math.fround;

function hyper(o?: Partial<PpoHyperParams>): PpoHyperParams {
  const h = { ...DSCHAT_PPO };
  for (const k of Object.keys(DSCHAT_PPO) as (keyof PpoHyperParams)[]) {
    const v = o?.[k];
    if (v === undefined) continue;
    if (!Number.isFinite(v)) throw new RangeError(`PPO hyper-parameter ${k} must be a finite number, got ${v}`);
    h[k] = v;
  }
  return h;
}

interface Host {
  data: Float32Array;
  rows: number;
  cols: number;
}

function isTensor(x: unknown): x is tf.Tensor {
  return x instanceof tf.Tensor;
}

function isMatrix(x: unknown): x is FloatMatrix | IntMatrix {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && 'data' in x && 'shape' in x && !isTensor(x);
}

function toHost(x: MatrixInput, what: string): Host {
  if (isTensor(x)) {
    if (x.rank !== 2) throw new Error(`${what} must be 2-D [batch, T], got shape [${x.shape}]`);
    return { data: Float32Array.from(x.dataSync()), rows: x.shape[0], cols: x.shape[1] };
  }
  if (isMatrix(x)) return { data: Float32Array.from(x.data), rows: x.shape[0], cols: x.shape[1] };
  const rows = x as Rows;
  const cols = rows[0]?.length ?? 0;
  const data = new Float32Array(rows.length * cols);
  rows.forEach((r, i) => {
    if (r.length !== cols) throw new Error(`${what}: row ${i} has ${r.length} values but row 0 has ${cols}`);
    data.set(r, i * cols);
  });
  return { data, rows: rows.length, cols };
}

function vectorToHost(x: VectorInput, what: string): Float32Array {
  if (isTensor(x)) {
    if (x.rank !== 1) throw new Error(`${what} must be 1-D [batch], got shape [${x.shape}]`);
    return Float32Array.from(x.dataSync());
  }
  return Float32Array.from(x);
}

/** Returns host data in the kind of `like`: a tensor, a FloatMatrix or plain rows. */
function asKind(like: MatrixInput, h: Host): MatrixInput {
  if (isTensor(like)) return tf.tensor2d(h.data, [h.rows, h.cols], 'float32');
  if (isMatrix(like)) return { data: h.data, shape: [h.rows, h.cols] } as FloatMatrix;
  return Array.from({ length: h.rows }, (_, i) => Array.from(h.data.subarray(i * h.cols, (i + 1) * h.cols)));
}

function sameShape(a: Host, b: Host, what: string): void {
  if (a.rows !== b.rows || a.cols !== b.cols) throw new Error(`${what}: shapes differ ([${a.rows}, ${a.cols}] vs [${b.rows}, ${b.cols}])`);
}

/** The prompt length P from DeepSpeed-Chat's `prompts` argument (prompts.shape[1]) or a number. */
export function promptLengthOf(prompts: MatrixInput | number): number {
  if (typeof prompts === 'number') return prompts;
  if (isTensor(prompts)) return prompts.shape[1] as number;
  if (isMatrix(prompts)) return prompts.shape[1];
  return (prompts as Rows)[0]?.length ?? 0;
}

/**
 * Per row, DeepSpeed-Chat's `ends = start + action_mask[:, start:].sum(1) + 1`: the mask is counted, not searched,
 * so a row's answer is assumed to be contiguous from `start`.
 */
export function answerEnds(actionMask: MatrixInput, start: number): number[] {
  const m = toHost(actionMask, 'actionMask');
  const ends: number[] = [];
  for (let b = 0; b < m.rows; b++) {
    let n = 0;
    for (let t = Math.max(0, start); t < m.cols; t++) n += m.data[b * m.cols + t];
    ends.push(start + n + 1);
  }
  return ends;
}

/**
 * DeepSpeed-Chat's compute_rewards: rewards = -klCtl·(logProbs - refLogProbs) at every position, plus the clipped
 * score at index min(ends_b, T) - 1 of each row (T = log-prob length). For a row whose answer stopped early that is
 * the position just after its last answer token (masked out), for a full row the last action. Shapes: logProbs,
 * refLogProbs, actionMask [B, T]; rewardScore [B]; prompts [B, P] (or P) -> [B, T], of logProbs' kind.
 */
export function computeRewards<M extends MatrixInput>(
  prompts: MatrixInput | number,
  logProbs: M,
  refLogProbs: MatrixInput,
  rewardScore: VectorInput,
  actionMask: MatrixInput,
  overrides?: Partial<PpoHyperParams>,
): M {
  const h = hyper(overrides);
  const lp = toHost(logProbs, 'logProbs');
  const ref = toHost(refLogProbs, 'refLogProbs');
  const mask = toHost(actionMask, 'actionMask');
  sameShape(lp, ref, 'computeRewards: logProbs and refLogProbs');
  sameShape(lp, mask, 'computeRewards: logProbs and actionMask');
  const score = vectorToHost(rewardScore, 'rewardScore');
  if (score.length !== lp.rows) throw new Error(`computeRewards: rewardScore has ${score.length} entries for ${lp.rows} rows`);
  const start = promptLengthOf(prompts) - 1;
  const ends = answerEnds(actionMask, start);
  const negKl = f32(-h.klCtl);
  const out = new Float32Array(lp.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(negKl * f32(lp.data[i] - ref.data[i]));
  const clip = f32(h.clipRewardValue);
  for (let b = 0; b < lp.rows; b++) {
    const last = Math.min(ends[b], lp.cols) - 1;
    if (last < Math.max(0, start)) continue; // an empty slice rewards[j, start:ends][-1] would raise in torch
    const s = Math.min(Math.max(score[b], -clip), clip);
    out[b * lp.cols + last] = f32(out[b * lp.cols + last] + s);
  }
  return asKind(logProbs, { data: out, rows: lp.rows, cols: lp.cols }) as M;
}

/**
 * DeepSpeed-Chat's get_advantages_and_returns (GAE from trlx), from `start` to the end: δ_t = r_t + γ·V_{t+1} - V_t
 * (V_T = 0), A_t = δ_t + γλ·A_{t+1}; returns = A + V[:, start:]. No masking and no whitening, as in DeepSpeed-Chat.
 * values, rewards [B, T] -> advantages, returns [B, T - start], of values' kind.
 */
export function getAdvantagesAndReturns<M extends MatrixInput>(values: M, rewards: MatrixInput, start: number, overrides?: Partial<PpoHyperParams>): { advantages: M; returns: M } {
  const h = hyper(overrides);
  const v = toHost(values, 'values');
  const r = toHost(rewards, 'rewards');
  sameShape(v, r, 'getAdvantagesAndReturns: values and rewards');
  if (!Number.isInteger(start) || start < 0 || start >= v.cols) throw new RangeError(`getAdvantagesAndReturns: start must be in [0, ${v.cols}), got ${start}`);
  const w = v.cols - start;
  const adv = new Float32Array(v.rows * w);
  const ret = new Float32Array(v.rows * w);
  const gamma = f32(h.gamma);
  const gl = f32(h.gamma * h.lam);
  for (let b = 0; b < v.rows; b++) {
    let last = 0;
    for (let t = v.cols - 1; t >= start; t--) {
      const vt = v.data[b * v.cols + t];
      const next = t < v.cols - 1 ? f32(gamma * v.data[b * v.cols + t + 1]) : 0;
      const delta = f32(f32(r.data[b * v.cols + t] + next) - vt);
      last = t === v.cols - 1 ? delta : f32(delta + f32(gl * last));
      adv[b * w + t - start] = last;
      ret[b * w + t - start] = f32(last + vt);
    }
  }
  return {
    advantages: asKind(values, { data: adv, rows: v.rows, cols: w }) as M,
    returns: asKind(values, { data: ret, rows: v.rows, cols: w }) as M,
  };
}

/** Σ(x·mask) / Σmask over the whole batch (DeepSpeed-Chat's loss mean), for host data. */
function maskedMeanHost(x: Float32Array, mask: Float32Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i] * mask[i];
    n += mask[i];
  }
  return f32(f32(s) / f32(n));
}

/** The clipped policy loss as a tensor graph (differentiable in logprobs). */
export function actorLossTensor(logprobs: tf.Tensor2D, oldLogprobs: tf.Tensor2D, advantages: tf.Tensor2D, mask: tf.Tensor2D, overrides?: Partial<PpoHyperParams>): tf.Scalar {
  const h = hyper(overrides);
  return tf.tidy(() => {
    const logRatio = tf.mul(tf.sub(logprobs, oldLogprobs), mask); // [B, T]
    const ratio = tf.exp(logRatio);
    const negAdv = tf.neg(advantages);
    const pg1 = tf.mul(negAdv, ratio);
    const pg2 = tf.mul(negAdv, tf.clipByValue(ratio, 1 - h.cliprange, 1 + h.cliprange));
    return tf.div(tf.sum(tf.mul(tf.maximum(pg1, pg2), mask)), tf.sum(mask)) as tf.Scalar;
  });
}

/** The clipped value loss as a tensor graph (differentiable in values). */
export function criticLossTensor(values: tf.Tensor2D, oldValues: tf.Tensor2D, returns: tf.Tensor2D, mask: tf.Tensor2D, overrides?: Partial<PpoHyperParams>): tf.Scalar {
  const h = hyper(overrides);
  return tf.tidy(() => {
    const lo = tf.sub(oldValues, h.cliprangeValue);
    const hi = tf.add(oldValues, h.cliprangeValue);
    const clipped = tf.minimum(tf.maximum(values, lo), hi); // torch.clamp(values, lo, hi) with tensor bounds
    const vf1 = tf.square(tf.sub(values, returns));
    const vf2 = tf.square(tf.sub(clipped, returns));
    return tf.mul(0.5, tf.div(tf.sum(tf.mul(tf.maximum(vf1, vf2), mask)), tf.sum(mask))) as tf.Scalar;
  });
}

/**
 * DeepSpeed-Chat's actor_loss_fn: ratio = exp((logprobs - oldLogprobs)·mask); loss = Σ max(-A·ratio,
 * -A·clip(ratio, 1±ε))·mask / Σmask (one mean over every unmasked token of the batch). All [B, T']. With tensors it
 * returns a differentiable scalar; with host rows or matrices, a number.
 */
export function actorLossFn(logprobs: tf.Tensor2D, oldLogprobs: MatrixInput, advantages: MatrixInput, mask: MatrixInput, overrides?: Partial<PpoHyperParams>): tf.Scalar;
export function actorLossFn(logprobs: Rows | FloatMatrix, oldLogprobs: MatrixInput, advantages: MatrixInput, mask: MatrixInput, overrides?: Partial<PpoHyperParams>): number;
export function actorLossFn(logprobs: MatrixInput, oldLogprobs: MatrixInput, advantages: MatrixInput, mask: MatrixInput, overrides?: Partial<PpoHyperParams>): tf.Scalar | number {
  if (isTensor(logprobs)) {
    return tf.tidy(() => actorLossTensor(logprobs, tensorOf(oldLogprobs), tensorOf(advantages), tensorOf(mask), overrides));
  }
  const h = hyper(overrides);
  const lp = toHost(logprobs, 'logprobs');
  const old = toHost(oldLogprobs, 'oldLogprobs');
  const adv = toHost(advantages, 'advantages');
  const m = toHost(mask, 'mask');
  for (const [x, n] of [[old, 'oldLogprobs'], [adv, 'advantages'], [m, 'mask']] as const) sameShape(lp, x, `actorLossFn: logprobs and ${n}`);
  const lo = f32(1 - h.cliprange);
  const hi = f32(1 + h.cliprange);
  const per = new Float32Array(lp.data.length);
  for (let i = 0; i < per.length; i++) {
    const ratio = f32(Math.exp(f32(f32(lp.data[i] - old.data[i]) * m.data[i])));
    const pg1 = f32(-adv.data[i] * ratio);
    const pg2 = f32(-adv.data[i] * Math.min(Math.max(ratio, lo), hi));
    per[i] = Math.max(pg1, pg2);
  }
  return maskedMeanHost(per, m.data);
}

/**
 * DeepSpeed-Chat's critic_loss_fn: v_clip = clamp(values, old ± cliprangeValue); loss = 0.5·Σ max((v-R)², (v_clip-R)²)·mask
 * / Σmask. All [B, T']. Tensors in: a differentiable scalar; host rows or matrices: a number.
 */
export function criticLossFn(values: tf.Tensor2D, oldValues: MatrixInput, returns: MatrixInput, mask: MatrixInput, overrides?: Partial<PpoHyperParams>): tf.Scalar;
export function criticLossFn(values: Rows | FloatMatrix, oldValues: MatrixInput, returns: MatrixInput, mask: MatrixInput, overrides?: Partial<PpoHyperParams>): number;
export function criticLossFn(values: MatrixInput, oldValues: MatrixInput, returns: MatrixInput, mask: MatrixInput, overrides?: Partial<PpoHyperParams>): tf.Scalar | number {
  if (isTensor(values)) {
    return tf.tidy(() => criticLossTensor(values, tensorOf(oldValues), tensorOf(returns), tensorOf(mask), overrides));
  }
  const h = hyper(overrides);
  const v = toHost(values, 'values');
  const old = toHost(oldValues, 'oldValues');
  const ret = toHost(returns, 'returns');
  const m = toHost(mask, 'mask');
  for (const [x, n] of [[old, 'oldValues'], [ret, 'returns'], [m, 'mask']] as const) sameShape(v, x, `criticLossFn: values and ${n}`);
  const clipV = f32(h.cliprangeValue);
  const per = new Float32Array(v.data.length);
  for (let i = 0; i < per.length; i++) {
    const lo = f32(old.data[i] - clipV);
    const hi = f32(old.data[i] + clipV);
    const vc = Math.min(Math.max(v.data[i], lo), hi);
    const d1 = f32(v.data[i] - ret.data[i]);
    const d2 = f32(vc - ret.data[i]);
    per[i] = Math.max(f32(d1 * d1), f32(d2 * d2));
  }
  return f32(0.5 * maskedMeanHost(per, m.data));
}

function tensorOf(x: MatrixInput): tf.Tensor2D {
  if (isTensor(x)) return x;
  const h = toHost(x, 'input');
  return tf.tensor2d(h.data, [h.rows, h.cols], 'float32');
}

/** Named tensors by parameter name (a model's namedParameters()). */
export type NamedTensors = ReadonlyMap<string, tf.Tensor>;

/**
 * DeepSpeed-Chat's moving_average(model, model_ema, beta): ema ← lerp(param, ema, β) = param + β·(ema - param) for every
 * parameter, matched by name (both maps must hold the same names and shapes).
 */
export function movingAverage(model: NamedTensors, modelEma: ReadonlyMap<string, tf.Variable>, beta = 0.992): void {
  if (!(beta >= 0 && beta <= 1)) throw new RangeError(`movingAverage: beta must be in [0, 1], got ${beta}`);
  for (const [name, ema] of modelEma) {
    const p = model.get(name);
    if (!p) throw new Error(`movingAverage: the EMA model has '${name}' but the model does not; build both with the same architecture and LoRA settings`);
    if (p.shape.join(',') !== ema.shape.join(',')) throw new Error(`movingAverage: '${name}' is [${p.shape}] in the model but [${ema.shape}] in the EMA model`);
    tf.tidy(() => ema.assign(tf.add(p, tf.mul(tf.sub(ema, p), beta))));
  }
}

/** movingAverage on host arrays (one parameter): param + β·(ema - param), float32. */
export function movingAverageHost(param: ArrayLike<number>, ema: ArrayLike<number>, beta = 0.992): Float32Array {
  if (param.length !== ema.length) throw new Error(`movingAverageHost: ${param.length} vs ${ema.length} values`);
  const b = f32(beta);
  const out = new Float32Array(param.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(param[i] + f32(b * f32(ema[i] - param[i])));
  return out;
}

/**
 * Masked whitening (TRL's masked_whiten): (x - mean)/sqrt(var + 1e-8) over the entries where mask is 1, with the
 * unbiased variance; `shiftMean` false adds the mean back. Entries outside the mask are whitened with the same
 * statistics (callers mask them afterwards). An rlhfkit option: DeepSpeed-Chat never whitens.
 */
export function maskedWhiten(x: Float32Array, mask: ArrayLike<number> | null, shiftMean = true): Float32Array {
  let n = 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const m = mask ? mask[i] : 1;
    n += m;
    s += x[i] * m;
  }
  const out = new Float32Array(x.length);
  if (n === 0) return out.fill(0);
  const mu = s / n;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (mask ? mask[i] : 1) * (x[i] - mu) ** 2;
  const variance = n > 1 ? (ss / n) * (n / (n - 1)) : 0;
  const inv = 1 / Math.sqrt(variance + 1e-8);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] - mu) * inv + (shiftMean ? 0 : mu);
  return out;
}
