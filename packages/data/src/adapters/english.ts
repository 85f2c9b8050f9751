// The English DeepSpeed-Chat datasets, text formats as in dschat/utils/data/raw_datasets.py.
import { join, type Sample } from '../sample';
import { humanPrompt, humanPromptAnswer, preformatted, questionAnswer, spaced, TRAIN, TRAIN_10, TRAIN_90 } from './format';
import type { DatasetAdapter } from './types';

export const dahoasRmStatic: DatasetAdapter = {
  name: 'Dahoas/rm-static',
  cleanName: 'Dahoas_rm_static',
  columns: ['prompt', 'chosen', 'rejected'],
  train: TRAIN,
  eval: { split: 'test' },
  hasRejected: true,
  ...preformatted(),
};

export const dahoasFullHhRlhf: DatasetAdapter = {
  ...dahoasRmStatic,
  name: 'Dahoas/full-hh-rlhf',
  cleanName: 'Dahoas_full_hh_rlhf',
};

export const dahoasSyntheticInstructGptjPairwise: DatasetAdapter = {
  name: 'Dahoas/synthetic-instruct-gptj-pairwise',
  cleanName: 'Dahoas_synthetic_instruct_gptj_pairwise',
  columns: ['prompt', 'chosen', 'rejected'],
  train: TRAIN_90,
  eval: TRAIN_10,
  hasRejected: true,
  ...questionAnswer(
    (s) => s.text('prompt'),
    (s) => s.text('chosen'),
    (s) => s.text('rejected'),
  ),
};

/** The last "Assistant:" turn of a full conversation, as Python's str.split(...)[-1]. */
function afterLastAssistant(text: string | null): string | null {
  if (text === null) return null;
  const parts = text.split('Assistant:');
  return parts[parts.length - 1];
}

export const yitingxieRlhfRewardDatasets: DatasetAdapter = {
  name: 'yitingxie/rlhf-reward-datasets',
  cleanName: 'yitingxie_rlhf_reward_datasets',
  columns: ['prompt', 'chosen', 'rejected'],
  train: TRAIN,
  eval: { split: 'test' },
  hasRejected: true,
  prompt: (s) => join(s.text('prompt'), 'Assistant:'),
  chosen: (s) => afterLastAssistant(s.text('chosen')),
  rejected: (s) => afterLastAssistant(s.text('rejected')),
  promptAndChosen: (s) => join(s.text('prompt'), s.text('chosen')),
  promptAndRejected: (s) => join(s.text('prompt'), s.text('rejected')),
};

/**
 * WebGPT answers cite sources as "[1]" or "(2)"; DeepSpeed-Chat strips a space-prefixed citation first,
 * then any remaining one. Python's '.' does not match '\n' only, hence [^\n] rather than JS '.'.
 */
export function stripCitations(response: string): string {
  return response.replace(/ [([][^\n]*?[)\]]/g, '').replace(/[([][^\n]*?[)\]]/g, '');
}

function webgptAnswer(s: Sample, want: 'chosen' | 'rejected'): string | null {
  const first = s.number('score_0') >= s.number('score_1');
  const pick = want === 'chosen' ? (first ? 'answer_0' : 'answer_1') : first ? 'answer_1' : 'answer_0';
  const a = s.text(pick);
  return a === null ? null : stripCitations(a);
}

export const openaiWebgptComparisons: DatasetAdapter = {
  name: 'openai/webgpt_comparisons',
  cleanName: 'openai_webgpt_comparisons',
  columns: ['question', 'answer_0', 'answer_1', 'score_0', 'score_1'],
  train: TRAIN_90,
  eval: TRAIN_10,
  hasRejected: true,
  prompt: (s) => humanPrompt(s.text('question', 'full_text')),
  chosen: (s) => spaced(webgptAnswer(s, 'chosen')),
  rejected: (s) => spaced(webgptAnswer(s, 'rejected')),
  promptAndChosen: (s) => humanPromptAnswer(s.text('question', 'full_text'), webgptAnswer(s, 'chosen')),
  promptAndRejected: (s) => humanPromptAnswer(s.text('question', 'full_text'), webgptAnswer(s, 'rejected')),
};

function shpRef(s: Sample, want: 'chosen' | 'rejected'): string | null {
  const aWins = Math.trunc(s.number('labels')) === 1;
  return s.text((want === 'chosen') === aWins ? 'human_ref_A' : 'human_ref_B');
}

export const stanfordnlpShp: DatasetAdapter = {
  name: 'stanfordnlp/SHP',
  cleanName: 'stanfordnlp_SHP',
  columns: ['history', 'human_ref_A', 'human_ref_B', 'labels'],
  train: TRAIN,
  eval: { split: 'validation' },
  hasRejected: true,
  ...questionAnswer(
    (s) => s.text('history'),
    (s) => shpRef(s, 'chosen'),
    (s) => shpRef(s, 'rejected'),
  ),
};

/** Vicuna-format prompts say USER/ASSISTANT; DeepSpeed-Chat renames them (every occurrence, like str.replace). */
function vicunaPrompt(s: Sample): string | null {
  const p = s.text('prompt');
  if (p === null || p.length === 0) return null;
  return p.replaceAll('USER', 'Human').replaceAll('ASSISTANT', 'Assistant');
}

function vicunaLabel(s: Sample): string | null {
  const l = s.text('label');
  return l === null || l.length === 0 ? null : l;
}

export const pvduySharegptAlpacaOaVicunaFormat: DatasetAdapter = {
  name: 'pvduy/sharegpt_alpaca_oa_vicuna_format',
  cleanName: 'pvduy_sharegpt_alpaca_oa_vicuna_format',
  columns: ['prompt', 'label'],
  train: TRAIN,
  eval: { split: 'test' },
  hasRejected: false,
  prompt: vicunaPrompt,
  chosen: (s) => spaced(vicunaLabel(s)),
  rejected: () => null,
  promptAndChosen: (s) => join(vicunaPrompt(s), ' ', vicunaLabel(s)),
  promptAndRejected: () => null,
};

export const englishAdapters: readonly DatasetAdapter[] = [
  dahoasRmStatic,
  dahoasFullHhRlhf,
  dahoasSyntheticInstructGptjPairwise,
  yitingxieRlhfRewardDatasets,
  openaiWebgptComparisons,
  stanfordnlpShp,
  pvduySharegptAlpacaOaVicunaFormat,
];
