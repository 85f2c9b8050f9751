// How well a reward model learned the demo preference: held-out accuracy and correlation of its scores with AFINN valence.
import type { Tokenizer } from '@rlhfkit/core-tensor';
import { afinnScore, loadRawDataset } from '@rlhfkit/data';
import type { RewardModel } from './reward-model';
import { scorePairs, type PairToScore, type ScoreOptions } from './score';

export interface AfinnReport {
  pairs: number;
  /** Fraction of pairs whose chosen answer scores strictly higher. */
  accuracy: number;
  /** Answers scored (chosen and rejected of every pair). */
  answers: number;
  /** Correlation between reward scores and the answers' AFINN-165 valence. */
  pearson: number;
  spearman: number;
  meanChosenScore: number;
  meanRejectedScore: number;
}

/** Pearson correlation; NaN when either side is constant. */
export function pearson(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length || x.length < 2) throw new Error(`pearson: need two equal-length series of >= 2 values, got ${x.length} and ${y.length}`);
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** 1-based ranks with ties given their average rank (as scipy.stats.rankdata). */
export function ranks(x: readonly number[]): number[] {
  const order = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k][1]] = r;
    i = j + 1;
  }
  return out;
}

/** Spearman's rank correlation (Pearson of tie-averaged ranks). */
export function spearman(x: readonly number[], y: readonly number[]): number {
  return pearson(ranks(x), ranks(y));
}

/**
 * The held-out pairs of a demo-style dataset (default `rlhfkit/demo`): its test split, as step 2 renders it
 * (prompt, then each answer with its leading space). Test sentences never occur in the train split.
 */
export async function heldOutPairs(dataPath = 'rlhfkit/demo', limit?: number): Promise<PairToScore[]> {
  const raw = await loadRawDataset(dataPath, { seed: 1234 });
  const a = raw.adapter;
  const out: PairToScore[] = [];
  for (const s of raw.eval) {
    const prompt = a.prompt(s);
    const chosen = a.chosen(s);
    const rejected = a.rejected(s);
    if (prompt === null || chosen === null || rejected === null) continue;
    out.push({ prompt, chosen, rejected });
    if (limit !== undefined && out.length >= limit) break;
  }
  return out;
}

/** Scores every pair (as rw_eval does) and compares chosen vs rejected, and scores vs AFINN valence. */
export async function afinnReport(model: RewardModel, tokenizer: Tokenizer, pairs: readonly PairToScore[], o: ScoreOptions = {}): Promise<AfinnReport> {
  if (pairs.length === 0) throw new Error('afinnReport: no pairs to score');
  const scored = await scorePairs(model, tokenizer, pairs, o);
  const scores: number[] = [];
  const valence: number[] = [];
  let correct = 0;
  for (const s of scored) {
    if (s.chosenScore > s.rejectedScore) correct++;
    scores.push(s.chosenScore, s.rejectedScore);
    valence.push(afinnScore(s.chosen), afinnScore(s.rejected));
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    pairs: scored.length,
    accuracy: correct / scored.length,
    answers: scores.length,
    pearson: pearson(scores, valence),
    spearman: spearman(scores, valence),
    meanChosenScore: mean(scored.map((s) => s.chosenScore)),
    meanRejectedScore: mean(scored.map((s) => s.rejectedScore)),
  };
}
