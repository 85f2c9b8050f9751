// Spec helpers for DPO: the DeepSpeed-Chat goldens and hf-reference models, a tiny OPT folder, a fast DpoConfig on the demo data.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTinyModel, initBackend } from '@rlhfkit/core-tensor';
import { DEMO_VERSION, ensureDemoDataset } from '@rlhfkit/data';
import type { DpoConfig } from './config';
import type { DpoTrainerOptions } from './trainer';

/** ../shared/fixtures/hf-reference from the repo root (never copied into the repo). */
export const HF_REFERENCE = path.resolve(__dirname, '../../../../shared/fixtures/hf-reference');
/** Written by tools/dpo-fixtures/generate.py (DeepSpeed-Chat's own DPO code on the hf-reference models). */
export const DPO_GOLDEN = path.resolve(__dirname, '../test/fixtures/dpo-golden.json');

export interface GoldenSetting {
  beta: number;
  label_smoothing: number;
  loss: number;
  chosen_rewards_mean: number;
  rejected_rewards_mean: number;
  chosen_rewards: number[];
  rejected_rewards: number[];
  z: number[];
}

export interface GoldenCase {
  note: string;
  /** Folders under hf-reference. */
  policy: string;
  reference: string;
  pad_token_id: number;
  pairs: string[];
  input_ids: number[][];
  attention_mask: number[][];
  label_mask: number[][];
  divergence_ind: number[];
  policy_logps: number[];
  ref_logps: number[];
  settings: GoldenSetting[];
  policy_grad: {
    beta: number;
    label_smoothing: number;
    total_l2_norm: number;
    tensors: Record<string, { l2_norm: number; shape: number[]; first_values: number[] }>;
  };
}

export interface DpoGolden {
  versions: Record<string, unknown>;
  seq_len: number;
  cases: Record<'opt_pad_eq_eos' | 'opt_pad1' | 'llama', GoldenCase>;
}

export function readDpoGolden(): DpoGolden {
  return JSON.parse(fs.readFileSync(DPO_GOLDEN, 'utf8')) as DpoGolden;
}

/** True when the hf-reference models are there; otherwise prints why the parity specs are skipped. */
export function hfReferencePresent(): boolean {
  const ok = ['opt', 'opt-proj', 'llama', 'gpt2'].every((m) => fs.existsSync(path.join(HF_REFERENCE, m, 'model.safetensors')));
  if (!ok) console.warn(`[skip] hf-reference models not found at ${HF_REFERENCE}; DPO parity specs are skipped`);
  return ok;
}

export function makeTempDir(prefix = 'rlhfkit-dpo-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The demo dataset at the size these specs were written for (4000 train / 400 test pairs; the built-in default is larger),
 * in the temp folder, built once per recipe version and shared by every spec (the build is atomic).
 */
export const TEST_DEMO = path.join(os.tmpdir(), `rlhfkit-specs-demo-v${DEMO_VERSION}`, 'rlhfkit', 'demo');

export function ensureTestDemo(): Promise<string> {
  return ensureDemoDataset(TEST_DEMO, { trainPairs: 4000, testPairs: 400 });
}

/** Starts the wasm backend once per spec file. */
export async function useWasm(): Promise<void> {
  await initBackend({ backend: 'wasm', quiet: true });
}

/** A 2-layer OPT (d 32, vocab 1264, no dropout) written once under `root`. */
export async function tinyOpt(root: string, name = 'tiny-opt'): Promise<string> {
  await ensureTestDemo();
  const dir = path.join(root, name);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    await createTinyModel(dir, { arch: 'opt', hiddenSize: 32, layers: 2, heads: 2, merges: 1000, maxPositions: 64, dropout: 0, seed: 1 });
  }
  return dir;
}

/** DPO on the built-in demo data, sized to run in seconds: --data_split 9,1,0 gives phase 2 400 train / 40 eval pairs. */
export function fastConfig(model: string, outputDir: string, dataCache: string, over: Partial<DpoConfig> = {}): Partial<DpoConfig> {
  return {
    dataPath: [TEST_DEMO],
    dataSplit: '9,1,0',
    modelNameOrPath: model,
    maxSeqLen: 48,
    perDeviceTrainBatchSize: 16,
    perDeviceEvalBatchSize: 40,
    learningRate: 3e-3,
    numWarmupSteps: 0,
    numTrainEpochs: 1,
    outputDir,
    dataOutputPath: dataCache,
    saveSteps: 0,
    ...over,
  };
}

/** No output from the trainer, and Ctrl-C left to jest. */
export const QUIET: DpoTrainerOptions = { log: () => undefined, progressStream: { write: () => true }, handleSignals: false };
