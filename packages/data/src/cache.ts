// The tokenized dataset cache: Arrow IPC files keyed by a hash of everything that shapes the result, written atomically.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Field, Int32, List, Schema, Table, tableFromIPC, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import type { Phase } from './prompt-dataset';
import type { PhaseItem, Phase1Item, Phase2Item, Phase3Item } from './tokenize';

/** Bump when the cached layout or the tokenization rules change. */
export const CACHE_FORMAT = 1;
const META_KEY = 'rlhfkit';

/** sha256 of a stable JSON encoding (object keys sorted) of the key material. */
export function cacheKey(material: unknown): string {
  const stable = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, stable((v as Record<string, unknown>)[k])]))
      : Array.isArray(v)
        ? v.map(stable)
        : v;
  return createHash('sha256').update(JSON.stringify(stable({ format: CACHE_FORMAT, ...(material as object) }))).digest('hex');
}

/** DeepSpeed-Chat's names: traindata_<hash> / evaldata_<hash>, here as Arrow IPC files. */
export function cacheFiles(outputPath: string, key: string): { train: string; eval: string } {
  return { train: path.join(outputPath, `traindata_${key}.arrow`), eval: path.join(outputPath, `evaldata_${key}.arrow`) };
}

const idsType = (): List<Int32> => new List(new Field('item', new Int32(), true));

function columnsFor(phase: Phase, items: readonly PhaseItem[]): Record<string, Vector> {
  const ids = (rows: number[][]): Vector => vectorFromArray(rows, idsType());
  if (phase === 1) {
    const r = items as readonly Phase1Item[];
    return { input_ids: ids(r.map((x) => x.inputIds)), prompt_length: vectorFromArray(r.map((x) => x.promptLength), new Int32()) };
  }
  if (phase === 2) {
    const r = items as readonly Phase2Item[];
    return { chosen_ids: ids(r.map((x) => x.chosenIds)), rejected_ids: ids(r.map((x) => x.rejectedIds)) };
  }
  return { prompt_ids: ids((items as readonly Phase3Item[]).map((x) => x.promptIds)) };
}

/** Write a file so that it either appears whole or not at all: temp file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, data: Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Serialize one split's items (with `meta` stored in the schema metadata). */
export function encodeSplit(phase: Phase, items: readonly PhaseItem[], meta: Record<string, unknown>): Uint8Array {
  const columns = columnsFor(phase, items);
  let table = new Table(columns);
  const metadata = new Map([[META_KEY, JSON.stringify({ format: CACHE_FORMAT, phase, ...meta })]]);
  table = new Table(new Schema(table.schema.fields, metadata), table.batches);
  return tableToIPC(table, 'file');
}

function intList(v: unknown): number[] {
  return Array.from((v as { toArray(): Int32Array }).toArray());
}

/** Read one cached split; undefined when the file is missing, unreadable or from another format/phase. */
export function readSplit<T extends PhaseItem>(file: string, phase: Phase): { items: T[]; meta: Record<string, unknown> } | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const table = tableFromIPC(fs.readFileSync(file));
    const meta = JSON.parse(table.schema.metadata.get(META_KEY) ?? '{}') as Record<string, unknown>;
    if (meta.format !== CACHE_FORMAT || meta.phase !== phase) return undefined;
    const col = (n: string) => table.getChild(n)!;
    const items: PhaseItem[] = [];
    for (let i = 0; i < table.numRows; i++) {
      if (phase === 1) items.push({ inputIds: intList(col('input_ids').get(i)), promptLength: Number(col('prompt_length').get(i)) });
      else if (phase === 2) items.push({ chosenIds: intList(col('chosen_ids').get(i)), rejectedIds: intList(col('rejected_ids').get(i)) });
      else items.push({ promptIds: intList(col('prompt_ids').get(i)) });
    }
    return { items: items as T[], meta };
  } catch {
    return undefined;
  }
}
