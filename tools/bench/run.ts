// `npm run bench`: every benchmark as JSON lines, with the PyTorch baseline measured in the same run and the ratio.
// Options: --quick (fewer steps, one round), --only NAME[,NAME] (model | train | generate | kernels | sft | reward | ppo | peers | dp;
// dp, the data-parallel figures over Open MPI, runs only when named),
// --threads 1,2 (wasm thread counts for the standard model), --rounds N (torch/ours alternations; default 2,
// 1 with --quick), --native on,off (the standard model with the native matmul kernel, with XNNPACK only, or
// both in the same rounds; default on), --profile (the standard model's per-kernel profile of one training step and
// one decode step, the matmul share and MFU, from the last round), --model standard|demo (the train/generate rows and the
// profile on the standard OPT-like model, or on the demo's LLaMA-style model and shape, which has no PyTorch baseline).
// Never part of `npm test`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { argValue, BENCH_MODELS, baselinePython, median, round1, round3, runTorchBaseline, torchUnavailable, type TorchFigures } from './common';
import { ppoRow, ppoSteps, runPpoBaseline, type PpoFigures } from './ppo-row';

const HERE = __dirname;
const GROUPS = ['model', 'train', 'generate', 'kernels', 'sft', 'reward', 'ppo', 'peers', 'dp'] as const;

type Json = Record<string, unknown>;

function emit(o: Json): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

const QUICK = process.argv.includes('--quick');
const ONLY = (argValue('--only') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const THREADS = (argValue('--threads') ?? '1,2').split(',').map(Number);
const ROUNDS = Number(argValue('--rounds') ?? (QUICK ? '1' : '2'));
const NATIVE = (argValue('--native') ?? 'on').split(',').map((s) => s.trim()).filter(Boolean);
const PROFILE = process.argv.includes('--profile');
const MODEL = argValue('--model') ?? 'standard';

for (const o of ONLY) {
  if (!(GROUPS as readonly string[]).includes(o)) {
    process.stderr.write(`bench: unknown --only '${o}'; use one or more of ${GROUPS.join(', ')}\n`);
    process.exit(2);
  }
}
if (!(BENCH_MODELS as readonly string[]).includes(MODEL)) {
  process.stderr.write(`bench: --model takes ${BENCH_MODELS.join(' or ')}, got '${MODEL}'\n`);
  process.exit(2);
}
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
  process.stderr.write(`bench: --rounds takes a whole number >= 1, got '${argValue('--rounds')}'\n`);
  process.exit(2);
}
if (NATIVE.length === 0 || NATIVE.some((v) => v !== 'on' && v !== 'off')) {
  process.stderr.write(`bench: --native takes on, off or on,off, got '${argValue('--native')}'\n`);
  process.exit(2);
}
for (const n of THREADS) {
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --threads takes whole numbers >= 1 separated by commas, got '${argValue('--threads')}'\n`);
    process.exit(2);
  }
}

function wanted(group: (typeof GROUPS)[number]): boolean {
  if (ONLY.length === 0) return true;
  if (ONLY.includes(group)) return true;
  return (group === 'train' || group === 'generate') && ONLY.includes('model');
}

interface ChildResult {
  lines: Json[];
  error?: string;
}

/** Runs a command, parses each stdout line that is a JSON object; a failure becomes an error string. */
function runJsonLines(cmd: string, args: string[], timeoutMs: number): ChildResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: process.env });
  const lines: Json[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const s = line.trim();
    if (!s.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(s) as Json);
    } catch {
      // a partial line from a killed child: ignore it, the error below says what happened
    }
  }
  if (r.error != null || r.status !== 0) {
    const why = r.error != null ? String(r.error.message) : `exit ${r.status ?? r.signal}`;
    const tail = (r.stderr ?? '').trim().split('\n').filter(Boolean).slice(-3).join(' | ').slice(0, 600);
    return { lines, error: `${why}${tail ? `: ${tail}` : ''}` };
  }
  return { lines };
}

function tsxArgs(script: string, extra: string[]): string[] {
  return ['--import', 'tsx', path.join(HERE, script), ...extra];
}

function runTorch(threads: number): { figures?: TorchFigures; error?: string } {
  return runTorchBaseline(threads, QUICK ? ['--train-steps', '4', '--gen-reps', '2'] : []);
}

/**
 * Standard model on wasm at `threads`, with PyTorch at the same thread count run just before it, ROUNDS times
 * in alternation (torch, ours, torch, ours, ...): the figures are medians over rounds and each round's own
 * ratio is kept, because other processes on a shared box swing single runs by +-30%.
 */
function benchModel(threads: number, torchWhyNot: string | null): void {
  // Each part in its own process: training and generation start the backend for their own workload.
  const parts = ['train', 'generate'].filter((g) => wanted(g as 'train' | 'generate'));
  if (parts.length === 0) return;
  const torchRuns: TorchFigures[] = [];
  const ours = new Map<string, Json[]>();
  let torchError = torchWhyNot;
  const errors: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (torchError == null) {
      const t = runTorch(threads);
      if (t.figures != null) torchRuns.push(t.figures);
      else torchError = t.error ?? 'torch_baseline.py failed';
    }
    for (const native of NATIVE) {
      for (const part of parts) {
        const profile = PROFILE && round === ROUNDS - 1 ? ['--profile'] : [];
        const args = ['--threads', String(threads), '--native', native === 'on' ? '1' : '0', '--only', part, '--model', MODEL, ...(QUICK ? ['--quick'] : []), ...profile];
        const r = runJsonLines(process.execPath, tsxArgs('model.ts', args), 1_800_000);
        for (const line of r.lines) {
          if (String(line.name).startsWith('profile ')) emit(line);
          else ours.set(String(line.name), [...(ours.get(String(line.name)) ?? []), line]);
        }
        if (r.error != null) errors.push(r.error);
      }
    }
  }
  // With both matmul settings measured, each native line also says what XNNPACK alone gave in the same rounds.
  for (const [name, lines] of ours) {
    const xnn = ours.get(`${name} xnnpack`);
    if (xnn == null) continue;
    const mine = median(lines.map((l) => Number(l.tokens_per_s)));
    const theirs = median(xnn.map((l) => Number(l.tokens_per_s)));
    lines[lines.length - 1] = { ...lines[lines.length - 1], xnnpack_tokens_per_s: round1(theirs), speedup_vs_xnnpack: round3(mine / theirs) };
  }
  for (const [name, lines] of ours) {
    const key = name.startsWith('train') ? 'train_tokens_per_s' : name.startsWith('generate') ? 'gen_tokens_per_s' : null;
    const mine = lines.map((l) => Number(l.tokens_per_s));
    const line: Json = { ...lines[lines.length - 1], tokens_per_s: round1(median(mine)), rounds: lines.length };
    if (lines.length > 1) line.tokens_per_s_per_round = mine;
    if (key != null && torchRuns.length === lines.length) {
      const base = torchRuns.map((t) => t[key]);
      emit({
        ...line, baseline: `pytorch ${threads}t (torch_baseline.py --impl native)`, baseline_python: baselinePython(), baseline_tokens_per_s: round1(median(base)),
        ratio: round3(median(mine) / median(base)), ...(lines.length > 1 ? { ratio_per_round: mine.map((m, i) => round3(m / base[i])) } : {}),
        baseline_foreign_cpus_busy: torchRuns.map((t) => t.foreign_cpus_busy),
        ...(key === 'train_tokens_per_s' ? { baseline_peak_rss_mb: median(torchRuns.map((t) => t.peak_rss_mb ?? NaN)) } : {}),
      });
    } else if (key != null) {
      emit({ ...line, baseline: 'none', baseline_error: torchError ?? 'the baseline did not run in every round' });
    } else {
      emit(line);
    }
  }
  if (errors.length > 0) emit({ name: `standard model wasm ${threads}t`, error: errors.join(' || ') });
}

/**
 * One PPO step (tools/bench/ppo.ts) at `threads`, with the same step in PyTorch (tools/bench/ppo_baseline.py) run just
 * before it, ROUNDS times in alternation; one `ppo_step` row of medians, per-round figures and ratios.
 */
function benchPpo(threads: number, torchWhyNot: string | null): void {
  const steps = ppoSteps(QUICK);
  const torchRuns: PpoFigures[] = [];
  const ours: PpoFigures[] = [];
  let torchError = torchWhyNot;
  const errors: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (torchError == null) {
      const t = runPpoBaseline(threads, steps);
      if ('figures' in t) torchRuns.push(t.figures);
      else torchError = t.error;
    }
    const r = runJsonLines(process.execPath, tsxArgs('ppo.ts', ['--threads', String(threads), '--no-baseline', ...(QUICK ? ['--quick'] : [])]), 1_800_000);
    const line = r.lines.find((l) => l.name === 'ppo_step');
    if (line != null) ours.push(line as PpoFigures);
    else if (torchRuns.length > ours.length) torchRuns.pop(); // ratios pair the two sides round by round
    if (r.error != null) errors.push(r.error);
  }
  if (ours.length > 0) emit(ppoRow(ours, torchRuns, torchError));
  if (errors.length > 0) emit({ name: `ppo_step wasm ${threads}t`, error: errors.join(' || ') });
}

function forward(group: string, script: string, extra: string[]): void {
  if (!fs.existsSync(path.join(HERE, script))) {
    emit({ name: group, skipped: `tools/bench/${script} does not exist yet` });
    return;
  }
  const args = QUICK && !extra.includes('--quick') ? [...extra, '--quick'] : extra;
  const r = runJsonLines(process.execPath, tsxArgs(script, args), 1_800_000);
  for (const line of r.lines) emit(line);
  if (r.error != null) emit({ name: group, error: r.error });
}

function main(): void {
  const t0 = Date.now();
  const torchWhyNot = wanted('train') || wanted('generate') || wanted('ppo') ? torchUnavailable() : null;
  if (torchWhyNot != null) process.stderr.write(`bench: no PyTorch baseline: ${torchWhyNot}\n`);
  else if (wanted('train') || wanted('generate') || wanted('ppo')) process.stderr.write(`bench: PyTorch baselines run with ${baselinePython()}\n`);
  for (const n of THREADS) benchModel(n, MODEL === 'standard' ? torchWhyNot : 'torch_baseline.py has the standard model only');
  // The kernel microbenchmarks always run in their quick form: they locate regressions, not headline figures.
  if (wanted('kernels')) forward('kernels', 'kernels.ts', ['--quick']);
  if (wanted('sft')) forward('sft', 'sft.ts', ['--threads', '1']);
  if (wanted('reward')) forward('reward', 'reward.ts', ['--threads', '1']);
  if (wanted('ppo')) for (const n of THREADS) benchPpo(n, torchWhyNot);
  // rlhfkit next to Hugging Face TRL on the demo's model and rows (tools/bench/peers.ts), same thread counts and rounds.
  if (wanted('peers')) forward('peers', 'peers.ts', ['--threads', THREADS.join(','), '--rounds', String(ROUNDS)]);
  if (ONLY.includes('dp')) forward('dp', 'data-parallel.ts', [...(QUICK ? ['--quick'] : []), '--rounds', String(ROUNDS)]);
  process.stderr.write(`bench: done in ${round1((Date.now() - t0) / 1000)} s\n`);
}

main();
