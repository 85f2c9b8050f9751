// Loading and saving a model folder's weights in whichever HF layout is there (safetensors or torch .bin, sharded or not).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, type StateDict, type TensorToWrite } from './host-tensor';
import { readSafetensors } from './safetensors';
import { readShardedCheckpoint, writeShardedSafetensors, type SaveShardedOptions, type SaveShardedResult } from './sharding';
import { readTorchBin } from './torch-bin';
import { ResolveError, resolveModelDir } from './resolve';

/** The weight files transformers' from_pretrained tries, in its order of preference. */
export const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'] as const;

export type WeightFile = (typeof WEIGHT_FILES)[number];

/** The weights file `dir` would load from, or a CheckpointError naming the folder and the files looked for. */
export function findWeightsFile(dir: string): { file: string; kind: WeightFile } {
  for (const name of WEIGHT_FILES) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return { file, kind: name };
  }
  let listing = '';
  try {
    const present = fs.readdirSync(dir);
    listing = present.length ? ` It holds: ${present.slice(0, 20).join(', ')}${present.length > 20 ? ', ...' : ''}.` : ' It is empty.';
  } catch {
    // the caller resolved dir; if it vanished, the message below still says where we looked
  }
  throw new CheckpointError(`${dir}: no model weights found; looked for ${WEIGHT_FILES.join(', ')}.${listing}`);
}

function readWeightsFile(file: string, keys?: ReadonlySet<string>): StateDict {
  const base = path.basename(file);
  if (base.endsWith('.index.json')) {
    const reader = base.includes('.safetensors') ? readSafetensors : readTorchBin;
    return readShardedCheckpoint(file, reader, keys);
  }
  if (base.endsWith('.safetensors')) return readSafetensors(file, keys);
  return readTorchBin(file, keys);
}

export interface LoadStateDictOptions {
  /** Load only these tensor names. */
  keys?: Iterable<string>;
}

/**
 * Loads a model's weights: `dirOrFile` is a model folder (HF order: model.safetensors, its sharded index,
 * pytorch_model.bin, its sharded index), a weights file, or a hub name resolved through the local cache.
 * Synchronous; `await` on it works too.
 */
export function loadStateDict(dirOrFile: string, opts: LoadStateDictOptions = {}): StateDict {
  const keys = opts.keys ? new Set(opts.keys) : undefined;
  let target = dirOrFile;
  if (!fs.existsSync(target)) {
    try {
      target = resolveModelDir(dirOrFile);
    } catch (e) {
      if (e instanceof ResolveError) throw new CheckpointError(`cannot load weights: ${e.message}`);
      throw e;
    }
  }
  if (fs.statSync(target).isFile()) return readWeightsFile(target, keys);
  return readWeightsFile(findWeightsFile(target).file, keys);
}

export type SaveStateDictOptions = SaveShardedOptions;

/**
 * Saves weights as `model.safetensors` in `dir`, or as HF-named shards + `model.safetensors.index.json` when they
 * exceed `maxShardSize` (default "5GB"). Each file is written atomically; stale weight files of an earlier save
 * are removed. For an all-or-nothing checkpoint, save into a fresh folder and rename it.
 */
export function saveStateDict(dir: string, tensors: Map<string, TensorToWrite>, opts: SaveStateDictOptions = {}): SaveShardedResult {
  return writeShardedSafetensors(dir, tensors, opts);
}
