// The Chinese and Japanese DeepSpeed-Chat datasets, text formats as in dschat/utils/data/raw_datasets.py.
import type { Sample } from '../sample';
import { questionAnswer, TRAIN, TRAIN_10, TRAIN_90 } from './format';
import type { DatasetAdapter } from './types';

export const wangrui6ZhihuKol: DatasetAdapter = {
  name: 'wangrui6/Zhihu-KOL',
  cleanName: 'wangrui6_Zhihu_KOL',
  columns: ['INSTRUCTION', 'RESPONSE'],
  train: TRAIN_90,
  eval: TRAIN_10,
  hasRejected: false,
  ...questionAnswer(
    (s) => s.text('INSTRUCTION'),
    (s) => s.text('RESPONSE'),
  ),
};

const firstPassage = (s: Sample, key: string): string | null => s.text(key, 0, 'text');

/** Cohere's MIRACL query sets: the first positive passage is the chosen answer, the first negative the rejected. */
function miracl(name: string, cleanName: string): DatasetAdapter {
  return {
    name,
    cleanName,
    columns: ['query', 'positive_passages', 'negative_passages'],
    train: TRAIN,
    eval: { split: 'dev' },
    hasRejected: true,
    ...questionAnswer(
      (s) => s.text('query'),
      (s) => firstPassage(s, 'positive_passages'),
      (s) => firstPassage(s, 'negative_passages'),
    ),
  };
}

export const cohereMiraclZhQueries = miracl('Cohere/miracl-zh-queries-22-12', 'Cohere_miracl_zh_queries_22_12');

export const helloSimpleAiHc3Chinese: DatasetAdapter = {
  name: 'Hello-SimpleAI/HC3-Chinese',
  cleanName: 'Hello_SimpleAI_HC3_Chinese',
  // load_dataset("Hello-SimpleAI/HC3-Chinese") reads the "all" config; the repo also holds per-domain files.
  config: 'all',
  columns: ['question', 'human_answers'],
  train: TRAIN_90,
  eval: TRAIN_10,
  hasRejected: false,
  ...questionAnswer(
    (s) => s.text('question'),
    (s) => s.text('human_answers', 0),
  ),
};

function mkqa(name: string, lang: string): DatasetAdapter {
  return {
    name,
    // Both mkqa adapters share DeepSpeed-Chat's clean name "mkqa" and read the canonical "mkqa" dataset.
    cleanName: 'mkqa',
    hubIds: ['mkqa', 'apple/mkqa'],
    columns: ['queries', 'answers'],
    train: TRAIN_90,
    eval: TRAIN_10,
    hasRejected: false,
    ...questionAnswer(
      (s) => s.text('queries', lang),
      (s) => s.text('answers', lang, 0, 'text'),
    ),
  };
}

export const mkqaChinese = mkqa('mkqa-Chinese', 'zh_cn');
export const mkqaJapanese = mkqa('mkqa-Japanese', 'ja');

export const cohereMiraclJaQueries = miracl('Cohere/miracl-ja-queries-22-12', 'Cohere_miracl_ja_queries_22_12');

export const lmqgQgJaquad: DatasetAdapter = {
  name: 'lmqg/qg_jaquad',
  cleanName: 'lmqg_qg_jaquad',
  columns: ['question', 'sentence'],
  train: TRAIN,
  eval: { split: 'validation' },
  hasRejected: false,
  ...questionAnswer(
    (s) => s.text('question'),
    (s) => s.text('sentence'),
  ),
};

export const lmqgQagJaquad: DatasetAdapter = {
  name: 'lmqg/qag_jaquad',
  cleanName: 'lmqg_qag_jaquad',
  columns: ['questions', 'paragraph'],
  train: TRAIN,
  eval: { split: 'validation' },
  hasRejected: false,
  ...questionAnswer(
    (s) => s.text('questions', 0),
    (s) => s.text('paragraph'),
  ),
};

export const cjkAdapters: readonly DatasetAdapter[] = [
  wangrui6ZhihuKol,
  cohereMiraclZhQueries,
  helloSimpleAiHc3Chinese,
  mkqaChinese,
  mkqaJapanese,
  cohereMiraclJaQueries,
  lmqgQgJaquad,
  lmqgQagJaquad,
];
