// Worker-thread entry of WorkerEngine: loads the model, then runs each request it is sent and posts tokens back per step.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend, loadPretrained, type CausalLM } from '@rlhfkit/core-tensor';
import { describeModel, runOnModel, StopFlags, type EngineRequest } from './engine';
import type { WorkerInbound, WorkerOutbound, WorkerStartData } from './worker-protocol';

const port = parentPort;
const post = (m: WorkerOutbound): void => port?.postMessage(m);

async function start(data: WorkerStartData): Promise<CausalLM> {
  await initBackend({ backend: data.backend, threads: data.threads, quiet: data.quiet });
  const model = (await loadPretrained(data.path, { trainable: false })).eval();
  post({ type: 'ready', info: describeModel(model, data.maxModelLen) });
  return model;
}

async function serve(model: CausalLM, msg: WorkerInbound): Promise<void> {
  if (msg.type === 'stats') {
    post({ type: 'stats', id: msg.id, numTensors: tf.memory().numTensors });
  } else if (msg.type === 'run') {
    const req: EngineRequest = msg.request;
    try {
      await runOnModel(model, req, (step, tokens, logprobs) => post({ type: 'tokens', id: msg.id, step, tokens, logprobs }), new StopFlags(msg.stops));
      post({ type: 'done', id: msg.id });
    } catch (e) {
      post({ type: 'failed', id: msg.id, message: e instanceof Error ? e.message : String(e) });
    }
  }
}

if (port) {
  start(workerData as WorkerStartData).then(
    (model) => {
      // Messages are handled one at a time: a run occupies this thread until it ends.
      let chain = Promise.resolve();
      port.on('message', (msg: WorkerInbound) => {
        if (msg.type === 'close') {
          model.dispose();
          port.close();
          return;
        }
        chain = chain.then(() => serve(model, msg));
      });
    },
    (e: unknown) => post({ type: 'fatal', message: e instanceof Error ? e.message : String(e) }),
  );
}
