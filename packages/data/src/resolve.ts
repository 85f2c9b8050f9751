// Finds a dataset's files on disk: a local folder, the Hugging Face hub cache (core-tensor's lookup) or the datasets cache; then its split files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { datasetsCacheDir, findHubSnapshot, readJsonFile } from '@rlhfkit/core-tensor';
import { DataError } from './errors';
import { formatOf, type DataFormat } from './readers';

/** Split names Hugging Face treats as the same split, canonical name first. */
const SPLIT_GROUPS: readonly (readonly string[])[] = [
  ['train', 'training'],
  ['validation', 'valid', 'val', 'dev'],
  ['test', 'testing', 'eval', 'evaluation'],
];
const SPLIT_WORDS = new Set(SPLIT_GROUPS.flat());

export interface ResolvedSource {
  /** The folder the files live in. */
  readonly root: string;
  /** How it was found, for messages. */
  readonly origin: 'local' | 'hub-cache' | 'datasets-cache';
  /** Split label (as named by the files) -> data files, sorted. */
  readonly splits: ReadonlyMap<string, readonly string[]>;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function newestChild(dir: string, filter: (p: string) => boolean = isDir): string | undefined {
  if (!isDir(dir)) return undefined;
  const kids = fs
    .readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .map((n) => path.join(dir, n))
    .filter(filter);
  kids.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs || a.localeCompare(b));
  return kids[0];
}

/** `datasets/<org>___<name>/<config>/<version>/<hash>` (the Arrow files load_dataset prepared), newest first. */
export function findInDatasetsCache(hubId: string, config?: string, cacheDir = datasetsCacheDir()): string | undefined {
  if (!isDir(cacheDir)) return undefined;
  const want = hubId.replace('/', '___').toLowerCase();
  const top = fs.readdirSync(cacheDir).find((n) => n.toLowerCase() === want);
  if (!top) return undefined;
  const base = path.join(cacheDir, top);
  const configs = fs.readdirSync(base).filter((n) => isDir(path.join(base, n)));
  const pick = [config, 'default'].find((c) => c && configs.includes(c)) ?? configs.sort()[0];
  if (!pick) return undefined;
  const version = newestChild(path.join(base, pick));
  if (!version) return undefined;
  const hasArrow = (p: string): boolean => isDir(p) && fs.readdirSync(p).some((n) => n.endsWith('.arrow'));
  return hasArrow(version) ? version : newestChild(version, hasArrow);
}

/**
 * Where a `--data_path` lives: the path itself if it exists, else the hub cache, else the datasets cache.
 * Nothing is downloaded; when nothing is found the error lists every place that was looked at.
 */
export function resolveDatasetRoot(dataPath: string, hubIds: readonly string[], config?: string): { root: string; origin: ResolvedSource['origin'] } {
  if (fs.existsSync(dataPath)) {
    if (!isDir(dataPath)) {
      throw new DataError('a --data_path must be a dataset folder (with data/train-*.parquet, *.jsonl, *.arrow, ...), not a file.', { file: dataPath });
    }
    return { root: path.resolve(dataPath), origin: 'local' };
  }
  const looked = [path.resolve(dataPath)];
  for (const id of hubIds) {
    const hub = findHubSnapshot('dataset', id, undefined, looked);
    if (hub) return { root: hub, origin: 'hub-cache' };
    const ds = findInDatasetsCache(id, config);
    if (ds) return { root: ds, origin: 'datasets-cache' };
    looked.push(path.join(datasetsCacheDir(), id.replace('/', '___')));
  }
  throw new DataError(
    `dataset '${dataPath}' was not found locally. Looked in: ${looked.join(', ')}. ` +
      `Download it once (e.g. \`huggingface-cli download --repo-type dataset ${hubIds[0] ?? dataPath} --local-dir ./data/${hubIds[0] ?? dataPath}\`) ` +
      `and pass that folder as --data_path; rlhfkit never downloads on its own.`,
  );
}

function listDataFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      if (ent.name.startsWith('.')) continue; // .git, .cache/huggingface download metadata
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (formatOf(p)) out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

function tokens(s: string): string[] {
  return s.toLowerCase().split(/[-._ ]+/).filter(Boolean);
}

/** The split a file belongs to by name: a split word in its file name (last one wins), else in its folders. */
export function splitOfFile(rel: string): string | undefined {
  const segs = rel.split(/[\\/]/);
  const stem = segs.pop()!.replace(/\.gz$/, '').replace(/\.[^.]+$/, '');
  const inName = tokens(stem).filter((t) => SPLIT_WORDS.has(t));
  if (inName.length) return inName[inName.length - 1];
  for (let i = segs.length - 1; i >= 0; i--) if (SPLIT_WORDS.has(segs[i].toLowerCase())) return segs[i].toLowerCase();
  return undefined;
}

const FORMAT_RANK: Record<DataFormat, number> = { parquet: 0, arrow: 1, jsonl: 2, json: 2 };

function readMetadata(file: string): unknown {
  return readJsonFile(file, { what: 'the dataset metadata', error: (detail) => new DataError(`${detail}.`, { file }) });
}

/** Files of a `datasets.save_to_disk` Dataset folder, in the order state.json lists them. */
function savedDatasetFiles(dir: string): string[] {
  const state = path.join(dir, 'state.json');
  if (fs.existsSync(state)) {
    const files = (readMetadata(state) as { _data_files?: { filename: string }[] })._data_files;
    if (Array.isArray(files) && files.length) return files.map((f) => path.join(dir, f.filename));
  }
  return fs.readdirSync(dir).filter((n) => n.endsWith('.arrow')).sort().map((n) => path.join(dir, n));
}

/**
 * Group a dataset folder's files by split. Understands `save_to_disk` (dataset_dict.json + one folder per
 * split), hub repo layouts (`data/train-*.parquet`, `<config>/train.json`, ...) and datasets-cache file names
 * (`<builder>-train-00000-of-00002.arrow`). Files without a split word are the train split when no file has
 * one; a split present in several formats keeps only the best (parquet, then arrow, then json).
 */
export function findSplitFiles(root: string, config?: string): Map<string, string[]> {
  const splits = new Map<string, string[]>();
  const dict = path.join(root, 'dataset_dict.json');
  if (fs.existsSync(dict)) {
    const names = (readMetadata(dict) as { splits?: string[] }).splits ?? [];
    for (const s of names) splits.set(s, savedDatasetFiles(path.join(root, s)));
    return splits;
  }
  if (fs.existsSync(path.join(root, 'state.json'))) {
    splits.set('train', savedDatasetFiles(root));
    return splits;
  }
  let files = listDataFiles(root);
  if (config) {
    const inConfig = files.filter((f) => path.relative(root, f).split(/[\\/]/).some((seg, i, all) =>
      i < all.length - 1 ? seg === config : tokens(seg.replace(/\.[^.]+$/, '')).includes(config.toLowerCase())));
    if (inConfig.length) files = inConfig;
  }
  const labelled = files.map((f) => ({ f, split: splitOfFile(path.relative(root, f)) }));
  const anyLabelled = labelled.some((x) => x.split);
  for (const { f, split } of labelled) {
    const s = split ?? (anyLabelled ? undefined : 'train');
    if (!s) continue;
    splits.set(s, [...(splits.get(s) ?? []), f]);
  }
  for (const [s, fs_] of splits) {
    const best = Math.min(...fs_.map((f) => FORMAT_RANK[formatOf(f)!]));
    splits.set(s, fs_.filter((f) => FORMAT_RANK[formatOf(f)!] === best));
  }
  return splits;
}

/** The files of `split`: an exact name first, then any name in the same Hugging Face split group. */
export function filesForSplit(splits: ReadonlyMap<string, readonly string[]>, split: string, root: string): readonly string[] {
  const exact = splits.get(split);
  if (exact?.length) return exact;
  const group = SPLIT_GROUPS.find((g) => g.includes(split.toLowerCase()));
  for (const name of group ?? []) {
    const f = splits.get(name);
    if (f?.length) return f;
  }
  const have = [...splits.keys()];
  throw new DataError(
    `no '${split}' split found; ${have.length ? `found split(s) ${have.join(', ')}` : 'found no data files (.parquet, .arrow, .json, .jsonl)'}. ` +
      `Expected files named like data/${split}-00000-of-00001.parquet, ${split}.jsonl or a save_to_disk '${split}/' folder.`,
    { file: root },
  );
}
