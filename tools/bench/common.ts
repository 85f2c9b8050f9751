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

/** Why PyTorch cannot run here, or null when `import torch` works. */
export function torchUnavailable(): string | null {
  if (!fs.existsSync(TORCH_BASELINE)) return `${TORCH_BASELINE} not found`;
  const r = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error != null) return `python3 could not run (${r.error.message})`;
  if (r.status !== 0) return `python3 cannot import torch (${(r.stderr ?? '').trim().split('\n').pop()}); apt-get install python3-torch`;
  return null;
}

/** Runs `python3 args`; its stdout, or why there is none (`what` names the script in the message). */
export function runPython(args: string[], what: string): { stdout: string } | { error: string } {
  const r = spawnSync('python3', args, { encoding: 'utf8', timeout: 900_000, maxBuffer: 16 * 1024 * 1024 });
  if (r.error != null) return { error: `python3: ${r.error.message}` };
  if (r.status !== 0) return { error: `${what} exited ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' | ')}` };
  return { stdout: r.stdout };
}

/** One thread count's figures from torch_baseline.py's JSON. */
export interface TorchFigures {
  train_tokens_per_s: number;
  gen_tokens_per_s: number;
  train_step_ms_median: number;
  foreign_cpus_busy: number | null;
}

/** `torch_baseline.py --impl native --threads N [extra]`: the standard model in PyTorch at N threads, or why not. */
export function runTorchBaseline(threads: number, extra: string[] = []): { figures: TorchFigures } | { error: string } {
  if (!fs.existsSync(TORCH_BASELINE)) return { error: `no ${TORCH_BASELINE}` };
  const r = runPython([TORCH_BASELINE, '--impl', 'native', '--threads', String(threads), ...extra], 'torch_baseline.py');
  if ('error' in r) return r;
  try {
    const out = JSON.parse(r.stdout) as { results: { native: { by_threads: Record<string, TorchFigures> } } };
    return { figures: out.results.native.by_threads[String(threads)] };
  } catch (e) {
    return { error: `torch_baseline.py printed something that is not its JSON: ${(e as Error).message}` };
  }
}
