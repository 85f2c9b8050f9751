// Run under `mpirun -np 2` by the data-parallel spec: checks the collectives, then trains the fixture with ZeRO 0/1/2 and a resume; rank 0 prints JSON.
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { allGatherJson, anyRank, broadcastJson } from '../communicator';
import { defaultCommunicator } from '../mpi-communicator';
import { rankBatch, runDpFixture, tempDir, type DpRunResult } from './dp-fixture';

async function main(): Promise<void> {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu != null) cpu.firstUse = false;
  await tf.setBackend('cpu');
  const comm = defaultCommunicator();
  const r = comm.rank;
  const sum = Float32Array.of(r + 1, 10 * (r + 1));
  comm.allReduce(sum, 'sum');
  const max = Float64Array.of(r);
  comm.allReduce(max, 'max');
  const scattered = new Float32Array(r === 0 ? 3 : 2);
  comm.reduceScatter(Float32Array.from([1, 2, 3, 4, 5], (x) => x * (r + 1)), scattered, [3, 2]);
  const gathered = new Int32Array(3);
  comm.allGather(Int32Array.from(r === 0 ? [7] : [8, 9]), gathered, [1, 2]);
  const bytes = r === 0 ? Uint8Array.of(1, 2, 3) : new Uint8Array(3);
  comm.broadcast(bytes, 0);
  comm.barrier();
  const collectives = {
    allReduceSum: Array.from(sum), allReduceMax: Array.from(max), reduceScatter: allGatherJson(comm, Array.from(scattered)),
    allGather: Array.from(gathered), broadcast: Array.from(bytes), json: broadcastJson(comm, r === 0 ? { a: 'rank0' } : null), any: anyRank(comm, r === 1),
  };

  const batches = [0, 1, 2, 3].map((k) => rankBatch(r, k));
  const root = broadcastJson(comm, r === 0 ? tempDir('rlhfkit-dp-') : '');
  const runs: Record<string, DpRunResult> = {};
  for (const stage of [0, 1, 2]) runs[`zero${stage}`] = await runDpFixture({ comm, batches, gas: 1, zeroStage: stage, outputDir: `${root}/zero${stage}` });
  // Stage 1 stopped after 2 steps (its sharded AdamW state gathered into the checkpoint), then resumed.
  await runDpFixture({ comm, batches, gas: 1, zeroStage: 1, outputDir: `${root}/resume`, stopAfterSteps: 2 });
  runs.resumed = await runDpFixture({ comm, batches, gas: 1, zeroStage: 1, outputDir: `${root}/resume`, resume: true });
  const memory = allGatherJson(comm, [0, 1, 2].map((s) => runs[`zero${s}`].optimizerBytes));
  comm.barrier();
  if (r === 0) {
    fs.rmSync(root, { recursive: true, force: true });
    process.stdout.write(`${JSON.stringify({ size: comm.size, kind: comm.kind, collectives, runs, memory })}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`dp-worker rank ${process.env.OMPI_COMM_WORLD_RANK}: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
