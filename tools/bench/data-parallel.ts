// Data-parallel benchmark: all-reduce bandwidth over shared memory and TCP, 2 ranks x 1 thread against 1 process x 2 threads on the
// standard model, and a simulated scaling table (1-64 ranks) for the standard model and an OPT-1.3b-shaped one.
// Run: npx tsx tools/bench/data-parallel.ts [--quick] [--rounds N] [--tcp-if CIDR]. Needs Open MPI (apt-get install openmpi-bin libopenmpi-dev).
// Prints one JSON line per figure ({name: 'dp_allreduce' | 'dp_train' | 'dp_scaling', ...}) and the tables on stderr.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { argValue, median, round1, round3, STANDARD_CONFIG } from './common';
import { fitAllReduce, scalingTable, type LinkModel } from './dp-model';

const HERE = __dirname;
const QUICK = process.argv.includes('--quick');
const ROUNDS = Number(argValue('--rounds') ?? (QUICK ? '1' : '3'));
type Json = Record<string, unknown>;

function emit(o: Json): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

const ROOT_FLAG = process.getuid?.() === 0 ? ['--allow-run-as-root'] : [];

/** Runs this file's worker (tools/bench/dp-worker.ts) under mpirun or alone; returns its JSON lines. */
function runWorker(args: string[], o: { ranks: number; mpirunArgs?: string[]; env?: NodeJS.ProcessEnv }): Json[] {
  const worker = [process.execPath, '-r', 'tsx/cjs', path.join(HERE, 'dp-worker.ts'), ...args];
  const cmd = o.ranks > 1 ? ['mpirun', ...ROOT_FLAG, '-np', String(o.ranks), '--bind-to', 'none', ...(o.mpirunArgs ?? []), ...worker] : worker;
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env: { ...process.env, ...(o.env ?? {}) }, cwd: path.resolve(HERE, '../..'), maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd.slice(0, 8).join(' ')} ... exited ${r.status ?? r.signal}:\n${(r.stderr ?? '').slice(-3000)}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Json);
}

function loadAverage(): number {
  return round1(os.loadavg()[0]);
}

async function main(): Promise<void> {
  const mpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (mpirun.error || mpirun.status !== 0) {
    say('data-parallel bench: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev); nothing measured');
    return;
  }
  say(`data-parallel bench on ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${loadAverage()} at start`);

  // 1. All-reduce of float32 buffers between 2 ranks: shared memory (vader) and TCP (loopback, or --tcp-if).
  const sizes = QUICK ? [4 << 10, 1 << 20, 16 << 20] : [4 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20];
  const tcpIf = argValue('--tcp-if');
  const transports: { name: string; args: string[] }[] = [
    { name: 'shm', args: ['--mca', 'btl', 'self,vader'] },
    { name: 'tcp', args: ['--mca', 'btl', 'self,tcp', ...(tcpIf ? ['--mca', 'btl_tcp_if_include', tcpIf] : [])] },
  ];
  const links: Record<string, LinkModel> = {};
  for (const t of transports) {
    const lines = runWorker(['allreduce', sizes.join(','), String(QUICK ? 5 : 11)], { ranks: 2, mpirunArgs: t.args });
    for (const l of lines) emit({ name: 'dp_allreduce', transport: t.name, ranks: 2, ...l, load: loadAverage() });
    links[t.name] = fitAllReduce(lines.map((l) => ({ bytes: Number(l.bytes), seconds: Number(l.median_ms) / 1000 })), 2);
    say(`${t.name}: all-reduce latency ${round3(links[t.name].alpha * 1e6)} us per message, bandwidth ${round1(links[t.name].beta / 1e9)} GB/s (ring model fit over ${lines.length} sizes)`);
  }

  // 2. The standard model's training step: 1 process x 2 threads (2 accumulated micro-batches) against 2 ranks x 1 thread
  // (one micro-batch each, gradients all-reduced): the same 16 rows per optimizer step. And 1 rank x 1 thread, 8 rows.
  const steps = QUICK ? 3 : 8;
  const runs: Record<string, Json[]> = { single2t: [], mpi2x1: [], single1t: [] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.single2t.push(runWorker(['train', 'gas=2', `steps=${steps}`], { ranks: 1, env: { RLHFKIT_THREADS: '2' } })[0]);
    runs.mpi2x1.push(runWorker(['train', 'gas=1', `steps=${steps}`], { ranks: 2, env: { RLHFKIT_THREADS: '1' } })[0]);
    runs.single1t.push(runWorker(['train', 'gas=1', `steps=${steps}`, 'ranks=1'], { ranks: 1, env: { RLHFKIT_THREADS: '1' } })[0]);
  }
  const med = (k: string, f: string): number => median(runs[k].map((r) => Number(r[f])));
  const same = runs.mpi2x1.every((r, i) => JSON.stringify(r.losses) === JSON.stringify(runs.single2t[i].losses));
  for (const [k, label] of [['single2t', '1 process x 2 threads'], ['mpi2x1', '2 ranks x 1 thread'], ['single1t', '1 rank x 1 thread (half the rows)']] as const) {
    emit({
      name: 'dp_train', setup: label, rows_per_step: k === 'single1t' ? 8 : 16, seq: 128, step_ms: round1(med(k, 'step_ms')), tokens_per_s: round1(med(k, 'tokens_per_s')),
      allreduce_ms_per_step: round3(med(k, 'allreduce_ms')), rounds: ROUNDS, steps, losses_equal_to_single2t: k === 'mpi2x1' ? same : undefined, load: loadAverage(),
    });
  }
  say(`standard model, 16 rows x 128 tokens per optimizer step (${ROUNDS} rounds, medians):`);
  say(`  1 process x 2 threads: ${round1(med('single2t', 'step_ms'))} ms/step, ${round1(med('single2t', 'tokens_per_s'))} tokens/s`);
  say(`  2 ranks x 1 thread:    ${round1(med('mpi2x1', 'step_ms'))} ms/step, ${round1(med('mpi2x1', 'tokens_per_s'))} tokens/s, collectives ${round3(med('mpi2x1', 'allreduce_ms'))} ms/step; losses equal to 1x2: ${same}`);

  // Memory per rank for ZeRO 0/1/2 (2 ranks): tensor bytes held beyond the model between steps, measured with tf.memory().
  for (const zero of [0, 1, 2]) {
    const r = runWorker(['train', 'gas=1', 'steps=1', `zero=${zero}`], { ranks: 2, env: { RLHFKIT_THREADS: '1' } })[0];
    const mem = r.memory as { tensor_bytes_beyond_model: number; accounted: Record<string, number> | null }[];
    emit({ name: 'dp_memory', zero_stage: zero, ranks: 2, params: r.params, per_rank_tensor_bytes_beyond_model: mem.map((m) => m.tensor_bytes_beyond_model), accounted: mem[0].accounted, losses: r.losses });
    say(`ZeRO ${zero}: tensor memory beyond the model per rank ${mem.map((m) => `${round1(m.tensor_bytes_beyond_model / 2 ** 20)} MiB`).join(', ')}; ` +
      `optimizer state ${round1((mem[0].accounted?.optimizer ?? 0) / 2 ** 20)} MiB, reduced gradients ${round1((mem[0].accounted?.reducedGradients ?? 0) / 2 ** 20)} MiB`);
  }

  // 3. Simulated scaling (per-rank batch fixed): compute per step measured on 1 rank x 1 thread, all-reduce from the fits.
  const computeS = med('single1t', 'step_ms') / 1000;
  const params = Number(runs.single1t[0].params);
  const tokens = 8 * 128;
  const flopsPerS = (6 * params * tokens) / computeS;
  const opt13b = { name: 'opt-1.3b', params: 1.3158e9, tokensPerRank: 8 * 512 };
  const models = [
    { name: 'standard', params, computeS },
    { name: opt13b.name, params: opt13b.params, computeS: (6 * opt13b.params * opt13b.tokensPerRank) / flopsPerS },
  ];
  say(`compute: ${round1(computeS * 1000)} ms per step of 8x128 tokens on one rank (${round1(flopsPerS / 1e9)} GFLOP/s by 6·N·T); ` +
    `opt-1.3b (8x512 tokens per rank) extrapolated at the same rate: ${round1(models[1].computeS)} s per step`);
  for (const m of models) {
    const table = scalingTable(m, links, [1, 2, 4, 8, 16, 32, 64]);
    for (const row of table.rows) emit({ name: 'dp_scaling', model: m.name, params: m.params, compute_s: round3(m.computeS), ...row });
    say(`\n${m.name} (${(m.params / 1e6).toFixed(1)}M parameters, ${round1((m.params * 4) / 2 ** 20)} MiB of gradients, ${round3(m.computeS)} s compute per step):`);
    for (const line of table.text) say(line);
  }
  emit({ name: 'dp_config', standard: { vocab: STANDARD_CONFIG.vocab_size, hidden: STANDARD_CONFIG.hidden_size, layers: STANDARD_CONFIG.num_hidden_layers }, load_end: loadAverage() });
}

main().catch((e) => {
  process.stderr.write(`data-parallel bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
