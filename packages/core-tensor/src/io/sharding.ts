// Sharded checkpoints: *.index.json weight maps (read for safetensors and torch .bin) and HF-style sharded writing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, type StateDict, type TensorToWrite, type WritableDtype } from './host-tensor';
import { writeFileAtomic } from './file-io';
import { safetensorsDataSize, writeSafetensors } from './safetensors';

/** transformers' default `max_shard_size`. */
export const DEFAULT_MAX_SHARD_SIZE = '5GB';

export interface ShardIndex {
  /** Tensor name -> shard file name (relative to the index's folder), in the index's order. */
  weightMap: Map<string, string>;
  metadata: Record<string, unknown>;
}

/** Reads a `*.index.json` (`{metadata, weight_map}`) and checks that every shard name is a plain file name. */
export function readShardIndex(indexFile: string): ShardIndex {
  let text: string;
  try {
    text = fs.readFileSync(indexFile, 'utf8');
  } catch (e) {
    throw new CheckpointError(`${indexFile}: cannot read shard index (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: { metadata?: unknown; weight_map?: unknown };
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${indexFile}: shard index is not valid JSON (${(e as Error).message})`);
  }
  const wm = raw?.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) {
    throw new CheckpointError(`${indexFile}: shard index has no "weight_map" object (expected {"metadata": {...}, "weight_map": {tensor: shard file}})`);
  }
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || shard !== path.basename(shard) || shard === '..') {
      throw new CheckpointError(`${indexFile}: weight_map entry '${name}' names shard ${JSON.stringify(shard)}; shards must be plain file names beside the index`);
    }
    weightMap.set(name, shard);
  }
  return { weightMap, metadata: (raw.metadata ?? {}) as Record<string, unknown> };
}

/**
 * Reads every tensor an index names (or only `keys`), shard by shard, with `readShard(file, keys)`.
 * A missing shard file, or a shard that lacks a tensor the index promises, is a CheckpointError naming both.
 */
export function readShardedCheckpoint(
  indexFile: string,
  readShard: (file: string, keys: ReadonlySet<string>) => StateDict,
  keys?: ReadonlySet<string>,
): StateDict {
  const index = readShardIndex(indexFile);
  const dir = path.dirname(indexFile);
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of index.weightMap) {
    if (keys && !keys.has(name)) continue;
    let set = byShard.get(shard);
    if (!set) byShard.set(shard, (set = new Set()));
    set.add(name);
  }
  for (const [shard, names] of byShard) {
    const file = path.join(dir, shard);
    if (!fs.existsSync(file)) {
      const first = names.values().next().value as string;
      throw new CheckpointError(
        `${indexFile}: shard '${shard}' (holding tensor '${first}'${names.size > 1 ? ` and ${names.size - 1} more` : ''}) does not exist at ${file}; ` +
          'the checkpoint download is incomplete: copy the missing shard into the folder',
      );
    }
  }
  const loaded = new Map<string, StateDict>();
  for (const [shard, names] of byShard) {
    const file = path.join(dir, shard);
    const sd = readShard(file, names);
    for (const name of names) {
      if (!sd.has(name)) {
        throw new CheckpointError(`${file}: the index ${indexFile} says tensor '${name}' is in this shard, but the shard has no such tensor; the index and shards do not match`);
      }
    }
    loaded.set(shard, sd);
  }
  const out: StateDict = new Map();
  for (const [name, shard] of index.weightMap) {
    if (keys && !keys.has(name)) continue;
    out.set(name, loaded.get(shard)!.get(name)!);
  }
  return out;
}

/** `"5GB"` -> 5e9, `"200MiB"` -> 200·2^20, a number -> itself (bytes); the units transformers accepts. */
export function parseShardSize(size: number | string): number {
  if (typeof size === 'number') {
    if (!(size > 0)) throw new CheckpointError(`max shard size must be a positive number of bytes, got ${size}`);
    return size;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$/i.exec(size);
  if (!m) throw new CheckpointError(`max shard size '${size}' is not understood; use bytes or a size such as "5GB", "500MB", "2GiB"`);
  const unit = (m[2] ?? 'B').toUpperCase();
  const scale: Record<string, number> = {
    B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40,
  };
  return Math.floor(parseFloat(m[1]) * scale[unit]);
}

/**
 * Splits tensors into shards the way transformers does: walk in insertion order and start a new shard when the
 * next tensor would push the current one past `maxBytes` (a single oversized tensor still gets its own shard).
 */
export function planShards(tensors: Map<string, TensorToWrite>, maxBytes: number, dtype?: WritableDtype): Map<string, TensorToWrite>[] {
  const shards: Map<string, TensorToWrite>[] = [new Map()];
  let current = 0;
  for (const [name, t] of tensors) {
    const size = safetensorsDataSize(new Map([[name, t]]), dtype);
    if (current + size > maxBytes && shards[shards.length - 1].size > 0) {
      shards.push(new Map());
      current = 0;
    }
    shards[shards.length - 1].set(name, t);
    current += size;
  }
  return shards;
}

/** `model.safetensors`, 0, 3 -> `model-00001-of-00003.safetensors`. */
export function shardFileName(weightsName: string, i: number, n: number): string {
  const ext = path.extname(weightsName);
  const stem = weightsName.slice(0, weightsName.length - ext.length);
  return `${stem}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}${ext}`;
}

export interface SaveShardedOptions {
  /** Bytes, or a size string such as "5GB" (default) / "2GiB". */
  maxShardSize?: number | string;
  /** Converts floating tensors to this dtype on the way out (e.g. 'F16', 'BF16'). */
  dtype?: WritableDtype;
  /** safetensors `__metadata__`; transformers requires `format: 'pt'`, which is the default. */
  metadata?: Record<string, string>;
  /** Default `model.safetensors`. */
  weightsName?: string;
}

export interface SaveShardedResult {
  /** File names written, relative to the folder (shards, then the index if any). */
  files: string[];
  /** Bytes of tensor data (the index's `metadata.total_size`). */
  totalSize: number;
}

/**
 * Writes `model.safetensors`, or `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`
 * when the data exceeds `maxShardSize`. Every file is written atomically; the index goes last, then weight files
 * left over from an earlier save with a different layout are removed so loaders cannot pick up stale weights.
 */
export function writeShardedSafetensors(dir: string, tensors: Map<string, TensorToWrite>, opts: SaveShardedOptions = {}): SaveShardedResult {
  const weightsName = opts.weightsName ?? 'model.safetensors';
  const indexName = `${weightsName}.index.json`;
  const metadata = opts.metadata ?? { format: 'pt' };
  const maxBytes = parseShardSize(opts.maxShardSize ?? DEFAULT_MAX_SHARD_SIZE);
  const shards = planShards(tensors, maxBytes, opts.dtype);
  fs.mkdirSync(dir, { recursive: true });
  const totalSize = safetensorsDataSize(tensors, opts.dtype);
  const files: string[] = [];
  if (shards.length === 1) {
    writeSafetensors(path.join(dir, weightsName), shards[0], metadata, opts.dtype);
    files.push(weightsName);
  } else {
    const weightMap: Record<string, string> = {};
    shards.forEach((shard, i) => {
      const name = shardFileName(weightsName, i, shards.length);
      writeSafetensors(path.join(dir, name), shard, metadata, opts.dtype);
      for (const k of shard.keys()) weightMap[k] = name;
      files.push(name);
    });
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(weightMap).sort()) sorted[k] = weightMap[k];
    const index = JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2) + '\n';
    writeFileAtomic(path.join(dir, indexName), [Buffer.from(index, 'utf8')]);
    files.push(indexName);
  }
  removeStaleWeights(dir, weightsName, new Set(files));
  return { files, totalSize };
}

function removeStaleWeights(dir: string, weightsName: string, keep: ReadonlySet<string>): void {
  const ext = path.extname(weightsName);
  const stem = weightsName.slice(0, weightsName.length - ext.length);
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const ours = new RegExp(`^${escape(stem)}(-\\d{5}-of-\\d{5})?${escape(ext)}(\\.index\\.json)?$`);
  for (const f of fs.readdirSync(dir)) {
    if (ours.test(f) && !keep.has(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
}

