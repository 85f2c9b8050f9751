// DeepSpeed-Chat's get_unsupervised_data for a local text dataset: tokenize the train split, concatenate, cut into blocks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tokenizer } from '@rlhfkit/core-tensor';
import { DataError, findSplitFiles, readSplitRows, resolveDatasetRoot, type RawRow } from '@rlhfkit/data';
import type { IntMatrix } from './matrix';

const TEXT_FILE = /\.txt(\.gz)?$/i;

function readText(file: string): string {
  const buf = fs.readFileSync(file);
  const text = file.toLowerCase().endsWith('.gz') ? (require('node:zlib') as typeof import('node:zlib')).gunzipSync(buf).toString('utf8') : buf.toString('utf8');
  return text;
}

/** One row per line, as the `datasets` text builder reads .txt files (line breaks dropped, empty lines kept). */
function textFileRows(file: string): string[] {
  const lines = readText(file).split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The text of each row: the `text` column if there is one, else the first column (DeepSpeed-Chat's rule). */
function rowTexts(rows: readonly RawRow[], where: string): string[] {
  if (rows.length === 0) return [];
  const cols = rows[0].table.columns;
  const col = cols.includes('text') ? 'text' : cols[0];
  if (col === undefined) throw new DataError('the unsupervised dataset has rows without columns; it needs a text column.', { file: where });
  return rows.map((r) => {
    const v = r.values[col];
    if (v === null || v === undefined) return '';
    if (typeof v !== 'string') throw new DataError(`${r.table.locate(r.index)}: column '${col}' holds ${typeof v}, not text.`, { file: r.table.file });
    return v;
  });
}

/** The training texts of `name`: a .txt/.json/.jsonl/.parquet/.arrow file, a folder of them, or a dataset in the HF caches. */
export async function readUnsupervisedTexts(name: string, configName: string | null = null): Promise<{ texts: string[]; source: string }> {
  if (fs.existsSync(name) && fs.statSync(name).isFile()) {
    if (TEXT_FILE.test(name)) return { texts: textFileRows(name), source: path.resolve(name) };
    return { texts: rowTexts(await readSplitRows([name]), name), source: path.resolve(name) };
  }
  if (fs.existsSync(name) && fs.statSync(name).isDirectory()) {
    const txt = fs.readdirSync(name).filter((f) => TEXT_FILE.test(f)).sort();
    if (txt.length) return { texts: txt.flatMap((f) => textFileRows(path.join(name, f))), source: path.resolve(name) };
  }
  const { root } = resolveDatasetRoot(name, [name], configName ?? undefined);
  const splits = findSplitFiles(root, configName ?? undefined);
  const train = splits.get('train');
  if (!train || train.length === 0) {
    throw new DataError(`no train split found (splits: ${[...splits.keys()].join(', ') || 'none'}); --unsupervised_dataset_name needs text to train on.`, { file: root });
  }
  return { texts: rowTexts(await readSplitRows(train), root), source: root };
}

/**
 * Tokenizes every text (special tokens as the tokenizer adds them, like `tokenizer(examples[text])`), concatenates all
 * ids and cuts them into blocks of `blockSize` (= max_prompt_seq_len + max_answer_seq_len), dropping the remainder
 * when there is at least one block (DeepSpeed-Chat's group_texts). Returns [blocks, blockSize].
 */
export async function unsupervisedBlocks(texts: readonly string[], tokenizer: Tokenizer, blockSize: number): Promise<IntMatrix> {
  const all: number[] = [];
  const chunk = 256;
  for (let i = 0; i < texts.length; i += chunk) {
    const enc = await tokenizer.encodeBatch(texts.slice(i, i + chunk) as string[], { padding: false });
    for (const ids of enc.inputIds) for (const t of ids) all.push(t);
  }
  const n = Math.floor(all.length / blockSize);
  if (n === 0) throw new Error(`the unsupervised dataset has ${all.length} tokens, fewer than one block of ${blockSize} (max_prompt_seq_len + max_answer_seq_len)`);
  return { data: Int32Array.from(all.slice(0, n * blockSize)), shape: [n, blockSize] };
}
