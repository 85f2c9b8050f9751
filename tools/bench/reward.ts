// Reward-model training benchmark: pairs/s of forward + pairwise loss + backward + AdamW on the standard model body.
// Run: npx tsx tools/bench/reward.ts [--threads N] [--backend wasm|cpu] [--quick] [--no-baseline]
// Prints one JSON line {name: "rm_train", pairs_per_s, ...}; tools/bench/run.ts calls it. When python3 with torch is there,
// the same step in PyTorch (shared/bench's native OPT body + a DeepSpeed-Chat-style pairwise loss) runs first, for a ratio.
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { AdamW, getOptimizerGroupedParameters, GradientAccumulator, initBackend, Rng } from '../../packages/core-tensor/src';
import { rewardLoss, rewardModelFromBody, type RewardModel } from '../../packages/reward/src';
import { argValue, buildStandardModel, median, round1, runPython, SHARED_BENCH, STANDARD_CONFIG, TORCH_BASELINE } from './common';

export const RM_SHAPE = { pairs: 8, seq: 128 };

/**
 * Pairs shaped like step-2 data: BOS 2, a shared prompt, then different answers and right padding with pad = eos = 2.
 * Lengths vary so the loss spans differ; the longest row fills the sequence.
 */
export function syntheticPairs(rng: Rng, pairs: number, seq: number, vocab: number): { data: Int32Array; shape: [number, number] } {
  const data = new Int32Array(2 * pairs * seq).fill(2);
  const tok = (): number => 3 + Math.floor(rng.random() * (vocab - 3));
  for (let i = 0; i < pairs; i++) {
    const prompt = 16 + Math.floor(rng.random() * 32);
    const lens = [prompt + 8 + Math.floor(rng.random() * (seq - prompt - 8)), i === 0 ? seq : prompt + 8 + Math.floor(rng.random() * (seq - prompt - 8))];
    const shared = Array.from({ length: prompt - 1 }, tok);
    lens.forEach((len, k) => {
      const row = (k * pairs + i) * seq;
      data.set(shared, row + 1);
      for (let t = prompt; t < len; t++) data[row + t] = tok();
    });
  }
  return { data, shape: [2 * pairs, seq] };
}

export interface RmStep {
  step(batch: { data: Int32Array; shape: [number, number] }): number;
  dispose(): void;
}

/** One optimizer step per batch as `rlhfkit reward train` takes it: pairwise loss, gradients of every weight, AdamW(0.9, 0.95). */
export function makeRmStep(model: RewardModel, lr = 5e-5): RmStep {
  const params = model.trainableParameters();
  const opt = new AdamW(getOptimizerGroupedParameters([...params.keys()], 0.1), params, { lr, betas: [0.9, 0.95] });
  const acc = new GradientAccumulator(1);
  model.train();
  return {
    step: (batch) => {
      const loss = acc.backward(() => rewardLoss(model, { inputIds: batch }), params);
      opt.step(acc.grads());
      acc.zeroGrad();
      return loss;
    },
    dispose: () => {
      acc.dispose();
      opt.dispose();
    },
  };
}

/** The PyTorch side: the standard body from shared/bench/torch_baseline.py, a value head and the per-pair loss loop. */
const TORCH_RM = String.raw`
import json, sys, time
sys.path.insert(0, sys.argv[1])
import torch_baseline as tb  # sets OMP_WAIT_POLICY=PASSIVE before torch loads
import torch, torch.nn as nn, torch.nn.functional as F
threads, pairs, seq, warmup, steps = (int(x) for x in sys.argv[2:7])
torch.set_num_threads(threads); tb.set_blas_threads(threads); torch.manual_seed(0)
body = tb.native_model(); head = nn.Linear(tb.CFG["hidden"], 1, bias=False)
def values(ids):
    t = ids.shape[1]
    x = body.embed(ids) + body.pos(torch.arange(t) + body.OFFSET)[None]
    mask = torch.full((t, t), float("-inf")).triu(1)
    for blk in body.blocks: x = blk(x, mask, None)
    return head(body.ln_f(x)).squeeze(-1)
def first_after(row, pad, skip):
    hits = (row == pad).nonzero()
    return hits[skip].item() if len(hits) > skip else row.shape[0]
def pair_loss(ids, pad=2, npb=1):
    v = values(ids); bs = ids.shape[0] // 2; total = 0.0
    for i in range(bs):
        c, r = ids[i], ids[bs + i]
        diff = (c != r).nonzero()
        if len(diff) == 0: start, end = seq - 1, seq
        else: start, end = diff[0].item(), max(first_after(c, pad, npb), first_after(r, pad, npb))
        total = total + -F.logsigmoid(v[i, start:end] - v[bs + i, start:end]).mean()
    return total / bs
g = torch.Generator().manual_seed(123)
def batch():
    ids = torch.full((2 * pairs, seq), 2, dtype=torch.long)
    for i in range(pairs):
        p = 16 + int(torch.randint(0, 32, (1,), generator=g))
        shared = torch.randint(3, tb.CFG["vocab"], (p - 1,), generator=g)
        for k in range(2):
            n = seq if (i == 0 and k == 1) else p + 8 + int(torch.randint(0, seq - p - 8, (1,), generator=g))
            ids[k * pairs + i, 1:p] = shared
            ids[k * pairs + i, p:n] = torch.randint(3, tb.CFG["vocab"], (n - p,), generator=g)
    return ids
batches = [batch() for _ in range(3)]
params = list(body.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=5e-5, betas=(0.9, 0.95), weight_decay=0.1)
times = []
for s in range(warmup + steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = pair_loss(batches[s % 3]); loss.backward(); opt.step()
    if s >= warmup: times.append(time.perf_counter() - t0)
med = sorted(times)[len(times) // 2]
print(json.dumps({"pairs_per_s": pairs / med, "step_ms_median": 1000 * med, "torch": torch.__version__}))
`;

/** PyTorch pairs/s at `threads`, or why there is none. */
function torchBaseline(threads: number, steps: number): { pairsPerS: number; stepMs: number } | { error: string } {
  if (!fs.existsSync(TORCH_BASELINE)) return { error: `no ${TORCH_BASELINE}` };
  const r = runPython(['-c', TORCH_RM, SHARED_BENCH, String(threads), String(RM_SHAPE.pairs), String(RM_SHAPE.seq), '2', String(steps)], 'the PyTorch reward step');
  if ('error' in r) return r;
  try {
    const o = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { pairs_per_s: number; step_ms_median: number };
    return { pairsPerS: o.pairs_per_s, stepMs: o.step_ms_median };
  } catch (e) {
    return { error: `python3 printed no JSON (${(e as Error).message})` };
  }
}

async function main(): Promise<void> {
  const threads = Number(argValue('--threads') ?? '1');
  const quick = process.argv.includes('--quick');
  const info = await initBackend({ backend: argValue('--backend') ?? 'wasm', threads, quiet: true, workload: 'train' });
  const baseline = process.argv.includes('--no-baseline') ? { error: '--no-baseline' } : torchBaseline(threads, quick ? 3 : 8);
  const model = rewardModelFromBody(buildStandardModel(0, { bodyOnly: true }), { padTokenId: 2, numPaddingAtBeginning: 1 });
  const rng = new Rng(123);
  const batches = Array.from({ length: 3 }, () => syntheticPairs(rng, RM_SHAPE.pairs, RM_SHAPE.seq, STANDARD_CONFIG.vocab_size));
  const s = makeRmStep(model);
  const warmup = 2;
  const steps = quick ? 3 : 8;
  const ms: number[] = [];
  const losses: number[] = [];
  let before = 0;
  try {
    for (let i = 0; i < warmup + steps; i++) {
      if (i === warmup) before = tf.memory().numTensors;
      const t0 = performance.now();
      const loss = s.step(batches[i % batches.length]);
      const dt = performance.now() - t0;
      if (i >= warmup) {
        ms.push(dt);
        losses.push(loss);
      }
    }
    const med = median(ms);
    const pairsPerS = (RM_SHAPE.pairs / med) * 1000;
    const base =
      'pairsPerS' in baseline
        ? { baseline: `pytorch ${threads}t (native OPT body, DeepSpeed-Chat pairwise loss)`, baseline_pairs_per_s: round1(baseline.pairsPerS), ratio: Math.round((pairsPerS / baseline.pairsPerS) * 1000) / 1000 }
        : { baseline: 'none', baseline_error: baseline.error };
    process.stdout.write(
      JSON.stringify({
        name: 'rm_train',
        pairs_per_s: round1(pairsPerS),
        tokens_per_s: round1(((2 * RM_SHAPE.pairs * RM_SHAPE.seq) / med) * 1000),
        step_ms_median: round1(med),
        step_ms_min: round1(Math.min(...ms)),
        steps: ms.length,
        pairs_per_step: RM_SHAPE.pairs,
        seq_len: RM_SHAPE.seq,
        loss_first_last: [losses[0], losses[losses.length - 1]].map((x) => Math.round(x * 1e4) / 1e4),
        leaked_tensors: tf.memory().numTensors - before,
        backend: info.name,
        threads: info.threads,
        ...base,
      }) + '\n',
    );
  } finally {
    s.dispose();
    model.dispose();
  }
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
