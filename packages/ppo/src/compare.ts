// Step 3's evaluation: two actors' answers to the same held-out prompts side by side, each scored by a reward model.
import { loadModelForTraining, loadTrainingTokenizer, type CausalLM, type Tokenizer } from '@rlhfkit/core-tensor';
import { afinnScore, afinnWords, createStepDatasets, followsDemoInstruction } from '@rlhfkit/data';
import { loadRewardModel, type RewardModel } from '@rlhfkit/reward';
import { LocalReward, HeapMeter } from './local-roles';
import { notEqualMask, type IntMatrix } from './matrix';

export interface CompareOptions {
  /** The actor before step 3 (its tokenizer serves both, as DeepSpeed-Chat's prompt_eval does). */
  baseline: string;
  /** The actor after step 3. */
  finetune: string;
  /** A reward model folder (step 2's output) that scores both answers; without one the scores are NaN. */
  rewardModel?: string | null;
  /** Prompts as text... */
  prompts?: string[];
  /** ...or the held-out phase-3 prompts of a dataset (its eval split), at most `numPrompts` of them. */
  dataPath?: string[];
  dataSplit?: string;
  numPrompts?: number;
  maxPromptSeqLen?: number;
  maxNewTokens?: number;
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  batchSize?: number;
  log?: (line: string) => void;
}

export interface ScoredAnswerText {
  /** The answer alone (special tokens skipped). */
  text: string;
  /** The reward model's end score of prompt + answer. */
  score: number;
  /** AFINN-165 valence of the answer (the demo data's preference signal). */
  afinn: number;
  /** Answer tokens before EOS. */
  tokens: number;
  /** Whether it does what a demo prompt asked (uses the word / starts with the opening); null for other prompts. */
  followed: boolean | null;
}

export interface CompareRow {
  prompt: string;
  baseline: ScoredAnswerText;
  finetune: ScoredAnswerText;
}

/** Summary of one actor's answers. */
export interface AnswerStats {
  meanScore: number;
  meanAfinn: number;
  meanTokens: number;
  /** Distinct answers / answers: 1 = all different, near 0 = the same answer everywhere. */
  distinctRatio: number;
  /** Mean over answers of the share taken by its most frequent word (1 = one word repeated). */
  topWordShare: number;
  /** Share of demo-template prompts whose answer did what was asked; null when no prompt was a demo template. */
  followRate: number | null;
}

export interface CompareResult {
  rows: CompareRow[];
  baseline: AnswerStats;
  finetune: AnswerStats;
}

/** Summary statistics of a list of scored answers. */
export function answerStats(xs: readonly ScoredAnswerText[]): AnswerStats {
  const n = Math.max(1, xs.length);
  const judged = xs.filter((x) => x.followed !== null);
  const mean = (f: (x: ScoredAnswerText) => number): number => xs.reduce((a, x) => a + f(x), 0) / n;
  const share = (t: string): number => {
    const w = afinnWords(t);
    if (w.length === 0) return 0;
    const counts = new Map<string, number>();
    for (const x of w) counts.set(x, (counts.get(x) ?? 0) + 1);
    return Math.max(...counts.values()) / w.length;
  };
  return {
    meanScore: mean((x) => x.score),
    meanAfinn: mean((x) => x.afinn),
    meanTokens: mean((x) => x.tokens),
    distinctRatio: new Set(xs.map((x) => x.text.trim())).size / n,
    topWordShare: mean((x) => share(x.text)),
    followRate: judged.length ? judged.filter((x) => x.followed).length / judged.length : null,
  };
}

function leftPad(rows: readonly number[][], pad: number): { ids: IntMatrix; mask: IntMatrix } {
  const len = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * len).fill(pad);
  const mask = new Int32Array(rows.length * len);
  rows.forEach((r, i) => {
    ids.set(r, i * len + len - r.length);
    mask.fill(1, i * len + len - r.length, (i + 1) * len);
  });
  return { ids: { data: ids, shape: [rows.length, len] }, mask: { data: mask, shape: [rows.length, len] } };
}

async function answerBatch(
  model: CausalLM,
  reward: LocalReward | null,
  tok: Tokenizer,
  prompts: number[][],
  texts: string[],
  o: CompareOptions,
  pad: number,
  eos: Set<number>,
): Promise<ScoredAnswerText[]> {
  const { ids, mask } = leftPad(prompts, pad);
  const rows = (m: IntMatrix): number[][] => Array.from({ length: m.shape[0] }, (_, i) => Array.from(m.data.subarray(i * m.shape[1], (i + 1) * m.shape[1])));
  const out = await model.generate(
    { inputIds: rows(ids), attentionMask: rows(mask) },
    { maxNewTokens: o.maxNewTokens ?? 64, padTokenId: pad, doSample: o.doSample ?? false, temperature: o.temperature, topK: o.topK, topP: o.topP, repetitionPenalty: o.repetitionPenalty, seed: o.seed ?? 1234 },
  );
  const seqLen = out.sequences[0].length;
  const seq: IntMatrix = { data: Int32Array.from(out.sequences.flat()), shape: [out.sequences.length, seqLen] };
  const scores = reward ? await reward.score(seq, notEqualMask(seq, pad), ids.shape[1]) : new Float32Array(seq.shape[0]).fill(NaN);
  const answers = out.newTokens.map((t) => {
    const end = t.findIndex((x) => eos.has(x));
    return end < 0 ? t : t.slice(0, end);
  });
  const decoded = await tok.decodeBatch(answers, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false });
  return decoded.map((text, i) => ({ text, score: scores[i], afinn: afinnScore(text), tokens: answers[i].length, followed: followsDemoInstruction(texts[i], text) }));
}

/**
 * Loads both actors (with the baseline's tokenizer, pad = eos) and the reward model, answers every prompt with each in
 * batches (left-padded, greedy unless doSample), and scores each prompt + answer with the reward model as step 3 does.
 */
export async function compareActors(o: CompareOptions, onRow?: (row: CompareRow, index: number) => void): Promise<CompareResult> {
  const tok = await loadTrainingTokenizer(o.baseline);
  const pad = tok.padTokenId;
  if (pad === undefined) throw new Error(`${o.baseline}: the tokenizer has no pad token`);
  let promptIds: number[][];
  let promptTexts: string[];
  if (o.prompts && o.prompts.length) {
    promptTexts = o.prompts;
    promptIds = (await tok.encodeBatch(o.prompts, { padding: false })).inputIds;
  } else if (o.dataPath && o.dataPath.length) {
    const ds = await createStepDatasets({ phase: 3, dataPath: o.dataPath, dataSplit: o.dataSplit, tokenizer: tok, maxSeqLen: o.maxPromptSeqLen ?? 256, log: () => undefined });
    promptIds = ds.eval.slice(0, o.numPrompts ?? ds.eval.length).map((x) => x.promptIds);
    promptTexts = await tok.decodeBatch(promptIds, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false });
  } else {
    throw new Error('compareActors: give prompts or a dataPath whose eval split holds the held-out prompts');
  }
  if (promptIds.length === 0) throw new Error('compareActors: no prompts to answer');
  const models: CausalLM[] = [];
  let rm: RewardModel | null = null;
  try {
    for (const dir of [o.baseline, o.finetune]) {
      const m = await loadModelForTraining(dir, { tokenizer: tok, log: o.log });
      m.eval();
      models.push(m);
    }
    rm = o.rewardModel ? await loadRewardModel(o.rewardModel, { padTokenId: pad, trainable: false }) : null;
    const reward = rm ? new LocalReward(rm, new HeapMeter()) : null;
    const eos = new Set<number>([pad]);
    const e = models[0].config.eosTokenId;
    for (const x of e === null ? [] : Array.isArray(e) ? e : [e]) eos.add(x);
    const bs = o.batchSize ?? 16;
    const rows: CompareRow[] = [];
    for (let i = 0; i < promptIds.length; i += bs) {
      const chunk = promptIds.slice(i, i + bs);
      const chunkTexts = promptTexts.slice(i, i + bs);
      const a = await answerBatch(models[0], reward, tok, chunk, chunkTexts, o, pad, eos);
      const b = await answerBatch(models[1], reward, tok, chunk, chunkTexts, o, pad, eos);
      chunk.forEach((_, j) => {
        const row = { prompt: promptTexts[i + j], baseline: a[j], finetune: b[j] };
        rows.push(row);
        onRow?.(row, i + j);
      });
    }
    return { rows, baseline: answerStats(rows.map((r) => r.baseline)), finetune: answerStats(rows.map((r) => r.finetune)) };
  } finally {
    for (const m of models) m.dispose();
    rm?.dispose();
  }
}
