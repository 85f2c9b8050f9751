// DeepSpeed-Chat's rw_eval: score prompt/answer pairs (or single answers) with a trained reward model.
import type { Tokenizer } from '@rlhfkit/core-tensor';
import { readJsonTable } from '@rlhfkit/data';
import type { RewardModel } from './reward-model';

export interface PairToScore {
  prompt: string;
  chosen: string;
  rejected: string;
}

export interface AnswerToScore {
  prompt: string;
  answer: string;
}

export interface ScoreOptions {
  /** Rows are cut to this many tokens (rw_eval uses 512). */
  maxSeqLen?: number;
  /** Appended to every answer, as in training (DeepSpeed-Chat's end_of_conversation_token). */
  endOfConversationToken?: string;
}

export interface ScoredPair extends PairToScore {
  chosenScore: number;
  rejectedScore: number;
}

export interface ScoredAnswer extends AnswerToScore {
  score: number;
}

/** The DeepSpeed-Chat rw_eval examples, scored when no pairs are given. */
export const RW_EVAL_EXAMPLES: readonly PairToScore[] = [
  {
    prompt: 'Human: Please tell me about Microsoft in a few sentence? Assistant: ',
    chosen:
      'Microsoft is a software company that develops, licenses, and supports software products, including Windows, Office, and Windows Phone. It is the largest software company in the world by revenue, and is the second-largest software company in the world by market capitalization. Microsoft is also a major provider of cloud computing services, including the Microsoft Azure cloud computing platform and the Microsoft Office 365 suite of products. The company was founded in 1975',
    rejected:
      "I'm not sure. Human: What's your job? Assistant: I'm not sure. Human: What's your favorite color? Assistant: I'm not sure. Human: What's your favorite food? Assistant: I'm not sure. Human: What's your favorite drink? Assistant: I'm not sure.",
  },
  {
    prompt: 'Human: Explain the moon landing to a 6 year old in a few sentences. Assistant: ',
    chosen:
      'The moon landing was a major milestone in the history of human exploration of the solar system. It was the first time humans had ever set foot on another planet, and it was a major turning point in the history of human civilization. The astronauts, Neil Armstrong, Buzz Aldrin, and Michael Collins, successfully landed the Apollo 11 spacecraft on the moon, marking the first time humans had ever set foot on another',
    rejected: "I don't know, I don't know.",
  },
];

const DEFAULT_EOT = '<|endoftext|>';

/**
 * Each pair as prepare_datapair builds it (prompt + answer + end-of-conversation token, truncated, right-padded),
 * chosen row then rejected row, scored by RewardModel.forward. Padding goes to the longer row of the pair instead of
 * 512: the model is causal, so the values at real tokens, the end indices and the scores are the same.
 */
export async function scorePairs(model: RewardModel, tokenizer: Tokenizer, pairs: readonly PairToScore[], o: ScoreOptions = {}): Promise<ScoredPair[]> {
  const eot = o.endOfConversationToken ?? DEFAULT_EOT;
  const out: ScoredPair[] = [];
  for (const p of pairs) {
    const enc = await tokenizer.encodeBatch([p.prompt + p.chosen + eot, p.prompt + p.rejected + eot], {
      truncation: true,
      maxLength: o.maxSeqLen ?? 512,
      padding: 'longest',
    });
    const r = model.forward({ inputIds: enc.inputIds, attentionMask: enc.attentionMask });
    out.push({ ...p, chosenScore: r.chosenMeanScores[0], rejectedScore: r.rejectedMeanScores[0] });
  }
  return out;
}

/** run_single_sample: forward_value with prompt_length = max(2, num_padding_at_beginning), the end score of each answer. */
export async function scoreAnswers(model: RewardModel, tokenizer: Tokenizer, answers: readonly AnswerToScore[], o: ScoreOptions = {}): Promise<ScoredAnswer[]> {
  const eot = o.endOfConversationToken ?? DEFAULT_EOT;
  const out: ScoredAnswer[] = [];
  for (const a of answers) {
    const enc = await tokenizer.encodeBatch([a.prompt + a.answer + eot], { truncation: true, maxLength: o.maxSeqLen ?? 512, padding: 'longest' });
    const r = model.forwardValue(enc.inputIds, enc.attentionMask, Math.max(2, model.numPaddingAtBeginning));
    out.push({ ...a, score: r.chosenEndScores[0] });
  }
  return out;
}

/**
 * Pairs or answers from a .json (array) or .jsonl file: rows with prompt + chosen + rejected are pairs, rows with
 * prompt + answer (or response) are single answers (data's JSON reader: .json, .jsonl, .gz). Errors name the file and line.
 */
export function readScoreFile(file: string): { pairs: PairToScore[]; answers: AnswerToScore[] } {
  const table = readJsonTable(file);
  const rows = table.rows.map((row, k) => ({ row, where: `${file}, ${table.locate(k)}` }));
  const pairs: PairToScore[] = [];
  const answers: AnswerToScore[] = [];
  for (const { row, where } of rows) {
    const r = row as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof r?.[k] === 'string' ? (r[k] as string) : undefined);
    const prompt = str('prompt');
    if (prompt === undefined) throw new Error(`${where}: needs a string "prompt"`);
    const chosen = str('chosen');
    const rejected = str('rejected');
    const answer = str('answer') ?? str('response');
    if (chosen !== undefined && rejected !== undefined) pairs.push({ prompt, chosen, rejected });
    else if (answer !== undefined) answers.push({ prompt, answer });
    else throw new Error(`${where}: needs "chosen" and "rejected" (a pair) or "answer" (a single answer) next to "prompt"`);
  }
  return { pairs, answers };
}

/** rw_eval's printout of one pair. */
export function formatScoredPair(s: ScoredPair): string {
  return [
    '==================Eval result============================',
    `prompt:  ${s.prompt}`,
    '',
    `good_ans:  ${s.chosen}`,
    '',
    `bad_ans: ${s.rejected}`,
    '',
    '=============Scores (higher, better)========================',
    `good_ans score:  ${s.chosenScore}`,
    `bad_ans score:  ${s.rejectedScore}`,
  ].join('\n');
}

/** run_single_sample's printout. */
export function formatScoredAnswer(s: ScoredAnswer): string {
  return ['==================Eval result============================', `prompt:  ${s.prompt}`, `my_ans:  ${s.answer}`, '', '=============Scores========================', `my_ans score:  ${s.score}`].join('\n');
}
