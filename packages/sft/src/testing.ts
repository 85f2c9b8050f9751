// Spec helpers for step 1: a tiny OPT model folder (GPT-2 BPE cut to 1000 merges) and a fast SftConfig on the demo data.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTinyModel, initBackend } from '@rlhfkit/core-tensor';
import { DEMO_VERSION, ensureDemoDataset } from '@rlhfkit/data';
import type { SftConfig } from './config';
import type { SftTrainerOptions } from './trainer';

export function makeTempDir(prefix = 'rlhfkit-sft-'): string {
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

/** A 2-layer OPT (d 32, vocab 1264) with dropout 0.1, written once under `root`. */
export async function tinyOpt(root: string, name = 'tiny-opt'): Promise<string> {
  await ensureTestDemo();
  const dir = path.join(root, name);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    await createTinyModel(dir, { arch: 'opt', hiddenSize: 32, layers: 2, heads: 2, merges: 1000, maxPositions: 64, dropout: 0.1, seed: 1 });
  }
  return dir;
}

/** Step 1 on the built-in demo data (800 train / 80 eval rows), sized to run in seconds. */
export function fastConfig(model: string, outputDir: string, dataCache: string, over: Partial<SftConfig> = {}): Partial<SftConfig> {
  return {
    dataPath: [TEST_DEMO],
    modelNameOrPath: model,
    maxSeqLen: 48,
    perDeviceTrainBatchSize: 16,
    perDeviceEvalBatchSize: 40,
    learningRate: 3e-3,
    numWarmupSteps: 2,
    numTrainEpochs: 1,
    outputDir,
    dataOutputPath: dataCache,
    saveSteps: 0,
    ...over,
  };
}

/** No output from the trainer, and Ctrl-C left to jest. */
export const QUIET: SftTrainerOptions = { log: () => undefined, progressStream: { write: () => true }, handleSignals: false };
