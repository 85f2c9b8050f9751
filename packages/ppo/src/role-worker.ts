// Worker-thread entry of a step-3 role: its own backend and tensor heap, the role built there, then one call at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, isHeapExhausted, loadTrainingTokenizer, tensorHeapInfo, type ModelConfig } from '@rlhfkit/core-tensor';
import { HeapMeter, type LocalActor, type LocalCritic, type LocalReference, type LocalReward } from './local-roles';
import { buildActor, buildCritic, buildReference, buildReward, type RoleBuildContext } from './role-factory';
import { ROLE_METHODS, type RoleInbound, type RoleOutbound, type RoleWorkerStart, type WorkerMemoryReport } from './role-worker-protocol';

type AnyRole = LocalActor | LocalReference | LocalCritic | LocalReward;

const port = parentPort;
const post = (m: RoleOutbound, transfer: ArrayBuffer[] = []): void => port?.postMessage(m, transfer);

function offHeap(role: AnyRole): number {
  switch (role.name) {
    case 'actor': {
      const a = role as LocalActor;
      return a.model.bf16Bytes() + (a.ema?.bf16Bytes() ?? 0) + a.optimizer.optimizer.hostStateBytes();
    }
    case 'critic': {
      const c = role as LocalCritic;
      return c.model.body.bf16Bytes() + c.optimizer.optimizer.hostStateBytes();
    }
    case 'reference':
      return (role as LocalReference).model.bf16Bytes();
    default:
      return (role as LocalReward).model.body.bf16Bytes();
  }
}

function report(role: AnyRole | null, meter: HeapMeter): WorkerMemoryReport {
  meter.sample();
  const h = tensorHeapInfo();
  return { heapBytes: h.peakBytes ?? meter.peak, tensorBytes: h.tensorBytes, peakTensorBytes: meter.peak, offHeapBytes: role ? offHeap(role) : 0 };
}

function modelConfigOf(role: AnyRole): ModelConfig {
  return role.name === 'actor' || role.name === 'reference' ? (role as LocalActor).model.config : (role as LocalCritic).model.body.config;
}

/** Typed-array buffers in a reply (matrices, scores) move to the trainer's thread instead of being copied. */
function transferables(value: unknown): ArrayBuffer[] {
  if (ArrayBuffer.isView(value)) return [value.buffer as ArrayBuffer];
  if (value && typeof value === 'object' && ArrayBuffer.isView((value as { data?: unknown }).data)) return [((value as { data: ArrayBufferView }).data.buffer as ArrayBuffer)];
  return [];
}

async function build(d: RoleWorkerStart, meter: HeapMeter): Promise<AnyRole> {
  await initBackend({ backend: d.backend ?? undefined, threads: d.threads ?? undefined, workload: 'train', quiet: true });
  const c = d.config;
  const tokenizer = await loadTrainingTokenizer(c.actorModelNameOrPath, { addEotToken: c.addEotToken, eotToken: c.eotToken });
  const ctx: RoleBuildContext = { c, tokenizer, numTotalIters: d.numTotalIters, unsupervised: d.unsupervised, log: (line) => post({ type: 'log', line }), meter };
  if (d.role === 'actor') return buildActor(ctx);
  if (d.role === 'reference') return buildReference(ctx);
  if (d.role === 'critic') return buildCritic(ctx);
  return buildReward(ctx);
}

async function serve(role: AnyRole, meter: HeapMeter, msg: Extract<RoleInbound, { type: 'call' }>): Promise<void> {
  try {
    if (!(ROLE_METHODS as readonly string[]).includes(msg.method)) throw new Error(`the ${role.name} worker has no method '${msg.method}'`);
    const fn = (role as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[msg.method];
    if (typeof fn !== 'function') throw new Error(`the ${role.name} role has no method '${msg.method}'`);
    const value = await fn.apply(role, msg.args);
    post({ type: 'result', id: msg.id, value, mem: report(role, meter) }, transferables(value));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    post({ type: 'error', id: msg.id, message, heapExhausted: isHeapExhausted(e), mem: report(role, meter) });
  }
}

if (port) {
  const meter = new HeapMeter();
  build(workerData as RoleWorkerStart, meter).then(
    (role) => {
      post({ type: 'ready', mem: report(role, meter), modelConfig: modelConfigOf(role) });
      // One call at a time, in the order sent: a role's state (training mode, RNG, optimizer) changes call by call.
      let chain = Promise.resolve();
      port.on('message', (msg: RoleInbound) => {
        if (msg.type === 'close') {
          chain = chain.then(() => port.close());
          return;
        }
        chain = chain.then(() => serve(role, meter, msg));
      });
    },
    (e: unknown) => post({ type: 'fatal', message: e instanceof Error ? e.message : String(e), heapExhausted: isHeapExhausted(e) }),
  );
}
