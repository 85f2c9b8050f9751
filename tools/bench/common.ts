// What every benchmark shares: the standard model of shared/bench/README.md, argv and statistics helpers, and the PyTorch baseline runs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createModelFromConfig } from '../../packages/core-tensor/src/models/load';
import type { CausalLM } from '../../packages/core-tensor/src/models/causal-lm';

/** The standard benchmark model: OPT-like, vocab 8192, d 256, 4 layers, 4 heads, ffn 1024, pre-LN, ReLU, learned positions, tied head, dropout 0. */
export const STANDARD_CONFIG = {
  model_type: 'opt',
  architectures: ['OPTForCausalLM'],
  vocab_size: 8192,
  hidden_size: 256,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  ffn_dim: 1024,
  max_position_embeddings: 256,
  word_embed_proj_dim: 256,
  do_layer_norm_before: true,
  activation_function: 'relu',
  tie_word_embeddings: true,
  enable_bias: true,
  dropout: 0,
  attention_dropout: 0,
  activation_dropout: 0,
  layerdrop: 0,
  pad_token_id: 1,
  bos_token_id: 2,
  eos_token_id: 2,
};

/** The standard model with seeded random weights; `bodyOnly` leaves out the LM head (reward models). */
export function buildStandardModel(seed = 0, opts: { bodyOnly?: boolean } = {}): CausalLM {
  return createModelFromConfig(STANDARD_CONFIG, { seed, bodyOnly: opts.bodyOnly });
}

/**
 * The demo's model (what `rlhfkit train` trains in step 1; training_scripts/demo/step1_sft.sh): LLaMA-style, RoPE, RMSNorm,
 * SwiGLU, tied head; 128 wide, 4 layers, 4 heads, ffn 512, the GPT-2 BPE cut to 4000 merges (vocab 4264), dropout 0.
 */
export const DEMO_CONFIG = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  vocab_size: 4264,
  hidden_size: 128,
  intermediate_size: 512,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  hidden_act: 'silu',
  attention_bias: false,
  attention_dropout: 0,
  tie_word_embeddings: true,
  pad_token_id: 4256,
  bos_token_id: 4256,
  eos_token_id: 4256,
};

/** The benchmark models by name: `standard` (OPT-like, shared/bench/README.md) and `demo` (the demo's LLaMA-style model). */
export const BENCH_MODELS = ['standard', 'demo'] as const;
export type BenchModelName = (typeof BENCH_MODELS)[number];

/** A named benchmark model with seeded random weights. */
export function buildBenchModel(name: BenchModelName, seed = 0): CausalLM {
  return name === 'demo' ? createModelFromConfig(DEMO_CONFIG, { seed }) : buildStandardModel(seed);
}

/** The value after `flag` on the command line, if given. */
export function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** ../shared/bench, where torch_baseline.py lives (shared/bench/README.md). */
export const SHARED_BENCH = path.resolve(__dirname, '../../../shared/bench');
export const TORCH_BASELINE = path.join(SHARED_BENCH, 'torch_baseline.py');

/** Whether `python -c "import torch"` succeeds, or why not (one line). */
function importsTorch(python: string): string | null {
  const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 });
  if (r.error != null) return `${python} could not run (${r.error.message})`;
  if (r.status !== 0) return `${python} cannot import torch (${(r.stderr ?? '').trim().split('\n').pop()})`;
  return null;
}

/** Every executable `python3` on PATH, in PATH order, each real file once (a pyenv shim and its target count apart). */
export function pythonsOnPath(env: NodeJS.ProcessEnv = process.env): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, 'python3');
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      continue;
    }
    let key = file;
    try {
      key = fs.realpathSync(file);
    } catch {
      // keep the path itself
    }
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(file);
  }
  return out;
}

let chosen: { python: string } | { error: string } | null = null;

/**
 * The Python interpreter the PyTorch baselines run with: $RLHFKIT_BENCH_PYTHON when set (it must import torch),
 * else the first `python3` on PATH that imports torch (pyenv shims and venvs put one before the system's).
 */
export function benchPython(): { python: string } | { error: string } {
  if (chosen != null) return chosen;
  const forced = process.env.RLHFKIT_BENCH_PYTHON;
  if (forced != null && forced.trim() !== '') {
    const why = importsTorch(forced.trim());
    chosen = why == null ? { python: forced.trim() } : { error: `RLHFKIT_BENCH_PYTHON: ${why}` };
    return chosen;
  }
  const tried: string[] = [];
  for (const python of pythonsOnPath()) {
    const why = importsTorch(python);
    if (why == null) return (chosen = { python });
    tried.push(why);
  }
  chosen = {
    error: tried.length === 0 ? 'no python3 on PATH; set RLHFKIT_BENCH_PYTHON'
      : `no python3 on PATH imports torch (${tried.join('; ')}); pip install torch, apt-get install python3-torch, or set RLHFKIT_BENCH_PYTHON`,
  };
  return chosen;
}

/** Why PyTorch cannot run here, or null when a Python that imports torch was found (benchPython). */
export function torchUnavailable(): string | null {
  if (!fs.existsSync(TORCH_BASELINE)) return `${TORCH_BASELINE} not found`;
  const p = benchPython();
  return 'error' in p ? p.error : null;
}

/** The interpreter the baselines ran with (for the JSON lines), or null when none was found. */
export function baselinePython(): string | null {
  const p = benchPython();
  return 'python' in p ? p.python : null;
}

/** Runs the baseline Python (benchPython) with `args`; its stdout, or why there is none (`what` names the script in the message). */
export function runPython(args: string[], what: string): { stdout: string; peakRssMb: number | null } | { error: string } {
  const p = benchPython();
  if ('error' in p) return { error: p.error };
  // The script runs as __main__ under a wrapper that prints the process's peak RSS on stderr when it exits.
  const wrapper = [
    'import atexit, resource, runpy, sys',
    "atexit.register(lambda: sys.stderr.write('RLHFKIT_PEAK_RSS_KB %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))",
    "if sys.argv[1] == '-c':",
    "    code = sys.argv[2]; sys.argv = ['-c'] + sys.argv[3:]",
    "    exec(compile(code, '<string>', 'exec'), {'__name__': '__main__'})",
    'else:',
    '    sys.argv = sys.argv[1:]',
    "    runpy.run_path(sys.argv[0], run_name='__main__')",
  ].join('\n');
  const r = spawnSync(p.python, ['-c', wrapper, ...args], { encoding: 'utf8', timeout: 900_000, maxBuffer: 16 * 1024 * 1024 });
  if (r.error != null) return { error: `${p.python}: ${r.error.message}` };
  const stderr = r.stderr ?? '';
  if (r.status !== 0) return { error: `${what} exited ${r.status ?? r.signal}: ${stderr.replace(/RLHFKIT_PEAK_RSS_KB \d+\n?/, '').trim().split('\n').slice(-2).join(' | ')}` };
  const m = /RLHFKIT_PEAK_RSS_KB (\d+)/.exec(stderr);
  return { stdout: r.stdout, peakRssMb: m ? Math.round(Number(m[1]) / 102.4) / 10 : null };
}

/** One thread count's figures from torch_baseline.py's JSON. */
export interface TorchFigures {
  train_tokens_per_s: number;
  gen_tokens_per_s: number;
  train_step_ms_median: number;
  foreign_cpus_busy: number | null;
  /** The baseline process's peak RSS (training and generation in one process), from the wrapper in runPython. */
  peak_rss_mb?: number | null;
}

/** `torch_baseline.py --impl native --threads N [extra]`: the standard model in PyTorch at N threads, or why not. */
export function runTorchBaseline(threads: number, extra: string[] = []): { figures: TorchFigures } | { error: string } {
  if (!fs.existsSync(TORCH_BASELINE)) return { error: `no ${TORCH_BASELINE}` };
  const r = runPython([TORCH_BASELINE, '--impl', 'native', '--threads', String(threads), ...extra], 'torch_baseline.py');
  if ('error' in r) return r;
  try {
    const out = JSON.parse(r.stdout) as { results: { native: { by_threads: Record<string, TorchFigures> } } };
    return { figures: { ...out.results.native.by_threads[String(threads)], peak_rss_mb: r.peakRssMb } };
  } catch (e) {
    return { error: `torch_baseline.py printed something that is not its JSON: ${(e as Error).message}` };
  }
}
