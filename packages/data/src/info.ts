// `rlhfkit data info`: what each phase's train/eval data turns into, as counts, drops and a first rendered example.
import {
  blendParts,
  DEFAULT_DATA_SPLIT,
  DEFAULT_SEED,
  loadPhaseParts,
  type Phase,
  type PhaseDataOptions,
  type PhaseText,
} from './prompt-dataset';
import type { RawDataset } from './raw-dataset';
import { createStepDatasets, defaultEndOfConversationToken, type SplitStats } from './step-datasets';
import type { TokenizerLike } from './tokenize';

export interface DataInfoOptions extends Omit<PhaseDataOptions, 'phase'> {
  /** With a tokenizer, each phase is also tokenized to report truncated and dropped rows. */
  tokenizer?: TokenizerLike;
  maxSeqLen?: number;
  maxPromptSeqLen?: number;
}

export interface SplitInfo {
  /** Rows after the split, before tokenization. */
  rows: number;
  /** Rows with no text for this phase (null field / no rejected answer). */
  skipped: number;
  /** With a tokenizer: the tokenized dataset's accounting. */
  tokenized?: SplitStats;
}

export interface PhaseInfo {
  phase: Phase;
  train: SplitInfo;
  eval: SplitInfo;
  /** The first training example as the model will see it (after blending), or null if there is none. */
  example: PhaseText | null;
  /** Token count of that example's main sequence (with a tokenizer). */
  exampleTokens?: number;
}

export interface DataInfo {
  dataPath: string[];
  dataSplit: string;
  seed: number;
  sftOnlyDataPath: string[];
  /** `{"train": [phase1, phase2, phase3], "eval": [...]}`: rows after the split, before tokenization. */
  counts: { train: [number, number, number]; eval: [number, number, number] };
  phases: PhaseInfo[];
  files: string[];
}

const sum = (xs: readonly { rows: number }[]): number => xs.reduce((a, p) => a + p.rows, 0);
const skipped = (xs: readonly { skipped: number }[]): number => xs.reduce((a, p) => a + p.skipped, 0);

/** Gather counts (and, with a tokenizer, tokenized stats) for the three phases. */
export async function dataInfo(o: DataInfoOptions): Promise<DataInfo> {
  const seed = o.seed ?? DEFAULT_SEED;
  const dataSplit = o.dataSplit ?? DEFAULT_DATA_SPLIT;
  const rawCache = o.rawCache ?? new Map<string, Promise<RawDataset>>();
  const phases: PhaseInfo[] = [];
  const files = new Set<string>();
  for (const phase of [1, 2, 3] as Phase[]) {
    const eot = o.endOfConversationToken ?? (o.tokenizer ? defaultEndOfConversationToken(phase, o.tokenizer) : undefined);
    const base = { ...o, seed, dataSplit, phase, rawCache, endOfConversationToken: eot };
    const parts = await loadPhaseParts(base);
    parts.files.forEach((f) => files.add(f));
    const info: PhaseInfo = {
      phase,
      train: { rows: sum(parts.train), skipped: skipped(parts.train) },
      eval: { rows: sum(parts.eval), skipped: skipped(parts.eval) },
      example: blendParts(parts.train, seed)[0] ?? null,
    };
    if (o.tokenizer) {
      const maxSeqLen = phase === 3 ? (o.maxPromptSeqLen ?? 256) : (o.maxSeqLen ?? 512);
      const ds = await createStepDatasets({ ...base, tokenizer: o.tokenizer, maxSeqLen, log: () => undefined });
      info.train.tokenized = ds.stats.train;
      info.eval.tokenized = ds.stats.eval;
      const first = ds.train[0] as unknown as Record<string, number[]> | undefined;
      if (first) info.exampleTokens = (first.inputIds ?? first.chosenIds ?? first.promptIds).length;
    }
    phases.push(info);
  }
  const counts = (k: 'train' | 'eval') => phases.map((p) => p[k].rows) as [number, number, number];
  return {
    dataPath: [...o.dataPath],
    dataSplit,
    seed,
    sftOnlyDataPath: [...(o.sftOnlyDataPath ?? [])],
    counts: { train: counts('train'), eval: counts('eval') },
    phases,
    files: [...files],
  };
}

function showText(t: string): string {
  return JSON.stringify(t);
}

function splitLine(name: string, s: SplitInfo): string {
  const parts = [`${s.rows} rows`];
  if (s.skipped) parts.push(`${s.skipped} skipped (no text for this phase)`);
  if (s.tokenized) {
    parts.push(`${s.tokenized.kept} after tokenization`);
    if (s.tokenized.truncated) parts.push(`${s.tokenized.truncated} truncated`);
    if (s.tokenized.dropped) parts.push(`${s.tokenized.dropped} dropped (prompt too long)`);
  }
  return `  ${name.padEnd(5)} ${parts.join(', ')}`;
}

const PHASE_NAMES: Record<Phase, string> = { 1: 'step 1 (SFT)', 2: 'step 2 (reward model)', 3: 'step 3 (PPO prompts)' };

/** Human-readable report. */
export function formatDataInfo(info: DataInfo): string {
  const out = [
    `data_path: ${info.dataPath.join(' ')}`,
    `data_split: ${info.dataSplit}   seed: ${info.seed}${info.sftOnlyDataPath.length ? `   sft_only_data_path: ${info.sftOnlyDataPath.join(' ')}` : ''}`,
  ];
  for (const p of info.phases) {
    out.push('', `phase ${p.phase}: ${PHASE_NAMES[p.phase]}`, splitLine('train', p.train), splitLine('eval', p.eval));
    const ex = p.example as Record<string, string> | null;
    const tokens = p.exampleTokens !== undefined ? ` (${p.exampleTokens} tokens)` : '';
    if (!ex) out.push('  first example: none');
    else if ('text' in ex) out.push(`  first example${tokens}: ${showText(ex.text)}`);
    else if ('chosen' in ex) out.push(`  first example${tokens}:`, `    chosen:   ${showText(ex.chosen)}`, `    rejected: ${showText(ex.rejected)}`);
    else out.push(`  first example${tokens}: ${showText(ex.prompt)}`);
  }
  return out.join('\n');
}
