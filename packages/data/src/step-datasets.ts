// create_prompt_dataset end to end: load, split, render, tokenize, blend, and cache the datasets of one training step.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adapterFor, findAdapter } from './adapters';
import type { LoadContext } from './adapters/types';
import { cacheFiles, cacheKey, encodeSplit, readSplit, writeFileAtomic } from './cache';
import {
  blendParts,
  DEFAULT_DATA_SPLIT,
  DEFAULT_EOT,
  DEFAULT_SEED,
  loadPhaseParts,
  type DatasetPart,
  type Phase,
  type PhaseDataOptions,
  type PhaseText,
} from './prompt-dataset';
import { findSplitFiles, resolveDatasetRoot } from './resolve';
import { tokenizePhase, type PhaseItem, type PhaseItemOf, type TokenizerLike } from './tokenize';

export interface StepDataOptions extends PhaseDataOptions {
  tokenizer: TokenizerLike;
  /** `--max_seq_len` for steps 1-2; step 3 passes `--max_prompt_seq_len`, as DeepSpeed-Chat does. */
  maxSeqLen: number;
  /** Step 1: leave prompt tokens out of the loss (labels -100). Changes only the collator's labels. */
  maskPrompt?: boolean;
  /** The tokenizer's name or path, part of the cache key (DeepSpeed-Chat keys on name_or_path). */
  tokenizerName?: string;
  /** `--data_output_path`: where the tokenized cache lives; no cache when omitted. */
  dataOutputPath?: string;
  /** `--data_reload`: rebuild the cache even if it exists. */
  reload?: boolean;
}

/** Per-split accounting: nothing is dropped or truncated without being counted here (and printed). */
export interface SplitStats {
  /** Rows in this phase's chunks, before rendering. */
  rows: number;
  /** Rows with no text for this phase (null field, no rejected answer). */
  skipped: number;
  /** Rows cut to max_seq_len (steps 1-2). */
  truncated: number;
  /** Prompts longer than max_prompt_seq_len (step 3). */
  dropped: number;
  /** Rows in the final dataset. */
  kept: number;
}

export interface StepDatasets<T extends PhaseItem> {
  readonly phase: Phase;
  readonly train: T[];
  readonly eval: T[];
  readonly stats: { train: SplitStats; eval: SplitStats };
  readonly endOfConversationToken: string;
  /** Set when a data_output_path was given. */
  readonly cache?: { key: string; files: { train: string; eval: string }; hit: boolean };
}

/** The files each data path reads, resolved without reading them (for the cache key). */
function sourceFiles(dataPath: string, ctx: LoadContext): string[] {
  // A folder no adapter name matches is read whole (its format is recognised from its columns when it loads).
  if (!findAdapter(dataPath) && fs.existsSync(dataPath) && fs.statSync(dataPath).isDirectory()) return [...findSplitFiles(path.resolve(dataPath)).values()].flat();
  const a = adapterFor(dataPath);
  if (a.load) return a.sourceFiles?.(ctx) ?? [];
  const { root } = resolveDatasetRoot(dataPath, a.hubIds ?? [a.name], a.config);
  return [...findSplitFiles(root, a.config).values()].flat();
}

function fingerprint(files: readonly string[]): [string, number, number][] {
  return files.map((f) => {
    const st = fs.statSync(f);
    return [path.resolve(f), st.size, Math.floor(st.mtimeMs)];
  });
}

/** The end-of-conversation token DeepSpeed-Chat appends: the tokenizer's eos in step 1, "<|endoftext|>" in step 2. */
export function defaultEndOfConversationToken(phase: Phase, tokenizer: TokenizerLike): string {
  return phase === 1 ? (tokenizer.eosToken ?? DEFAULT_EOT) : DEFAULT_EOT;
}

async function tokenizeParts(parts: readonly DatasetPart<PhaseText>[], o: StepDataOptions, seed: number): Promise<{ items: PhaseItem[]; stats: SplitStats }> {
  const stats: SplitStats = { rows: 0, skipped: 0, truncated: 0, dropped: 0, kept: 0 };
  const tokenized: { items: PhaseItem[]; sftOnly: boolean }[] = [];
  for (const p of parts) {
    const t = await tokenizePhase(o.tokenizer, o.phase, p.items, { maxSeqLen: o.maxSeqLen, maskPrompt: o.maskPrompt });
    stats.rows += p.rows;
    stats.skipped += p.skipped;
    stats.truncated += t.counts.truncated;
    stats.dropped += t.counts.dropped;
    tokenized.push({ items: t.items, sftOnly: p.sftOnly });
  }
  // Blending permutes by the sizes after filtering, as DeepSpeed-Chat shuffles its tokenized datasets.
  const items = blendParts(tokenized, seed);
  stats.kept = items.length;
  return { items, stats };
}

function summary(which: string, phase: Phase, s: SplitStats, maxSeqLen: number): string {
  const notes = [`${s.rows} rows`, `${s.kept} kept`];
  if (s.skipped) notes.push(`${s.skipped} skipped (no text for phase ${phase}: a null field or no rejected answer)`);
  if (s.truncated) notes.push(`${s.truncated} truncated to ${maxSeqLen} tokens`);
  if (s.dropped) notes.push(`${s.dropped} prompts longer than ${maxSeqLen} tokens dropped`);
  return `phase ${phase} ${which}: ${notes.join(', ')}`;
}

/**
 * The train and eval datasets of one step, exactly as DeepSpeed-Chat's create_prompt_dataset builds them
 * (same rows, same order for the same seed), tokenized, and cached under data_output_path when given.
 */
export async function createStepDatasets<P extends Phase>(options: StepDataOptions & { phase: P }): Promise<StepDatasets<PhaseItemOf<P>>> {
  const log = options.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const seed = options.seed ?? DEFAULT_SEED;
  const eot = options.endOfConversationToken ?? defaultEndOfConversationToken(options.phase, options.tokenizer);
  const o: StepDataOptions = { ...options, seed, log, endOfConversationToken: eot, dataSplit: options.dataSplit ?? DEFAULT_DATA_SPLIT };
  let cache: StepDatasets<PhaseItemOf<P>>['cache'];
  if (o.dataOutputPath) {
    const ctx = { dataPath: '', dataDir: o.dataDir ?? './data', log };
    const sft = o.phase === 1 ? [...(o.sftOnlyDataPath ?? [])] : [];
    const key = cacheKey({
      dataPath: o.dataPath,
      dataSplit: o.dataSplit,
      phase: o.phase,
      seed,
      sftOnlyDataPath: sft,
      tokenizer: { name: o.tokenizerName ?? null, vocabSize: o.tokenizer.vocabSize, eos: o.tokenizer.eosTokenId ?? null, pad: o.tokenizer.padTokenId ?? null },
      probe: (await o.tokenizer.encodeBatch(['Hello world, 你好 <|endoftext|>'], { padding: false })).inputIds[0],
      maxSeqLen: o.maxSeqLen,
      eot,
      maskPrompt: o.phase === 1 && !!o.maskPrompt,
      files: [...o.dataPath, ...sft].map((p) => fingerprint(sourceFiles(p, { ...ctx, dataPath: p }))),
    });
    const files = cacheFiles(o.dataOutputPath, key);
    cache = { key, files, hit: false };
    if (!o.reload) {
      const train = readSplit<PhaseItemOf<P>>(files.train, o.phase);
      const evalSplit = train && readSplit<PhaseItemOf<P>>(files.eval, o.phase);
      if (train && evalSplit) {
        const stats = { train: train.meta.stats as SplitStats, eval: evalSplit.meta.stats as SplitStats };
        log(`phase ${o.phase}: using cached datasets ${files.train} (${train.items.length} train / ${evalSplit.items.length} eval rows)`);
        return { phase: o.phase, train: train.items, eval: evalSplit.items, stats, endOfConversationToken: eot, cache: { ...cache, hit: true } };
      }
    }
  }
  const parts = await loadPhaseParts({ ...o, phase: o.phase });
  const train = await tokenizeParts(parts.train, o, seed);
  const evalSplit = await tokenizeParts(parts.eval, o, seed);
  log(summary('train', o.phase, train.stats, o.maxSeqLen));
  log(summary('eval', o.phase, evalSplit.stats, o.maxSeqLen));
  if (cache) {
    writeFileAtomic(cache.files.eval, encodeSplit(o.phase, evalSplit.items, { stats: evalSplit.stats, dataPath: o.dataPath }));
    writeFileAtomic(cache.files.train, encodeSplit(o.phase, train.items, { stats: train.stats, dataPath: o.dataPath }));
  }
  return {
    phase: o.phase,
    train: train.items as PhaseItemOf<P>[],
    eval: evalSplit.items as PhaseItemOf<P>[],
    stats: { train: train.stats, eval: evalSplit.stats },
    endOfConversationToken: eot,
    cache,
  };
}
