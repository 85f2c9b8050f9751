// Text helpers shared by the adapters: DeepSpeed-Chat's " Human: ... Assistant:" contract.
import { join, type Sample } from '../sample';
import type { DatasetAdapter, SplitSpec } from './types';

/** " Human: " + question + " Assistant:" (null in, null out). */
export function humanPrompt(question: string | null): string | null {
  return join(' Human: ', question, ' Assistant:');
}

/** " Human: " + question + " Assistant: " + answer. */
export function humanPromptAnswer(question: string | null, answer: string | null): string | null {
  return join(' Human: ', question, ' Assistant: ', answer);
}

/** " " + response. */
export function spaced(response: string | null): string | null {
  return join(' ', response);
}

export const TRAIN: SplitSpec = { split: 'train' };
/** DeepSpeed-Chat's own 9:1 cut of a train-only dataset ("train_eval", "9,1"). */
export const TRAIN_90: SplitSpec = { split: 'train', part: { ratio: '9,1', index: 0 } };
export const TRAIN_10: SplitSpec = { split: 'train', part: { ratio: '9,1', index: 1 } };

type TextFns = Pick<DatasetAdapter, 'prompt' | 'chosen' | 'rejected' | 'promptAndChosen' | 'promptAndRejected'>;

/** Text methods for the common question/answer shape: prompt " Human: q Assistant:", answers " a". */
export function questionAnswer(
  question: (s: Sample) => string | null,
  chosen: (s: Sample) => string | null,
  rejected?: (s: Sample) => string | null,
): TextFns {
  return {
    prompt: (s) => humanPrompt(question(s)),
    chosen: (s) => spaced(chosen(s)),
    rejected: (s) => (rejected ? spaced(rejected(s)) : null),
    promptAndChosen: (s) => humanPromptAnswer(question(s), chosen(s)),
    promptAndRejected: (s) => (rejected ? humanPromptAnswer(question(s), rejected(s)) : null),
  };
}

/** Text methods for datasets whose columns already hold the formatted text (rm-static style). */
export function preformatted(): TextFns {
  return {
    prompt: (s) => s.text('prompt'),
    chosen: (s) => s.text('chosen'),
    rejected: (s) => s.text('rejected'),
    promptAndChosen: (s) => join(s.text('prompt'), s.text('chosen')),
    promptAndRejected: (s) => join(s.text('prompt'), s.text('rejected')),
  };
}
