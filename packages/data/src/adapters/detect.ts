// A local dataset folder whose name matches no adapter is recognised from its columns (as TRL recognises its formats):
// the DeepSpeed-Chat adapter with those columns reads it, and one printed line says which format was assumed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../errors';
import { formatOf, parquetColumns, readTable } from '../readers';
import { findSplitFiles } from '../resolve';
import { join, type Sample } from '../sample';
import { helloSimpleAiHc3Chinese, cohereMiraclZhQueries, lmqgQagJaquad, lmqgQgJaquad, wangrui6ZhihuKol } from './cjk';
import {
  dahoasRmStatic, dahoasSyntheticInstructGptjPairwise, openaiWebgptComparisons, pvduySharegptAlpacaOaVicunaFormat, stanfordnlpShp,
} from './english';
import { humanPrompt, humanPromptAnswer, preformatted, spaced, TRAIN, TRAIN_10, TRAIN_90 } from './format';
import { adapterFor, findAdapter } from './registry';
import type { DatasetAdapter, SplitSpec } from './types';

type TextFns = Pick<DatasetAdapter, 'prompt' | 'chosen' | 'rejected' | 'promptAndChosen' | 'promptAndRejected'>;

/** One recognisable shape of rows: its columns and how its text reads, after the adapter that has those columns. */
export interface ColumnFormat {
  /** The columns, as printed ("prompt/chosen/rejected"). */
  readonly columns: readonly string[];
  /** The adapter whose text rules apply and what it assumes, for the printed line. */
  readonly readAs: (firstPrompts: readonly string[]) => { like: string; note: string; text: TextFns; hasRejected: boolean };
}

/** Prompts that already hold the conversation turns (rm-static style: "\n\nHuman: ... \n\nAssistant:"). */
function holdsTurns(prompts: readonly string[]): boolean {
  const withTurns = prompts.filter((p) => /Assistant:\s*$/.test(p)).length;
  return prompts.length > 0 && withTurns * 2 >= prompts.length;
}

/** prompt + one answer column, SFT only (phase 2 skips these rows): preformatted prompts as rm-static, else wrapped. */
function promptAnswer(answer: string): ColumnFormat['readAs'] {
  return (prompts) => {
    const turns = holdsTurns(prompts);
    const text: TextFns = turns
      ? { prompt: (s) => s.text('prompt'), chosen: (s) => s.text(answer), rejected: () => null, promptAndChosen: (s) => join(s.text('prompt'), s.text(answer)), promptAndRejected: () => null }
      : {
        prompt: (s) => humanPrompt(s.text('prompt')), chosen: (s) => spaced(s.text(answer)), rejected: () => null,
        promptAndChosen: (s: Sample) => humanPromptAnswer(s.text('prompt'), s.text(answer)), promptAndRejected: () => null,
      };
    return {
      like: turns ? dahoasRmStatic.name : dahoasSyntheticInstructGptjPairwise.name,
      note: turns ? 'the prompts already hold the Human:/Assistant: turns' : 'each prompt is wrapped as " Human: ... Assistant:"',
      text,
      hasRejected: false,
    };
  };
}

function like(a: DatasetAdapter, note = 'its text rules'): ColumnFormat['readAs'] {
  return () => ({ like: a.name, note, text: a, hasRejected: a.hasRejected });
}

/** The formats tried, most columns first; the first whose columns a folder's rows all have wins. */
export const COLUMN_FORMATS: readonly ColumnFormat[] = [
  { columns: openaiWebgptComparisons.columns, readAs: like(openaiWebgptComparisons) },
  { columns: stanfordnlpShp.columns, readAs: like(stanfordnlpShp) },
  { columns: cohereMiraclZhQueries.columns, readAs: like(cohereMiraclZhQueries) },
  {
    columns: ['prompt', 'chosen', 'rejected'],
    readAs: (prompts) => (holdsTurns(prompts)
      ? { like: dahoasRmStatic.name, note: 'the prompts already hold the Human:/Assistant: turns', text: preformatted(), hasRejected: true }
      : { like: dahoasSyntheticInstructGptjPairwise.name, note: 'each prompt is wrapped as " Human: ... Assistant:"', text: dahoasSyntheticInstructGptjPairwise, hasRejected: true }),
  },
  { columns: helloSimpleAiHc3Chinese.columns, readAs: like(helloSimpleAiHc3Chinese) },
  { columns: wangrui6ZhihuKol.columns, readAs: like(wangrui6ZhihuKol) },
  { columns: lmqgQgJaquad.columns, readAs: like(lmqgQgJaquad) },
  { columns: lmqgQagJaquad.columns, readAs: like(lmqgQagJaquad) },
  { columns: ['prompt', 'response'], readAs: promptAnswer('response') },
  { columns: ['prompt', 'completion'], readAs: promptAnswer('completion') },
  { columns: pvduySharegptAlpacaOaVicunaFormat.columns, readAs: like(pvduySharegptAlpacaOaVicunaFormat, 'USER/ASSISTANT renamed Human/Assistant') },
];

/** Split names that hold evaluation rows, in the order they are preferred. */
const EVAL_SPLITS = ['test', 'validation', 'eval', 'dev', 'valid'];

async function columnsOf(file: string): Promise<{ columns: string[]; prompts: string[] }> {
  if (formatOf(file) === 'parquet') {
    const columns = await parquetColumns(file);
    if (!columns.includes('prompt')) return { columns, prompts: [] };
  }
  const table = await readTable(file);
  const prompts = table.rows.slice(0, 50).map((r) => r.prompt).filter((p): p is string => typeof p === 'string');
  return { columns: [...table.columns], prompts };
}

/**
 * The adapter for a data path: the registered name it contains (adapterFor), else, for a local folder, the format its
 * train rows' columns match (printing which one was assumed through `log`). Nothing matching is a DataError that
 * lists what would.
 */
export async function resolveAdapter(dataPath: string, log: (line: string) => void): Promise<DatasetAdapter> {
  const named = findAdapter(dataPath);
  if (named || !fs.existsSync(dataPath) || !fs.statSync(dataPath).isDirectory()) return named ?? adapterFor(dataPath);
  const root = path.resolve(dataPath);
  const splits = findSplitFiles(root);
  const trainFiles = splits.get('train') ?? [];
  if (trainFiles.length === 0) {
    throw new DataError(
      `no dataset adapter matches --data_path '${dataPath}', and the folder has no train split to recognise a format from ` +
        `(found: ${[...splits.keys()].join(', ') || 'no data files'}); name train/test files e.g. train.jsonl and test.jsonl.`,
      { file: root },
    );
  }
  const { columns, prompts } = await columnsOf(trainFiles[0]);
  const format = COLUMN_FORMATS.find((f) => f.columns.every((c) => columns.includes(c)));
  if (!format) {
    throw new DataError(
      `no dataset adapter matches --data_path '${dataPath}', and its columns (${columns.join(', ') || 'none'}) are none of the ` +
        `formats rlhfkit recognises: ${COLUMN_FORMATS.map((f) => f.columns.join('/')).join('; ')}. Rename the columns, ` +
        'register an adapter (packages/data/README.md, "Adding a dataset"), or convert the rows to local/jsonfile.',
      { file: trainFiles[0] },
    );
  }
  const r = format.readAs(prompts);
  const evalSplit = EVAL_SPLITS.find((s) => (splits.get(s) ?? []).length > 0);
  const train: SplitSpec = evalSplit ? TRAIN : TRAIN_90;
  const evalSpec: SplitSpec = evalSplit ? { split: evalSplit } : TRAIN_10;
  log(
    `data: ${dataPath} matches no dataset name; its columns ${format.columns.join('/')} are read as ${r.like} reads them ` +
      `(${r.note}${r.hasRejected ? '' : '; no rejected answers, so steps 2-3 skip its rows'}); eval rows: ` +
      `${evalSplit ? `the '${evalSplit}' split` : "a 9:1 cut of 'train', as DeepSpeed-Chat cuts train-only datasets"}`,
  );
  return {
    name: dataPath,
    cleanName: path.basename(root).replace(/[^A-Za-z0-9]+/g, '_'),
    hubIds: [],
    columns: format.columns,
    train,
    eval: evalSpec,
    hasRejected: r.hasRejected,
    prompt: (s) => r.text.prompt(s),
    chosen: (s) => r.text.chosen(s),
    rejected: (s) => r.text.rejected(s),
    promptAndChosen: (s) => r.text.promptAndChosen(s),
    promptAndRejected: (s) => r.text.promptAndRejected(s),
  };
}
