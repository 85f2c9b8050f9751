// The evaluation prompts: DeepSpeed-Chat prompt_eval.py's built-in lists (English, Chinese, Japanese) and prompt files.
import * as fs from 'node:fs';

export const PROMPT_LANGUAGES = ['English', 'Chinese', 'Japanese'] as const;
export type PromptLanguage = (typeof PROMPT_LANGUAGES)[number];

/** Each prompt ends with "Assistant:" and no trailing space, as DeepSpeed-Chat chose (a trailing space tends to stall base models). */
export const BUILTIN_PROMPTS: Readonly<Record<PromptLanguage, readonly string[]>> = {
  English: [
    'Human: Please tell me about Microsoft in a few sentence? Assistant:',
    'Human: Explain the moon landing to a 6 year old in a few sentences. Assistant:',
    'Human: Write a short poem about a wise frog. Assistant:',
    'Human: Who was president of the United States in 1955? Assistant:',
    'Human: How does a telescope work? Assistant:',
    'Human: Why do birds migrate south for the winter? Assistant:',
  ],
  Chinese: [
    'Human: 请用几句话介绍一下微软? Assistant:',
    'Human: 用几句话向6岁的孩子解释登月。 Assistant:',
    'Human: 写一首关于一只聪明的青蛙的短诗。 Assistant:',
    'Human: 谁是1955年的美国总统? Assistant:',
    'Human: 望远镜是如何工作的? Assistant:',
    'Human: 鸟类为什么要南迁过冬? Assistant:',
  ],
  Japanese: [
    'Human: マイクロソフトについて簡単に教えてください。 Assistant:',
    'Human: 6歳児に月面着陸を短い文で説明する。 Assistant:',
    'Human: 賢いカエルについて短い詩を書いてください。 Assistant:',
    'Human: 1955年のアメリカ合衆国大統領は誰? Assistant:',
    'Human: 望遠鏡はどのように機能しますか? Assistant:',
    'Human: 鳥が冬に南に移動するのはなぜですか? Assistant:',
  ],
};

/**
 * Prompts from a file: `.json` (an array of strings, or of objects with a "prompt" field), `.jsonl` (one such
 * string or object per line), anything else plain text with one prompt per line (blank lines skipped).
 */
export function readPromptsFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--prompts ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const fromValue = (v: unknown, where: string): string => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object' && typeof (v as { prompt?: unknown }).prompt === 'string') return (v as { prompt: string }).prompt;
    throw new Error(`${file}: ${where} must be a string or an object with a string "prompt" field, got ${JSON.stringify(v)?.slice(0, 80)}`);
  };
  let prompts: string[];
  if (file.endsWith('.json')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(v)) throw new Error(`${file}: a .json prompts file must hold an array of prompts`);
    prompts = v.map((x, i) => fromValue(x, `item ${i}`));
  } else if (file.endsWith('.jsonl')) {
    prompts = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      prompts.push(fromValue(v, `line ${i + 1}`));
    });
  } else {
    prompts = text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
  }
  if (prompts.length === 0) throw new Error(`--prompts ${file}: the file has no prompts`);
  return prompts;
}
