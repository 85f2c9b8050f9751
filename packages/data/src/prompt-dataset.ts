// The text side of DeepSpeed-Chat's create_prompt_dataset: phase chunks of each data path, rendered text, blending and SFT-only sets.
import { getShuffleIdx } from './np-random';
import { loadRawDataset, type RawDataset } from './raw-dataset';
import type { Sample } from './sample';
import { getSplitIndex, parseDataSplit } from './split';

export type Phase = 1 | 2 | 3;

/** Phase 1 text: prompt+chosen+end-of-conversation token; `prompt` is kept for prompt masking. */
export interface Phase1Text {
  readonly text: string;
  readonly prompt: string | null;
}
/** Phase 2 texts: both conversations end with the end-of-conversation token. */
export interface Phase2Text {
  readonly chosen: string;
  readonly rejected: string;
}
export interface Phase3Text {
  readonly prompt: string;
}
export type PhaseText = Phase1Text | Phase2Text | Phase3Text;
export type PhaseTextOf<P extends Phase> = P extends 1 ? Phase1Text : P extends 2 ? Phase2Text : Phase3Text;

/** DeepSpeed-Chat's end-of-conversation token for steps 2 and 3 (step 1 appends the tokenizer's eos token). */
export const DEFAULT_EOT = '<|endoftext|>';
export const DEFAULT_DATA_SPLIT = '2,4,4';
export const DEFAULT_SEED = 1234;

export interface PhaseDataOptions {
  /** `--data_path`: one or more dataset paths/names (default Dahoas/rm-static, as DeepSpeed-Chat). */
  dataPath: readonly string[];
  /** `--data_split` (default "2,4,4"). */
  dataSplit?: string;
  phase: Phase;
  /** `--seed` (default 1234). */
  seed?: number;
  /** `--sft_only_data_path`: used whole ("10,0,0"), in phase 1 only. */
  sftOnlyDataPath?: readonly string[];
  /** `--data_dir` for local/jsonfile. */
  dataDir?: string;
  /** Appended to phase 1 and 2 texts (default "<|endoftext|>"). */
  endOfConversationToken?: string;
  log?: (line: string) => void;
  /** Share loaded datasets between calls (e.g. the three phases of `data info`): keyed by path, seed and data dir. */
  rawCache?: Map<string, Promise<RawDataset>>;
}

/** One data path's contribution to one split of one phase. */
export interface DatasetPart<T> {
  readonly dataPath: string;
  readonly name: string;
  readonly sftOnly: boolean;
  /** Rows in this phase's chunk, before any text was rendered. */
  readonly rows: number;
  readonly items: T[];
  /** Rows whose text was null (no rejected answer, a null field): skipped, as DeepSpeed-Chat does. */
  readonly skipped: number;
}

export interface PhaseParts<T> {
  readonly phase: Phase;
  readonly train: DatasetPart<T>[];
  readonly eval: DatasetPart<T>[];
  readonly files: readonly string[];
}

/** Chunk `phase-1` of a dataset's train and eval rows under `dataSplit`. */
export function phaseChunk(raw: RawDataset, dataSplit: string, phase: Phase, seed: number): { train: Sample[]; eval: Sample[] } {
  const pick = (rows: Sample[]): Sample[] => getSplitIndex(seed, dataSplit, phase - 1, rows.length).map((i) => rows[i]);
  return { train: pick(raw.train), eval: pick(raw.eval) };
}

/** Render rows for a phase; rows with no text for it are counted, not kept. */
export function renderPhase(raw: RawDataset, rows: readonly Sample[], phase: Phase, eot: string): { items: PhaseText[]; skipped: number } {
  const a = raw.adapter;
  const items: PhaseText[] = [];
  let skipped = 0;
  for (const s of rows) {
    if (phase === 1) {
      const t = a.promptAndChosen(s);
      if (t === null) skipped++;
      else items.push({ text: t + eot, prompt: a.prompt(s) });
    } else if (phase === 2) {
      const c = a.promptAndChosen(s);
      const r = a.promptAndRejected(s);
      if (c === null || r === null) skipped++;
      else items.push({ chosen: c + eot, rejected: r + eot });
    } else {
      const p = a.prompt(s);
      if (p === null) skipped++;
      else items.push({ prompt: p });
    }
  }
  return { items, skipped };
}

/** Load every data path (and, for phase 1, every SFT-only path) and render this phase's text. */
export async function loadPhaseParts<P extends Phase>(options: PhaseDataOptions & { phase: P }): Promise<PhaseParts<PhaseTextOf<P>>> {
  const seed = options.seed ?? DEFAULT_SEED;
  const dataSplit = options.dataSplit ?? DEFAULT_DATA_SPLIT;
  parseDataSplit(dataSplit); // fail fast on a malformed flag, before any file is read
  const eot = options.endOfConversationToken ?? DEFAULT_EOT;
  const sources: { path: string; split: string; sftOnly: boolean }[] = options.dataPath.map((p) => ({ path: p, split: dataSplit, sftOnly: false }));
  if (options.phase === 1) for (const p of options.sftOnlyDataPath ?? []) sources.push({ path: p, split: '10,0,0', sftOnly: true });
  const train: DatasetPart<PhaseTextOf<P>>[] = [];
  const evalParts: DatasetPart<PhaseTextOf<P>>[] = [];
  const files = new Set<string>();
  for (const src of sources) {
    const load = () => loadRawDataset(src.path, { seed, dataDir: options.dataDir, log: options.log });
    const memoKey = JSON.stringify([src.path, seed, options.dataDir ?? null]);
    let pending = options.rawCache?.get(memoKey);
    if (!pending) {
      pending = load();
      options.rawCache?.set(memoKey, pending);
    }
    const raw = await pending;
    raw.files.forEach((f) => files.add(f));
    // SFT-only sets are cut with "10,0,0" as phase 1 (chunk 0), i.e. used whole.
    const chunk = phaseChunk(raw, src.split, src.sftOnly ? 1 : options.phase, seed);
    for (const [rows, out] of [[chunk.train, train], [chunk.eval, evalParts]] as const) {
      const r = renderPhase(raw, rows, options.phase, eot);
      out.push({ dataPath: src.path, name: raw.adapter.name, sftOnly: src.sftOnly, rows: rows.length, items: r.items as PhaseTextOf<P>[], skipped: r.skipped });
    }
  }
  return { phase: options.phase, train, eval: evalParts, files: [...files] };
}

/**
 * Combine per-path item lists as create_prompt_dataset does: one path is used as is; several are
 * concatenated in order and permuted by get_shuffle_idx(seed, total); SFT-only sets are then appended
 * and everything is permuted again by get_shuffle_idx(seed, new total).
 */
export function blendParts<T>(parts: readonly { items: readonly T[]; sftOnly: boolean }[], seed: number): T[] {
  const main = parts.filter((p) => !p.sftOnly);
  const sft = parts.filter((p) => p.sftOnly);
  const permute = (xs: readonly T[]): T[] => getShuffleIdx(seed, xs.length).map((i) => xs[i]);
  let out: T[] = main.length === 1 ? [...main[0].items] : permute(main.flatMap((p) => p.items));
  if (sft.length) out = permute([...out, ...sft.flatMap((p) => p.items)]);
  return out;
}
