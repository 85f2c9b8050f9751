// Resumable run checkpoints: <output>/checkpoints/checkpoint-<step>, written to a temp folder then renamed, newest N kept.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../io/file-io';
import { readSafetensors, readSafetensorsHeaderFull, writeSafetensors } from '../io/safetensors';
import { removeTempsIn, trackTemp } from '../io/temp-files';
import type { RngState } from '../rng';
import { worldFromEnv } from '../dist/world';
import { joinAdamWState, splitAdamWState, type AdamW, type AdamWStateDict, type ParamGroup } from '../train/adamw';
import type { LrSchedulerState } from '../train/lr-schedule';

export const CHECKPOINTS_DIR = 'checkpoints';
export const CHECKPOINT_PREFIX = 'checkpoint-';
/** Written last inside a checkpoint: a folder without it was never completed. */
export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_TENSORS_FILE = 'optimizer.safetensors';
export const OPTIMIZER_META_FILE = 'optimizer.json';
/** The resolved config of the run, beside every checkpoint and the final model. */
export const RUN_CONFIG_FILE = 'rlhfkit_config.json';
const TEMP_PREFIX = '.tmp-';
export const TRAINER_STATE_FORMAT = 1;

/** Everything besides tensors that a resumed run needs to continue exactly. */
export interface TrainerState {
  format: number;
  /** Optimizer updates done. */
  globalStep: number;
  /** Updates the whole run makes (for progress and the schedule). */
  totalSteps: number;
  /** The data sampler's own state (position in the current epoch's order). */
  sampler: unknown;
  scheduler: LrSchedulerState;
  /** Named RNG streams (dropout, ...). */
  rng: Record<string, RngState>;
  /** State the step keeps for itself (JSON). */
  extra: Record<string, unknown>;
  /** ISO time of the save. */
  savedAt: string;
}

export interface CheckpointInfo {
  dir: string;
  step: number;
}

/** An error about checkpoints a user can act on. */
export class RunCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunCheckpointError';
  }
}

export function checkpointsDir(outputDir: string): string {
  return path.join(outputDir, CHECKPOINTS_DIR);
}

function stepOf(name: string): number | null {
  if (!name.startsWith(CHECKPOINT_PREFIX)) return null;
  const s = name.slice(CHECKPOINT_PREFIX.length);
  return /^\d+$/.test(s) ? Number(s) : null;
}

/** Complete checkpoints under <outputDir>/checkpoints, oldest first. */
export function listCheckpoints(outputDir: string): CheckpointInfo[] {
  const root = checkpointsDir(outputDir);
  if (!fs.existsSync(root)) return [];
  const out: CheckpointInfo[] = [];
  for (const name of fs.readdirSync(root)) {
    const step = stepOf(name);
    const dir = path.join(root, name);
    if (step !== null && fs.existsSync(path.join(dir, TRAINER_STATE_FILE))) out.push({ dir, step });
  }
  return out.sort((a, b) => a.step - b.step);
}

/**
 * Temp folders under <outputDir>/checkpoints left by runs killed while saving (never complete): those of processes
 * that are gone are deleted; a live process's (another run still saving) are left alone. Returns the names deleted.
 */
export function removeStaleTemps(outputDir: string): string[] {
  return removeTempsIn(checkpointsDir(outputDir), 'dead').removed;
}

/**
 * What is wrong with a checkpoint folder, or null when it looks complete: its trainer state must parse, and every
 * JSON file in it (sub-folders too) must parse and every safetensors file must hold the bytes its header declares.
 * Files a step may or may not write are not required, so this fits every step's layout.
 */
export function checkpointProblem(dir: string): string | null {
  try {
    readTrainerState(dir);
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === OPTIMIZER_META_FILE) checkOptimizerMeta(readRunJson(p, 'the optimizer state'), p);
        else if (e.name.endsWith('.json')) readRunJson(p, e.name);
        else if (e.name.endsWith('.safetensors')) readSafetensorsHeaderFull(p);
      }
    };
    walk(dir);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export interface ResolveCheckpointOptions {
  /** Where 'latest' says which damaged checkpoints it skipped (default: stderr). */
  log?: (line: string) => void;
}

/**
 * `--resume_from_checkpoint`: 'latest' (the newest complete checkpoint under outputDir that is not damaged; each one
 * skipped is named in a printed line) or a checkpoint folder (an error when it is damaged).
 */
export function resolveCheckpoint(spec: string, outputDir: string, opts: ResolveCheckpointOptions = {}): string {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (spec === 'latest') {
    const all = listCheckpoints(outputDir);
    if (all.length === 0) {
      throw new RunCheckpointError(
        `--resume_from_checkpoint latest: no complete checkpoint in ${checkpointsDir(outputDir)}; ` +
          'start without --resume_from_checkpoint, or point it at a checkpoint-<step> folder',
      );
    }
    const skipped: string[] = [];
    for (const c of all.reverse()) {
      const problem = checkpointProblem(c.dir);
      if (problem === null) return c.dir;
      log(`--resume_from_checkpoint latest: skipping damaged ${c.dir} (${problem})`);
      skipped.push(path.basename(c.dir));
    }
    throw new RunCheckpointError(
      `--resume_from_checkpoint latest: every checkpoint in ${checkpointsDir(outputDir)} is damaged (${skipped.join(', ')}); ` +
        'start a new run with --overwrite_output_dir, or repair one of them',
    );
  }
  const dir = path.resolve(spec);
  if (!fs.existsSync(dir)) throw new RunCheckpointError(`--resume_from_checkpoint ${spec}: no such folder`);
  if (!fs.existsSync(path.join(dir, TRAINER_STATE_FILE))) {
    const inner = listCheckpoints(dir.endsWith(CHECKPOINTS_DIR) ? path.dirname(dir) : dir);
    const hint = inner.length ? ` It looks like an output folder; use ${inner[inner.length - 1].dir}, or 'latest' with --output_dir ${dir}` : '';
    throw new RunCheckpointError(`--resume_from_checkpoint ${spec}: ${dir} has no ${TRAINER_STATE_FILE}, so it is not a complete rlhfkit checkpoint.${hint}`);
  }
  const problem = checkpointProblem(dir);
  if (problem !== null) throw new RunCheckpointError(`--resume_from_checkpoint ${spec}: the checkpoint is damaged: ${problem}`);
  return dir;
}

function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, [Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8')]);
}

function readRunJson<T>(file: string, what: string): T {
  return readJsonFile<T>(file, {
    what, hint: 'the checkpoint is damaged, resume from an older one', error: (detail) => new RunCheckpointError(`${file}: ${detail}`),
  });
}

/**
 * Writes the resolved config (what `--help` flags resolved to) as JSON, with the number of data-parallel processes of
 * the run (`world_size`; default: mpirun's, else 1).
 */
export function writeRunConfig(dir: string, step: string, config: object, opts: { worldSize?: number } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, RUN_CONFIG_FILE), { step, config, world_size: opts.worldSize ?? worldFromEnv().size });
}

/** The saved run config; `world_size` is absent in folders written before data parallelism (they were one process). */
export function readRunConfig(dir: string): { step: string; config: Record<string, unknown>; world_size?: number } {
  return readRunJson(path.join(dir, RUN_CONFIG_FILE), 'the run config');
}

/** AdamW state as optimizer.safetensors (moments) + optimizer.json (groups, per-parameter step counts). */
export function saveOptimizerState(dir: string, optimizer: AdamW): void {
  saveOptimizerStateDict(dir, optimizer.stateDict());
}

/** saveOptimizerState for a state dict already in hand (ZeRO's, gathered from every rank). */
export function saveOptimizerStateDict(dir: string, sd: AdamWStateDict): void {
  const { meta, tensors } = splitAdamWState(sd);
  writeSafetensors(path.join(dir, OPTIMIZER_TENSORS_FILE), tensors, { format: 'rlhfkit-adamw' });
  writeJson(path.join(dir, OPTIMIZER_META_FILE), meta);
}

interface OptimizerMeta {
  groups: ParamGroup[];
  steps: Record<string, number>;
}

/** optimizer.json must hold a 'groups' list and a 'steps' map (`{}` would fail deep inside the optimizer). */
function checkOptimizerMeta(meta: unknown, file: string): OptimizerMeta {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(meta) || !Array.isArray(meta.groups) || !isMap(meta.steps)) {
    throw new RunCheckpointError(
      `${file}: the optimizer state needs a 'groups' list and a 'steps' map, found ${JSON.stringify(meta).slice(0, 80)}; ` +
        'the checkpoint is damaged, resume from an older one',
    );
  }
  return meta as unknown as OptimizerMeta;
}

export function loadOptimizerState(dir: string, optimizer: AdamW): void {
  optimizer.loadStateDict(readOptimizerStateDict(dir));
}

/** The AdamW state dict that saveOptimizerState wrote. */
export function readOptimizerStateDict(dir: string): AdamWStateDict {
  const metaFile = path.join(dir, OPTIMIZER_META_FILE);
  const meta = checkOptimizerMeta(readRunJson<unknown>(metaFile, 'the optimizer state'), metaFile);
  const file = path.join(dir, OPTIMIZER_TENSORS_FILE);
  const tensors = Object.keys(meta.steps).length ? readSafetensors(file) : new Map();
  return joinAdamWState(meta, tensors);
}

export function readTrainerState(dir: string): TrainerState {
  const s = readRunJson<TrainerState>(path.join(dir, TRAINER_STATE_FILE), 'the trainer state');
  if (s.format !== TRAINER_STATE_FORMAT || !Number.isInteger(s.globalStep)) {
    throw new RunCheckpointError(`${dir}/${TRAINER_STATE_FILE}: unknown format ${String(s.format)}; it was written by another rlhfkit version`);
  }
  return s;
}

export interface WriteCheckpointOptions {
  /** Keep the newest N checkpoints (0 keeps all). */
  keep: number;
}

/**
 * Saves checkpoint-<step> atomically: `write(tmp)` fills a temp folder (model, optimizer, ...), then the trainer
 * state goes in last and the folder is renamed into place. A crash at any moment leaves either the previous
 * checkpoints or the new one complete, never a half-written folder under a checkpoint name.
 */
export async function writeCheckpoint(
  outputDir: string,
  state: TrainerState,
  write: (tmpDir: string) => Promise<void> | void,
  options: WriteCheckpointOptions,
): Promise<string> {
  const root = checkpointsDir(outputDir);
  fs.mkdirSync(root, { recursive: true });
  const tmp = path.join(root, `${TEMP_PREFIX}${CHECKPOINT_PREFIX}${state.globalStep}-${process.pid}`);
  // Tracked until renamed: an exit while the model is being written (second Ctrl-C, process.exit) removes it.
  const untrack = trackTemp(tmp);
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    try {
      await write(tmp);
      writeJson(path.join(tmp, TRAINER_STATE_FILE), state);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    const final = path.join(root, `${CHECKPOINT_PREFIX}${state.globalStep}`);
    if (fs.existsSync(final)) {
      // Same step saved again (e.g. a resumed run stopped at once): swap, then drop the old copy.
      const old = path.join(root, `${TEMP_PREFIX}old-${state.globalStep}-${process.pid}`);
      const untrackOld = trackTemp(old);
      fs.renameSync(final, old);
      fs.renameSync(tmp, final);
      fs.rmSync(old, { recursive: true, force: true });
      untrackOld();
    } else {
      fs.renameSync(tmp, final);
    }
  } finally {
    untrack();
  }
  const final = path.join(root, `${CHECKPOINT_PREFIX}${state.globalStep}`);
  pruneCheckpoints(outputDir, options.keep);
  return final;
}

/** Deletes all but the newest `keep` checkpoints (0 keeps all). */
export function pruneCheckpoints(outputDir: string, keep: number): string[] {
  if (!(keep > 0)) return [];
  const all = listCheckpoints(outputDir);
  const drop = all.slice(0, Math.max(0, all.length - keep));
  for (const c of drop) fs.rmSync(c.dir, { recursive: true, force: true });
  return drop.map((c) => c.dir);
}
