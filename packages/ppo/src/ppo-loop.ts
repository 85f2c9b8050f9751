// DeepSpeed-Chat step 3's main.py loop: prompt batches -> experience -> PPO epochs over micro-batches, EMA, unsupervised mixing,
// metrics, resumable checkpoints and Ctrl-C; under mpirun each rank generates from and trains on its own prompts (rank 0 writes).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  allGatherJson, allReduceNumbers, anyRank, broadcastJson, defaultCommunicator, MetricsLogger, Progress, resolveCheckpoint, Rng, TensorBoardWriter,
  truncateMetricsAfter, writeRunConfig, type Communicator, type MetricValues, type ProgressStream,
} from '@rlhfkit/core-tensor';
import { BatchSampler, collatePhase3, type Phase3Item } from '@rlhfkit/data';
import { PPO_TENSORBOARD_JOB, type PpoConfig } from './config';
import { experienceBuffer, MiniDataset, type Experience } from './experience';
import { onesMask, sliceRows, type IntMatrix } from './matrix';
import { ppoRankState, restorePpoCheckpoint, savePpoCheckpoint, type PpoCheckpointState } from './ppo-checkpoint';
import type { PpoTrainer } from './ppo-trainer';
import { experienceStats, mergeStats, type ExperienceStats } from './rlhf-targets';
import type { LmBatch } from './roles';

/** What one training round (generation_batches prompt batches, then PPO epochs) reports. */
export interface PpoRoundInfo {
  /** Steps (prompt batches) done, across epochs. */
  step: number;
  epoch: number;
  actorLoss: number;
  criticLoss: number | null;
  unsupLoss: number | null;
  stats: ExperienceStats;
  klCoef: number;
  emaReward: number;
  seconds: { generate: number; score: number; train: number };
}

export interface PpoLoopOptions {
  log?: (line: string) => void;
  progressStream?: ProgressStream;
  /** Stop cleanly on SIGINT/SIGTERM at the end of the current round, with a checkpoint (default true). */
  handleSignals?: boolean;
  /** Stop (with a checkpoint, status 'interrupted') after this many steps, as if interrupted. */
  stopAfterSteps?: number;
  onStep?: (info: PpoRoundInfo) => void;
  /** Largest tensor memory seen so far (bytes), for the `memory/peak_tensor_mb` metric. */
  peakTensorBytes?: () => number;
  /** More metrics logged with every round's (the engine's per-role memory peaks). */
  extraMetrics?: () => MetricValues;
  /** The ranks of a data-parallel run (default: Open MPI's under mpirun, else one process). */
  communicator?: Communicator;
}

export interface PpoLoopResult {
  status: 'completed' | 'interrupted';
  globalStep: number;
  totalSteps: number;
  rounds: PpoRoundInfo[];
  lastCheckpoint: string | null;
  resumedFrom: string | null;
}

/** The data a run iterates over. */
export interface PpoData {
  prompts: readonly Phase3Item[];
  /** [N, max_prompt + max_answer] unsupervised blocks, or null. */
  unsup: IntMatrix | null;
}

/** DeepSpeed-Chat's ExponentialMovingAverage of the reward (alpha 0.9), for its printed "EMA reward score". */
class RewardEma {
  value: number | null = null;
  update(x: number): void {
    this.value = this.value === null ? x : 0.9 * this.value + 0.1 * x;
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Left-padded prompt batch: DeepSpeed-Chat's DataCollatorRLHF, then (padTo 'longest') the all-pad columns on the left cut off. */
export function promptBatch(items: readonly Phase3Item[], c: Pick<PpoConfig, 'maxPromptSeqLen' | 'padTo'>, padTokenId: number): { prompt: IntMatrix; mask: IntMatrix } {
  const b = collatePhase3(items, { padTokenId, maxPromptSeqLen: c.maxPromptSeqLen });
  if (c.padTo === 'max_length') return { prompt: b.prompt, mask: b.promptAttentionMask };
  const [rows, cols] = b.prompt.shape;
  const longest = Math.max(...items.map((x) => x.promptIds.length));
  const cut = cols - longest;
  const slice = (m: IntMatrix): IntMatrix => {
    const data = new Int32Array(rows * longest);
    for (let i = 0; i < rows; i++) data.set(m.data.subarray(i * cols + cut, (i + 1) * cols), i * longest);
    return { data, shape: [rows, longest] };
  };
  return { prompt: slice(b.prompt), mask: slice(b.promptAttentionMask) };
}

/** This rank's batches of an epoch (DeepSpeed-Chat's DistributedSampler: every world-th index of the shuffled order). */
function samplerAt(size: number, batchSize: number, seed: number, epoch: number, comm: Communicator): BatchSampler {
  const s = new BatchSampler(size, { batchSize, shuffle: true, seed, rank: comm.rank, worldSize: comm.size });
  return BatchSampler.restore({ ...s.state(), epoch, step: 0 });
}

/**
 * Runs step 3 as DeepSpeed-Chat's main.py: per epoch, zip(prompt batches, unsupervised batches); each experience goes into a
 * MiniDataset of --generation_batches; when it is full, --ppo_epochs passes over its micro-batches (train_rlhf, then
 * train_unsupervised, then the EMA update), shuffling between passes. Checkpoints are taken between rounds.
 */
export async function runPpoLoop(trainer: PpoTrainer, c: PpoConfig, data: PpoData, o: PpoLoopOptions = {}): Promise<PpoLoopResult> {
  const comm = o.communicator ?? defaultCommunicator();
  const dist = comm.size > 1;
  const rank0 = comm.rank === 0;
  const baseLog = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  let progress: Progress | null = null;
  const log = (line: string): void => (!rank0 ? undefined : progress && !o.log ? progress.log(line) : baseLog(line));
  const genBs = c.perDeviceGenerationBatchSize;
  const unsupRows = data.unsup?.shape[0] ?? 0;
  const promptBatches = samplerAt(data.prompts.length, genBs, c.seed, 0, comm).batchesPerEpoch;
  const batchesPerEpoch = data.unsup ? Math.min(promptBatches, samplerAt(unsupRows, genBs, c.seed, 0, comm).batchesPerEpoch) : promptBatches;
  let totalSteps = batchesPerEpoch * c.numTrainEpochs;
  if (c.maxSteps !== null) totalSteps = Math.min(totalSteps, c.maxSteps);
  if (c.enableTestMode && c.testStopStep > 0) totalSteps = Math.min(totalSteps, c.testStopStep);
  const gasActor = c.gradientAccumulationSteps * (data.unsup ? 2 : 1);

  if (rank0) fs.mkdirSync(c.outputDir, { recursive: true });
  const state: PpoCheckpointState = {
    globalStep: 0,
    epoch: 0,
    stepInEpoch: 0,
    shuffle: new Rng(c.seed),
    emaReward: null,
    stepRewardSum: 0,
  };
  let resumedFrom: string | null = null;
  if (c.resumeFromCheckpoint) {
    // Rank 0 picks the checkpoint ('latest' skips damaged ones); every rank restores that one (its own rank's streams).
    const dir = dist ? broadcastJson(comm, rank0 ? resolveCheckpoint(c.resumeFromCheckpoint, c.outputDir, { log }) : '') : c.resumeFromCheckpoint;
    resumedFrom = await restorePpoCheckpoint(trainer, { ...c, resumeFromCheckpoint: dir }, state, log, comm);
    const dropped = rank0 ? truncateMetricsAfter(path.join(c.outputDir, 'metrics.jsonl'), state.globalStep) : 0;
    log(`resumed from ${resumedFrom} at step ${state.globalStep}${dropped ? ` (dropped ${dropped} metrics lines logged after it)` : ''}`);
  }
  if (rank0) writeRunConfig(c.outputDir, 'ppo', c, { worldSize: comm.size });
  if (dist) log(`data parallel: ${comm.size} ranks, each generating from its own ${batchesPerEpoch} prompt batches per epoch; actor and critic gradients averaged over the ranks`);
  const metrics = rank0 ? new MetricsLogger(c.outputDir, { tensorboard: false }) : null;
  const tb = c.enableTensorboard && rank0 ? new TensorBoardWriter(path.join(c.tensorboardPath, PPO_TENSORBOARD_JOB)) : null;
  const rewardEma = new RewardEma();
  rewardEma.value = state.emaReward;
  const result: PpoLoopResult = { status: 'completed', globalStep: state.globalStep, totalSteps, rounds: [], lastCheckpoint: resumedFrom, resumedFrom };
  let stopRequested = false;
  // Under mpirun a graceful stop arrives as SIGUSR2 (mpirun forwards it; on SIGINT it aborts the job).
  const signals: NodeJS.Signals[] = o.handleSignals === false ? [] : dist ? ['SIGINT', 'SIGTERM', 'SIGUSR2'] : ['SIGINT', 'SIGTERM'];
  const onSignal = (sig: NodeJS.Signals): void => {
    stopRequested = true;
    for (const s of signals) process.off(s, onSignal);
    log(`\n${sig}: stopping after the current PPO round and saving a checkpoint (press Ctrl-C again to quit at once)`);
  };
  for (const s of signals) process.on(s, onSignal);

  const expBuffer = experienceBuffer(c.generationBatches, c.perDeviceTrainingBatchSize);
  const lmBuffer = new MiniDataset<LmBatch>(c.generationBatches, c.perDeviceTrainingBatchSize, (b, s, e) => ({ inputIds: sliceRows(b.inputIds, s, e), attentionMask: sliceRows(b.attentionMask, s, e) }), (b) => b.inputIds.shape[0]);
  let roundStats: ExperienceStats[] = [];
  let roundTimes = { generate: 0, score: 0 };
  let promptSampler = samplerAt(data.prompts.length, genBs, c.seed, state.epoch, comm);
  let unsupSampler = data.unsup ? samplerAt(unsupRows, genBs, c.seed, state.epoch, comm) : null;
  for (let i = 0; i < state.stepInEpoch; i++) {
    promptSampler.next();
    unsupSampler?.next();
  }
  const padId = trainer.settings.padTokenId;
  const save = async (): Promise<void> => {
    // Every rank's own streams (rollout seed, shuffle, last usable batch) go into rank 0's checkpoint.
    const ranks = allGatherJson(comm, ppoRankState(trainer, state));
    if (rank0) {
      result.lastCheckpoint = await savePpoCheckpoint(trainer, c, state, totalSteps, dist ? ranks.slice(1) : undefined);
      log(`saved checkpoint ${result.lastCheckpoint}`);
    }
    // No rank goes on (or exits) before rank 0's checkpoint is complete.
    if (dist) comm.barrier();
  };

  try {
    progress = rank0 ? new Progress({ total: totalSteps, label: 'ppo', startStep: state.globalStep, stream: o.progressStream }) : null;
    while (state.globalStep < totalSteps) {
      if (state.stepInEpoch >= batchesPerEpoch) {
        state.epoch += 1;
        state.stepInEpoch = 0;
        promptSampler = samplerAt(data.prompts.length, genBs, c.seed, state.epoch, comm);
        unsupSampler = data.unsup ? samplerAt(unsupRows, genBs, c.seed, state.epoch, comm) : null;
      }
      if (state.stepInEpoch === 0) log(`Beginning of Epoch ${state.epoch + 1}/${c.numTrainEpochs}, Total Generation Batches ${batchesPerEpoch}`);
      const step = state.stepInEpoch;
      const batch = promptBatch(promptSampler.next().indices.map((i) => data.prompts[i]), c, padId);
      // Within a --generation_batches window the actor does not change: its next batch may be generated while this one is scored.
      const nextInWindow = expBuffer.length + 1 < c.generationBatches && state.globalStep + 1 < totalSteps && state.stepInEpoch + 1 < batchesPerEpoch;
      const next = nextInWindow ? promptBatch(BatchSampler.restore(promptSampler.state()).next().indices.map((i) => data.prompts[i]), c, padId) : undefined;
      const exp = await trainer.generateExperience(batch.prompt, batch.mask, step, next && { prompts: next.prompt, mask: next.mask });
      roundStats.push(experienceStats(exp));
      roundTimes = { generate: roundTimes.generate + trainer.times.generate, score: roundTimes.score + trainer.times.score };
      let lm: LmBatch[] | null = null;
      if (data.unsup && unsupSampler) {
        const rows = unsupSampler.next().indices;
        const ids: IntMatrix = { data: new Int32Array(rows.length * data.unsup.shape[1]), shape: [rows.length, data.unsup.shape[1]] };
        rows.forEach((r, i) => ids.data.set(data.unsup!.data.subarray(r * data.unsup!.shape[1], (r + 1) * data.unsup!.shape[1]), i * data.unsup!.shape[1]));
        lm = lmBuffer.add({ inputIds: ids, attentionMask: onesMask(rows.length, ids.shape[1]) });
      }
      const mbs = expBuffer.add(exp);
      state.globalStep += 1;
      state.stepInEpoch += 1;
      if (mbs) {
        const info = await trainRound(trainer, c, mbs, lm, state, log, comm);
        const stats = dist ? mergeStats(allGatherJson(comm, mergeStats(roundStats))) : mergeStats(roundStats);
        trainer.kl.update(stats.kl, stats.rows);
        // DeepSpeed-Chat: average_reward accumulates per step and feeds its EMA every gradient_accumulation_steps_actor steps.
        state.stepRewardSum += info.averageReward / gasActor;
        if (step % gasActor === gasActor - 1 || gasActor === 1) {
          rewardEma.update(state.stepRewardSum);
          state.stepRewardSum = 0;
        }
        state.emaReward = rewardEma.value;
        const round: PpoRoundInfo = {
          step: state.globalStep, epoch: state.epoch, actorLoss: info.actorLoss, criticLoss: info.criticLoss, unsupLoss: info.unsupLoss, stats,
          klCoef: trainer.kl.value, emaReward: rewardEma.value ?? 0, seconds: { ...roundTimes, train: info.seconds },
        };
        result.rounds.push(round);
        const values = { ...roundMetrics(round, info, o.peakTensorBytes?.() ?? 0), ...(o.extraMetrics?.() ?? {}) };
        metrics?.log(state.globalStep, values);
        tb?.addScalars(values, state.globalStep);
        log(
          `Epoch: ${state.epoch} | Step: ${step} | PPO Epoch: ${c.ppoEpochs} | Actor Loss: ${info.actorLoss} | Critic Loss: ${info.criticLoss ?? '-'} | ` +
            `Unsupervised Loss: ${info.unsupLoss ?? 0}`,
        );
        log(`Average reward score: ${info.averageReward} | EMA reward score: ${rewardEma.value ?? 0} | KL: ${stats.kl.toFixed(4)} | answer length: ${stats.answerLength.toFixed(1)}`);
        progress?.update(state.globalStep, { loss: info.actorLoss, lr: info.actorLr, tokens: Math.round(stats.answerLength * stats.rows) });
        o.onStep?.(round);
        roundStats = [];
        roundTimes = { generate: 0, score: 0 };
      }
      result.globalStep = state.globalStep;
      await yieldToEventLoop();
      const atRoundEnd = expBuffer.length === 0;
      const wantStop = stopRequested || (o.stopAfterSteps !== undefined && state.globalStep >= o.stopAfterSteps);
      const interrupt = dist ? anyRank(comm, wantStop) : wantStop;
      if (atRoundEnd && (interrupt || (c.saveSteps > 0 && state.globalStep % c.saveSteps === 0 && state.globalStep < totalSteps))) await save();
      if (atRoundEnd && interrupt) {
        result.status = 'interrupted';
        break;
      }
    }
    if (result.status === 'interrupted') {
      progress?.done(`stopped at step ${state.globalStep}/${totalSteps}; continue with --resume_from_checkpoint latest (resumeFromCheckpoint: 'latest'; last checkpoint: ${result.lastCheckpoint ?? 'none'})`);
    } else {
      if (expBuffer.length) log(`note: ${expBuffer.length} generated batch(es) of an unfinished round were not trained on (the run ended mid-round, as DeepSpeed-Chat's test mode does)`);
      progress?.done();
    }
    return result;
  } finally {
    progress?.done();
    progress = null;
    metrics?.close();
    tb?.close();
    for (const s of signals) process.off(s, onSignal);
  }
}

interface RoundTotals {
  actorLoss: number;
  criticLoss: number | null;
  unsupLoss: number | null;
  averageReward: number;
  seconds: number;
  actorLr: number;
  criticLr: number | null;
  actorGradNorm: number | null;
}

/**
 * --ppo_epochs passes over one round's micro-batches (train_rlhf, train_unsupervised, EMA), shuffled between passes. Under
 * mpirun every rank trains on as many micro-batches as the rank with the fewest (answers dropped as too short can leave
 * a rank fewer), so each optimizer step's all-reduce is joined by all; the losses reported are means over the ranks.
 */
async function trainRound(
  trainer: PpoTrainer, c: PpoConfig, mbs: Experience[], lm: LmBatch[] | null, state: PpoCheckpointState, log: (l: string) => void, comm: Communicator,
): Promise<RoundTotals> {
  const t0 = performance.now();
  let actorSum = 0;
  let criticSum = 0;
  let unsupSum = 0;
  let rewardSum = 0;
  let inner = 0;
  let actorLr = NaN;
  let criticLr: number | null = null;
  let actorGradNorm: number | null = null;
  const lmList = lm ? [...lm] : null;
  for (let ep = 0; ep < c.ppoEpochs; ep++) {
    const mine = lmList ? Math.min(mbs.length, lmList.length) : mbs.length;
    const n = comm.size > 1 ? allReduceNumbers(comm, [mine], 'min')[0] : mine;
    for (let i = 0; i < n; i++) {
      const r = await trainer.trainRlhf(mbs[i]);
      actorSum += r.actorLoss;
      criticSum += r.criticLoss ?? 0;
      rewardSum += mbs[i].rewards.reduce((a, x) => a + x, 0) / Math.max(1, mbs[i].rewards.length);
      if (r.actor.stepped) {
        actorLr = r.actor.lr ?? actorLr;
        actorGradNorm = r.actor.gradNorm ?? null;
      }
      if (r.critic?.stepped) criticLr = r.critic.lr ?? criticLr;
      if (lmList) unsupSum += await trainer.trainUnsupervised(lmList[i], c.unsupCoef);
      inner++;
      if (c.enableEma) await trainer.roles.actor.updateEma(c.emaBeta);
    }
    state.shuffle.shuffle(mbs);
    if (lmList) state.shuffle.shuffle(lmList);
  }
  if (inner === 0) log('note: this round had no micro-batch to train on');
  const d = Math.max(1, inner);
  // DeepSpeed-Chat's get_all_reduce_mean of the reported numbers.
  const [actorMean, criticMean, unsupMean, rewardMean] = allReduceNumbers(comm, [actorSum / d, criticSum / d, unsupSum / d, rewardSum / d]).map((x) => x / comm.size);
  return {
    actorLoss: actorMean,
    criticLoss: trainer.roles.critic ? criticMean : null,
    unsupLoss: lmList ? unsupMean : null,
    averageReward: rewardMean,
    seconds: (performance.now() - t0) / 1000,
    actorLr,
    criticLr,
    actorGradNorm,
  };
}

function roundMetrics(r: PpoRoundInfo, t: RoundTotals, peakBytes: number): MetricValues {
  const m: MetricValues = {
    'ppo/actor_loss': r.actorLoss,
    'ppo/reward_score': r.stats.score,
    'ppo/reward': r.stats.reward,
    'ppo/kl': r.stats.kl,
    'ppo/kl_coef': r.klCoef,
    'ppo/answer_length': r.stats.answerLength,
    'ppo/ema_reward': r.emaReward,
    'time/generate': r.seconds.generate,
    'time/score': r.seconds.score,
    'time/train': r.seconds.train,
    'time/step': r.seconds.generate + r.seconds.score + r.seconds.train,
    'memory/peak_tensor_mb': peakBytes / 2 ** 20,
    'memory/rss_mb': process.memoryUsage().rss / 2 ** 20,
  };
  if (r.criticLoss !== null) m['ppo/critic_loss'] = r.criticLoss;
  if (r.unsupLoss !== null) m['ppo/unsup_loss'] = r.unsupLoss;
  if (Number.isFinite(t.actorLr)) m['train/actor_lr'] = t.actorLr;
  if (t.criticLr !== null) m['train/critic_lr'] = t.criticLr;
  if (t.actorGradNorm !== null) m['train/actor_grad_norm'] = t.actorGradNorm;
  return m;
}
