// A checkpoint read one tensor at a time, when asked: a model loads without a second full copy of its weights in memory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openForRead, readExact } from './file-io';
import { decodeLittleEndian, numel, type HostTensor, type StateDict } from './host-tensor';
import { readSafetensorsHeaderFull, type SafetensorsEntry } from './safetensors';
import { readShardIndex } from './sharding';
import { CheckpointError } from './host-tensor';
import { loadStateDict } from './checkpoint';

/** What a model loader reads from a checkpoint: a StateDict (a Map) has it, and so does LazyStateDict. */
export interface TensorSource {
  get(key: string): HostTensor | undefined;
  has(key: string): boolean;
  keys(): IterableIterator<string>;
}

interface Located {
  file: string;
  entry: SafetensorsEntry;
  dataStart: number;
}

/**
 * The tensors of a safetensors checkpoint (one file or shards under an index), decoded from the file on every get():
 * nothing is cached, so a loader that takes each tensor once holds one tensor at a time beside the model.
 */
export class LazyStateDict implements TensorSource {
  private readonly where = new Map<string, Located>();

  constructor(readonly file: string) {
    if (file.endsWith('.index.json')) {
      const index = readShardIndex(file);
      const dir = path.dirname(file);
      const headers = new Map<string, ReturnType<typeof readSafetensorsHeaderFull>>();
      for (const [name, shard] of index.weightMap) {
        const shardFile = path.join(dir, shard);
        let h = headers.get(shardFile);
        if (!h) {
          if (!fs.existsSync(shardFile)) {
            throw new CheckpointError(`${file}: shard '${shard}' (holding tensor '${name}') does not exist at ${shardFile}; the checkpoint download is incomplete: copy the missing shard into the folder`);
          }
          h = readSafetensorsHeaderFull(shardFile);
          headers.set(shardFile, h);
        }
        const entry = h.entries.find((e) => e.name === name);
        if (!entry) throw new CheckpointError(`${shardFile}: the index ${file} says tensor '${name}' is in this shard, but the shard has no such tensor; the index and shards do not match`);
        this.where.set(name, { file: shardFile, entry, dataStart: h.dataStart });
      }
    } else {
      const h = readSafetensorsHeaderFull(file);
      for (const entry of h.entries) this.where.set(entry.name, { file, entry, dataStart: h.dataStart });
    }
  }

  get size(): number {
    return this.where.size;
  }

  has(key: string): boolean {
    return this.where.has(key);
  }

  keys(): IterableIterator<string> {
    return this.where.keys();
  }

  /** Reads and decodes one tensor (a fresh array each call). */
  get(key: string): HostTensor | undefined {
    const at = this.where.get(key);
    if (!at) return undefined;
    const { fd } = openForRead(at.file, 'safetensors file');
    try {
      const e = at.entry;
      const bytes = readExact(fd, at.dataStart + e.begin, e.end - e.begin, at.file, `tensor '${e.name}'`);
      return { dtype: e.dtype, shape: e.shape.slice(), data: decodeLittleEndian(bytes, e.dtype, numel(e.shape), `${at.file}: tensor '${e.name}'`, true) };
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** A weights file as a TensorSource: safetensors (single or sharded) lazily, torch .bin files read whole. */
export function openStateDict(file: string): TensorSource {
  const base = path.basename(file);
  if (base.endsWith('.safetensors') || base.endsWith('.safetensors.index.json')) return new LazyStateDict(file);
  const sd: StateDict = loadStateDict(file);
  return sd;
}
