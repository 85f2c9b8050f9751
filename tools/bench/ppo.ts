// PPO step benchmark: seconds per DeepSpeed-Chat PPO step (generate / score / train) with the standard model as actor and critic.
// Run: npx tsx tools/bench/ppo.ts [--threads N] [--backend wasm|cpu] [--quick] [--no-baseline] [--workload train|generate]
// Prints one JSON line {name: "ppo_step", step_s, generate_s, score_s, train_s, gen_tokens_per_s, ...}; tools/bench/run.ts runs it
// per thread count in rounds with tools/bench/ppo_baseline.py (the same step in PyTorch), which also runs first here unless --no-baseline.
import * as tf from '@tensorflow/tfjs';
import { gpt2Tokenizer, initBackend, type CausalLM } from '../../packages/core-tensor/src';
import { nativeGemmAddon, nativeMatMulStatus } from '../../packages/core-tensor/src/backend/native-gemm';
import {
  HeapMeter, LocalActor, LocalCritic, LocalReference, LocalReward, PPO_DEFAULTS, PpoTrainer, RoleOptimizer, type EngineRoles, type IntMatrix,
  type RoleOptimizerOptions,
} from '../../packages/ppo/src';
import { rewardModelFromBody, type RewardModel } from '../../packages/reward/src';
import { argValue, buildStandardModel, median, round1, STANDARD_CONFIG } from './common';
import { PPO_SHAPE, ppoRow, ppoSteps, runPpoBaseline, type PpoFigures } from './ppo-row';

/** Left-padded prompts as ppo_baseline.py makes them: row i has P - i(P - minPrompt)/(B - 1) random ids >= 3. */
function leftPaddedPrompts(seed: number): { prompts: IntMatrix; mask: IntMatrix } {
  const { batch: b, promptLen: p, minPrompt, pad } = PPO_SHAPE;
  const prompts = new Int32Array(b * p).fill(pad);
  const mask = new Int32Array(b * p);
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = 0; i < b; i++) {
    const n = p - Math.floor((i * (p - minPrompt)) / Math.max(1, b - 1));
    for (let t = p - n; t < p; t++) {
      prompts[i * p + t] = 3 + Math.floor(rand() * (STANDARD_CONFIG.vocab_size - 3));
      mask[i * p + t] = 1;
    }
  }
  return { prompts: { data: prompts, shape: [b, p] }, mask: { data: mask, shape: [b, p] } };
}

/** DeepSpeed-Chat's step-3 optimizer defaults for one role (AdamW(0.9, 0.95), cosine with 100 warm-up steps, clip 1.0). */
function optimizerOptions(learningRate: number, weightDecay: number): RoleOptimizerOptions {
  const d = PPO_DEFAULTS;
  return {
    learningRate, loraLearningRate: d.actorLoraLearningRate, weightDecay, schedule: d.lrSchedulerType, warmupSteps: d.numWarmupSteps,
    totalSteps: 1000, accumulationSteps: 1, maxGradNorm: d.maxGradNorm,
  };
}

function valueModel(): RewardModel {
  // Critic and reward model start from the same body and head, as both come from one step-2 folder.
  return rewardModelFromBody(buildStandardModel(1, { bodyOnly: true }), { padTokenId: PPO_SHAPE.pad, seed: 11 });
}

/**
 * The roles as RlhfEngine.create builds them, from in-memory standard models: actor (trainable, its RoleOptimizer), reference
 * (the same seed: the actor's starting weights), critic (trainable body + value head) and frozen reward model, one HeapMeter.
 */
function buildRoles(meter: HeapMeter): EngineRoles & { dispose(): Promise<void> } {
  // The tokenizer only names the vocabulary of saved folders; this benchmark never saves.
  const tokenizer = gpt2Tokenizer();
  const actorModel: CausalLM = buildStandardModel(0);
  // No EOS stop, as the PyTorch side: every rollout generates exactly newTokens tokens per row (a generation_config setting).
  actorModel.generationConfig = { eos_token_id: null };
  const actor = new LocalActor({
    model: actorModel, optimizer: new RoleOptimizer('actor', actorModel.trainableParameters(), optimizerOptions(PPO_DEFAULTS.actorLearningRate, PPO_DEFAULTS.actorWeightDecay)),
    tokenizer, ema: null, meter,
  });
  const reference = new LocalReference(buildStandardModel(0), meter);
  const criticModel = valueModel();
  const critic = new LocalCritic(
    criticModel, new RoleOptimizer('critic', criticModel.trainableParameters(), optimizerOptions(PPO_DEFAULTS.criticLearningRate, PPO_DEFAULTS.criticWeightDecay)), tokenizer, meter,
  );
  const reward = new LocalReward(valueModel(), meter);
  return {
    actor, reference, critic, reward,
    dispose: async () => {
      for (const r of [actor, reference, critic, reward]) await r.dispose();
    },
  };
}

function matmulName(backend: string): string {
  if (backend !== 'wasm') return `${backend} backend`;
  const s = nativeMatMulStatus();
  return nativeGemmAddon() != null ? `native ${s.kernel} ${s.threads}t` : `xnnpack (native unavailable: ${s.reason})`;
}

const r4 = (xs: number[]): number[] => xs.map((x) => Math.round(x * 1e4) / 1e4);

/**
 * Times each role call of one step under `label` (seconds). Local roles compute before their first await, so the time
 * until the call returns its promise is the call's own work, even when the trainer starts the four scoring calls in Promise.all.
 */
class RoleTimer {
  readonly split = new Map<string, number>();

  wrap<A extends unknown[], R>(label: string, f: (...a: A) => Promise<R>): (...a: A) => Promise<R> {
    return (...a: A): Promise<R> => {
      const t0 = performance.now();
      const p = f(...a);
      this.split.set(label, (this.split.get(label) ?? 0) + (performance.now() - t0) / 1000);
      return p;
    };
  }
}

/** Puts a RoleTimer around the scoring passes and the two updates (the roles' own methods run unchanged). */
function timeRoles(roles: EngineRoles, t: RoleTimer): void {
  const { actor, reference, critic, reward } = roles;
  actor.logProbs = t.wrap('actor', actor.logProbs.bind(actor));
  reference.logProbs = t.wrap('reference', reference.logProbs.bind(reference));
  reward.score = t.wrap('reward', reward.score.bind(reward));
  actor.trainPolicy = t.wrap('actor_update', actor.trainPolicy.bind(actor));
  if (critic) {
    critic.values = t.wrap('critic', critic.values.bind(critic));
    critic.trainValue = t.wrap('critic_update', critic.trainValue.bind(critic));
  }
}

async function main(): Promise<void> {
  const threads = Number(argValue('--threads') ?? '1');
  const quick = process.argv.includes('--quick');
  const steps = ppoSteps(quick);
  // What `rlhfkit ppo train` starts by default: workload 'train' (with --threads N the native matmul gets the N threads and
  // XNNPACK one); --workload generate gives XNNPACK the N threads too, as `rlhfkit generate` does.
  const workload = argValue('--workload') === 'generate' ? 'generate' : 'train';
  const info = await initBackend({ backend: argValue('--backend') ?? 'wasm', threads, quiet: true, workload });
  const tBase = performance.now();
  const baseline = process.argv.includes('--no-baseline') ? null : runPpoBaseline(threads, steps);
  const baselineS = (performance.now() - tBase) / 1000;
  const meter = new HeapMeter();
  const roles = buildRoles(meter);
  const messages: string[] = [];
  const trainer = new PpoTrainer(roles, {
    padTokenId: PPO_SHAPE.pad, eosTokenIds: [PPO_SHAPE.pad], maxAnswerSeqLen: PPO_SHAPE.newTokens, log: (l) => messages.push(l),
  });
  const timer = new RoleTimer();
  timeRoles(roles, timer);
  const splits: Map<string, number>[] = [];
  const { prompts, mask } = leftPaddedPrompts(321);
  const gen: number[] = [];
  const score: number[] = [];
  const train: number[] = [];
  const step: number[] = [];
  let losses: number[] = [];
  let rows = 0;
  let before = 0;
  const setupS = process.uptime() - baselineS; // process start, backend, the four roles
  try {
    for (let i = 0; i < PPO_SHAPE.warmup + steps; i++) {
      if (i === PPO_SHAPE.warmup) before = tf.memory().numTensors;
      timer.split.clear();
      const t0 = performance.now();
      const exp = await trainer.generateExperience(prompts, mask, i);
      const times = trainer.times;
      const t1 = performance.now();
      const r = await trainer.trainRlhf(exp);
      const t2 = performance.now();
      if (exp.inputIds.shape[1] !== PPO_SHAPE.promptLen + PPO_SHAPE.newTokens) throw new Error(`generation made ${exp.inputIds.shape[1] - PPO_SHAPE.promptLen} tokens, not ${PPO_SHAPE.newTokens}`);
      if (i >= PPO_SHAPE.warmup) {
        gen.push(times.generate);
        score.push(times.score);
        train.push((t2 - t1) / 1000);
        step.push((t2 - t0) / 1000);
        if (losses.length === 0) losses = [r.actorLoss, r.criticLoss ?? NaN];
        rows = exp.inputIds.shape[0];
        splits.push(new Map(timer.split));
      }
    }
    const ours: PpoFigures = {
      name: 'ppo_step',
      step_s: r4([median(step)])[0], generate_s: r4([median(gen)])[0], score_s: r4([median(score)])[0], train_s: r4([median(train)])[0],
      gen_tokens_per_s: round1((PPO_SHAPE.batch * PPO_SHAPE.newTokens) / median(gen)),
      step_s_each: r4(step), generate_s_each: r4(gen), score_s_each: r4(score), train_s_each: r4(train),
      split_s: Object.fromEntries([...splits[0].keys()].map((k) => [k, r4([median(splits.map((m) => m.get(k) ?? 0))])[0]])),
      steps: step.length,
      shape: { batch: PPO_SHAPE.batch, prompt_len: PPO_SHAPE.promptLen, prompt_real_tokens: `${PPO_SHAPE.minPrompt}..${PPO_SHAPE.promptLen}`, new_tokens: PPO_SHAPE.newTokens, seq_len: PPO_SHAPE.promptLen + PPO_SHAPE.newTokens },
      rows,
      losses_actor_critic_first: losses.map((x) => Math.round(x * 1e5) / 1e5),
      leaked_tensors: tf.memory().numTensors - before,
      peak_tensor_mb: round1(meter.peak / 2 ** 20),
      setup_s: round1(setupS),
      ...(messages.length ? { trainer_messages: messages.slice(0, 3) } : {}),
      backend: info.name, threads, wasm_threads: info.threads, matmul: matmulName(info.name), workload,
      step: 'PpoTrainer.generateExperience (greedy KV-cache generation, no EOS stop; actor/reference log-probs, reward score, critic values) + trainRlhf (rewards, GAE, clipped actor and critic updates, AdamW)',
    };
    // With --no-baseline (run.ts) the raw figures go out and run.ts merges rounds; alone, the row with PyTorch's figures.
    const row = baseline == null ? ours : ppoRow([ours], 'figures' in baseline ? [baseline.figures] : [], 'error' in baseline ? baseline.error : null);
    process.stdout.write(JSON.stringify(row) + '\n');
  } finally {
    await roles.dispose();
  }
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`bench ppo: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
