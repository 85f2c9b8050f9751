// The PPO bench row without TensorFlow: its shape, the PyTorch side (tools/bench/ppo_baseline.py) and the row merged over rounds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { median, round1, round3, runPython, SHARED_BENCH, TORCH_BASELINE } from './common';

/**
 * One PPO step's shape, the same on both sides: B left-padded prompts of P ids (row i has P - i(P - minPrompt)/(B - 1)
 * real tokens), exactly N greedy new tokens (no EOS stop), so sequences of P + N; pad = eos = 2 as DeepSpeed-Chat's OPT.
 */
export const PPO_SHAPE = { batch: 8, promptLen: 64, minPrompt: 16, newTokens: 64, pad: 2, warmup: 1 } as const;

/**
 * Measured steps per process (after one warm-up step): 2, or 1 with --quick. Each process (ours, PyTorch's) is one sample
 * per round and run.ts takes medians over rounds, so the group stays near 1.5 minutes on an idle 2-core machine.
 */
export function ppoSteps(quick: boolean): number {
  return quick ? 1 : 2;
}

export const PPO_BASELINE = path.join(__dirname, 'ppo_baseline.py');

/** What one process reports (ppo.ts or ppo_baseline.py): medians over its steps, in seconds. */
export interface PpoFigures {
  step_s: number;
  generate_s: number;
  score_s: number;
  train_s: number;
  gen_tokens_per_s: number;
  [k: string]: unknown;
}

type Json = Record<string, unknown>;

/** `ppo_baseline.py --threads N`: the same PPO step in PyTorch, or why not. */
export function runPpoBaseline(threads: number, steps: number): { figures: PpoFigures } | { error: string } {
  if (!fs.existsSync(TORCH_BASELINE)) return { error: `no ${TORCH_BASELINE}` };
  const s = PPO_SHAPE;
  const r = runPython(
    [PPO_BASELINE, '--shared', SHARED_BENCH, '--threads', String(threads), '--batch', String(s.batch), '--prompt-len', String(s.promptLen),
      '--min-prompt', String(s.minPrompt), '--new-tokens', String(s.newTokens), '--pad', String(s.pad), '--warmup', String(s.warmup), '--steps', String(steps)],
    'ppo_baseline.py',
  );
  if ('error' in r) return r;
  try {
    return { figures: JSON.parse(r.stdout.trim().split('\n').pop() as string) as PpoFigures };
  } catch (e) {
    return { error: `ppo_baseline.py printed no JSON (${(e as Error).message})` };
  }
}

const PHASES = ['step_s', 'generate_s', 'score_s', 'train_s'] as const;

/** Per-role seconds (split_s: actor, reference, reward, critic passes; actor_update, critic_update), median over rounds. */
function splitMedian(runs: PpoFigures[]): Record<string, number> | undefined {
  const all = runs.map((r) => r.split_s as Record<string, number> | undefined);
  if (all.some((s) => s == null)) return undefined;
  return Object.fromEntries(Object.keys(all[0] as Record<string, number>).map((k) => [k, round3(median(all.map((s) => Number((s as Record<string, number>)[k]))))]));
}

/**
 * The `ppo_step` row of one thread count: medians over rounds of ours (and PyTorch's, when it ran in every round), each
 * round's figures, and ratio = PyTorch seconds / ours (> 1: rlhfkit is faster), for the whole step and per phase.
 */
export function ppoRow(ours: PpoFigures[], torch: PpoFigures[], torchError: string | null): Json {
  const last = ours[ours.length - 1];
  const med = (runs: PpoFigures[], k: keyof PpoFigures): number => median(runs.map((r) => Number(r[k])));
  const row: Json = { ...last };
  for (const k of ['step_s_each', 'generate_s_each', 'score_s_each', 'train_s_each']) delete row[k];
  for (const k of PHASES) row[k] = round3(med(ours, k));
  row.gen_tokens_per_s = round1(med(ours, 'gen_tokens_per_s'));
  row.split_s = splitMedian(ours);
  row.rounds = ours.length;
  if (ours.length > 1) for (const k of PHASES) row[`${k}_per_round`] = ours.map((r) => r[k]);
  if (torch.length === ours.length && torch.length > 0) {
    const b: Json = { baseline: `pytorch ${String(torch[0].torch)} ${String(torch[0].threads)}t (tools/bench/ppo_baseline.py, torch_baseline.py's NativeOPT)` };
    for (const k of PHASES) b[`baseline_${k}`] = round3(med(torch, k));
    b.baseline_gen_tokens_per_s = round1(med(torch, 'gen_tokens_per_s'));
    b.baseline_split_s = splitMedian(torch);
    if (torch.length > 1) b.baseline_step_s_per_round = torch.map((r) => r.step_s);
    b.ratio = round3(med(torch, 'step_s') / med(ours, 'step_s'));
    if (ours.length > 1) b.ratio_per_round = ours.map((r, i) => round3(torch[i].step_s / r.step_s));
    b.ratio_generate = round3(med(torch, 'generate_s') / med(ours, 'generate_s'));
    b.ratio_score = round3(med(torch, 'score_s') / med(ours, 'score_s'));
    b.ratio_train = round3(med(torch, 'train_s') / med(ours, 'train_s'));
    b.baseline_foreign_cpus_busy = torch.map((t) => t.foreign_cpus_busy ?? null);
    return { ...row, ...b };
  }
  return { ...row, baseline: 'none', baseline_error: torchError ?? 'the PyTorch baseline did not run in every round' };
}
