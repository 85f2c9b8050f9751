// The demo's second measure: mean AFINN-165 valence of a model's greedy answers to held-out prompts.
import type { CausalLM, GenerationConfig, Tokenizer } from '@rlhfkit/core-tensor';
import { afinnScore, loadRawDataset } from '@rlhfkit/data';

export interface AnswerOptions {
  /** New tokens per answer at most (default 24, the demo's). */
  maxNewTokens?: number;
  /** HF repetition penalty (default 1 = off). */
  repetitionPenalty?: number;
}

export interface ValenceReport {
  prompts: number;
  /** Mean AFINN-165 valence of the answers (the answer text only, without the prompt). */
  meanValence: number;
  /** Fraction of answers with a positive / negative valence. */
  positive: number;
  negative: number;
  /** Distinct answers / answers: low values mean the model says the same thing to every prompt. */
  distinct: number;
  answers: string[];
  valences: number[];
}

/**
 * The prompts of a dataset's test split (default the demo's: sentences never seen in training), rendered as every
 * step renders them (`\n\nHuman: ... \n\nAssistant:`), in file order; at most `limit`.
 */
export async function heldOutPrompts(dataPath = 'rlhfkit/demo', limit?: number): Promise<string[]> {
  const raw = await loadRawDataset(dataPath, { seed: 1234 });
  const out: string[] = [];
  for (const s of raw.eval) {
    const p = raw.adapter.prompt(s);
    if (p === null) continue;
    out.push(p);
    if (limit !== undefined && out.length >= limit) break;
  }
  if (out.length === 0) throw new Error(`${dataPath}: its test split has no prompts`);
  return out;
}

/** Greedy answers (new tokens only, special tokens skipped), one prompt at a time with the KV cache; the model is put in eval mode. */
export async function greedyAnswers(model: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], o: AnswerOptions = {}): Promise<string[]> {
  model.eval();
  const gen: GenerationConfig = { maxNewTokens: o.maxNewTokens ?? 24, doSample: false, repetitionPenalty: o.repetitionPenalty };
  const out: string[] = [];
  for (const prompt of prompts) {
    const ids = await tokenizer.encode(prompt);
    if (ids.length === 0) throw new Error(`the prompt ${JSON.stringify(prompt)} encodes to no tokens`);
    const r = await model.generate([ids], gen);
    const [text] = await tokenizer.decodeBatch(r.newTokens, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false });
    out.push(text.trim());
  }
  return out;
}

/** Greedy answers to `prompts` and their AFINN-165 valence. */
export async function answerValence(model: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], o: AnswerOptions = {}): Promise<ValenceReport> {
  const answers = await greedyAnswers(model, tokenizer, prompts, o);
  const valences = answers.map(afinnScore);
  const n = Math.max(1, answers.length);
  return {
    prompts: answers.length,
    meanValence: valences.reduce((a, b) => a + b, 0) / n,
    positive: valences.filter((v) => v > 0).length / n,
    negative: valences.filter((v) => v < 0).length / n,
    distinct: new Set(answers).size / n,
    answers,
    valences,
  };
}
