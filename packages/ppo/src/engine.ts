// RlhfEngine: DeepSpeed-Chat's DeepSpeedRLHFEngine — builds the actor, reference, EMA, critic and reward roles from step-1/2 folders.
import {
  applyLora, loadModelForTraining, resolveModelDir, setUpGradientCheckpointing, type CausalLM, type ScheduleName, type Tokenizer,
} from '@rlhfkit/core-tensor';
import { rewardModelFromLoadedBody, type RewardModel } from '@rlhfkit/reward';
import type { PpoConfig } from './config';
import { HeapMeter, LocalActor, LocalCritic, LocalReference, LocalReward } from './local-roles';
import { RoleOptimizer } from './role-optimizer';
import type { ActorRole, CriticRole, LogProbRole, RewardRole, RoleMemory } from './roles';

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

function banner(name: string, t0?: number): string {
  const msg = t0 === undefined ? `[start] Initializing ${name} Model [start]` : `[end] Initialized ${name} Model [end] (duration: ${((performance.now() - t0) / 1000).toFixed(2)}s)`;
  const stars = Math.max(0, Math.floor((90 - msg.length) / 2));
  return '*'.repeat(stars) + msg + '*'.repeat(stars + ((90 - msg.length) % 2 === 1 ? 1 : 0));
}

async function timed<T>(name: string, log: (l: string) => void, build: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  log(banner(name));
  const out = await build();
  log(banner(name, t0));
  return out;
}

/**
 * Step 3's models, as DeepSpeed-Chat's engine creates them: the actor (trainable, --actor_dropout, LoRA, its own AdamW and
 * schedule), a frozen reference copy of the actor's starting weights, an optional EMA copy (same LoRA layers), the critic
 * (trainable, from the step-2 folder with its value head, --critic_dropout, LoRA) and the frozen reward model (the same
 * folder). All live in this heap (colocated placement).
 */
export class RlhfEngine implements EngineRoles {
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
    const tokenizer = o.tokenizer;
    const meter = new HeapMeter();
    const owned: { dispose(): void }[] = [];
    const actorDir = resolveModelDir(c.actorModelNameOrPath);
    const criticDir = resolveModelDir(c.criticModelNameOrPath);
    const schedule = (lr: number, loraLr: number, wd: number, gas: number): ConstructorParameters<typeof RoleOptimizer>[2] => ({
      learningRate: lr,
      loraLearningRate: loraLr,
      weightDecay: wd,
      schedule: c.lrSchedulerType as ScheduleName,
      warmupSteps: c.numWarmupSteps,
      totalSteps: o.numTotalIters,
      accumulationSteps: gas,
      maxGradNorm: c.maxGradNorm,
    });
    try {
      const actorModel = await timed('Actor', log, async () => {
        const m = await loadModelForTraining(actorDir, { tokenizer, dropout: c.actorDropout, seed: c.seed, strict: c.strict, log });
        owned.push(m);
        if (c.actorLoraDim > 0) applyLora(m, { loraDim: c.actorLoraDim, loraModuleName: c.actorLoraModuleName, onlyOptimizeLora: c.onlyOptimizeLora, seed: c.seed }, log);
        if (c.actorGradientCheckpointing) setUpGradientCheckpointing(m, log);
        return m;
      });
      const actorGas = c.gradientAccumulationSteps * (o.unsupervised ? 2 : 1);
      const actorOpt = new RoleOptimizer('actor', actorModel.trainableParameters(), schedule(c.actorLearningRate, c.actorLoraLearningRate, c.actorWeightDecay, actorGas));
      owned.push(actorOpt);
      const refModel = await timed('Ref', log, async () => {
        const m = await loadModelForTraining(actorDir, { tokenizer, seed: c.seed, trainable: false, strict: c.strict });
        owned.push(m);
        return m;
      });
      let ema: CausalLM | null = null;
      if (c.enableEma) {
        ema = await timed('EMA', log, async () => {
          const m = await loadModelForTraining(actorDir, { tokenizer, seed: c.seed, trainable: false, strict: c.strict });
          owned.push(m);
          // The same LoRA layers as the actor, so moving_average pairs every parameter; its own random init, as in DeepSpeed-Chat.
          if (c.actorLoraDim > 0) applyLora(m, { loraDim: c.actorLoraDim, loraModuleName: c.actorLoraModuleName, onlyOptimizeLora: false, seed: c.seed + 1 }, () => undefined);
          return m;
        });
      }
      const actor = new LocalActor({ model: actorModel, optimizer: actorOpt, tokenizer, ema, meter });
      const reference = new LocalReference(refModel, meter);
      let critic: LocalCritic | null = null;
      if (c.advantageEstimator === 'gae') {
        const criticModel = await timed('Critic', log, async () => {
          const m = await loadValueModel(criticDir, c, tokenizer, c.criticDropout, true, log);
          owned.push(m);
          if (c.criticLoraDim > 0) {
            applyLora(m.body, { loraDim: c.criticLoraDim, loraModuleName: c.criticLoraModuleName, onlyOptimizeLora: c.onlyOptimizeLora, seed: c.seed }, log);
            // DeepSpeed-Chat's step 3 calls only_optimize_lora_parameters(critic) without forcing v_head, so the head is frozen then.
            if (c.onlyOptimizeLora) m.vHead.trainable = false;
          }
          if (c.criticGradientCheckpointing) setUpGradientCheckpointing(m.body, log);
          return m;
        });
        const criticOpt = new RoleOptimizer('critic', criticModel.trainableParameters(), schedule(c.criticLearningRate, c.criticLoraLearningRate, c.criticWeightDecay, c.gradientAccumulationSteps));
        owned.push(criticOpt);
        critic = new LocalCritic(criticModel, criticOpt, tokenizer, meter);
      }
      const rewardModel = await timed('Reward', log, async () => {
        const m = await loadValueModel(criticDir, c, tokenizer, c.criticDropout, false, log);
        owned.push(m);
        return m;
      });
      const reward = new LocalReward(rewardModel, meter);
      return new RlhfEngine(actor, reference, critic, reward, tokenizer, meter);
    } catch (e) {
      for (const x of owned.reverse()) x.dispose();
      throw e;
    }
  }

  /** Each role's memory (bytes), by role name. */
  async memory(): Promise<Record<string, RoleMemory>> {
    const out: Record<string, RoleMemory> = {};
    for (const r of [this.actor, this.reference, this.critic, this.reward]) if (r) out[r.name] = await r.memory();
    return out;
  }

  async dispose(): Promise<void> {
    for (const r of [this.actor, this.reference, this.critic, this.reward]) await r?.dispose();
  }
}

/**
 * DeepSpeed-Chat's create_critic_model(..., rlhf_training=True): the step-2 folder's body (vocabulary resized to the
 * tokenizer, --critic_dropout) with its own value head; a folder without one is an error (step 3 needs a trained reward model).
 */
async function loadValueModel(dir: string, c: PpoConfig, tokenizer: Tokenizer, dropout: number | null, trainable: boolean, log: (l: string) => void): Promise<RewardModel> {
  const body = await loadModelForTraining(dir, { tokenizer, dropout, bodyOnly: true, seed: c.seed, trainable, strict: c.strict, log: trainable ? log : () => undefined });
  const pad = tokenizer.padTokenId;
  if (pad === undefined) throw new Error(`${c.actorModelNameOrPath}: the actor's tokenizer has no pad token`);
  const saved = (body.rawConfig.rlhfkit_reward_model as { pad_token_id?: number } | undefined)?.pad_token_id;
  if (saved !== undefined && saved !== pad) {
    log(`note: ${dir} was trained with pad id ${saved} but the actor's tokenizer pads with ${pad}; step 3 uses ${pad} (DeepSpeed-Chat uses the actor's tokenizer for every model)`);
  }
  const model = rewardModelFromLoadedBody(body, dir, { padTokenId: pad, numPaddingAtBeginning: c.numPaddingAtBeginning ?? undefined, seed: c.seed, trainable });
  if (!trainable) model.setTrainable(false);
  return model;
}
