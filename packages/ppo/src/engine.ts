// RlhfEngine: DeepSpeed-Chat's DeepSpeedRLHFEngine — builds the actor, reference, EMA, critic and reward roles from step-1/2 folders.
import { tensorHeapInfo, type ModelConfig, type Tokenizer } from '@rlhfkit/core-tensor';
import type { PpoConfig } from './config';
import { HeapMeter, type LocalActor, type LocalCritic, type LocalReference, type LocalReward } from './local-roles';
import { decidePlacement, type PlacementDecision } from './placement';
import { buildActor, buildCritic, buildReference, buildReward, type RoleBuildContext } from './role-factory';
import type { ActorRole, CriticRole, LogProbRole, RewardRole, RoleMemory } from './roles';
import { startWorkerEngine } from './worker-roles';

export interface RlhfEngineOptions {
  /** The actor's tokenizer with DeepSpeed-Chat's pad (= eos, except LLaMA's added [PAD]); every role uses it. */
  tokenizer: Tokenizer;
  /** The schedule length of both engines (DeepSpeed-Chat's num_total_iters; see numTotalIters). */
  numTotalIters: number;
  /** Unsupervised mixing doubles the actor's accumulation steps, as DeepSpeed-Chat's main.py does. */
  unsupervised: boolean;
  log?: (line: string) => void;
}

/** The roles a PPO (or critic-free) trainer works with. */
export interface EngineRoles {
  actor: ActorRole;
  reference: LogProbRole;
  /** null for critic-free estimators (GRPO, RLOO, REINFORCE). */
  critic: CriticRole | null;
  reward: RewardRole;
}

/** Peak memory of one heap's roles (bytes): what the log's memory lines and metrics.jsonl's memory/* report. */
export interface HeapMemory {
  /** The roles living in this heap. */
  roles: string[];
  /** The tensor heap's high-water mark (the wasm memory's size, which never shrinks; else the backend's peak tensor bytes). */
  heapBytes: number;
  /** Frozen bf16 weights and host-side optimizer moments, held outside the tensor heap. */
  offHeapBytes: number;
  /** The largest amount of tensor memory observed while the roles worked. */
  peakTensorBytes: number;
}

/** A step-3 engine, whatever its placement: the roles plus what the trainer and the CLI ask of the whole. */
export interface PpoEngine extends EngineRoles {
  readonly placement: 'colocated' | 'per_role';
  /** The actor's parsed config.json (its eos ids, model type, position table). */
  readonly actorConfig: ModelConfig;
  /** Each role's memory (bytes), by role name. */
  memory(): Promise<Record<string, RoleMemory>>;
  /** Per heap (one when colocated, one per role's worker): the peaks so far, as of the roles' last replies. */
  heaps(): HeapMemory[];
  /** The largest tensor memory seen in any heap (bytes). */
  peakTensorBytes(): number;
  dispose(): Promise<void>;
}

/** What is held outside the tensor heap by these roles (frozen bf16 weights, host optimizer moments). */
function offHeapBytes(actor: LocalActor, critic: LocalCritic | null, reference: LocalReference, reward: LocalReward): number {
  let n = actor.model.bf16Bytes() + (actor.ema?.bf16Bytes() ?? 0) + reference.model.bf16Bytes() + reward.model.body.bf16Bytes();
  n += actor.optimizer.optimizer.hostStateBytes() + (critic ? critic.model.body.bf16Bytes() + critic.optimizer.optimizer.hostStateBytes() : 0);
  return n;
}

/**
 * Step 3's models, as DeepSpeed-Chat's engine creates them: the actor (trainable, --actor_dropout, LoRA, its own AdamW and
 * schedule), a frozen reference copy of the actor's starting weights, an optional EMA copy (same LoRA layers), the critic
 * (trainable, from the step-2 folder with its value head, --critic_dropout, LoRA) and the frozen reward model (the same
 * folder). All live in this heap (colocated placement); createPpoEngine picks this or a worker per role.
 */
export class RlhfEngine implements PpoEngine {
  readonly placement = 'colocated' as const;

  private constructor(
    readonly actor: LocalActor,
    readonly reference: LocalReference,
    readonly critic: LocalCritic | null,
    readonly reward: LocalReward,
    readonly tokenizer: Tokenizer,
    readonly meter: HeapMeter,
  ) {}

  static async create(c: PpoConfig, o: RlhfEngineOptions): Promise<RlhfEngine> {
    const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const ctx: RoleBuildContext = { c, tokenizer: o.tokenizer, numTotalIters: o.numTotalIters, unsupervised: o.unsupervised, log, meter: new HeapMeter() };
    const built: { dispose(): Promise<void> }[] = [];
    try {
      const actor = await buildActor(ctx);
      built.push(actor);
      const reference = await buildReference(ctx);
      built.push(reference);
      const critic = c.advantageEstimator === 'gae' ? await buildCritic(ctx) : null;
      if (critic) built.push(critic);
      const reward = await buildReward(ctx);
      return new RlhfEngine(actor, reference, critic, reward, o.tokenizer, ctx.meter);
    } catch (e) {
      for (const r of built.reverse()) await r.dispose();
      throw e;
    }
  }

  get actorConfig(): ModelConfig {
    return this.actor.model.config;
  }

  /** Each role's memory (bytes), by role name. */
  async memory(): Promise<Record<string, RoleMemory>> {
    const out: Record<string, RoleMemory> = {};
    for (const r of [this.actor, this.reference, this.critic, this.reward]) if (r) out[r.name] = await r.memory();
    return out;
  }

  heaps(): HeapMemory[] {
    this.meter.sample();
    const roles = [this.actor, this.reference, this.critic, this.reward].filter((r) => r != null).map((r) => r.name);
    const heap = tensorHeapInfo();
    return [{ roles, heapBytes: heap.peakBytes ?? this.meter.peak, offHeapBytes: offHeapBytes(this.actor, this.critic, this.reference, this.reward), peakTensorBytes: this.meter.peak }];
  }

  peakTensorBytes(): number {
    return this.meter.peak;
  }

  async dispose(): Promise<void> {
    for (const r of [this.actor, this.reference, this.critic, this.reward]) await r?.dispose();
  }
}

/**
 * The engine for this run: --placement colocated builds every role in this heap (RlhfEngine), per_role starts one worker
 * thread per role, each with its own backend and heap; auto (the default) picks colocated unless the models' estimated
 * tensor memory would not fit one heap. A placement that cannot fit is refused before anything loads, naming the heap
 * limit and the flag to use.
 */
export async function createPpoEngine(c: PpoConfig, o: RlhfEngineOptions): Promise<PpoEngine> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const decision: PlacementDecision = decidePlacement(c);
  log(decision.summary);
  if (decision.placement === 'colocated') return RlhfEngine.create(c, { ...o, log });
  return startWorkerEngine(c, { ...o, log });
}
