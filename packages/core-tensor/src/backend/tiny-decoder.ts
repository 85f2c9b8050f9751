// A throwaway OPT-like decoder and AdamW step, used only to check and profile the backends' kernels.
import * as tf from '@tensorflow/tfjs';

export interface TinyDecoderConfig {
  vocab: number;
  dModel: number;
  heads: number;
  layers: number;
  maxLen: number;
}

export type TinyParams = Map<string, tf.Variable>;

/** Deterministic init (tfjs draws seeded randoms in JS), so every backend starts from the same weights. */
export function initTinyDecoder(cfg: TinyDecoderConfig, seed = 1): TinyParams {
  const p: TinyParams = new Map();
  let s = seed;
  const normal = (name: string, shape: number[], std = 0.02): void => {
    p.set(name, tf.variable(tf.randomNormal(shape, 0, std, 'float32', s++), true));
  };
  const konst = (name: string, shape: number[], v: number): void => {
    p.set(name, tf.variable(tf.fill(shape, v), true));
  };
  const d = cfg.dModel;
  normal('embed_tokens', [cfg.vocab, d]);
  normal('embed_positions', [cfg.maxLen, d]);
  for (let l = 0; l < cfg.layers; l++) {
    const pre = `layers.${l}.`;
    konst(`${pre}ln1.w`, [d], 1);
    konst(`${pre}ln1.b`, [d], 0);
    for (const proj of ['q', 'k', 'v', 'o']) {
      normal(`${pre}${proj}.w`, [d, d]);
      konst(`${pre}${proj}.b`, [d], 0);
    }
    konst(`${pre}ln2.w`, [d], 1);
    konst(`${pre}ln2.b`, [d], 0);
    normal(`${pre}fc1.w`, [d, 4 * d]);
    konst(`${pre}fc1.b`, [4 * d], 0);
    normal(`${pre}fc2.w`, [4 * d, d]);
    konst(`${pre}fc2.b`, [d], 0);
  }
  konst('final_ln.w', [d], 1);
  konst('final_ln.b', [d], 0);
  return p;
}

function layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(w).add(b);
}

/** Mean next-token cross-entropy over labels != -100. ids, labels: [B, T] int32. */
export function tinyDecoderLoss(p: TinyParams, cfg: TinyDecoderConfig, ids: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  const [B, T] = ids.shape;
  const d = cfg.dModel;
  const H = cfg.heads;
  const dh = d / H;
  const g = (n: string): tf.Variable => p.get(n) as tf.Variable;
  const pos = tf.range(0, T, 1, 'int32');
  let h = tf.gather(g('embed_tokens'), ids).add(tf.gather(g('embed_positions'), pos)); // [B,T,d]
  // Additive causal mask, built from integer positions so no boolean op sits on the gradient path.
  const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0);
  const maskAdd = tf.sub(1, causal).mul(-1e9).reshape([1, 1, T, T]);
  const heads = (x: tf.Tensor): tf.Tensor => x.reshape([B, T, H, dh]).transpose([0, 2, 1, 3]); // [B,H,T,dh]
  for (let l = 0; l < cfg.layers; l++) {
    const pre = `layers.${l}.`;
    const x = layerNorm(h, g(`${pre}ln1.w`), g(`${pre}ln1.b`)).reshape([B * T, d]);
    const q = heads(tf.matMul(x, g(`${pre}q.w`)).add(g(`${pre}q.b`)).mul(1 / Math.sqrt(dh)));
    const k = heads(tf.matMul(x, g(`${pre}k.w`)).add(g(`${pre}k.b`)));
    const v = heads(tf.matMul(x, g(`${pre}v.w`)).add(g(`${pre}v.b`)));
    const att = tf.softmax(tf.matMul(q, k, false, true).add(maskAdd)); // [B,H,T,T]
    const ctx = tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([B * T, d]);
    h = h.add(tf.matMul(ctx, g(`${pre}o.w`)).add(g(`${pre}o.b`)).reshape([B, T, d]));
    const y = layerNorm(h, g(`${pre}ln2.w`), g(`${pre}ln2.b`)).reshape([B * T, d]);
    const ff = tf.relu(tf.matMul(y, g(`${pre}fc1.w`)).add(g(`${pre}fc1.b`)));
    h = h.add(tf.matMul(ff, g(`${pre}fc2.w`)).add(g(`${pre}fc2.b`)).reshape([B, T, d]));
  }
  h = layerNorm(h, g('final_ln.w'), g('final_ln.b'));
  const logits = tf.matMul(h.reshape([B * T, d]), g('embed_tokens'), false, true); // tied head, [B*T,V]
  const flat = labels.reshape([B * T]);
  const valid = tf.notEqual(flat, -100);
  const safe = tf.where(valid, flat, tf.zerosLike(flat));
  const logp = tf.logSoftmax(logits);
  const picked = tf.sum(logp.mul(tf.oneHot(safe, cfg.vocab)), -1);
  const w = valid.toFloat();
  return tf.neg(tf.sum(picked.mul(w)).div(tf.maximum(tf.sum(w), 1))) as tf.Scalar;
}

export interface AdamWState {
  m: Map<string, tf.Variable>;
  v: Map<string, tf.Variable>;
  step: number;
}

export function initAdamW(p: TinyParams): AdamWState {
  const m = new Map<string, tf.Variable>();
  const v = new Map<string, tf.Variable>();
  for (const [k, t] of p) {
    m.set(k, tf.variable(tf.zerosLike(t), false));
    v.set(k, tf.variable(tf.zerosLike(t), false));
  }
  return { m, v, step: 0 };
}

/** One forward+backward+AdamW step; returns the loss. Leaves the tensor count unchanged. */
export function tinyTrainStep(
  p: TinyParams, cfg: TinyDecoderConfig, opt: AdamWState, ids: tf.Tensor2D, labels: tf.Tensor2D,
  lr = 1e-3, wd = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8,
): number {
  opt.step++;
  const t = opt.step;
  const loss = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => tinyDecoderLoss(p, cfg, ids, labels), [...p.values()]);
    for (const [k, param] of p) {
      const gr = grads[param.name];
      const m = (opt.m.get(k) as tf.Variable);
      const v = (opt.v.get(k) as tf.Variable);
      m.assign(m.mul(b1).add(gr.mul(1 - b1)));
      v.assign(v.mul(b2).add(gr.square().mul(1 - b2)));
      const mHat = m.div(1 - b1 ** t);
      const vHat = v.div(1 - b2 ** t);
      param.assign(param.mul(1 - lr * wd).sub(mHat.div(vHat.sqrt().add(eps)).mul(lr)));
    }
    return value;
  });
  const out = loss.dataSync()[0];
  loss.dispose();
  return out;
}

export function disposeAll(...maps: Map<string, tf.Variable>[]): void {
  for (const m of maps) for (const v of m.values()) v.dispose();
}
