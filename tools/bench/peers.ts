// `npm run bench -- --only peers`: steps 1 and 2 on the demo's model and rows, rlhfkit next to Hugging Face TRL, same batches.
// Run: npx tsx tools/bench/peers.ts [--threads 1,2] [--rounds N] [--quick] [--epochs E]
// The demo's base model (rlhfkit init-model: OPT 128 wide, 4 layers, GPT-2 BPE cut to 4000 merges) and its step-1 and
// step-2 rows (data split 2,4,4, max_seq_len 128, batches of 16 padded to the longest row) are exported once; each round
// then trains step 1 and step 2 with rlhfkit (TrainingLoop, as `rlhfkit sft|reward train` runs it) and with TRL
// (SFTTrainer, RewardTrainer: tools/bench/peers_trl.py) on exactly those batches, each in its own process, alternating.
// One JSON line per step and thread count: training seconds (the trainer's loop only), tokens/s, ratio, per round, and the
// CPU seconds of each side (all its threads; on a shared machine the less disturbed figure).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AdamW, getOptimizerGroupedParameters, initBackend, loadPretrained, loadTokenizer, LrScheduler, TrainingLoop, type ResumableSampler } from '../../packages/core-tensor/src';
import { attendedTokens, collatePhase1, collatePhase2, createStepDatasets, ensureDemoDataset, type IntMatrix, type Phase1Batch, type Phase2Batch } from '../../packages/data/src';
import { rewardLoss, rewardModelFromBody } from '../../packages/reward/src';
import { SFT_BETAS, sftLoss } from '../../packages/sft/src';
import { argValue, benchPython, median, round1, round3 } from './common';

const HERE = __dirname;
const REPO = path.resolve(HERE, '../..');
const BATCH = 16;
const MAX_SEQ_LEN = 128;
const WORK = path.join(os.tmpdir(), 'rlhfkit-bench-peers-v1');

type Json = Record<string, unknown>;
/** One exported batch: rows as plain arrays (the TRL side reads the same file). */
type Rows = { input_ids: number[][]; attention_mask: number[][]; labels?: number[][] };

function emit(o: Json): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

function rows(m: IntMatrix): number[][] {
  const [r, c] = m.shape;
  return Array.from({ length: r }, (_, i) => Array.from(m.data.subarray(i * c, (i + 1) * c)));
}

function matrix(r: number[][]): IntMatrix {
  return { data: Int32Array.from(r.flat()), shape: [r.length, r[0].length] };
}

/** The base model folder (as the demo makes it) and the step-1 and step-2 batches, once per machine. */
async function prepare(): Promise<{ base: string; data: string }> {
  const base = path.join(WORK, 'base');
  const data = path.join(WORK, 'batches.json');
  fs.mkdirSync(WORK, { recursive: true });
  if (!fs.existsSync(path.join(base, 'config.json'))) {
    const r = spawnSync(path.join(REPO, 'node_modules/.bin/rlhfkit'), ['init-model', '--out', base, '--arch', 'opt', '--hidden_size', '128',
      '--layers', '4', '--heads', '4', '--merges', '4000', '--max_positions', '128', '--dropout', '0.0'], { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`rlhfkit init-model failed: ${(r.stderr ?? String(r.error)).trim().split('\n').pop()}`);
  }
  if (!fs.existsSync(data)) {
    await ensureDemoDataset();
    const tokenizer = await loadTokenizer(base);
    const config = JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')) as { eos_token_id: number };
    const o = { dataPath: ['rlhfkit/demo'], dataSplit: '2,4,4', seed: 1234, tokenizer, maxSeqLen: MAX_SEQ_LEN, log: () => undefined };
    const p1 = await createStepDatasets({ ...o, phase: 1 });
    const p2 = await createStepDatasets({ ...o, phase: 2 });
    const opts = { padTokenId: config.eos_token_id, maxSeqLen: MAX_SEQ_LEN, padTo: 'longest' as const };
    const chunks = <T>(xs: T[]): T[][] => Array.from({ length: Math.floor(xs.length / BATCH) }, (_, i) => xs.slice(i * BATCH, (i + 1) * BATCH));
    const sft: Rows[] = chunks(p1.train).map((items) => {
      const b = collatePhase1(items, opts);
      return { input_ids: rows(b.inputIds), attention_mask: rows(b.attentionMask), labels: rows(b.labels) };
    });
    const rm: Rows[] = chunks(p2.train).map((items) => {
      const b = collatePhase2(items, opts);
      return { input_ids: rows(b.inputIds), attention_mask: rows(b.attentionMask) };
    });
    fs.writeFileSync(`${data}.tmp`, JSON.stringify({ sft, rm }));
    fs.renameSync(`${data}.tmp`, data);
  }
  return { base, data };
}

/** Serves batches 0..n-1 in order, `epochs` times. */
class OrderSampler implements ResumableSampler {
  private i = 0;
  constructor(private readonly n: number, private readonly epochs: number) {}
  get batchesPerEpoch(): number {
    return this.n;
  }
  get epochDone(): boolean {
    return this.i > 0 && this.i % this.n === 0;
  }
  next(): { indices: number[]; epoch: number; step: number } {
    const i = this.i++;
    return { indices: [i % this.n], epoch: Math.floor(i / this.n), step: i % this.n };
  }
  state(): { epoch: number; step: number } {
    return { epoch: Math.floor(this.i / this.n), step: this.i % this.n };
  }
}

/** rlhfkit's side of one step in this process: the demo's optimizer and schedule over the exported batches. */
async function trainOurs(step: 'sft' | 'rm', base: string, data: string, threads: number, epochs: number): Promise<void> {
  const info = await initBackend({ backend: 'wasm', threads, quiet: true, workload: 'train' });
  const all = JSON.parse(fs.readFileSync(data, 'utf8')) as { sft: Rows[]; rm: Rows[] };
  const eos = (JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')) as { eos_token_id: number }).eos_token_id;
  const batches = all[step];
  const body = await loadPretrained(base, { bodyOnly: step === 'rm', seed: 1234 });
  const rm = step === 'rm' ? rewardModelFromBody(body, { padTokenId: eos, seed: 1234 }) : null;
  const vars = rm != null ? rm.trainableParameters() : body.trainableParameters();
  const optimizer = new AdamW(getOptimizerGroupedParameters([...vars.keys()], 0.1), vars, { lr: 1e-3, betas: SFT_BETAS });
  const scheduler = new LrScheduler(optimizer, 'cosine', { warmupSteps: 10, totalSteps: batches.length * epochs });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-bench-peers-run-'));
  const losses: number[] = [];
  const made = batches.map((b) => ({ inputIds: matrix(b.input_ids), attentionMask: matrix(b.attention_mask), labels: b.labels ? matrix(b.labels) : undefined }));
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  try {
    const loop = new TrainingLoop<Phase1Batch | Phase2Batch>(
      {
        variables: vars, optimizer, scheduler, sampler: new OrderSampler(batches.length, epochs),
        restoreSampler: () => new OrderSampler(batches.length, epochs),
        makeBatch: ([i]) => made[i] as Phase1Batch,
        loss: (b) => (rm != null ? rewardLoss(rm, b as Phase2Batch) : sftLoss(body, b as Phase1Batch)),
        tokens: attendedTokens,
        setTraining: (t) => (rm != null ? rm.train(t) : body.train(t)),
        saveModel: async () => undefined,
        loadModel: async () => undefined,
      },
      {
        outputDir: out, stepName: `bench-peers-${step}`, config: {}, numEpochs: epochs, saveSteps: 0, saveTotalLimit: 1, handleSignals: false,
        log: () => undefined, progressStream: { write: () => true }, onStep: (s) => void losses.push(s.loss),
      },
    );
    await loop.run();
  } finally {
    const trainS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    optimizer.dispose();
    (rm ?? body).dispose();
    fs.rmSync(out, { recursive: true, force: true });
    const tokens = batches.reduce((a, b) => a + b.attention_mask.flat().reduce((x, y) => x + y, 0), 0) * epochs;
    emit({ name: `rlhfkit ${step}`, train_s: round3(trainS), cpu_s: round3((cpu.user + cpu.system) / 1e6), steps: batches.length * epochs, tokens, loss_first: losses[0], loss_last: losses[losses.length - 1], threads, backend: `${info.name} ${info.threads}t`, tensors: tf.memory().numTensors });
  }
}

function runChild(cmd: string, args: string[]): Json | { error: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 1_800_000, maxBuffer: 64 * 1024 * 1024, cwd: REPO });
  const line = (r.stdout ?? '').trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (r.status !== 0 || line == null) return { error: `${path.basename(args[0] === '--import' ? args[2] : args[0])} exited ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' | ').slice(0, 400)}` };
  return JSON.parse(line) as Json;
}

async function main(): Promise<void> {
  const child = argValue('--child');
  const epochs = Number(argValue('--epochs') ?? '1');
  if (child === 'sft' || child === 'rm') {
    await trainOurs(child, argValue('--base') as string, argValue('--data') as string, Number(argValue('--threads') ?? '1'), epochs);
    return;
  }
  const quick = process.argv.includes('--quick');
  const threadsList = (argValue('--threads') ?? '1,2').split(',').map(Number);
  const rounds = Number(argValue('--rounds') ?? (quick ? '1' : '2'));
  const { base, data } = await prepare();
  let dataFile = data;
  if (quick) {
    // The first 12 batches of each step: the comparison in a minute.
    const all = JSON.parse(fs.readFileSync(data, 'utf8')) as { sft: Rows[]; rm: Rows[] };
    dataFile = path.join(WORK, 'batches-quick.json');
    fs.writeFileSync(dataFile, JSON.stringify({ sft: all.sft.slice(0, 12), rm: all.rm.slice(0, 12) }));
  }
  const py = benchPython();
  const trlWhyNot = 'error' in py ? py.error
    : (() => {
      const r = spawnSync(py.python, ['-c', 'import trl, transformers, datasets'], { encoding: 'utf8', timeout: 120_000 });
      return r.status === 0 ? null : `${py.python} cannot import trl (${(r.stderr ?? '').trim().split('\n').pop()}); pip install trl`;
    })();
  if (trlWhyNot != null) process.stderr.write(`bench peers: no TRL baseline: ${trlWhyNot}\n`);
  for (const threads of threadsList) {
    for (const step of ['sft', 'rm'] as const) {
      const ours: Json[] = [];
      const trl: Json[] = [];
      const errors: string[] = [];
      for (let r = 0; r < rounds; r++) {
        if (trlWhyNot == null && 'python' in py) {
          const t = runChild(py.python, [path.join(HERE, 'peers_trl.py'), step, '--model', base, '--data', dataFile, '--threads', String(threads), '--epochs', String(epochs)]);
          if ('error' in t) errors.push(String(t.error));
          else trl.push(t);
        }
        const o = runChild(process.execPath, ['--import', 'tsx', __filename, '--child', step, '--base', base, '--data', dataFile, '--threads', String(threads), '--epochs', String(epochs)]);
        if ('error' in o) errors.push(String(o.error));
        else ours.push(o);
      }
      const name = `peers ${step === 'sft' ? 'step1_sft' : 'step2_reward'} ${threads}t`;
      if (ours.length === 0) {
        emit({ name, error: errors.join(' || ') });
        continue;
      }
      const oursS = ours.map((o) => Number(o.train_s));
      const tokens = Number(ours[0].tokens);
      const oursCpu = ours.map((o) => Number(o.cpu_s));
      const line: Json = {
        name, train_s: round3(median(oursS)), tokens_per_s: round1(tokens / median(oursS)), train_s_per_round: oursS, cpu_s_per_round: oursCpu, steps: ours[0].steps, tokens,
        loss_first_last: [ours[0].loss_first, ours[0].loss_last], backend: ours[0].backend,
      };
      if (trl.length === ours.length && trl.length > 0) {
        const trlS = trl.map((t) => Number(t.train_s));
        Object.assign(line, {
          baseline: `trl ${trl[0].trl} (${step === 'sft' ? 'SFTTrainer' : 'RewardTrainer'}, transformers ${trl[0].transformers}, torch ${trl[0].torch}, fp32)`,
          baseline_python: 'python' in py ? py.python : null, baseline_train_s: round3(median(trlS)), baseline_tokens_per_s: round1(tokens / median(trlS)),
          baseline_train_s_per_round: trlS, baseline_cpu_s_per_round: trl.map((t) => Number(t.cpu_s)), ratio: round3(median(trlS) / median(oursS)),
          ratio_per_round: oursS.map((s, i) => round3(trlS[i] / s)), cpu_ratio_per_round: oursCpu.map((s, i) => round3(Number(trl[i].cpu_s) / s)),
          baseline_loss_first_last: [trl[0].loss_first, trl[0].loss_last],
        });
      } else {
        Object.assign(line, { baseline: 'none', baseline_error: trlWhyNot ?? errors.join(' || ') });
      }
      emit(line);
    }
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench peers: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
