// Data parallelism: the single-process communicator, MPI's absence as one clear line, and (where Open MPI is installed)
// `mpirun -np 2` training equal to one process with 2 accumulation steps, ZeRO 1/2 equal to stage 0, resume under ZeRO.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { useBackend } from '../testing/backends';
import { allGatherJson, allReduceNumbers, anyRank, broadcastJson, evenCounts, SingleProcessCommunicator } from './communicator';
import { resolveZeroStage } from './data-parallel';
import { buildMpiAddon } from './mpi-build';
import { defaultCommunicator, MpiUnavailableError, setDefaultCommunicator } from './mpi-communicator';
import { rankBatch, runDpFixture, tempDir, type DpRunResult } from './testing/dp-fixture';
import { worldFromEnv } from './world';

describe('communicator without MPI', () => {
  test('one process: collectives are the identity, helpers pass values through', () => {
    const c = new SingleProcessCommunicator();
    const buf = Float32Array.of(1, 2);
    c.allReduce(buf);
    const recv = new Float32Array(2);
    c.reduceScatter(buf, recv, [2]);
    c.allGather(buf, recv, [2]);
    expect([Array.from(buf), Array.from(recv)]).toEqual([[1, 2], [1, 2]]);
    expect(() => c.allGather(buf, recv, [1])).toThrow(/counts add up to 1 but the buffer holds 2/);
    expect([allReduceNumbers(c, [3]), anyRank(c, true), broadcastJson(c, { a: 1 }), allGatherJson(c, 'x')]).toEqual([[3], true, { a: 1 }, ['x']]);
    expect(evenCounts(10, 3)).toEqual([4, 3, 3]);
  });

  test("Open MPI's environment gives rank and size; without it one process", () => {
    expect(worldFromEnv({})).toMatchObject({ rank: 0, size: 1, underMpirun: false });
    const env = { OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2' };
    expect(worldFromEnv(env)).toEqual({ rank: 1, size: 4, localRank: 1, localSize: 2, underMpirun: true });
  });

  test('--zero_stage: 1/2 shard only with several ranks; 3 is explained and runs as 2', () => {
    expect(resolveZeroStage(2, 4)).toEqual({ stage: 2, note: null });
    expect(resolveZeroStage(1, 1).stage).toBe(0);
    expect(resolveZeroStage(1, 1).note).toMatch(/^--zero_stage 1: one process holds everything/);
    const three = resolveZeroStage(3, 2);
    expect([three.stage, three.note]).toEqual([2, expect.stringMatching(/^--zero_stage 3: not supported.*Running stage 2/)]);
  });

  test('no Open MPI: one line naming the packages; under mpirun that is an error, not a silent single-process run', () => {
    const r = buildMpiAddon({ mpicc: 'rlhfkit-no-such-mpicc' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/mpicc was not found.*apt-get install openmpi-bin libopenmpi-dev/);
    const saved = { ...process.env };
    const prev = setDefaultCommunicator(null);
    Object.assign(process.env, { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', RLHFKIT_MPICC: 'rlhfkit-no-such-mpicc' });
    try {
      expect(() => defaultCommunicator()).toThrow(MpiUnavailableError);
      expect(() => defaultCommunicator()).toThrow(/rank 0 of 2 under mpirun, but rlhfkit cannot use MPI: Open MPI's mpicc was not found/);
    } finally {
      for (const k of ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'RLHFKIT_MPICC']) if (!(k in saved)) delete process.env[k];
      setDefaultCommunicator(prev);
    }
  });
});

/** Why the MPI part cannot run here, or null when mpirun and mpicc are both there. */
function mpiMissing(): string | null {
  for (const tool of ['mpirun', 'mpicc']) {
    const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `${tool} is not installed (apt-get install openmpi-bin libopenmpi-dev)`;
  }
  return null;
}

const missing = mpiMissing();
if (missing) process.stdout.write(`data-parallel spec: skipping the mpirun tests: ${missing}\n`);
const describeMpi = missing ? describe.skip : describe;

interface WorkerOutput {
  size: number;
  kind: string;
  collectives: Record<string, unknown>;
  runs: Record<'zero0' | 'zero1' | 'zero2' | 'resumed', DpRunResult>;
  memory: number[][];
}

describeMpi('mpirun -np 2 (Open MPI)', () => {
  useBackend('cpu');
  let out: WorkerOutput;
  let single: DpRunResult;

  beforeAll(async () => {
    const worker = path.join(__dirname, 'testing', 'dp-worker.ts');
    const root = process.getuid?.() === 0 ? ['--allow-run-as-root'] : [];
    const r = spawnSync('mpirun', [...root, '-np', '2', '--bind-to', 'none', '--oversubscribe', process.execPath, '-r', 'tsx/cjs', worker], {
      encoding: 'utf8', cwd: path.resolve(__dirname, '../../../..'), timeout: 110_000,
    });
    if (r.status !== 0) throw new Error(`mpirun exited ${r.status ?? r.signal}:\n${r.stderr}\n${r.stdout}`);
    out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as WorkerOutput;
    // One process, both ranks' micro-batches in turn, 2 accumulation steps: the same rows and token counts per step.
    const dir = tempDir('rlhfkit-dp-single-');
    try {
      const batches = [0, 1, 2, 3].flatMap((k) => [rankBatch(0, k), rankBatch(1, k)]);
      single = await runDpFixture({ comm: new SingleProcessCommunicator(), batches, gas: 2, outputDir: dir });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('the collectives move what MPI says they move', () => {
    expect([out.size, out.kind]).toEqual([2, 'mpi']);
    expect(out.collectives).toEqual({
      allReduceSum: [3, 30], allReduceMax: [1], reduceScatter: [[3, 6, 9], [12, 15]], allGather: [7, 8, 9], broadcast: [1, 2, 3], json: { a: 'rank0' }, any: true,
    });
  });

  test('2 ranks x 1 micro-batch give exactly the losses and weights of 1 process x 2 accumulated micro-batches', () => {
    expect(out.runs.zero0.losses).toEqual(single.losses);
    expect(out.runs.zero0.gradNorms).toEqual(single.gradNorms);
    expect(out.runs.zero0.weightSum).toBe(single.weightSum);
  });

  test('ZeRO 1 equals stage 0 bit for bit, ZeRO 2 within float32 rounding, both with less optimizer memory per rank', () => {
    const { zero0, zero1, zero2 } = out.runs;
    expect(zero1.losses).toEqual(zero0.losses);
    expect(zero1.weightSum).toBe(zero0.weightSum);
    zero2.losses.forEach((l, i) => expect(Math.abs(l - zero0.losses[i])).toBeLessThanOrEqual(1e-6 * Math.abs(zero0.losses[i])));
    zero2.gradNorms.forEach((g, i) => expect(Math.abs(g - zero0.gradNorms[i])).toBeLessThanOrEqual(1e-6 * zero0.gradNorms[i]));
    for (const [s0, s1, s2] of out.memory) {
      expect(s1).toBeLessThan(s0);
      expect(s2).toBe(s1);
    }
  });

  test('a ZeRO-1 run stopped after 2 steps and resumed with the same world size continues with the same losses', () => {
    expect(out.runs.resumed.losses).toEqual(out.runs.zero1.losses.slice(2));
    expect(out.runs.resumed.weightSum).toBe(out.runs.zero1.weightSum);
  });
});
