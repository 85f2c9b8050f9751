// The step loop every trainer shares: epochs x micro-batches, accumulation, clipping, schedule, eval, metrics, checkpoints, resume, Ctrl-C;
// data parallel over the ranks of an mpirun (rank 0 writes, every decision agreed).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { allGatherJson, allReduceNumbers, anyRank, broadcastJson, type Communicator } from '../dist/communicator';
import { DataParallel, resolveZeroStage } from '../dist/data-parallel';
import { defaultCommunicator } from '../dist/mpi-communicator';
import { MetricsLogger, parseMetrics, type MetricValues } from '../metrics/metrics-logger';
import { Progress } from '../metrics/progress';
import { TensorBoardWriter } from '../metrics/tfevents';
import { GradientAccumulator } from '../train/grad-accum';
import { clipGradNorm } from '../train/grad-clip';
import {
  checkpointsDir, CHECKPOINT_PREFIX, loadOptimizerState, readOptimizerStateDict, readRunConfig, readTrainerState, resolveCheckpoint, RUN_CONFIG_FILE,
  RunCheckpointError, saveOptimizerState, saveOptimizerStateDict, TRAINER_STATE_FORMAT, writeCheckpoint, writeRunConfig, type TrainerState,
} from './checkpoint';
import { camelToSnake } from './flags';
import { claimOutputDir, type OutputDirClaim } from './output-dir';
import { NonFiniteLossError, type EvalPoint, type ResumableSampler, type TrainingLoopOptions, type TrainingResult, type TrainingTask } from './training-task';

/** Drops metrics.jsonl lines past `step` (from the part of an interrupted run after its last checkpoint). */
export function truncateMetricsAfter(file: string, step: number): number {
  if (!fs.existsSync(file)) return 0;
  const text = fs.readFileSync(file, 'utf8');
  const records = parseMetrics(text, file);
  const keep = records.filter((r) => r.step <= step);
  if (keep.length === records.length && text.endsWith('\n')) return 0;
  fs.writeFileSync(file, keep.map((r) => JSON.stringify(r) + '\n').join(''));
  return records.length - keep.length;
}

/** Lets the event loop run once (SIGINT/SIGTERM handlers, I/O callbacks); costs well under a millisecond. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

/** The key a rank other than 0 keeps its RNG stream under in a checkpoint (rank 0's keeps the plain name). */
function rankRngKey(name: string, rank: number): string {
  return rank === 0 ? name : `${name}@rank${rank}`;
}

function formatMetrics(m: MetricValues): string {
  return Object.entries(m).map(([k, v]) => `${k} ${Number.isFinite(v) ? +v.toPrecision(6) : v}`).join(', ');
}

/**
 * Runs a TrainingTask: per micro-batch, loss/accumulation; at every accumulation boundary (and at the end of
 * each epoch, which flushes a partial window) clip to maxGradNorm, AdamW step, scheduler step. The schedule
 * therefore has ceil(batches / accumulation) updates per epoch, as DeepSpeed-Chat computes it.
 *
 * With several ranks (mpirun), each rank trains on its own shard of the data (the task's sampler), rank 0's parameters
 * are broadcast at the start, the accumulated gradients are averaged with one all-reduce per optimizer step (ZeRO 1/2:
 * see DataParallel), the loss, token count and every stop decision (NaN, Ctrl-C, --max steps, end of data) are agreed
 * by all ranks, and only rank 0 prints, logs metrics and writes checkpoints.
 */
export class TrainingLoop<B> {
  private sampler: ResumableSampler;
  private stopRequested = false;
  private lastCheckpoint: string | null = null;
  private readonly log: (line: string) => void;
  private progress: Progress | null = null;
  private readonly comm: Communicator;
  private dp: DataParallel | null = null;

  constructor(private readonly task: TrainingTask<B>, private readonly o: TrainingLoopOptions) {
    this.sampler = task.sampler;
    this.comm = o.communicator ?? defaultCommunicator();
    const baseLog = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const quiet = this.comm.rank !== 0;
    this.log = (line) => (quiet ? undefined : this.progress && !o.log ? this.progress.log(line) : baseLog(line));
    if (!Number.isInteger(o.numEpochs) || o.numEpochs < 1) throw new RangeError(`num_train_epochs must be an integer >= 1, got ${o.numEpochs}`);
    const every = o.evalInterval ?? 0;
    if (!Number.isInteger(every) || every < 0) throw new RangeError(`eval_interval must be an integer >= 0, got ${o.evalInterval}`);
  }

  /** Ask the loop to stop at the next optimizer-step boundary (after saving a checkpoint). */
  requestStop(): void {
    this.stopRequested = true;
  }

  /**
   * Runs the task in o.outputDir, held through o.outputDirClaim, or else claimed here for the length of the run
   * (see claimOutputDir: one run per folder, no fresh run over a previous one, temp files cleaned).
   */
  async run(): Promise<TrainingResult> {
    const o = this.o;
    const given = o.outputDirClaim;
    if (given && given.dir !== path.resolve(o.outputDir)) {
      throw new Error(`TrainingLoop: outputDirClaim holds ${given.dir} but outputDir is ${path.resolve(o.outputDir)}`);
    }
    // --overwrite_output_dir from the option, else from the step's resolved config (every TrainingConfig has it).
    const overwrite = o.overwriteOutputDir ?? (o.config as { overwriteOutputDir?: boolean }).overwriteOutputDir;
    const claim = given ?? claimOutputDir(o.outputDir, { resume: o.resumeFromCheckpoint, overwrite, log: this.log });
    try {
      return await this.runClaimed(claim);
    } finally {
      if (!given) claim.release();
    }
  }

  private async runClaimed(claim: OutputDirClaim): Promise<TrainingResult> {
    const o = this.o;
    const task = this.task;
    const comm = this.comm;
    const dist = comm.size > 1;
    const rank0 = comm.rank === 0;
    const gas = o.gradientAccumulationSteps ?? 1;
    const maxGradNorm = o.maxGradNorm ?? 1.0;
    const saveSteps = o.saveSteps ?? 0;
    if (dist) {
      const st = this.sampler.state() as { worldSize?: unknown; rank?: unknown };
      if (st.worldSize !== comm.size || st.rank !== comm.rank) {
        throw new Error(`${o.stepName}: rank ${comm.rank} of ${comm.size}, but the task's sampler does not shard the data by rank (build it with rank and worldSize, as BatchSampler takes them)`);
      }
      const asked = o.zeroStage ?? (o.config as { zeroStage?: number }).zeroStage;
      this.dp = new DataParallel(comm, task.variables, task.optimizer, resolveZeroStage(asked, comm.size).stage);
    }

    let globalStep = 0;
    let resumedFrom: string | null = null;
    if (o.resumeFromCheckpoint) {
      // Rank 0 picks the checkpoint ('latest' skips damaged ones) and every rank loads that one.
      const spec = o.resumeFromCheckpoint;
      resumedFrom = dist ? broadcastJson(comm, rank0 ? resolveCheckpoint(spec, o.outputDir, { log: this.log }) : '') : resolveCheckpoint(spec, o.outputDir, { log: this.log });
      globalStep = await this.restore(resumedFrom);
      this.lastCheckpoint = resumedFrom;
      const dropped = rank0 ? truncateMetricsAfter(path.join(o.outputDir, 'metrics.jsonl'), globalStep) : 0;
      this.log(`resumed from ${resumedFrom} at step ${globalStep}${dropped ? ` (dropped ${dropped} metrics lines logged after it)` : ''}`);
    }
    this.dp?.broadcastParameters();
    const updatesPerEpoch = Math.ceil(this.sampler.batchesPerEpoch / gas);
    // --max_steps: stop after that many optimizer steps, saving as at the end of training.
    const maxSteps = (o.config as { maxSteps?: number | null }).maxSteps ?? null;
    const totalSteps = maxSteps !== null ? Math.min(updatesPerEpoch * o.numEpochs, maxSteps) : updatesPerEpoch * o.numEpochs;
    let reachedMax = maxSteps !== null && globalStep >= totalSteps;
    if (rank0) writeRunConfig(o.outputDir, o.stepName, o.config, { worldSize: comm.size });
    if (this.dp) {
      const m = this.dp.memory();
      const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
      this.log(
        `data parallel: ${comm.size} ranks, ZeRO stage ${this.dp.stage}, ${this.sampler.batchesPerEpoch} micro-batches per rank per epoch; ` +
          `per rank: parameters ${mib(m.parameters)}, reduced gradients ${mib(m.reducedGradients)}, optimizer state ${mib(m.optimizer)}`,
      );
    }

    const metrics = rank0 ? new MetricsLogger(o.outputDir, { tensorboard: false }) : null;
    const tb = o.tensorboardDir && rank0 ? new TensorBoardWriter(o.tensorboardDir) : null;
    const logMetrics = (step: number, values: MetricValues): void => {
      metrics?.log(step, values);
      tb?.addScalars(values, step);
    };
    if (tb && !resumedFrom) tb.addText('config', '```\n' + JSON.stringify(o.config, null, 2) + '\n```');
    const acc = new GradientAccumulator(gas);
    const result: TrainingResult = { status: 'completed', globalStep, totalSteps, losses: new Map(), evals: [], lastCheckpoint: this.lastCheckpoint, resumedFrom };
    if (this.dp) result.dataParallel = { worldSize: comm.size, zeroStage: this.dp.stage, memory: this.dp.memory() };
    // Under mpirun a graceful stop arrives as SIGUSR2 (mpirun forwards it; on SIGINT it aborts the job).
    const signals: NodeJS.Signals[] = o.handleSignals === false ? [] : dist ? ['SIGINT', 'SIGTERM', 'SIGUSR2'] : ['SIGINT', 'SIGTERM'];
    const onSignal = (sig: NodeJS.Signals): void => {
      this.stopRequested = true;
      // A second Ctrl-C gets Node's default behaviour (exit at once); the last complete checkpoint stays.
      for (const s of signals) process.off(s, onSignal);
      this.log(`\n${sig}: stopping after the current optimizer step and saving a checkpoint (press Ctrl-C again to quit at once)`);
    };
    for (const s of signals) process.on(s, onSignal);

    const evalInterval = o.evalInterval ?? 0;
    const what = o.evalName ? `Evaluating ${o.evalName}` : 'Evaluating';
    const evaluate = async (kind: EvalPoint['kind'], epochsDone: number): Promise<void> => {
      if (!task.evaluate) return;
      this.log(kind === 'interval' ? `Iter ${globalStep}: ${what}` : `***** ${what}, Epoch ${epochsDone}/${o.numEpochs} *****`);
      const t0 = performance.now();
      task.setTraining(false);
      const at: EvalPoint = { kind, step: globalStep, epoch: epochsDone };
      const values = await task.evaluate(at);
      task.setTraining(true);
      const all = { ...values, 'time/eval': (performance.now() - t0) / 1000 };
      logMetrics(globalStep, all);
      result.evals.push({ ...at, metrics: values });
      this.log(formatMetrics(values));
    };

    // With several ranks a stop takes effect only once every rank has agreed on it (after an optimizer step).
    let agreedStop = false;
    let nonFinite: { loss: number; epoch: number; step: number } | null = null;
    try {
      if (!resumedFrom && o.evalAtStart !== false) await evaluate('start', 0);
      task.setTraining(true);
      this.progress = rank0 ? new Progress({ total: totalSteps, label: o.stepName, startStep: globalStep, stream: o.progressStream }) : null;
      let windowLosses: number[] = [];
      let windowTokens = 0;
      let t0 = performance.now();
      for (;;) {
        if (reachedMax || ((dist ? agreedStop : this.stopRequested) && acc.microSteps === 0)) break;
        if (this.sampler.epochDone && this.sampler.state().epoch + 1 >= o.numEpochs) break;
        const mb = this.sampler.next();
        if (mb.step === 0) this.log(`Beginning of Epoch ${mb.epoch + 1}/${o.numEpochs}, Total Micro Batches ${this.sampler.batchesPerEpoch}`);
        const batch = task.makeBatch(mb.indices);
        const loss = acc.backward(() => task.loss(batch), task.variables);
        if (!Number.isFinite(loss)) {
          if (!dist) throw new NonFiniteLossError(globalStep + 1, mb.epoch, mb.step, `the loss is ${loss}`, this.lastCheckpoint);
          nonFinite ??= { loss, epoch: mb.epoch, step: mb.step };
        }
        if (o.printLoss) this.log(`Epoch: ${mb.epoch}, Step: ${mb.step}, loss = ${loss}`);
        windowLosses.push(loss);
        windowTokens += task.tokens(batch);
        const epochEnd = this.sampler.epochDone;
        if (!acc.isBoundary() && !epochEnd) continue;

        const lr = task.optimizer.getLr(0);
        let stepLoss = mean(windowLosses);
        let gradNorm: number;
        let commSeconds = 0;
        if (this.dp) {
          // One small float64 all-reduce agrees on the window's loss, tokens and any NaN before the gradients move.
          const [lossSum, count, tokens, bad] = allReduceNumbers(comm, [windowLosses.reduce((a, b) => a + b, 0), windowLosses.length, windowTokens, nonFinite ? 1 : 0]);
          if (bad > 0) {
            const where = nonFinite ? `the loss is ${nonFinite.loss} on rank ${comm.rank}` : `the loss is not finite on ${bad} of ${comm.size} ranks`;
            throw new NonFiniteLossError(globalStep + 1, nonFinite?.epoch ?? mb.epoch, nonFinite?.step ?? mb.step, where, this.lastCheckpoint);
          }
          stepLoss = lossSum / count;
          windowTokens = tokens;
          const r = this.dp.step(acc.grads(), maxGradNorm);
          if (!r.finite) throw new NonFiniteLossError(globalStep + 1, mb.epoch, mb.step, `the gradient norm is ${r.totalNorm}`, this.lastCheckpoint);
          gradNorm = r.totalNorm;
          commSeconds = r.commSeconds;
        } else {
          const clip = clipGradNorm(acc.grads(), maxGradNorm);
          if (!clip.finite) {
            throw new NonFiniteLossError(globalStep + 1, mb.epoch, mb.step, `the gradient norm is ${clip.totalNorm}`, this.lastCheckpoint);
          }
          task.optimizer.step(acc.grads());
          gradNorm = clip.totalNorm;
        }
        task.scheduler.step();
        acc.zeroGrad();
        globalStep += 1;
        result.globalStep = globalStep;
        const dt = (performance.now() - t0) / 1000;
        result.losses.set(globalStep, stepLoss);
        logMetrics(globalStep, {
          'train/loss': stepLoss,
          'train/lr': lr,
          'train/grad_norm': gradNorm,
          'train/epoch': mb.epoch + (mb.step + 1) / this.sampler.batchesPerEpoch,
          'train/tokens': windowTokens,
          'time/step': dt,
          'time/tokens_per_s': windowTokens / Math.max(dt, 1e-9),
          ...(dist ? { 'time/allreduce': commSeconds } : {}),
        });
        this.progress?.update(globalStep, { loss: stepLoss, lr, tokens: windowTokens });
        o.onStep?.({ step: globalStep, epoch: mb.epoch, loss: stepLoss, lr, gradNorm });
        windowLosses = [];
        windowTokens = 0;

        // Like DeepSpeed-Chat's step 2, an interval that falls on an epoch's last step evaluates twice.
        if (evalInterval > 0 && globalStep % evalInterval === 0) await evaluate('interval', mb.epoch);
        if (epochEnd) await evaluate('epoch', mb.epoch + 1);
        // The loop is synchronous between awaits; signal handlers run only when the event loop gets a turn.
        await yieldToEventLoop();
        const wantStop = this.stopRequested || (o.stopAfterSteps !== undefined && globalStep >= o.stopAfterSteps);
        const stopNow = dist ? anyRank(comm, wantStop) : wantStop;
        reachedMax = maxSteps !== null && globalStep >= totalSteps;
        if (epochEnd || reachedMax || (saveSteps > 0 && globalStep % saveSteps === 0) || stopNow) {
          if (rank0) claim.check();
          this.lastCheckpoint = await this.save(globalStep, totalSteps);
          // No rank goes on (or exits) before rank 0's checkpoint is complete.
          if (dist) comm.barrier();
          result.lastCheckpoint = this.lastCheckpoint;
          this.log(`saved checkpoint ${this.lastCheckpoint}`);
        }
        if (reachedMax) break;
        if (stopNow) {
          this.stopRequested = true;
          agreedStop = true;
          break;
        }
        t0 = performance.now();
      }
      const finished = reachedMax || (this.sampler.epochDone && this.sampler.state().epoch + 1 >= o.numEpochs);
      result.status = finished ? 'completed' : 'interrupted';
      this.progress?.done(
        result.status === 'completed'
          ? undefined
          : `stopped at step ${globalStep}/${totalSteps}; continue with --resume_from_checkpoint latest (resumeFromCheckpoint: 'latest'; last checkpoint: ${this.lastCheckpoint ?? 'none'})`,
      );
      return result;
    } finally {
      this.progress?.done();
      this.progress = null;
      acc.dispose();
      metrics?.close();
      tb?.close();
      this.dp?.dispose();
      this.dp = null;
      for (const s of signals) process.off(s, onSignal);
    }
  }

  /** Saves checkpoint-<step>: every rank takes part in gathering (ZeRO state, RNG streams), rank 0 writes. */
  private async save(globalStep: number, totalSteps: number): Promise<string> {
    const task = this.task;
    const comm = this.comm;
    const own: TrainerState['rng'] = {};
    for (const [name, r] of Object.entries(task.rngs ?? {})) own[name] = r.getState();
    const optimizerState = this.dp ? this.dp.optimizerState() : null;
    const rng: TrainerState['rng'] = {};
    allGatherJson(comm, own).forEach((states, r) => {
      for (const [name, st] of Object.entries(states)) rng[rankRngKey(name, r)] = st;
    });
    if (comm.rank !== 0) return path.join(checkpointsDir(this.o.outputDir), `${CHECKPOINT_PREFIX}${globalStep}`);
    const state: TrainerState = {
      format: TRAINER_STATE_FORMAT,
      globalStep,
      totalSteps,
      sampler: this.sampler.state(),
      scheduler: task.scheduler.stateDict(),
      rng,
      extra: task.extraState?.() ?? {},
      savedAt: new Date().toISOString(),
    };
    return writeCheckpoint(
      this.o.outputDir,
      state,
      async (dir) => {
        await task.saveModel(dir);
        if (optimizerState) saveOptimizerStateDict(dir, optimizerState);
        else saveOptimizerState(dir, task.optimizer);
        writeRunConfig(dir, this.o.stepName, this.o.config, { worldSize: comm.size });
      },
      { keep: this.o.saveTotalLimit ?? 0 },
    );
  }

  /** Compares the run's config with the one saved beside the checkpoint (see resumeMustMatch), and the number of ranks. */
  private checkResumeConfig(dir: string): void {
    const must = this.o.resumeMustMatch ?? [];
    const may = this.o.resumeMayChange ?? [];
    const savedRun = readRunConfig(dir);
    const savedWorld = savedRun.world_size ?? 1;
    if (savedWorld !== this.comm.size) {
      throw new RunCheckpointError(
        `cannot resume from ${dir}: its run had ${savedWorld} data-parallel process${savedWorld > 1 ? 'es' : ''} and this one has ${this.comm.size}; ` +
          `the data order depends on it. Resume with the same number (${savedWorld > 1 ? `mpirun -np ${savedWorld}` : 'one process, without mpirun'}), or start a new run`,
      );
    }
    if (must.length === 0 && may.length === 0) return;
    const saved = savedRun.config;
    const now = this.o.config as Record<string, unknown>;
    const differs = (k: string): boolean => JSON.stringify(saved[k]) !== JSON.stringify(now[k]);
    const bad = must.filter(differs);
    if (bad.length) {
      const list = bad.map((k) => `--${camelToSnake(k)} is ${JSON.stringify(now[k])} but the checkpoint's run used ${JSON.stringify(saved[k])}`).join('; ');
      throw new RunCheckpointError(`cannot resume from ${dir}: ${list}. Resume with the same values (see ${RUN_CONFIG_FILE} there), or start a new run`);
    }
    for (const k of may.filter(differs)) this.log(`note: --${camelToSnake(k)} changed from ${JSON.stringify(saved[k])} to ${JSON.stringify(now[k])} since the checkpoint`);
  }

  /** Puts model, optimizer, schedule, data position and RNGs back as the checkpoint has them; returns its step. */
  private async restore(dir: string): Promise<number> {
    const task = this.task;
    const rank = this.comm.rank;
    const state = readTrainerState(dir);
    this.checkResumeConfig(dir);
    await task.loadModel(dir);
    if (this.dp) this.dp.loadOptimizerState(readOptimizerStateDict(dir));
    else loadOptimizerState(dir, task.optimizer);
    task.scheduler.loadStateDict(state.scheduler);
    // The saved sampler position is rank 0's; every rank is at the same step of its own shard.
    const sampler = state.sampler as Record<string, unknown> | null;
    const own = this.comm.size > 1 && sampler && typeof sampler === 'object' && 'rank' in sampler ? { ...sampler, rank } : state.sampler;
    this.sampler = task.restoreSampler(own);
    for (const [name, r] of Object.entries(task.rngs ?? {})) {
      const s = state.rng[rankRngKey(name, rank)] ?? state.rng[name];
      if (!s) throw new Error(`${dir}: the checkpoint has no state for RNG '${name}' (it has: ${Object.keys(state.rng).join(', ') || 'none'})`);
      r.setState(s);
    }
    task.restoreExtraState?.(state.extra ?? {});
    return state.globalStep;
  }
}
