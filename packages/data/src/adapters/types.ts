// The contract a dataset adapter fulfils: where its train/eval rows come from and how a row becomes prompt/chosen/rejected text.
import type { RawRow } from '../readers/table';
import type { Sample } from '../sample';

/**
 * Which rows form a split: a named split of the source ("train", "test", "validation", "dev", "eval"),
 * optionally one chunk of a seeded split of it (`{ ratio: '9,1', index: 0 }` is DeepSpeed-Chat's
 * own 9:1 train/eval cut for datasets that ship a train split only).
 */
export interface SplitSpec {
  readonly split: string;
  readonly part?: { readonly ratio: string; readonly index: number };
}

/** What `load` receives: the user's data path and options that locate local files. */
export interface LoadContext {
  readonly dataPath: string;
  /** `--data_dir`: where local/jsonfile finds train.json / eval.json (default ./data). */
  readonly dataDir: string;
  readonly log: (line: string) => void;
}

export interface LoadedRows {
  readonly train: RawRow[];
  readonly eval: RawRow[];
  /** The files each split's rows came from, for messages and the cache key. */
  readonly trainFiles: readonly string[];
  readonly evalFiles: readonly string[];
}

/**
 * A dataset adapter. The text methods mirror DeepSpeed-Chat's PromptRawDataset: prompts look like
 * " Human: ... Assistant:", responses start with a space, and null means "this row has no such text"
 * (the row is then skipped for the phases that need it, and counted).
 */
export interface DatasetAdapter {
  /** Hub id, e.g. "Dahoas/rm-static". A `--data_path` containing it selects this adapter. */
  readonly name: string;
  /** DeepSpeed-Chat's dataset_name_clean (used in its file names; kept for parity). */
  readonly cleanName: string;
  /** Hub ids to look for in the Hugging Face caches when the data path is not a local folder (default [name]). */
  readonly hubIds?: readonly string[];
  /** For multi-config hub repos: the config folder/file stem to read (e.g. HC3-Chinese's "all"). */
  readonly config?: string;
  /** Top-level columns the text methods read; a file without one of them is an error. */
  readonly columns: readonly string[];
  readonly train: SplitSpec;
  readonly eval: SplitSpec;
  /** False for SFT-only sources: phase 2 then has no rows from this dataset. */
  readonly hasRejected: boolean;
  prompt(s: Sample): string | null;
  chosen(s: Sample): string | null;
  rejected(s: Sample): string | null;
  promptAndChosen(s: Sample): string | null;
  promptAndRejected(s: Sample): string | null;
  /** Replace file discovery entirely (local/jsonfile and the built-in demo use this). */
  load?(ctx: LoadContext): Promise<LoadedRows>;
  /** With `load`: the files it would read (without reading them), so the tokenized cache notices edits. */
  sourceFiles?(ctx: LoadContext): string[];
}
