// DeepSpeed's ZeRO stages 1 and 2 for AdamW: the flattened parameters split evenly across ranks, each rank keeps and updates the
// optimizer state of its slice only, then every rank gathers the updated slices; stage 2 also receives only its slice of the gradient.
import * as tf from '@tensorflow/tfjs';
import { AdamW, type AdamWParamState, type AdamWStateDict, type FloatHostTensor, type ParamGroupSpec } from '../train/adamw';
import { clipGradNorm } from '../train/grad-clip';
import { evenCounts, allReduceNumbers, type Communicator } from './communicator';

/** One parameter's place in the flat buffer. */
export interface FlatEntry {
  name: string;
  shape: number[];
  size: number;
  /** First element in the flat buffer. */
  offset: number;
}

/** The part of one parameter that a rank owns. */
interface Segment {
  name: string;
  /** First owned element inside the parameter (flattened). */
  from: number;
  length: number;
  /** Where it sits inside this rank's slice. */
  at: number;
}

/** Parameters in map order, back to back (the layout every rank shares). */
export function flatLayout(variables: Map<string, tf.Variable>): { entries: FlatEntry[]; total: number } {
  const entries: FlatEntry[] = [];
  let total = 0;
  for (const [name, v] of variables) {
    entries.push({ name, shape: [...v.shape], size: v.size, offset: total });
    total += v.size;
  }
  return { entries, total };
}

/** Copies each tensor (missing ones as zeros) into one Float32Array in layout order. */
export function packFlat(entries: readonly FlatEntry[], total: number, get: (name: string) => tf.Tensor | undefined): Float32Array {
  const buf = new Float32Array(total);
  for (const e of entries) {
    const t = get(e.name);
    if (t) buf.set(t.dataSync() as Float32Array, e.offset);
  }
  return buf;
}

/** buf[i] · s in float32, as tf.mul(tensor, s) computes it (s is rounded to float32 first). */
export function scaleInPlace(buf: Float32Array, s: number): void {
  const f = Math.fround(s);
  if (f === 1) return;
  for (let i = 0; i < buf.length; i++) buf[i] = buf[i] * f;
}

/**
 * The optimizer side of ZeRO-1/2 for one set of variables and the AdamW that a scheduler drives. The AdamW here runs
 * on 1-D slices with the same groups and hyper-parameters (the learning rate is copied from `main` before each step),
 * so an element's update is the same float32 arithmetic as stage 0's.
 */
export class ZeroShard {
  readonly entries: FlatEntry[];
  readonly total: number;
  readonly counts: number[];
  /** This rank's slice [lo, hi) of the flat buffer. */
  readonly lo: number;
  readonly hi: number;
  private readonly segments: Segment[] = [];
  private readonly slices = new Map<string, tf.Variable>();
  private readonly shardOpt: AdamW;

  constructor(
    private readonly comm: Communicator,
    private readonly variables: Map<string, tf.Variable>,
    private readonly main: AdamW,
    readonly stage: 1 | 2,
  ) {
    const layout = flatLayout(variables);
    this.entries = layout.entries;
    this.total = layout.total;
    this.counts = evenCounts(this.total, comm.size);
    this.lo = this.counts.slice(0, comm.rank).reduce((a, b) => a + b, 0);
    this.hi = this.lo + this.counts[comm.rank];
    for (const e of this.entries) {
      const from = Math.max(e.offset, this.lo);
      const to = Math.min(e.offset + e.size, this.hi);
      if (to <= from) continue;
      const seg = { name: e.name, from: from - e.offset, length: to - from, at: from - this.lo };
      this.segments.push(seg);
      this.slices.set(e.name, tf.tidy(() => tf.variable(tf.zeros([seg.length]), false)));
    }
    const owned = new Set(this.segments.map((s) => s.name));
    const groups: ParamGroupSpec[] = main.groups.map((g) => {
      const { params, initialLr: _initialLr, ...hyper } = g;
      return { ...hyper, params: params.filter((p) => owned.has(p)) };
    });
    this.shardOpt = new AdamW(groups, this.slices, main.defaults);
  }

  /** Bytes of optimizer state this rank holds: AdamW's moments plus the float32 slice it updates. */
  stateBytes(): number {
    return (this.hi - this.lo) * 4 * 3;
  }

  /**
   * One optimizer step from this rank's local (accumulated) gradients: average over the ranks (stage 1: all-reduce;
   * stage 2: reduce-scatter), clip by the global norm, update this rank's slice, all-gather the parameters.
   * Stage 1 puts the averaged gradients back into `grads` (the caller frees them), as stage 0 does.
   */
  step(grads: Map<string, tf.Tensor>, maxGradNorm: number): { totalNorm: number; finite: boolean } {
    const local = packFlat(this.entries, this.total, (n) => grads.get(n));
    const size = this.comm.size;
    let mine: Float32Array;
    let totalNorm: number;
    if (this.stage === 1) {
      this.comm.allReduce(local, 'sum');
      scaleInPlace(local, 1 / size);
      for (const e of this.entries) {
        grads.get(e.name)?.dispose();
        grads.set(e.name, tf.tensor(local.slice(e.offset, e.offset + e.size), e.shape, 'float32'));
      }
      // The norm as stage 0 computes it (same tensors, same order), so both stages clip identically.
      const clip = clipGradNorm(grads, maxGradNorm);
      if (!clip.finite) return { totalNorm: clip.totalNorm, finite: false };
      totalNorm = clip.totalNorm;
      mine = new Float32Array(this.hi - this.lo);
      for (const s of this.segments) {
        const g = grads.get(s.name) as tf.Tensor;
        mine.set((g.dataSync() as Float32Array).subarray(s.from, s.from + s.length), s.at);
      }
    } else {
      mine = new Float32Array(this.hi - this.lo);
      this.comm.reduceScatter(local, mine, this.counts, 'sum');
      scaleInPlace(mine, 1 / size);
      let sq = 0;
      for (let i = 0; i < mine.length; i++) sq += mine[i] * mine[i];
      totalNorm = Math.sqrt(allReduceNumbers(this.comm, [sq])[0]);
      if (!Number.isFinite(totalNorm)) return { totalNorm, finite: false };
      const coef = maxGradNorm / (totalNorm + 1e-6);
      if (coef < 1) scaleInPlace(mine, coef);
    }
    this.update(mine);
    return { totalNorm, finite: true };
  }

  private update(mine: Float32Array): void {
    // The slices start from the parameters as they are now (a restore or broadcast may have changed them).
    for (const s of this.segments) {
      const v = this.variables.get(s.name) as tf.Variable;
      tf.tidy(() => (this.slices.get(s.name) as tf.Variable).assign(tf.slice(tf.reshape(v, [-1]), [s.from], [s.length])));
    }
    this.main.groups.forEach((g, i) => {
      this.shardOpt.groups[i].lr = g.lr;
      this.shardOpt.groups[i].weightDecay = g.weightDecay;
    });
    const sliceGrads = new Map<string, tf.Tensor>();
    for (const s of this.segments) sliceGrads.set(s.name, tf.tensor(mine.slice(s.at, s.at + s.length), [s.length], 'float32'));
    try {
      this.shardOpt.step(sliceGrads);
    } finally {
      tf.dispose([...sliceGrads.values()]);
    }
    const updated = new Float32Array(this.hi - this.lo);
    for (const s of this.segments) updated.set((this.slices.get(s.name) as tf.Variable).dataSync() as Float32Array, s.at);
    const all = new Float32Array(this.total);
    this.comm.allGather(updated, all, this.counts);
    for (const e of this.entries) {
      const v = this.variables.get(e.name) as tf.Variable;
      tf.tidy(() => v.assign(tf.tensor(all.slice(e.offset, e.offset + e.size), e.shape, 'float32')));
    }
  }

  /** The whole optimizer state as stage 0 would hold it, gathered from every rank (a collective: all ranks call it). */
  stateDict(): AdamWStateDict {
    const sd = this.shardOpt.stateDict();
    const gather = (key: 'expAvg' | 'expAvgSq'): Float32Array => {
      const mine = new Float32Array(this.hi - this.lo);
      for (const s of this.segments) {
        const st = sd.state[s.name];
        if (st) mine.set(st[key].data, s.at);
      }
      const all = new Float32Array(this.total);
      this.comm.allGather(mine, all, this.counts);
      return all;
    };
    const m = gather('expAvg');
    const v = gather('expAvgSq');
    const mySteps = this.segments.map((s) => sd.state[s.name]?.step ?? 0);
    const step = allReduceNumbers(this.comm, [Math.max(0, ...mySteps)], 'max')[0];
    const state: Record<string, AdamWParamState> = {};
    if (step > 0) {
      for (const e of this.entries) {
        const host = (a: Float32Array): FloatHostTensor => ({ dtype: 'F32', shape: [...e.shape], data: a.slice(e.offset, e.offset + e.size) });
        state[e.name] = { step, expAvg: host(m), expAvgSq: host(v) };
      }
    }
    return { groups: this.main.stateDict().groups, state };
  }

  /** Takes this rank's slice of a whole optimizer state (from stateDict() or a stage-0 run). */
  loadStateDict(sd: AdamWStateDict): void {
    this.main.loadStateDict({ groups: sd.groups, state: {} });
    const state: Record<string, AdamWParamState> = {};
    for (const s of this.segments) {
      const st = sd.state[s.name];
      if (!st) continue;
      const cut = (t: FloatHostTensor): FloatHostTensor => ({ dtype: 'F32', shape: [s.length], data: t.data.slice(s.from, s.from + s.length) });
      state[s.name] = { step: st.step, expAvg: cut(st.expAvg), expAvgSq: cut(st.expAvgSq), ...(st.maxExpAvgSq ? { maxExpAvgSq: cut(st.maxExpAvgSq) } : {}) };
    }
    const groups = this.shardOpt.groups.map((g, i) => ({ ...sd.groups[i], params: g.params }));
    this.shardOpt.loadStateDict({ groups, state });
  }

  dispose(): void {
    this.shardOpt.dispose();
    for (const v of this.slices.values()) v.dispose();
    this.slices.clear();
  }
}
