// A trainable role's optimizer as DeepSpeed's engine runs it: AdamW(0.9, 0.95) groups, schedule, accumulation, clipping, state IO.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW, allReduceNumbers, clipGradNorm, DataParallel, defaultCommunicator, getOptimizerGroupedParameters, GradientAccumulator, loadOptimizerState, LrScheduler,
  readJsonFile, readSafetensors, saveOptimizerState, writeSafetensors, type Communicator, type LrSchedulerState, type ScheduleName,
} from '@rlhfkit/core-tensor';
import type { UpdateResult } from './roles';

/** AdamW betas DeepSpeed-Chat passes for the actor and the critic. */
export const PPO_BETAS: [number, number] = [0.9, 0.95];

export interface RoleOptimizerOptions {
  learningRate: number;
  /** The LoRA parameter group's learning rate (DeepSpeed-Chat's --actor_lora_learning_rate / --critic_lora_learning_rate). */
  loraLearningRate: number;
  weightDecay: number;
  schedule: ScheduleName;
  warmupSteps: number;
  /** The schedule's length: DeepSpeed-Chat's num_total_iters (the same for actor and critic). */
  totalSteps: number;
  /** Micro-batches per optimizer step (DeepSpeed's gradient_accumulation_steps for this engine). */
  accumulationSteps: number;
  /** DeepSpeed-Chat's ds_config gradient_clipping (1.0). */
  maxGradNorm: number;
  /** The ranks of a data-parallel run (default: Open MPI's under mpirun, else one process). */
  communicator?: Communicator;
}

const STATE_FILE = 'role_state.json';
const ACCUM_FILE = 'accumulated_grads.safetensors';

interface RoleOptimizerState {
  scheduler: LrSchedulerState;
  microSteps: number;
  optimizerSteps: number;
}

/**
 * DeepSpeed's engine.backward() + engine.step() for one role: each backward adds loss/accumulationSteps' gradients; the
 * call that completes a window clips to maxGradNorm, steps AdamW and the schedule. A non-finite loss or gradient throws
 * before anything is applied. Under mpirun the role's parameters start as rank 0's and each window's gradients are
 * averaged over the ranks (one all-reduce), so every rank takes the same step; a NaN on any rank stops all of them.
 */
export class RoleOptimizer {
  readonly optimizer: AdamW;
  readonly scheduler: LrScheduler;
  private readonly acc: GradientAccumulator;
  private steps = 0;
  private readonly dp: DataParallel | null = null;
  /** A non-finite micro-batch loss seen in this window (data parallel: reported at the window's end, on every rank). */
  private badLoss: number | null = null;

  constructor(readonly role: string, readonly variables: Map<string, tf.Variable>, readonly o: RoleOptimizerOptions) {
    if (variables.size === 0) throw new Error(`${role}: no trainable parameters (check --only_optimize_lora and the LoRA flags)`);
    const groups = getOptimizerGroupedParameters([...variables.keys()], o.weightDecay, { loraLr: o.loraLearningRate });
    this.optimizer = new AdamW(groups, variables, { lr: o.learningRate, betas: PPO_BETAS });
    this.scheduler = new LrScheduler(this.optimizer, o.schedule, { warmupSteps: o.warmupSteps, totalSteps: o.totalSteps });
    this.acc = new GradientAccumulator(o.accumulationSteps);
    const comm = o.communicator ?? defaultCommunicator();
    if (comm.size > 1) {
      this.dp = new DataParallel(comm, variables, this.optimizer, 0);
      this.dp.broadcastParameters();
    }
  }

  /** Optimizer steps taken so far. */
  get optimizerSteps(): number {
    return this.steps;
  }

  /** Bytes of the AdamW moments. */
  stateBytes(): number {
    let n = 0;
    for (const [name, v] of this.variables) if (this.optimizer.stepCount(name) > 0) n += v.size * 8; // exp_avg + exp_avg_sq, float32
    return n;
  }

  /** Differentiates scale·lossFn() (a micro-batch), accumulates, and steps at the window's end; reports the unscaled loss. */
  backward(lossFn: () => tf.Scalar, scale = 1): UpdateResult {
    const loss = this.acc.backward(() => (scale === 1 ? lossFn() : tf.mul(lossFn(), scale)), this.variables);
    const value = scale === 1 ? loss : loss / scale;
    if (!Number.isFinite(loss)) {
      if (this.dp) this.badLoss ??= loss;
      else {
        this.acc.zeroGrad();
        throw new Error(`${this.role}: the loss is ${loss}; nothing was applied. Lower the ${this.role} learning rate or check the models`);
      }
    }
    if (!this.acc.isBoundary()) return { loss: value, stepped: false };
    const lr = this.optimizer.getLr(0);
    if (this.dp) return this.stepDataParallel(this.dp, value, lr);
    const clip = clipGradNorm(this.acc.grads(), this.o.maxGradNorm);
    if (!clip.finite) {
      this.acc.zeroGrad();
      throw new Error(`${this.role}: the gradient norm is ${clip.totalNorm}; the update was not applied. Lower the ${this.role} learning rate`);
    }
    this.optimizer.step(this.acc.grads());
    this.scheduler.step();
    this.acc.zeroGrad();
    this.steps += 1;
    return { loss: value, stepped: true, gradNorm: clip.totalNorm, lr };
  }

  private stepDataParallel(dp: DataParallel, value: number, lr: number): UpdateResult {
    const bad = allReduceNumbers(dp.comm, [this.badLoss === null ? 0 : 1])[0];
    if (bad > 0) {
      const mine = this.badLoss;
      this.badLoss = null;
      this.acc.zeroGrad();
      throw new Error(`${this.role}: the loss is ${mine ?? 'not finite'} on ${mine === null ? `${bad} other rank(s)` : `rank ${dp.comm.rank}`}; nothing was applied. Lower the ${this.role} learning rate or check the models`);
    }
    const r = dp.step(this.acc.grads(), this.o.maxGradNorm);
    if (!r.finite) {
      this.acc.zeroGrad();
      throw new Error(`${this.role}: the gradient norm is ${r.totalNorm}; the update was not applied. Lower the ${this.role} learning rate`);
    }
    this.scheduler.step();
    this.acc.zeroGrad();
    this.steps += 1;
    return { loss: value, stepped: true, gradNorm: r.totalNorm, lr };
  }

  /** Writes optimizer moments, schedule position and any partly accumulated gradients into `dir`. */
  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    saveOptimizerState(dir, this.optimizer);
    const state: RoleOptimizerState = { scheduler: this.scheduler.stateDict(), microSteps: this.acc.microSteps, optimizerSteps: this.steps };
    const grads = new Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>();
    for (const [name, g] of this.acc.grads()) grads.set(name, { dtype: 'F32', shape: g.shape.slice(), data: Float32Array.from(g.dataSync()) });
    if (grads.size) writeSafetensors(path.join(dir, ACCUM_FILE), grads, { format: 'rlhfkit-accumulated-grads' });
    fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  }

  /** Restores what save() wrote. */
  load(dir: string): void {
    loadOptimizerState(dir, this.optimizer);
    const s = readJsonFile<RoleOptimizerState>(path.join(dir, STATE_FILE), { what: `the ${this.role} optimizer state`, hint: 'the checkpoint is damaged, resume from an older one' });
    this.scheduler.loadStateDict(s.scheduler);
    this.steps = s.optimizerSteps;
    this.acc.zeroGrad();
    if (s.microSteps > 0) {
      const file = path.join(dir, ACCUM_FILE);
      const sd = readSafetensors(file);
      const grads = new Map<string, tf.Tensor>();
      for (const [name, t] of sd) grads.set(name, tf.tensor(Float32Array.from(t.data as Float32Array), t.shape, 'float32'));
      this.acc.add(grads);
      // add() counted one micro-step; the saved window may hold more.
      for (let i = 1; i < s.microSteps; i++) this.acc.add(new Map());
    }
  }

  dispose(): void {
    this.dp?.dispose();
    this.acc.dispose();
    this.optimizer.dispose();
  }
}
