// PpoTrainer: DeepSpeed-Chat's DeepSpeedPPOTrainer over narrow roles — generate_experience, train_rlhf, train_unsupervised.
import * as path from 'node:path';
import { defaultCommunicator, withOutputDir, writeRunConfig, type OutputDirClaim, type ProgressStream } from '@rlhfkit/core-tensor';
import type { AdvantageEstimator, PpoConfig } from './config';
import type { EngineRoles } from './engine';
import { buildTargets, groupAdvantages } from './estimators';
import type { Experience } from './experience';
import { KlController } from './kl-controller';
import { engineMemoryMetrics } from './memory-report';
import { notEqualMask, pickRows, row, type IntMatrix } from './matrix';
import { DSCHAT_PPO, maskedWhiten, type PpoHyperParams } from './ppo-maths';
import { runPpoLoop, type PpoLoopResult, type PpoRoundInfo } from './ppo-loop';
import { setUpPpo, type PpoSetup } from './ppo-setup';
import type { RlhfTargets } from './rlhf-targets';
import type { LmBatch, RoleMemory, RolloutSettings, UpdateResult } from './roles';

/** How rollouts are generated and turned into rewards; everything beyond DeepSpeed-Chat is off by default. */
export interface PpoTrainerSettings {
  /** The tokenizer's pad id (DeepSpeed-Chat: eos for every non-LLaMA model). */
  padTokenId: number;
  /** Ids that end an answer (the actor's eos), for the EOS penalty. */
  eosTokenIds: number[];
  /** DeepSpeed-Chat's max_answer_seq_len. */
  maxAnswerSeqLen: number;
  /** Sampling settings (undefined fields: the actor's generation_config). */
  sampling?: Pick<RolloutSettings, 'doSample' | 'temperature' | 'topK' | 'topP' | 'repetitionPenalty'>;
  /** PPO constants (DeepSpeed-Chat's by default). klCtl is the starting value of the KL controller. */
  hyper?: Partial<PpoHyperParams>;
  /** Adaptive KL control: the target KL per answer (null/undefined: fixed klCtl) and the horizon. */
  klTarget?: number | null;
  klHorizon?: number;
  estimator?: AdvantageEstimator;
  /** Answers sampled per prompt (group estimators). */
  samplesPerPrompt?: number;
  klInLoss?: boolean;
  whitenRewards?: boolean;
  whitenAdvantages?: boolean;
  /** Subtracted from the score of an answer that never emitted EOS; null/undefined = none. */
  eosPenalty?: number | null;
  /** Seed of the rollout sampling stream. */
  seed?: number;
  /** Prints prompts and answers of every N-th step when set (DeepSpeed-Chat's --print_answers). */
  printAnswers?: { interval: number; decode: (rows: number[][]) => Promise<string[]> } | null;
  log?: (line: string) => void;
}

/** What one train_rlhf call reports. */
export interface RlhfStepResult {
  actorLoss: number;
  /** null without a critic. */
  criticLoss: number | null;
  actor: UpdateResult;
  critic: UpdateResult | null;
  targets: RlhfTargets;
}

/** Seconds spent in each phase: generate and score by the last generateExperience call, train by the last trainRlhf. */
export interface ExperienceTimes {
  generate: number;
  score: number;
  train: number;
}

/** The last batch whose answers were usable, reused when every answer of a batch is too short (DeepSpeed-Chat). */
export interface LastGenerated {
  prompts: IntMatrix;
  seq: IntMatrix;
  promptIndex: number[];
}

/** Options of a whole run (PpoTrainer.create + train), with the names SftTrainer and RewardTrainer use. */
export interface PpoTrainerOptions {
  /** Message lines (default: stderr). */
  log?: (line: string) => void;
  /** Progress line stream (default: stderr). */
  progressStream?: ProgressStream;
  /** Stop cleanly on Ctrl-C at the end of the current round (default true). */
  handleSignals?: boolean;
  /** Stop (with a checkpoint) after this many steps, as if interrupted. */
  stopAfterSteps?: number;
  /** Called after every training round. */
  onStep?: (info: PpoRoundInfo, trainer: PpoTrainer) => void;
  /**
   * The caller's claim on --output_dir (the CLI claims it before loading any model, so a second run is refused at
   * once); without one, train() claims the folder for the run and the final save, and releases it.
   */
  outputDirClaim?: OutputDirClaim;
}

export interface PpoResult extends PpoLoopResult {
  /** The --output_dir holding actor/, critic/ (and actor_ema/), or null when the run stopped early. */
  savedTo: string | null;
  /** Each role's memory at the end (bytes). */
  memory: Record<string, RoleMemory>;
}

function sameMatrix(a: IntMatrix, b: IntMatrix): boolean {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

function repeatRows(m: IntMatrix, n: number): IntMatrix {
  if (n === 1) return m;
  const idx: number[] = [];
  for (let i = 0; i < m.shape[0]; i++) for (let k = 0; k < n; k++) idx.push(i);
  return pickRows(m, idx);
}

/**
 * Step 3's trainer over any EngineRoles (in this heap or elsewhere). generateExperience() and trainRlhf() are
 * DeepSpeed-Chat's generate_experience and train_rlhf; the loop around them (PpoRun) is its main.py.
 */
export class PpoTrainer {
  readonly hyper: PpoHyperParams;
  readonly kl: KlController;
  readonly estimator: AdvantageEstimator;
  lastGenerated: LastGenerated | null = null;
  times: ExperienceTimes = { generate: 0, score: 0, train: 0 };
  readonly settings: Readonly<PpoTrainerSettings>;
  private readonly s: PpoTrainerSettings;
  private readonly log: (line: string) => void;
  private rolloutSeed: number;
  /** The next batch's generation, started while the current one was scored (generateExperience's `next`). */
  private prefetched: { prompts: IntMatrix; promptMask: IntMatrix; seq: Promise<IntMatrix> } | null = null;

  /** Set by create(): the config, engine and data of a whole run. */
  private setup: PpoSetup | null = null;
  private options: PpoTrainerOptions = {};

  /**
   * A whole step-3 run from a (partial) config, as DeepSpeed-Chat's main.py prepares it: tokenizer, prompts, unsupervised
   * data, the engine (actor, reference, EMA, critic, reward) and this trainer over it; then call train().
   */
  static async create(config: Partial<PpoConfig>, options: PpoTrainerOptions = {}): Promise<PpoTrainer> {
    const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const setup = await setUpPpo(config, log);
    const t = new PpoTrainer(setup.engine, setup.settings);
    t.setup = setup;
    t.options = options;
    return t;
  }

  /** The resolved config of a run made by create(). */
  get config(): PpoConfig {
    if (!this.setup) throw new Error('PpoTrainer.config: this trainer was built over roles, not by PpoTrainer.create(config)');
    return this.setup.config;
  }

  /** The run's setup (engine, data, num_total_iters) when made by create(). */
  get run(): PpoSetup | null {
    return this.setup;
  }

  /**
   * Runs the configured training (resuming if asked); when it completes, writes --output_dir/actor, /critic and, with
   * --enable_ema, /actor_ema as HF folders (LoRA fused), each with the run's config.
   */
  async train(): Promise<PpoResult> {
    const setup = this.setup;
    if (!setup) throw new Error('PpoTrainer.train(): build the trainer with PpoTrainer.create(config) (or drive generateExperience/trainRlhf yourself)');
    const c = setup.config;
    const held = this.options.outputDirClaim;
    return withOutputDir(c.outputDir, { resume: c.resumeFromCheckpoint, overwrite: c.overwriteOutputDir, log: this.log, held }, (claim) => this.trainClaimed(setup, claim));
  }

  private async trainClaimed(setup: PpoSetup, claim: OutputDirClaim): Promise<PpoResult> {
    const c = setup.config;
    const o = this.options;
    this.log('***** Running training *****');
    const r = await runPpoLoop(this, c, setup.data, {
      log: o.log,
      progressStream: o.progressStream,
      handleSignals: o.handleSignals,
      stopAfterSteps: o.stopAfterSteps,
      onStep: o.onStep ? (info) => o.onStep?.(info, this) : undefined,
      peakTensorBytes: () => setup.engine.peakTensorBytes(),
      extraMetrics: () => engineMemoryMetrics(setup.engine),
    });
    let savedTo: string | null = null;
    // Under mpirun every rank holds the same actor and critic; rank 0 writes them.
    if (r.status === 'completed' && defaultCommunicator().rank !== 0) savedTo = c.outputDir;
    else if (r.status === 'completed') {
      this.log('saving model ...');
      claim.check();
      const actorDir = path.join(c.outputDir, 'actor');
      const emaDir = c.enableEma ? path.join(c.outputDir, 'actor_ema') : undefined;
      await this.roles.actor.saveModel(actorDir, emaDir);
      writeRunConfig(actorDir, 'ppo', c);
      if (emaDir) writeRunConfig(emaDir, 'ppo', c);
      if (this.roles.critic) {
        await this.roles.critic.saveModel(path.join(c.outputDir, 'critic'));
        writeRunConfig(path.join(c.outputDir, 'critic'), 'ppo', c);
      }
      savedTo = c.outputDir;
    }
    return { ...r, savedTo, memory: await setup.engine.memory() };
  }

  /** Frees the engine's models (runs made by create()). */
  async dispose(): Promise<void> {
    await this.setup?.engine.dispose();
    this.setup = null;
  }

  constructor(readonly roles: EngineRoles, settings: PpoTrainerSettings) {
    this.s = settings;
    this.settings = settings;
    this.hyper = { ...DSCHAT_PPO, ...(settings.hyper ?? {}) };
    this.kl = new KlController(this.hyper.klCtl, settings.klTarget ?? null, settings.klHorizon ?? 10000);
    this.estimator = settings.estimator ?? 'gae';
    this.log = settings.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.rolloutSeed = (settings.seed ?? 1234) >>> 0;
    if (this.estimator === 'gae' && !roles.critic) throw new Error('PpoTrainer: GAE needs a critic role; build the engine with a critic or pick a critic-free estimator');
  }

  /** The rollout stream's position (saved with checkpoints). */
  get rolloutState(): number {
    return this.rolloutSeed;
  }

  set rolloutState(v: number) {
    this.rolloutSeed = v >>> 0;
  }

  private nextSeed(): number {
    // A SplitMix-style step: each rollout gets its own seed, and the stream is one number to save.
    this.rolloutSeed = (this.rolloutSeed + 0x9e3779b9) >>> 0;
    let z = this.rolloutSeed;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /**
   * DeepSpeed-Chat's generate_experience: eval mode, generate (answers of at most one real token are dropped with a printed
   * warning; if all are, the last usable batch is used again), training mode, then the actor's and reference's log-probs,
   * the reward model's end scores and the critic's values of `seq` with mask `seq != pad`. With `next` (the following prompt
   * batch of the same --generation_batches window, where the actor does not change), the actor starts generating it while
   * the others score this batch; the call for `next` then uses that generation (same seed, same result as without).
   */
  async generateExperience(prompts: IntMatrix, promptMask: IntMatrix, step: number, next?: { prompts: IntMatrix; mask: IntMatrix }): Promise<Experience> {
    const { actor, reference, critic, reward } = this.roles;
    const n = this.s.samplesPerPrompt ?? 1;
    const pad = this.s.padTokenId;
    const allPrompts = repeatRows(prompts, n);
    const allMask = repeatRows(promptMask, n);
    const promptIndexAll = Array.from({ length: allPrompts.shape[0] }, (_, i) => Math.floor(i / n));
    for (const r of [actor, reference, critic, reward]) await r?.setTraining(false);
    const t0 = performance.now();
    const seqAll = await this.rollout(prompts, promptMask);
    const t1 = performance.now();
    const p = allPrompts.shape[1];
    const [b, l] = seqAll.shape;
    const keep: number[] = [];
    for (let i = 0; i < b; i++) {
      const r = row(seqAll, i);
      let valid = 0;
      for (let t = p; t < l; t++) if (r[t] !== pad) valid++;
      if (valid > 1) keep.push(i);
    }
    if (this.s.printAnswers && step % this.s.printAnswers.interval === 0) await this.printAnswers(allPrompts, seqAll, step);
    let gen: LastGenerated;
    if (keep.length < b) {
      const dropped = b - keep.length;
      this.log(`Dropping ${dropped} too short generated answer${dropped > 1 ? 's' : ''} (at most one token that is not the pad id) at step=${step}`);
    }
    if (keep.length === 0) {
      if (!this.lastGenerated) throw new Error(`every generated answer at step ${step} is at most one token long and there is no earlier usable batch; start from a fine-tuned (step-1) actor`);
      this.log(`All generated results are too short at step=${step}: reusing the last usable batch`);
      gen = this.lastGenerated;
    } else {
      gen = { prompts: pickRows(allPrompts, keep), seq: keep.length === b ? seqAll : pickRows(seqAll, keep), promptIndex: keep.map((i) => promptIndexAll[i]) };
      this.lastGenerated = gen;
    }
    await actor.setTraining(true);
    await critic?.setTraining(true);
    const seq = gen.seq;
    const mask = notEqualMask(seq, pad);
    // The three scorers side by side (each in its own worker with --placement per_role), the actor's own log-probs first.
    const scoring = Promise.all([
      actor.logProbs(seq, mask),
      reference.logProbs(seq, mask),
      reward.score(seq, mask, gen.prompts.shape[1]),
      critic ? critic.values(seq, mask) : Promise.resolve(null),
    ]);
    // Within a generation window the actor does not change, so its next batch is generated while this one is scored.
    if (next) this.prefetched = { prompts: next.prompts, promptMask: next.mask, seq: this.startRollout(next.prompts, next.mask) };
    const [logprobs, refLogprobs, scores, values] = await scoring;
    this.times = { ...this.times, generate: (t1 - t0) / 1000, score: (performance.now() - t1) / 1000 };
    const rewards = this.shapeRewards(scores, gen);
    return {
      prompts: gen.prompts,
      inputIds: seq,
      attentionMask: mask,
      logprobs,
      refLogprobs,
      values,
      rewards,
      rawScores: scores,
      promptIndex: gen.promptIndex,
      rowAdvantages: this.estimator === 'gae' ? null : groupAdvantages(this.estimator, rewards, gen.promptIndex),
    };
  }

  /** Starts the actor's generation of one prompt batch (answers per prompt repeated), with the rollout stream's next seed. */
  private startRollout(prompts: IntMatrix, promptMask: IntMatrix): Promise<IntMatrix> {
    const n = this.s.samplesPerPrompt ?? 1;
    const settings: RolloutSettings = { ...(this.s.sampling ?? {}), maxNewTokens: this.s.maxAnswerSeqLen, padTokenId: this.s.padTokenId, seed: this.nextSeed() };
    return this.roles.actor.generate(repeatRows(prompts, n), repeatRows(promptMask, n), settings);
  }

  /** This batch's sequences: the prefetched generation when it was for these prompts, else a new one. */
  private rollout(prompts: IntMatrix, promptMask: IntMatrix): Promise<IntMatrix> {
    const p = this.prefetched;
    this.prefetched = null;
    if (p && sameMatrix(p.prompts, prompts) && sameMatrix(p.promptMask, promptMask)) return p.seq;
    if (p) p.seq.catch(() => undefined); // another batch came instead; its generation is not used
    return this.startRollout(prompts, promptMask);
  }

  /** rlhfkit's optional reward shaping: the EOS penalty, then whitening over the batch. */
  private shapeRewards(scores: Float32Array, gen: LastGenerated): Float32Array {
    const out = Float32Array.from(scores);
    const penalty = this.s.eosPenalty;
    if (penalty) {
      const p = gen.prompts.shape[1];
      const [b, l] = gen.seq.shape;
      const eos = new Set([...this.s.eosTokenIds, this.s.padTokenId]);
      for (let i = 0; i < b; i++) {
        const r = row(gen.seq, i);
        let ended = false;
        for (let t = p; t < l && !ended; t++) ended = eos.has(r[t]);
        if (!ended) out[i] -= penalty;
      }
    }
    return this.s.whitenRewards ? maskedWhiten(out, null) : out;
  }

  private async printAnswers(prompts: IntMatrix, seq: IntMatrix, step: number): Promise<void> {
    const pr = this.s.printAnswers!;
    const p = prompts.shape[1];
    const rows = (m: IntMatrix, from: number): number[][] => Array.from({ length: m.shape[0] }, (_, i) => Array.from(row(m, i).subarray(from)));
    const [ps, as] = await Promise.all([pr.decode(rows(prompts, 0)), pr.decode(rows(seq, p))]);
    this.log(`--- prompt --> step=${step}, ${JSON.stringify(ps)}`);
    this.log(`--- ans    --> step=${step}, ${JSON.stringify(as)}`);
  }

  /**
   * DeepSpeed-Chat's train_rlhf on one micro-batch: the targets (rewards with the KL penalty, zeroing past `ends`, GAE or a
   * critic-free estimator), then one actor update with the clipped surrogate and one critic update with the clipped value loss.
   */
  async trainRlhf(exp: Experience): Promise<RlhfStepResult> {
    const t0 = performance.now();
    const h = { ...this.hyper, klCtl: this.kl.value };
    const targets = buildTargets(exp, { ...h, estimator: this.estimator, klInLoss: this.s.klInLoss, whitenAdvantages: this.s.whitenAdvantages });
    const batch = { inputIds: exp.inputIds, attentionMask: exp.attentionMask, start: targets.start };
    const actor = await this.roles.actor.trainPolicy(
      { ...batch, oldLogprobs: targets.oldLogprobs, advantages: targets.advantages, actionMask: targets.actionMask, refLogprobs: this.s.klInLoss ? targets.refLogprobs : undefined },
      { cliprange: h.cliprange, klInLossCoef: this.s.klInLoss ? h.klCtl : 0 },
    );
    let critic: UpdateResult | null = null;
    if (this.roles.critic && targets.oldValues && targets.returns) {
      critic = await this.roles.critic.trainValue({ ...batch, oldValues: targets.oldValues, returns: targets.returns, actionMask: targets.actionMask }, h.cliprangeValue);
    }
    this.times = { ...this.times, train: (performance.now() - t0) / 1000 };
    return { actorLoss: actor.loss, criticLoss: critic?.loss ?? null, actor, critic, targets };
  }

  /** DeepSpeed-Chat's train_unsupervised: coef·LM loss on a block of text; returns the LM loss (without coef). */
  async trainUnsupervised(batch: LmBatch, coef: number): Promise<number> {
    return (await this.roles.actor.trainLm(batch, coef)).loss;
  }
}
