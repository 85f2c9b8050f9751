// DeepSpeed-Chat's local/jsonfile: train.json and eval.json (lists of {prompt, chosen, rejected}) in --data_dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../errors';
import { readSplitRows } from '../readers';
import { join } from '../sample';
import type { DatasetAdapter, LoadContext, LoadedRows } from './types';

/** The first of `<dir>/<stem>.json`, `.jsonl` (and `.gz`) that exists. */
function findJsonFile(dir: string, stem: string): string | undefined {
  for (const ext of ['.json', '.jsonl', '.json.gz', '.jsonl.gz']) {
    const f = path.join(dir, stem + ext);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

async function loadLocalJson(ctx: LoadContext): Promise<LoadedRows> {
  const dir = path.resolve(ctx.dataDir);
  const trainFile = findJsonFile(dir, 'train');
  const evalFile = findJsonFile(dir, 'eval');
  if (!trainFile || !evalFile) {
    const missing = [!trainFile && 'train.json', !evalFile && 'eval.json'].filter(Boolean).join(' and ');
    throw new DataError(
      `local/jsonfile needs both train.json and eval.json (or .jsonl) in --data_dir; ${missing} not found. ` +
        `Each holds a JSON list of {"prompt": ..., "chosen": ..., "rejected": ...}. Pass --data_dir to point at their folder.`,
      { file: dir },
    );
  }
  return { train: await readSplitRows([trainFile]), eval: await readSplitRows([evalFile]), trainFiles: [trainFile], evalFiles: [evalFile] };
}

export const localJsonFile: DatasetAdapter = {
  name: 'local/jsonfile',
  cleanName: 'jsonfile',
  columns: ['prompt', 'chosen', 'rejected'],
  train: { split: 'train' },
  eval: { split: 'eval' },
  hasRejected: true,
  // The prompt gets a leading space and prompt/answer are joined by a space, as in DeepSpeed-Chat.
  prompt: (s) => join(' ', s.text('prompt')),
  chosen: (s) => join(' ', s.text('chosen')),
  rejected: (s) => join(' ', s.text('rejected')),
  promptAndChosen: (s) => join(' ', s.text('prompt'), ' ', s.text('chosen')),
  promptAndRejected: (s) => join(' ', s.text('prompt'), ' ', s.text('rejected')),
  load: loadLocalJson,
  sourceFiles: (ctx) => ['train', 'eval'].map((stem) => findJsonFile(path.resolve(ctx.dataDir), stem)).filter((f): f is string => !!f),
};
