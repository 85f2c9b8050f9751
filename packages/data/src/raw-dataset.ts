// Loads one `--data_path` into its adapter's train and eval rows (DeepSpeed-Chat's get_raw_dataset + get_train/eval_data).
import * as path from 'node:path';
import { resolveAdapter } from './adapters';
import type { DatasetAdapter, LoadContext, LoadedRows, SplitSpec } from './adapters/types';
import { DataError } from './errors';
import { readSplitRows, type RawRow } from './readers';
import { filesForSplit, findSplitFiles, resolveDatasetRoot } from './resolve';
import { Sample } from './sample';
import { getSplitIndex } from './split';

export interface RawDataset {
  readonly adapter: DatasetAdapter;
  readonly dataPath: string;
  readonly train: Sample[];
  readonly eval: Sample[];
  readonly files: readonly string[];
}

export interface RawLoadOptions {
  seed: number;
  /** `--data_dir` for local/jsonfile (default ./data). */
  dataDir?: string;
  log?: (line: string) => void;
}

/** Every row must have the adapter's columns (JSON rows are checked one by one; columnar files by schema). */
export function checkColumns(rows: readonly RawRow[], adapter: DatasetAdapter): void {
  for (const r of rows) {
    for (const c of adapter.columns) {
      if (!(c in r.values)) {
        throw new DataError(
          `missing column '${c}'; the ${adapter.name} adapter needs ${adapter.columns.join(', ')} and this row has ${Object.keys(r.values).join(', ') || 'none'}.`,
          { file: r.table.file, where: r.table.locate(r.index) },
        );
      }
    }
  }
}

function applyPart(rows: RawRow[], spec: SplitSpec, seed: number): RawRow[] {
  if (!spec.part) return rows;
  const idx = getSplitIndex(seed, spec.part.ratio, spec.part.index, rows.length);
  return idx.map((i) => rows[i]);
}

/** Read an adapter's train and eval rows from a dataset folder (any layout findSplitFiles understands). */
export async function loadFolderRows(adapter: DatasetAdapter, root: string): Promise<LoadedRows> {
  const splits = findSplitFiles(root, adapter.config);
  const trainFiles = filesForSplit(splits, adapter.train.split, root);
  const train = await readSplitRows(trainFiles, adapter.columns);
  if (adapter.eval.split === adapter.train.split) return { train, eval: train, trainFiles, evalFiles: trainFiles };
  const evalFiles = filesForSplit(splits, adapter.eval.split, root);
  return { train, eval: await readSplitRows(evalFiles, adapter.columns), trainFiles, evalFiles };
}

async function defaultLoad(adapter: DatasetAdapter, ctx: LoadContext): Promise<LoadedRows> {
  const { root, origin } = resolveDatasetRoot(ctx.dataPath, adapter.hubIds ?? [adapter.name], adapter.config);
  if (origin !== 'local') ctx.log(`${adapter.name}: using ${origin} copy at ${root}`);
  return loadFolderRows(adapter, root);
}

/**
 * The adapter's train and eval rows for one data path. Train-only datasets are cut 9:1 with the seed,
 * exactly as DeepSpeed-Chat does, before the phase split is applied.
 */
export async function loadRawDataset(dataPath: string, options: RawLoadOptions): Promise<RawDataset> {
  // Which format a folder was recognised as is said even when the caller passes no log.
  const adapter = await resolveAdapter(dataPath, options.log ?? ((l) => process.stderr.write(`${l}\n`)));
  const ctx: LoadContext = { dataPath, dataDir: options.dataDir ?? './data', log: options.log ?? (() => undefined) };
  const loaded = adapter.load ? await adapter.load(ctx) : await defaultLoad(adapter, ctx);
  const files = [...new Set([...loaded.trainFiles, ...loaded.evalFiles].map((f) => path.resolve(f)))];
  for (const [which, rows, from] of [['train', loaded.train, loaded.trainFiles], ['eval', loaded.eval, loaded.evalFiles]] as const) {
    if (rows.length === 0) {
      throw new DataError(`the ${which} split of ${adapter.name} has no rows; every dataset needs train and eval rows.`, {
        file: from.join(', ') || dataPath,
      });
    }
  }
  checkColumns(loaded.train, adapter);
  if (loaded.eval !== loaded.train) checkColumns(loaded.eval, adapter);
  const train = applyPart(loaded.train, adapter.train, options.seed);
  const evalRows = applyPart(loaded.eval, adapter.eval, options.seed);
  return {
    adapter,
    dataPath,
    train: train.map((r) => new Sample(r, adapter.name)),
    eval: evalRows.map((r) => new Sample(r, adapter.name)),
    files,
  };
}
