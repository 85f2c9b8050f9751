// AdamW with torch.optim.AdamW's single-tensor semantics, parameter groups and an exact, resumable state dict.
import * as tf from '@tensorflow/tfjs';
import { adamWUpdate, adamWUpdateAll, canUseFusedAdamW, canUseNativeAdamW, type AdamWItem, type AdamWScalars } from '../backend/adamw-kernel';
import type { HostTensor } from '../io/host-tensor';
import { adamWHostStep, HOST_MOMENTS_MIN_ELEMENTS } from './adamw-host';

/** Hyper-parameters a group may set; anything left out comes from the optimizer defaults. */
export interface AdamWHyperParams {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  /** Ascend instead of descend (torch's `maximize`). */
  maximize: boolean;
}

/** A parameter group as given to the constructor: parameter names plus optional overrides. */
export interface ParamGroupSpec extends Partial<AdamWHyperParams> {
  params: string[];
}

/** A resolved group. `lr` is what the next step uses; `initialLr` is what a scheduler multiplies. */
export interface ParamGroup extends AdamWHyperParams {
  params: string[];
  initialLr: number;
}

/** torch.optim.AdamW's defaults. DeepSpeed-Chat passes betas (0.9, 0.95). */
export const ADAMW_DEFAULTS: Readonly<AdamWHyperParams> = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as [number, number],
  eps: 1e-8,
  weightDecay: 1e-2,
  amsgrad: false,
  maximize: false,
});

/** A float tensor on the host, shaped like io's HostTensor so it can go straight into a safetensors file. */
export type FloatHostTensor = HostTensor & { data: Float32Array };

/** Per-parameter state, torch's `step`, `exp_avg`, `exp_avg_sq` (and `max_exp_avg_sq` with amsgrad). */
export interface AdamWParamState {
  step: number;
  expAvg: FloatHostTensor;
  expAvgSq: FloatHostTensor;
  maxExpAvgSq?: FloatHostTensor;
}

/** Everything needed to resume an AdamW run exactly; JSON-able apart from the Float32Arrays. */
export interface AdamWStateDict {
  groups: ParamGroup[];
  state: Record<string, AdamWParamState>;
}

/** Variables by name: a Map, or a plain object as `tf.variableGrads` style code often has. */
export type NamedVariables = Map<string, tf.Variable> | Record<string, tf.Variable>;

/** Where a model too large for moments beside it on the tensor heap keeps them (see AdamWOptions.momentsOnHost). */
interface HostSlot {
  step: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  maxExpAvgSq?: Float32Array;
}

export interface AdamWOptions {
  /**
   * Keep exp_avg / exp_avg_sq in host memory (outside the wasm backend's 4 GiB heap) and update each parameter there,
   * with the same float32 arithmetic (bit-identical). Default: when the optimized parameters hold more than
   * HOST_MOMENTS_MIN_ELEMENTS values.
   */
  momentsOnHost?: boolean;
}

interface Slot {
  step: number;
  expAvg: tf.Variable;
  expAvgSq: tf.Variable;
  maxExpAvgSq?: tf.Variable;
}

/** One step's scalars, computed in double precision as torch does in Python before they enter float32 ops. */
function stepScalars(g: ParamGroup, step: number): AdamWScalars {
  const [beta1, beta2] = g.betas;
  return { beta1, beta2, bc2Sqrt: Math.sqrt(1 - beta2 ** step), eps: g.eps, stepSize: g.lr / (1 - beta1 ** step), decay: 1 - g.lr * g.weightDecay };
}

function toMap(vars: NamedVariables): Map<string, tf.Variable> {
  return vars instanceof Map ? new Map(vars) : new Map(Object.entries(vars));
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function validateHyper(h: AdamWHyperParams, where: string): void {
  const bad = (msg: string): never => {
    throw new RangeError(`AdamW ${where}: ${msg}`);
  };
  if (!(h.lr >= 0)) bad(`lr must be >= 0, got ${h.lr}`);
  if (!(h.eps >= 0)) bad(`eps must be >= 0, got ${h.eps}`);
  if (!(h.weightDecay >= 0)) bad(`weightDecay must be >= 0, got ${h.weightDecay}`);
  if (!(h.betas[0] >= 0 && h.betas[0] < 1)) bad(`betas[0] must be in [0, 1), got ${h.betas[0]}`);
  if (!(h.betas[1] >= 0 && h.betas[1] < 1)) bad(`betas[1] must be in [0, 1), got ${h.betas[1]}`);
}

/**
 * AdamW over named tf.Variables. Each `step(grads)` updates only parameters that have a gradient in the map,
 * and each keeps its own step count, exactly like torch (so a parameter that skipped a step has its own
 * bias correction). Gradients are read, never disposed: the caller owns them.
 */
export class AdamW {
  readonly groups: ParamGroup[];
  /** Hyper-parameters of groups that do not override them (torch's optimizer.defaults). */
  readonly defaults: Readonly<AdamWHyperParams>;
  private readonly vars: Map<string, tf.Variable>;
  private readonly groupOf = new Map<string, number>();
  private readonly slots = new Map<string, Slot>();
  private readonly hostSlots = new Map<string, HostSlot>();
  /** Whether the moments live in host memory (see AdamWOptions.momentsOnHost). */
  readonly momentsOnHost: boolean;

  constructor(groups: ParamGroupSpec[], variables: NamedVariables, defaults: Partial<AdamWHyperParams> = {}, options: AdamWOptions = {}) {
    this.vars = toMap(variables);
    const base: AdamWHyperParams = { ...ADAMW_DEFAULTS, ...stripUndefined(defaults) };
    validateHyper(base, 'defaults');
    this.defaults = Object.freeze({ ...base });
    this.groups = groups.map((g, gi) => {
      const { params, ...overrides } = g;
      const hyper: AdamWHyperParams = { ...base, ...stripUndefined(overrides) };
      validateHyper(hyper, `param group ${gi}`);
      for (const name of params) {
        const v = this.vars.get(name);
        if (!v) throw new Error(`AdamW param group ${gi}: no variable named '${name}' (known: ${[...this.vars.keys()].slice(0, 8).join(', ')}${this.vars.size > 8 ? ', ...' : ''})`);
        if (v.dtype !== 'float32') throw new Error(`AdamW param group ${gi}: variable '${name}' is ${v.dtype}; only float32 parameters can be optimized`);
        const prev = this.groupOf.get(name);
        if (prev !== undefined) throw new Error(`AdamW: parameter '${name}' appears in param groups ${prev} and ${gi}; each parameter must be in exactly one group`);
        this.groupOf.set(name, gi);
      }
      return { ...hyper, params: [...params], initialLr: hyper.lr };
    });
    let elements = 0;
    for (const name of this.groupOf.keys()) elements += (this.vars.get(name) as tf.Variable).size;
    this.momentsOnHost = options.momentsOnHost ?? elements > HOST_MOMENTS_MIN_ELEMENTS;
  }

  /** Bytes of moments held in host memory (0 when they live on the tensor heap). */
  hostStateBytes(): number {
    let n = 0;
    for (const s of this.hostSlots.values()) n += s.expAvg.byteLength + s.expAvgSq.byteLength + (s.maxExpAvgSq?.byteLength ?? 0);
    return n;
  }

  /** Sets the learning rate of one group, or of every group when `groupIndex` is omitted. */
  setLr(lr: number, groupIndex?: number): void {
    if (!(lr >= 0)) throw new RangeError(`AdamW.setLr: lr must be >= 0, got ${lr}`);
    if (groupIndex === undefined) for (const g of this.groups) g.lr = lr;
    else this.group(groupIndex).lr = lr;
  }

  /** The current learning rate of a group (default: the first). */
  getLr(groupIndex = 0): number {
    return this.group(groupIndex).lr;
  }

  /** How many updates a parameter has received (0 before its first gradient). */
  stepCount(name: string): number {
    return this.slots.get(name)?.step ?? this.hostSlots.get(name)?.step ?? 0;
  }

  /** One AdamW update for every managed parameter that has a gradient in `grads`; others are untouched. */
  step(grads: Map<string, tf.Tensor>): void {
    // Like torch, a gradient for a tensor this optimizer does not own is ignored.
    const todo = [...grads].filter(([name]) => this.groupOf.has(name));
    // Check every shape first so a bad gradient cannot leave the model half-updated.
    for (const [name, grad] of todo) {
      const param = this.vars.get(name) as tf.Variable;
      if (!sameShape(grad.shape, param.shape)) {
        throw new Error(`AdamW.step: gradient for '${name}' has shape [${grad.shape}] but the parameter is [${param.shape}]`);
      }
    }
    if (this.momentsOnHost) {
      for (const [name, grad] of todo) this.updateOnHost(name, this.vars.get(name) as tf.Variable, grad, this.groups[this.groupOf.get(name) as number]);
      return;
    }
    if (this.stepAllNative(todo)) return;
    for (const [name, grad] of todo) {
      this.update(name, this.vars.get(name) as tf.Variable, grad, this.groups[this.groupOf.get(name) as number]);
    }
  }

  /**
   * wasm with the native kernels: every parameter's update in one call, split across the native threads
   * (backend/adamw-kernel.ts; bit-identical to update()). False, with nothing done, where it cannot run.
   */
  private stepAllNative(todo: [string, tf.Tensor][]): boolean {
    if (todo.length === 0 || todo.some(([name]) => {
      const g = this.groups[this.groupOf.get(name) as number];
      return g.amsgrad || g.maximize;
    })) return false;
    const items: (AdamWItem & { name: string; slot: Slot })[] = todo.map(([name, grad]) => {
      const param = this.vars.get(name) as tf.Variable;
      const g = this.groups[this.groupOf.get(name) as number];
      const slot = this.slotFor(name, param, false);
      return { name, slot, param, grad, expAvg: slot.expAvg, expAvgSq: slot.expAvgSq, scalars: stepScalars(g, slot.step + 1) };
    });
    if (!canUseNativeAdamW(items)) return false;
    const updated = adamWUpdateAll(items);
    items.forEach((it, i) => {
      const [p, m, v] = updated[i];
      it.slot.step += 1;
      it.slot.expAvg.assign(m);
      it.slot.expAvgSq.assign(v);
      (it.param as tf.Variable).assign(p);
      tf.dispose([p, m, v]);
    });
    return true;
  }

  private update(name: string, param: tf.Variable, grad: tf.Tensor, g: ParamGroup): void {
    const slot = this.slotFor(name, param, g.amsgrad);
    slot.step += 1;
    const scalars = stepScalars(g, slot.step);
    const { beta1, beta2, bc2Sqrt, stepSize, decay } = scalars;
    tf.tidy(() => {
      if (!slot.maxExpAvgSq && !g.maximize && canUseFusedAdamW([param, grad, slot.expAvg, slot.expAvgSq])) {
        // wasm: one SIMD pass with the same float32 operations as below (backend/adamw-kernel.ts).
        const [p, m, v] = adamWUpdate(param, grad, slot.expAvg, slot.expAvgSq, scalars);
        slot.expAvg.assign(m);
        slot.expAvgSq.assign(v);
        param.assign(p);
        return;
      }
      const gr = g.maximize ? tf.neg(grad) : grad;
      const p = decay === 1 ? param : tf.mul(param, decay);
      const m = tf.add(tf.mul(slot.expAvg, beta1), tf.mul(gr, 1 - beta1));
      const v = tf.add(tf.mul(slot.expAvgSq, beta2), tf.mul(tf.mul(gr, gr), 1 - beta2));
      let vUse: tf.Tensor = v;
      if (slot.maxExpAvgSq) {
        vUse = tf.maximum(slot.maxExpAvgSq, v);
        slot.maxExpAvgSq.assign(vUse);
      }
      const denom = tf.add(tf.div(tf.sqrt(vUse), bc2Sqrt), g.eps);
      const next = tf.sub(p, tf.mul(tf.div(m, denom), stepSize));
      slot.expAvg.assign(m);
      slot.expAvgSq.assign(v);
      param.assign(next);
    });
  }

  /** One parameter's step with its moments on the host: one parameter's host copies at a time. */
  private updateOnHost(name: string, param: tf.Variable, grad: tf.Tensor, g: ParamGroup): void {
    let slot = this.hostSlots.get(name);
    if (!slot) {
      slot = { step: 0, expAvg: new Float32Array(param.size), expAvgSq: new Float32Array(param.size) };
      this.hostSlots.set(name, slot);
    }
    if (g.amsgrad && !slot.maxExpAvgSq) slot.maxExpAvgSq = new Float32Array(param.size);
    slot.step += 1;
    const scalars = { ...stepScalars(g, slot.step), maximize: g.maximize };
    const next = adamWHostStep(param.dataSync() as Float32Array, grad.dataSync() as Float32Array, slot.expAvg, slot.expAvgSq, slot.maxExpAvgSq ?? null, scalars);
    tf.tidy(() => param.assign(tf.tensor(next, param.shape, 'float32')));
  }

  private slotFor(name: string, param: tf.Variable, amsgrad: boolean): Slot {
    let slot = this.slots.get(name);
    if (!slot) {
      slot = {
        step: 0,
        expAvg: zerosVariable(param),
        expAvgSq: zerosVariable(param),
      };
      this.slots.set(name, slot);
    }
    if (amsgrad && !slot.maxExpAvgSq) slot.maxExpAvgSq = zerosVariable(param);
    return slot;
  }

  private group(i: number): ParamGroup {
    const g = this.groups[i];
    if (!g) throw new RangeError(`AdamW: no param group ${i} (there are ${this.groups.length})`);
    return g;
  }

  /** A copy of hyper-parameters and per-parameter state, read off the backend. */
  stateDict(): AdamWStateDict {
    const state: Record<string, AdamWParamState> = {};
    for (const [name, s] of this.slots) {
      const entry: AdamWParamState = { step: s.step, expAvg: toHost(s.expAvg), expAvgSq: toHost(s.expAvgSq) };
      if (s.maxExpAvgSq) entry.maxExpAvgSq = toHost(s.maxExpAvgSq);
      state[name] = entry;
    }
    for (const [name, s] of this.hostSlots) {
      const shape = [...(this.vars.get(name) as tf.Variable).shape];
      const copy = (a: Float32Array): FloatHostTensor => ({ dtype: 'F32', shape, data: Float32Array.from(a) });
      const entry: AdamWParamState = { step: s.step, expAvg: copy(s.expAvg), expAvgSq: copy(s.expAvgSq) };
      if (s.maxExpAvgSq) entry.maxExpAvgSq = copy(s.maxExpAvgSq);
      state[name] = entry;
    }
    return { groups: this.groups.map((g) => ({ ...g, betas: [g.betas[0], g.betas[1]], params: [...g.params] })), state };
  }

  /**
   * Restores a state dict from `stateDict()` of an optimizer built with the same groups (same parameter
   * names in the same order). Group hyper-parameters, including the current lr, come from the dict, as in torch.
   */
  loadStateDict(sd: AdamWStateDict): void {
    if (sd.groups.length !== this.groups.length) {
      throw new Error(`AdamW.loadStateDict: the state has ${sd.groups.length} param groups but this optimizer has ${this.groups.length}; build it with the same groups as the run that saved it`);
    }
    sd.groups.forEach((g, i) => {
      const mine = this.groups[i];
      if (g.params.length !== mine.params.length || g.params.some((p, j) => p !== mine.params[j])) {
        throw new Error(`AdamW.loadStateDict: param group ${i} lists different parameters than this optimizer (saved: ${g.params.slice(0, 4).join(', ')}...; here: ${mine.params.slice(0, 4).join(', ')}...)`);
      }
      validateHyper(g, `state dict param group ${i}`);
    });
    // Check everything before touching any tensor so a bad file leaves the optimizer as it was.
    for (const [name, s] of Object.entries(sd.state)) {
      const v = this.vars.get(name);
      if (!v || !this.groupOf.has(name)) throw new Error(`AdamW.loadStateDict: state for unknown parameter '${name}'`);
      for (const [key, t] of [['expAvg', s.expAvg], ['expAvgSq', s.expAvgSq], ['maxExpAvgSq', s.maxExpAvgSq]] as const) {
        if (t && (!sameShape(t.shape, v.shape) || t.data.length !== v.size)) {
          throw new Error(`AdamW.loadStateDict: ${key} of '${name}' has shape [${t.shape}] but the parameter is [${v.shape}]`);
        }
      }
      if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`AdamW.loadStateDict: step of '${name}' must be a non-negative integer, got ${s.step}`);
    }
    sd.groups.forEach((g, i) => {
      Object.assign(this.groups[i], { lr: g.lr, initialLr: g.initialLr ?? g.lr, betas: [g.betas[0], g.betas[1]], eps: g.eps, weightDecay: g.weightDecay, amsgrad: g.amsgrad, maximize: g.maximize ?? false });
    });
    this.disposeSlots();
    for (const [name, s] of Object.entries(sd.state)) {
      const v = this.vars.get(name) as tf.Variable;
      if (this.momentsOnHost) {
        const host: HostSlot = { step: s.step, expAvg: Float32Array.from(s.expAvg.data), expAvgSq: Float32Array.from(s.expAvgSq.data) };
        if (s.maxExpAvgSq) host.maxExpAvgSq = Float32Array.from(s.maxExpAvgSq.data);
        this.hostSlots.set(name, host);
        continue;
      }
      const slot: Slot = {
        step: s.step,
        expAvg: hostVariable(s.expAvg.data, v.shape),
        expAvgSq: hostVariable(s.expAvgSq.data, v.shape),
      };
      if (s.maxExpAvgSq) slot.maxExpAvgSq = hostVariable(s.maxExpAvgSq.data, v.shape);
      this.slots.set(name, slot);
    }
  }

  /** Frees the moment buffers (not the parameters). */
  dispose(): void {
    this.disposeSlots();
  }

  private disposeSlots(): void {
    for (const s of this.slots.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
      s.maxExpAvgSq?.dispose();
    }
    this.slots.clear();
    this.hostSlots.clear();
  }
}

// tf.variable shares the initial tensor's data; tidy frees the temporary so only the variable holds it.
function zerosVariable(like: tf.Tensor): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zerosLike(like), false));
}

function hostVariable(data: Float32Array, shape: number[]): tf.Variable {
  // Copy: the caller's array may be a view into a file buffer that it reuses.
  return tf.tidy(() => tf.variable(tf.tensor(Float32Array.from(data), shape, 'float32'), false));
}

function toHost(v: tf.Variable): FloatHostTensor {
  // dataSync copies, so the host copy stays valid after the variable changes.
  return { dtype: 'F32', shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Splits a state dict into JSON metadata and named tensors (`<param>.exp_avg`, `<param>.exp_avg_sq`,
 * `<param>.max_exp_avg_sq`) so a checkpoint can keep the tensors in safetensors and the rest in JSON.
 */
export function splitAdamWState(sd: AdamWStateDict): { meta: { groups: ParamGroup[]; steps: Record<string, number> }; tensors: Map<string, FloatHostTensor> } {
  const tensors = new Map<string, FloatHostTensor>();
  const steps: Record<string, number> = {};
  for (const [name, s] of Object.entries(sd.state)) {
    steps[name] = s.step;
    tensors.set(`${name}.exp_avg`, s.expAvg);
    tensors.set(`${name}.exp_avg_sq`, s.expAvgSq);
    if (s.maxExpAvgSq) tensors.set(`${name}.max_exp_avg_sq`, s.maxExpAvgSq);
  }
  return { meta: { groups: sd.groups, steps }, tensors };
}

/** Inverse of `splitAdamWState`; `tensors` may come from a safetensors file (float data is required). */
export function joinAdamWState(meta: { groups: ParamGroup[]; steps: Record<string, number> }, tensors: Map<string, HostTensor>): AdamWStateDict {
  const get = (key: string, required: boolean): FloatHostTensor | undefined => {
    const t = tensors.get(key);
    if (!t) {
      if (required) throw new Error(`AdamW optimizer state: tensor '${key}' is missing from the optimizer checkpoint`);
      return undefined;
    }
    if (!(t.data instanceof Float32Array)) throw new Error(`AdamW optimizer state: tensor '${key}' must be a float tensor, got ${t.dtype}`);
    return t as FloatHostTensor;
  };
  const state: Record<string, AdamWParamState> = {};
  for (const [name, step] of Object.entries(meta.steps)) {
    const entry: AdamWParamState = { step, expAvg: get(`${name}.exp_avg`, true) as FloatHostTensor, expAvgSq: get(`${name}.exp_avg_sq`, true) as FloatHostTensor };
    const mx = get(`${name}.max_exp_avg_sq`, false);
    if (mx) entry.maxExpAvgSq = mx;
    state[name] = entry;
  }
  return { groups: meta.groups, state };
}
