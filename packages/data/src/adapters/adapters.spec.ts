// Every built-in adapter's five texts on a sample row, written out by hand from dschat/utils/data/raw_datasets.py.
import type { Table } from '../readers/table';
import { Sample } from '../sample';
import { builtinAdapters, findAdapter, stripCitations } from './index';
import type { DatasetAdapter } from './types';

function sample(values: Record<string, unknown>, name = 'test'): Sample {
  const table: Table = { file: '/data/x.jsonl', columns: Object.keys(values), rows: [values], locate: (k) => `line ${k + 1}` };
  return new Sample({ values, table, index: 0 }, name);
}

interface Expected {
  prompt: string | null;
  chosen: string | null;
  rejected: string | null;
  promptAndChosen: string | null;
  promptAndRejected: string | null;
}

function texts(a: DatasetAdapter, values: Record<string, unknown>): Expected {
  const s = sample(values, a.name);
  return {
    prompt: a.prompt(s),
    chosen: a.chosen(s),
    rejected: a.rejected(s),
    promptAndChosen: a.promptAndChosen(s),
    promptAndRejected: a.promptAndRejected(s),
  };
}

const byName = (n: string): DatasetAdapter => builtinAdapters.find((a) => a.name === n)!;

const rm = { prompt: '\n\nHuman: Hi?\n\nAssistant:', chosen: ' Hello!', rejected: ' Go away.' };
const rmExpected: Expected = {
  prompt: '\n\nHuman: Hi?\n\nAssistant:',
  chosen: ' Hello!',
  rejected: ' Go away.',
  promptAndChosen: '\n\nHuman: Hi?\n\nAssistant: Hello!',
  promptAndRejected: '\n\nHuman: Hi?\n\nAssistant: Go away.',
};

// name, row, expected texts, train split, eval split
const cases: [string, Record<string, unknown>, Expected, string, string][] = [
  ['Dahoas/rm-static', rm, rmExpected, 'train', 'test'],
  ['Dahoas/full-hh-rlhf', rm, rmExpected, 'train', 'test'],
  [
    'Dahoas/synthetic-instruct-gptj-pairwise',
    { prompt: 'Name a fruit.', chosen: 'Apple.', rejected: 'Car.' },
    {
      prompt: ' Human: Name a fruit. Assistant:',
      chosen: ' Apple.',
      rejected: ' Car.',
      promptAndChosen: ' Human: Name a fruit. Assistant: Apple.',
      promptAndRejected: ' Human: Name a fruit. Assistant: Car.',
    },
    'train 9:1 #0',
    'train 9:1 #1',
  ],
  [
    'yitingxie/rlhf-reward-datasets',
    { prompt: '\n\nHuman: Hi\n\n', chosen: 'Assistant: first Assistant: Yes', rejected: 'Assistant: No' },
    {
      prompt: '\n\nHuman: Hi\n\nAssistant:',
      chosen: ' Yes',
      rejected: ' No',
      promptAndChosen: '\n\nHuman: Hi\n\nAssistant: first Assistant: Yes',
      promptAndRejected: '\n\nHuman: Hi\n\nAssistant: No',
    },
    'train',
    'test',
  ],
  [
    'openai/webgpt_comparisons',
    {
      question: { full_text: 'Why is the sky blue?' },
      answer_0: 'Rayleigh scattering [1] explains it (2).',
      answer_1: 'Because [3]of paint.',
      score_0: -1.0,
      score_1: 1.0,
    },
    {
      prompt: ' Human: Why is the sky blue? Assistant:',
      chosen: ' Becauseof paint.', // CPython: re.sub(r" [\(\[].*?[\)\]]", "", ...) eats the space too
      rejected: ' Rayleigh scattering explains it.',
      promptAndChosen: ' Human: Why is the sky blue? Assistant: Becauseof paint.',
      promptAndRejected: ' Human: Why is the sky blue? Assistant: Rayleigh scattering explains it.',
    },
    'train 9:1 #0',
    'train 9:1 #1',
  ],
  [
    'stanfordnlp/SHP',
    { history: 'Is tea good?', human_ref_A: 'Yes.', human_ref_B: 'No.', labels: 0 },
    {
      prompt: ' Human: Is tea good? Assistant:',
      chosen: ' No.',
      rejected: ' Yes.',
      promptAndChosen: ' Human: Is tea good? Assistant: No.',
      promptAndRejected: ' Human: Is tea good? Assistant: Yes.',
    },
    'train',
    'validation',
  ],
  [
    'pvduy/sharegpt_alpaca_oa_vicuna_format',
    { prompt: 'USER: Hi ASSISTANT: Hey USER: Bye ASSISTANT:', label: 'See you.' },
    {
      prompt: 'Human: Hi Assistant: Hey Human: Bye Assistant:',
      chosen: ' See you.',
      rejected: null,
      promptAndChosen: 'Human: Hi Assistant: Hey Human: Bye Assistant: See you.',
      promptAndRejected: null,
    },
    'train',
    'test',
  ],
  [
    'wangrui6/Zhihu-KOL',
    { INSTRUCTION: '什么是茶？', RESPONSE: '一种饮料。' },
    {
      prompt: ' Human: 什么是茶？ Assistant:',
      chosen: ' 一种饮料。',
      rejected: null,
      promptAndChosen: ' Human: 什么是茶？ Assistant: 一种饮料。',
      promptAndRejected: null,
    },
    'train 9:1 #0',
    'train 9:1 #1',
  ],
  [
    'Cohere/miracl-zh-queries-22-12',
    { query: '北京', positive_passages: [{ docid: '1', text: '首都' }], negative_passages: [{ docid: '2', text: '城市' }] },
    {
      prompt: ' Human: 北京 Assistant:',
      chosen: ' 首都',
      rejected: ' 城市',
      promptAndChosen: ' Human: 北京 Assistant: 首都',
      promptAndRejected: ' Human: 北京 Assistant: 城市',
    },
    'train',
    'dev',
  ],
  [
    'Hello-SimpleAI/HC3-Chinese',
    { question: '你好吗', human_answers: ['很好', '不好'], chatgpt_answers: ['作为AI'] },
    {
      prompt: ' Human: 你好吗 Assistant:',
      chosen: ' 很好',
      rejected: null,
      promptAndChosen: ' Human: 你好吗 Assistant: 很好',
      promptAndRejected: null,
    },
    'train 9:1 #0',
    'train 9:1 #1',
  ],
  [
    'mkqa-Chinese',
    { queries: { zh_cn: '谁', ja: '誰' }, answers: { zh_cn: [{ text: '他' }], ja: [{ text: '彼' }] } },
    {
      prompt: ' Human: 谁 Assistant:',
      chosen: ' 他',
      rejected: null,
      promptAndChosen: ' Human: 谁 Assistant: 他',
      promptAndRejected: null,
    },
    'train 9:1 #0',
    'train 9:1 #1',
  ],
  [
    'mkqa-Japanese',
    { queries: { zh_cn: '谁', ja: '誰' }, answers: { zh_cn: [{ text: '他' }], ja: [{ text: '彼' }] } },
    {
      prompt: ' Human: 誰 Assistant:',
      chosen: ' 彼',
      rejected: null,
      promptAndChosen: ' Human: 誰 Assistant: 彼',
      promptAndRejected: null,
    },
    'train 9:1 #0',
    'train 9:1 #1',
  ],
  [
    'Cohere/miracl-ja-queries-22-12',
    { query: '東京', positive_passages: [{ text: '首都' }], negative_passages: [] },
    {
      prompt: ' Human: 東京 Assistant:',
      chosen: ' 首都',
      rejected: null,
      promptAndChosen: ' Human: 東京 Assistant: 首都',
      promptAndRejected: null,
    },
    'train',
    'dev',
  ],
  [
    'lmqg/qg_jaquad',
    { question: '何？', sentence: 'これ。', paragraph: '...' },
    { prompt: ' Human: 何？ Assistant:', chosen: ' これ。', rejected: null, promptAndChosen: ' Human: 何？ Assistant: これ。', promptAndRejected: null },
    'train',
    'validation',
  ],
  [
    'lmqg/qag_jaquad',
    { questions: ['誰？', '何？'], paragraph: '段落。' },
    { prompt: ' Human: 誰？ Assistant:', chosen: ' 段落。', rejected: null, promptAndChosen: ' Human: 誰？ Assistant: 段落。', promptAndRejected: null },
    'train',
    'validation',
  ],
  [
    'local/jsonfile',
    { prompt: 'Human: Hi Assistant:', chosen: 'Hello', rejected: 'Bye' },
    {
      prompt: ' Human: Hi Assistant:',
      chosen: ' Hello',
      rejected: ' Bye',
      promptAndChosen: ' Human: Hi Assistant: Hello',
      promptAndRejected: ' Human: Hi Assistant: Bye',
    },
    'train',
    'eval',
  ],
];

const splitName = (s: DatasetAdapter['train']): string => (s.part ? `${s.split} ${s.part.ratio.replace(',', ':')} #${s.part.index}` : s.split);

describe('built-in adapters', () => {
  it('cover exactly the 16 DeepSpeed-Chat datasets', () => {
    expect(builtinAdapters.map((a) => a.name).sort()).toEqual(cases.map((c) => c[0]).sort());
    expect(builtinAdapters).toHaveLength(16);
  });

  it.each(cases)('%s', (name, row, expected, trainSplit, evalSplit) => {
    const a = byName(name);
    expect(texts(a, row)).toEqual(expected);
    expect(splitName(a.train)).toBe(trainSplit);
    expect(splitName(a.eval)).toBe(evalSplit);
    expect(a.hasRejected).toBe(expected.promptAndRejected !== null || name === 'Cohere/miracl-ja-queries-22-12');
  });

  it('webgpt: equal scores pick answer_0 as chosen; citations are stripped in both passes', () => {
    const a = byName('openai/webgpt_comparisons');
    const s = sample({ question: { full_text: 'q' }, answer_0: 'A', answer_1: 'B', score_0: 0, score_1: 0 });
    expect([a.chosen(s), a.rejected(s)]).toEqual([' A', ' B']);
    // re.sub(r" [\(\[].*?[\)\]]", "", x) then re.sub(r"[\(\[].*?[\)\]]", "", x), '.' not crossing newlines
    expect(stripCitations('See [1] and (a)[2]. Also [x\ny].')).toBe('See and. Also [x\ny].');
  });

  it('null fields give null text (the row is skipped and counted), wrong types name the file, row and key', () => {
    const rmA = byName('Dahoas/rm-static');
    expect(rmA.promptAndRejected(sample({ prompt: 'p', chosen: 'c', rejected: null }))).toBeNull();
    expect(() => rmA.promptAndChosen(sample({ prompt: 'p', chosen: 42, rejected: 'r' }, rmA.name))).toThrow(
      "/data/x.jsonl, line 1, key 'chosen': expected text (a string), found number.",
    );
    expect(() => rmA.prompt(sample({ chosen: 'c' }, rmA.name))).toThrow(/key 'prompt': missing column 'prompt'/);
    const w = byName('openai/webgpt_comparisons');
    expect(() => w.prompt(sample({ question: 'flat' }, w.name))).toThrow(/key 'question\.full_text': expected an object/);
    expect(() => w.chosen(sample({ answer_0: 'a', answer_1: 'b', score_0: 'x', score_1: 1 }, w.name))).toThrow(/key 'score_0': expected a number, found string 'x'/);
  });

  it('dispatches a path that contains the hub id, most specific name first', () => {
    expect(findAdapter('./data/Dahoas/rm-static')?.name).toBe('Dahoas/rm-static');
    expect(findAdapter('/cache/lmqg/qag_jaquad/')?.name).toBe('lmqg/qag_jaquad');
    expect(findAdapter('mkqa-Japanese')?.cleanName).toBe('mkqa');
    expect(findAdapter('some/other-set')).toBeUndefined();
  });
});
