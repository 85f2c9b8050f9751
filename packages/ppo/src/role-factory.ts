// Builds each step-3 role as DeepSpeed-Chat's engine creates it, one at a time, for this heap or inside a role's worker.
import {
  applyLora, loadModelForTraining, resolveModelDir, setUpGradientCheckpointing, type Bf16Selector, type CausalLM, type ScheduleName, type Tokenizer,
} from '@rlhfkit/core-tensor';
import { rewardModelFromLoadedBody, type RewardModel } from '@rlhfkit/reward';
import type { PpoConfig } from './config';
import { HeapMeter, LocalActor, LocalCritic, LocalReference, LocalReward } from './local-roles';
import { RoleOptimizer } from './role-optimizer';

/** The role names, in the order the engine builds them. */
export const ROLE_NAMES = ['actor', 'reference', 'critic', 'reward'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** What building a role needs besides the config. */
export interface RoleBuildContext {
  c: PpoConfig;
  /** The actor's tokenizer with DeepSpeed-Chat's pad (every role uses it). */
  tokenizer: Tokenizer;
  /** The schedule length of both engines (DeepSpeed-Chat's num_total_iters). */
  numTotalIters: number;
  /** Unsupervised mixing doubles the actor's accumulation steps. */
  unsupervised: boolean;
  log: (line: string) => void;
  /** The heap's meter (one per heap: every role of this heap shares it). */
  meter: HeapMeter;
}

function banner(name: string, t0?: number): string {
  const msg = t0 === undefined ? `[start] Initializing ${name} Model [start]` : `[end] Initialized ${name} Model [end] (duration: ${((performance.now() - t0) / 1000).toFixed(2)}s)`;
  const stars = Math.max(0, Math.floor((90 - msg.length) / 2));
  return '*'.repeat(stars) + msg + '*'.repeat(stars + ((90 - msg.length) % 2 === 1 ? 1 : 0));
}

export async function timed<T>(name: string, log: (l: string) => void, build: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  log(banner(name));
  const out = await build();
  log(banner(name, t0));
  return out;
}

const all: Bf16Selector = () => true;

/** The weights of a LoRA-wrapped model that stay frozen: every one with --only_optimize_lora, else the wrapped linears' own. */
function loraBase(loraDim: number, moduleName: string, onlyOptimizeLora: boolean): Bf16Selector | null {
  if (loraDim <= 0) return null;
  if (onlyOptimizeLora) return all;
  return (name, kind) => kind === 'matrix' && name.endsWith('.weight') && name.slice(0, -'.weight'.length).includes(moduleName);
}

/**
 * Which weights a role holds as frozen bf16 outside the tensor heap under --frozen_dtype bf16 (null: all float32): the
 * reference and reward model entirely, the actor and critic only where LoRA leaves them frozen.
 */
export function bf16WeightsFor(role: RoleName, c: PpoConfig): Bf16Selector | null {
  if (c.frozenDtype !== 'bf16') return null;
  if (role === 'reference' || role === 'reward') return all;
  if (role === 'actor') return loraBase(c.actorLoraDim, c.actorLoraModuleName, c.onlyOptimizeLora);
  return loraBase(c.criticLoraDim, c.criticLoraModuleName, c.onlyOptimizeLora);
}

function schedule(ctx: RoleBuildContext, lr: number, loraLr: number, wd: number, gas: number): ConstructorParameters<typeof RoleOptimizer>[2] {
  const c = ctx.c;
  return {
    learningRate: lr,
    loraLearningRate: loraLr,
    weightDecay: wd,
    schedule: c.lrSchedulerType as ScheduleName,
    warmupSteps: c.numWarmupSteps,
    totalSteps: ctx.numTotalIters,
    accumulationSteps: gas,
    maxGradNorm: c.maxGradNorm,
  };
}

/** Frees what `build` made if it throws. */
async function owning<T>(build: (own: (x: { dispose(): void }) => void) => Promise<T>): Promise<T> {
  const owned: { dispose(): void }[] = [];
  try {
    return await build((x) => owned.push(x));
  } catch (e) {
    for (const x of owned.reverse()) x.dispose();
    throw e;
  }
}

/** The actor (trainable, --actor_dropout, LoRA, its own AdamW and schedule) and, with --enable_ema, its EMA copy. */
export async function buildActor(ctx: RoleBuildContext): Promise<LocalActor> {
  const { c, tokenizer, log } = ctx;
  const dir = resolveModelDir(c.actorModelNameOrPath);
  const bf16Weights = bf16WeightsFor('actor', c);
  return owning(async (own) => {
    const model = await timed('Actor', log, async () => {
      const m = await loadModelForTraining(dir, { tokenizer, dropout: c.actorDropout, seed: c.seed, strict: c.strict, log, bf16Weights });
      own(m);
      if (c.actorLoraDim > 0) applyLora(m, { loraDim: c.actorLoraDim, loraModuleName: c.actorLoraModuleName, onlyOptimizeLora: c.onlyOptimizeLora, seed: c.seed }, log);
      if (c.actorGradientCheckpointing) setUpGradientCheckpointing(m, log);
      return m;
    });
    const gas = c.gradientAccumulationSteps * (ctx.unsupervised ? 2 : 1);
    const opt = new RoleOptimizer('actor', model.trainableParameters(), schedule(ctx, c.actorLearningRate, c.actorLoraLearningRate, c.actorWeightDecay, gas));
    own(opt);
    let ema: CausalLM | null = null;
    if (c.enableEma) {
      ema = await timed('EMA', log, async () => {
        const m = await loadModelForTraining(dir, { tokenizer, seed: c.seed, trainable: false, strict: c.strict, bf16Weights });
        own(m);
        // The same LoRA layers as the actor, so moving_average pairs every parameter; its own random init, as in DeepSpeed-Chat.
        if (c.actorLoraDim > 0) applyLora(m, { loraDim: c.actorLoraDim, loraModuleName: c.actorLoraModuleName, onlyOptimizeLora: false, seed: c.seed + 1 }, () => undefined);
        return m;
      });
    }
    return new LocalActor({ model, optimizer: opt, tokenizer, ema, meter: ctx.meter });
  });
}

/** The frozen reference: a copy of the actor's starting weights, always in eval mode. */
export async function buildReference(ctx: RoleBuildContext): Promise<LocalReference> {
  const { c, tokenizer, log } = ctx;
  const dir = resolveModelDir(c.actorModelNameOrPath);
  return timed('Ref', log, async () => {
    const m = await loadModelForTraining(dir, { tokenizer, seed: c.seed, trainable: false, strict: c.strict, bf16Weights: bf16WeightsFor('reference', c) });
    return new LocalReference(m, ctx.meter);
  });
}

/** The critic: the step-2 folder's body and value head, trainable (--critic_dropout, LoRA), with its own AdamW. */
export async function buildCritic(ctx: RoleBuildContext): Promise<LocalCritic> {
  const { c, tokenizer, log } = ctx;
  const dir = resolveModelDir(c.criticModelNameOrPath);
  return owning(async (own) => {
    const model = await timed('Critic', log, async () => {
      const m = await loadValueModel(dir, ctx, c.criticDropout, true, bf16WeightsFor('critic', c));
      own(m);
      if (c.criticLoraDim > 0) {
        applyLora(m.body, { loraDim: c.criticLoraDim, loraModuleName: c.criticLoraModuleName, onlyOptimizeLora: c.onlyOptimizeLora, seed: c.seed }, log);
        // DeepSpeed-Chat's step 3 calls only_optimize_lora_parameters(critic) without forcing v_head, so the head is frozen then.
        if (c.onlyOptimizeLora) m.vHead.trainable = false;
      }
      if (c.criticGradientCheckpointing) setUpGradientCheckpointing(m.body, log);
      return m;
    });
    const opt = new RoleOptimizer('critic', model.trainableParameters(), schedule(ctx, c.criticLearningRate, c.criticLoraLearningRate, c.criticWeightDecay, c.gradientAccumulationSteps));
    own(opt);
    return new LocalCritic(model, opt, tokenizer, ctx.meter);
  });
}

/** The frozen reward model (the same step-2 folder as the critic). */
export async function buildReward(ctx: RoleBuildContext): Promise<LocalReward> {
  const { c, log } = ctx;
  const dir = resolveModelDir(c.criticModelNameOrPath);
  return timed('Reward', log, async () => new LocalReward(await loadValueModel(dir, ctx, c.criticDropout, false, bf16WeightsFor('reward', c)), ctx.meter));
}

/**
 * DeepSpeed-Chat's create_critic_model(..., rlhf_training=True): the step-2 folder's body (vocabulary resized to the
 * tokenizer, --critic_dropout) with its own value head; a folder without one is an error (step 3 needs a trained reward model).
 */
async function loadValueModel(dir: string, ctx: RoleBuildContext, dropout: number | null, trainable: boolean, bf16Weights: Bf16Selector | null): Promise<RewardModel> {
  const { c, tokenizer, log } = ctx;
  const body = await loadModelForTraining(dir, { tokenizer, dropout, bodyOnly: true, seed: c.seed, trainable, strict: c.strict, log: trainable ? log : () => undefined, bf16Weights });
  const pad = tokenizer.padTokenId;
  if (pad === undefined) {
    body.dispose();
    throw new Error(`${c.actorModelNameOrPath}: the actor's tokenizer has no pad token`);
  }
  const saved = (body.rawConfig.rlhfkit_reward_model as { pad_token_id?: number } | undefined)?.pad_token_id;
  if (saved !== undefined && saved !== pad && trainable) {
    log(`note: ${dir} was trained with pad id ${saved} but the actor's tokenizer pads with ${pad}; step 3 uses ${pad} (DeepSpeed-Chat uses the actor's tokenizer for every model)`);
  }
  const model = rewardModelFromLoadedBody(body, dir, { padTokenId: pad, numPaddingAtBeginning: c.numPaddingAtBeginning ?? undefined, seed: c.seed, trainable });
  if (!trainable) model.setTrainable(false);
  return model;
}
