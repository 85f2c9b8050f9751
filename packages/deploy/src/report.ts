// The demo's before/after report: perplexity, reward accuracy, instruction following, reward and AFINN valence, KL, curves.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTrainingTokenizer, plotMetricsFile, readMetrics, type MetricsRecord } from '@rlhfkit/core-tensor';
import { compareActors, type AnswerStats, type CompareRow } from '@rlhfkit/ppo';
import { afinnReport, heldOutPairs, loadRewardModel, type AfinnReport } from '@rlhfkit/reward';
import type { DemoAlgorithm, DemoLayout } from './demo';

export interface DemoReport {
  algorithm: DemoAlgorithm;
  /** Held-out prompts answered by each model. */
  prompts: number;
  perplexity: { before: number | null; after: number | null };
  reward: AfinnReport | null;
  /** Random start, step-1 actor and final actor on the same held-out prompts (greedy, repetition penalty 1.2). */
  base: AnswerStats;
  step1: AnswerStats;
  final: AnswerStats;
  /** KL to the reference at the end of step 3 (mean per answer), when step 3 logged it. */
  finalKl: number | null;
  /** A few prompts with the step-1 and final answers. */
  examples: CompareRow[];
  /** SVG files written. */
  plots: string[];
}

function lastValue(records: MetricsRecord[], key: string): number | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const v = records[i][key];
    if (typeof v === 'number') return v;
  }
  return null;
}

function firstValue(records: MetricsRecord[], key: string): number | null {
  for (const r of records) if (typeof r[key] === 'number') return r[key] as number;
  return null;
}

function metricsOf(dir: string): MetricsRecord[] {
  const f = path.join(dir, 'metrics.jsonl');
  return fs.existsSync(f) ? readMetrics(f) : [];
}

function plot(input: string, out: string, keys: string[], title: string): string | null {
  try {
    return plotMetricsFile({ input, out, keys, title }).out;
  } catch {
    return null;
  }
}

export interface DemoReportOptions {
  /** How many held-out prompts to answer (default 80). */
  prompts?: number;
  log?: (line: string) => void;
}

/** Builds the report from the demo folders (all three steps must have run). */
export async function demoReport(l: DemoLayout, algorithm: DemoAlgorithm, o: DemoReportOptions = {}): Promise<DemoReport> {
  const log = o.log ?? (() => undefined);
  const n = o.prompts ?? 80;
  const s1 = metricsOf(l.step1);
  const s3dir = algorithm === 'dpo' ? l.actor : l.step3;
  const s3 = metricsOf(s3dir);
  let reward: AfinnReport | null = null;
  if (fs.existsSync(path.join(l.step2, 'config.json'))) {
    const tok = await loadTrainingTokenizer(l.step2);
    const rm = await loadRewardModel(l.step2, { trainable: false });
    try {
      reward = await afinnReport(rm.eval(), tok, await heldOutPairs('rlhfkit/demo', 200));
    } finally {
      rm.dispose();
    }
  }
  const gen = { dataPath: ['rlhfkit/demo'], numPrompts: n, maxNewTokens: 40, repetitionPenalty: 1.2, batchSize: 16, rewardModel: reward ? l.step2 : null };
  log(`report: answering ${n} held-out prompts with the random start, the step-1 actor and the final actor ...`);
  const a = await compareActors({ ...gen, baseline: l.base, finetune: l.step1 });
  const b = await compareActors({ ...gen, baseline: l.step1, finetune: l.actor });
  const plots = [
    plot(l.step1, path.join(l.root, 'step1_loss.svg'), ['train/loss', 'eval/loss'], 'step 1: SFT loss'),
    plot(l.step2, path.join(l.root, 'step2_loss.svg'), ['train/loss', 'eval/acc'], 'step 2: reward model loss and accuracy'),
    algorithm === 'dpo'
      ? plot(s3dir, path.join(l.root, 'step3_reward.svg'), ['train/loss', 'eval/acc'], 'DPO: loss and implicit-reward accuracy')
      : plot(s3dir, path.join(l.root, 'step3_reward.svg'), ['ppo/reward_score', 'ppo/kl', 'ppo/actor_loss'], `step 3 (${algorithm}): reward score, KL, actor loss`),
  ].filter((p): p is string => p !== null);
  return {
    algorithm,
    prompts: b.rows.length,
    perplexity: { before: firstValue(s1, 'eval/perplexity'), after: lastValue(s1, 'eval/perplexity') },
    reward,
    base: a.baseline,
    step1: b.baseline,
    final: b.finetune,
    finalKl: lastValue(s3, 'ppo/kl'),
    examples: b.rows.slice(0, 6),
    plots,
  };
}

const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(0)}%`);
const num = (x: number | null | undefined, d = 2): string => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));

/** The report as Markdown (printed, and saved as report.md). */
export function formatDemoReport(r: DemoReport): string {
  const row = (name: string, s: AnswerStats): string =>
    `| ${name} | ${pct(s.followRate)} | ${num(s.meanScore)} | ${num(s.meanAfinn)} | ${num(s.meanTokens, 1)} | ${pct(s.distinctRatio)} | ${pct(s.topWordShare)} |`;
  const final = r.algorithm === 'dpo' ? 'after DPO' : `after step 3 (${r.algorithm})`;
  const lines = [
    `# rlhfkit demo report`,
    '',
    `Step 1 eval perplexity: ${num(r.perplexity.before, 1)} -> ${num(r.perplexity.after, 1)}`,
    r.reward
      ? `Step 2 reward model on ${r.reward.pairs} held-out pairs: accuracy ${(100 * r.reward.accuracy).toFixed(1)}%, Pearson(score, AFINN valence) ${r.reward.pearson.toFixed(3)}`
      : 'Step 2: no reward model',
    r.finalKl === null ? '' : `Final KL to the reference (mean per answer): ${r.finalKl.toFixed(3)}`,
    '',
    `${r.prompts} held-out prompts, greedy answers (repetition penalty 1.2, at most 40 tokens):`,
    '',
    '| model | follows the instruction | mean reward | mean AFINN valence | mean tokens | distinct answers | top-word share |',
    '|---|---|---|---|---|---|---|',
    row('random start', r.base),
    row('step 1 (SFT)', r.step1),
    row(final, r.final),
    '',
    `AFINN valence ${num(r.step1.meanAfinn)} -> ${num(r.final.meanAfinn)} (${r.final.meanAfinn - r.step1.meanAfinn >= 0 ? '+' : ''}${num(r.final.meanAfinn - r.step1.meanAfinn)}); ` +
      `instruction following ${pct(r.step1.followRate)} -> ${pct(r.final.followRate)}`,
    '',
    '## Answers side by side',
    '',
    ...r.examples.flatMap((e) => [
      `**${e.prompt.replace(/\s+/g, ' ').trim()}**`,
      `- step 1: ${JSON.stringify(e.baseline.text.trim())} (reward ${num(e.baseline.score)}, AFINN ${e.baseline.afinn})`,
      `- ${final}: ${JSON.stringify(e.finetune.text.trim())} (reward ${num(e.finetune.score)}, AFINN ${e.finetune.afinn})`,
      '',
    ]),
    r.plots.length ? `Curves: ${r.plots.map((p) => path.basename(p)).join(', ')}` : '',
  ];
  return lines.filter((x, i, a) => !(x === '' && a[i - 1] === '')).join('\n') + '\n';
}
