// Step 3's resumable checkpoints: every role's state plus the loop's position, RNGs, KL coefficient and last usable batch
// (under mpirun: rank 0 writes, with every other rank's own rollout stream, shuffle stream and last usable batch).
import * as path from 'node:path';
import {
  camelToSnake, defaultCommunicator, readRunConfig, readTrainerState, resolveCheckpoint, RunCheckpointError, RUN_CONFIG_FILE, TRAINER_STATE_FORMAT, writeCheckpoint,
  writeRunConfig, type Communicator, type Rng, type RngState, type TrainerState,
} from '@rlhfkit/core-tensor';
import { PPO_RESUME_MAY_CHANGE, PPO_RESUME_MUST_MATCH, type PpoConfig } from './config';
import { intFromRows, matrixRows } from './matrix';
import type { LastGenerated, PpoTrainer } from './ppo-trainer';

/** The loop's own position and streams (the roles keep theirs in their sub-folders). */
export interface PpoCheckpointState {
  /** Prompt batches done, across epochs. */
  globalStep: number;
  epoch: number;
  /** Prompt batches done in the current epoch. */
  stepInEpoch: number;
  /** MiniDataset shuffles between PPO epochs. */
  shuffle: Rng;
  emaReward: number | null;
  stepRewardSum: number;
}

type SavedGenerated = { prompts: number[][]; seq: number[][]; promptIndex: number[] } | null;

/** What differs between the ranks of a data-parallel run: each generates from its own prompts with its own streams. */
export interface PpoRankState {
  rolloutSeed: number;
  shuffle: RngState;
  lastGenerated: SavedGenerated;
}

interface PpoExtra {
  epoch: number;
  stepInEpoch: number;
  klCoef: number;
  rolloutSeed: number;
  emaReward: number | null;
  stepRewardSum: number;
  lastGenerated: SavedGenerated;
  /** Ranks 1.. of a data-parallel run (rank 0's are the fields above). */
  otherRanks?: PpoRankState[];
}

function savedGenerated(last: LastGenerated | null): SavedGenerated {
  return last ? { prompts: matrixRows(last.prompts), seq: matrixRows(last.seq), promptIndex: last.promptIndex } : null;
}

function loadedGenerated(last: SavedGenerated): LastGenerated | null {
  return last ? ({ prompts: intFromRows(last.prompts), seq: intFromRows(last.seq), promptIndex: last.promptIndex } satisfies LastGenerated) : null;
}

/** This rank's own streams, for rank 0's checkpoint. */
export function ppoRankState(trainer: PpoTrainer, s: PpoCheckpointState): PpoRankState {
  return { rolloutSeed: trainer.rolloutState, shuffle: s.shuffle.getState(), lastGenerated: savedGenerated(trainer.lastGenerated) };
}

/** Writes checkpoint-<step> (actor/, critic/, trainer_state.json, rlhfkit_config.json) atomically; returns its folder. */
export async function savePpoCheckpoint(trainer: PpoTrainer, c: PpoConfig, s: PpoCheckpointState, totalSteps: number, otherRanks?: PpoRankState[]): Promise<string> {
  const extra: PpoExtra = {
    epoch: s.epoch,
    stepInEpoch: s.stepInEpoch,
    klCoef: trainer.kl.value,
    rolloutSeed: trainer.rolloutState,
    emaReward: s.emaReward,
    stepRewardSum: s.stepRewardSum,
    lastGenerated: savedGenerated(trainer.lastGenerated),
    ...(otherRanks ? { otherRanks } : {}),
  };
  const state: TrainerState = {
    format: TRAINER_STATE_FORMAT,
    globalStep: s.globalStep,
    totalSteps,
    sampler: { epoch: s.epoch, step: s.stepInEpoch },
    // The actor's and critic's schedules are saved with their optimizers (actor/optimizer, critic/optimizer).
    scheduler: { name: c.lrSchedulerType, step: s.globalStep },
    rng: { shuffle: s.shuffle.getState() },
    extra: extra as unknown as Record<string, unknown>,
    savedAt: new Date().toISOString(),
  };
  return writeCheckpoint(
    c.outputDir,
    state,
    async (dir) => {
      await trainer.roles.actor.saveState(path.join(dir, 'actor'));
      await trainer.roles.critic?.saveState(path.join(dir, 'critic'));
      writeRunConfig(dir, 'ppo', c, { worldSize: (otherRanks?.length ?? 0) + 1 });
    },
    { keep: c.saveTotalLimit },
  );
}

/** Fails with the flags to fix when the checkpoint's run used other values for what must match. */
function checkResumeConfig(dir: string, c: PpoConfig, log: (l: string) => void, worldSize: number): void {
  const saved = readRunConfig(dir);
  if (saved.step !== 'ppo') throw new RunCheckpointError(`cannot resume step 3 from ${dir}: it is a checkpoint of '${saved.step}'`);
  const savedWorld = saved.world_size ?? 1;
  if (savedWorld !== worldSize) {
    throw new RunCheckpointError(
      `cannot resume from ${dir}: its run had ${savedWorld} data-parallel process(es) and this one has ${worldSize}; each rank's prompts depend on it. ` +
        `Resume with the same number (${savedWorld > 1 ? `mpirun -np ${savedWorld}` : 'one process, without mpirun'}), or start a new run`,
    );
  }
  const now = c as unknown as Record<string, unknown>;
  const differs = (k: string): boolean => JSON.stringify(saved.config[k]) !== JSON.stringify(now[k]);
  const bad = PPO_RESUME_MUST_MATCH.filter(differs);
  if (bad.length) {
    const list = bad.map((k) => `--${camelToSnake(k)} is ${JSON.stringify(now[k])} but the checkpoint's run used ${JSON.stringify(saved.config[k])}`).join('; ');
    throw new RunCheckpointError(`cannot resume from ${dir}: ${list}. Resume with the same values (see ${RUN_CONFIG_FILE} there), or start a new run`);
  }
  for (const k of PPO_RESUME_MAY_CHANGE.filter(differs)) log(`note: --${camelToSnake(k)} changed from ${JSON.stringify(saved.config[k])} to ${JSON.stringify(now[k])} since the checkpoint`);
}

/** Puts the roles, the trainer and the loop state back as checkpoint `c.resumeFromCheckpoint` has them; returns its folder. */
export async function restorePpoCheckpoint(
  trainer: PpoTrainer, c: PpoConfig, s: PpoCheckpointState, log: (l: string) => void, comm: Communicator = defaultCommunicator(),
): Promise<string> {
  const dir = resolveCheckpoint(c.resumeFromCheckpoint as string, c.outputDir);
  const st = readTrainerState(dir);
  checkResumeConfig(dir, c, log, comm.size);
  const extra = st.extra as unknown as PpoExtra;
  if (typeof extra?.klCoef !== 'number' || typeof extra.stepInEpoch !== 'number') {
    throw new RunCheckpointError(`${dir}: the trainer state has no step-3 fields; it is not a step-3 checkpoint`);
  }
  await trainer.roles.actor.loadState(path.join(dir, 'actor'));
  await trainer.roles.critic?.loadState(path.join(dir, 'critic'));
  s.globalStep = st.globalStep;
  s.epoch = extra.epoch;
  s.stepInEpoch = extra.stepInEpoch;
  s.shuffle.setState(st.rng.shuffle as RngState);
  s.emaReward = extra.emaReward;
  s.stepRewardSum = extra.stepRewardSum;
  trainer.kl.value = extra.klCoef;
  trainer.rolloutState = extra.rolloutSeed;
  trainer.lastGenerated = loadedGenerated(extra.lastGenerated);
  const mine = comm.rank > 0 ? extra.otherRanks?.[comm.rank - 1] : undefined;
  if (comm.rank > 0 && !mine) throw new RunCheckpointError(`${dir}: the checkpoint has no state for rank ${comm.rank}; it was not saved by a run of ${comm.size} ranks`);
  if (mine) {
    trainer.rolloutState = mine.rolloutSeed;
    s.shuffle.setState(mine.shuffle);
    trainer.lastGenerated = loadedGenerated(mine.lastGenerated);
  }
  return dir;
}
