// Step 3's roles each in a worker thread with its own backend and tensor heap, behind the same role interfaces (--placement per_role).
import type { Worker } from 'node:worker_threads';
import { startPackageWorker, WASM_HEAP_LIMIT_BYTES, type ModelConfig } from '@rlhfkit/core-tensor';
import type { PpoConfig } from './config';
import type { HeapMemory, PpoEngine, RlhfEngineOptions } from './engine';
import type { FloatMatrix, IntMatrix } from './matrix';
import { memoryAdvice } from './placement';
import type { RoleName } from './role-factory';
import type { RoleInbound, RoleMethod, RoleOutbound, RoleWorkerStart, WorkerMemoryReport } from './role-worker-protocol';
import type {
  ActorRole, CriticRole, LmBatch, PolicyBatch, PolicyLossSettings, RewardRole, RoleMemory, RolloutSettings, UpdateResult, ValueBatch,
} from './roles';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  method: string;
}

const GIB = 2 ** 30;

function heapMessage(role: string, what: string, c: PpoConfig): string {
  return (
    `the ${role} ran out of its tensor heap while ${what} (the wasm backend's heap stops at ${WASM_HEAP_LIMIT_BYTES / GIB} GiB per worker, ` +
    `--placement per_role). To fit: ${memoryAdvice(role, c)}`
  );
}

/** One role's worker thread: starts it, sends calls, resolves them with the replies (and keeps the memory each reply carries). */
export class RoleWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | null = null;
  /** The worker's memory as of its last reply. */
  mem: WorkerMemoryReport;

  private constructor(
    readonly role: RoleName,
    private readonly worker: Worker,
    ready: Extract<RoleOutbound, { type: 'ready' }>,
    private readonly log: (l: string) => void,
    private readonly config: PpoConfig,
  ) {
    this.mem = ready.mem;
    worker.on('message', (m: RoleOutbound) => this.onMessage(m));
    worker.on('error', (e) => this.fail(new Error(`the ${role} worker failed: ${e.message}`)));
    worker.on('exit', (code) => this.fail(new Error(`the ${role} worker exited (code ${code})`)));
  }

  /** Starts the worker and waits until its role is built; the reply also carries its model's config. */
  static start(data: RoleWorkerStart, log: (l: string) => void): Promise<{ worker: RoleWorker; modelConfig: ModelConfig }> {
    // Compiled (dist/*.js) or, in the checkout, the TypeScript through tsx.
    const worker = startPackageWorker(__filename, __dirname, 'role-worker', data);
    return new Promise((resolve, reject) => {
      const exit = (code: number): void => reject(new Error(`the ${data.role} worker exited before its model loaded (code ${code})`));
      const early = (e: Error): void => reject(new Error(`the ${data.role} worker failed while loading: ${e.message}`));
      worker.once('error', early);
      worker.once('exit', exit);
      const onMessage = (m: RoleOutbound): void => {
        if (m.type === 'log') {
          log(m.line);
          return;
        }
        if (m.type !== 'ready' && m.type !== 'fatal') return;
        worker.off('message', onMessage);
        worker.off('error', early);
        worker.off('exit', exit);
        if (m.type === 'ready') {
          resolve({ worker: new RoleWorker(data.role, worker, m, log, data.config), modelConfig: m.modelConfig });
        } else {
          void worker.terminate();
          reject(new Error(m.heapExhausted ? heapMessage(data.role, 'loading its model', data.config) : m.message));
        }
      };
      worker.on('message', onMessage);
    });
  }

  call<T>(method: RoleMethod, ...args: unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
      this.worker.postMessage({ type: 'call', id, method, args } satisfies RoleInbound);
    });
  }

  async close(): Promise<void> {
    if (!this.dead) {
      this.dead = new Error(`the ${this.role} worker is closed`);
      this.worker.postMessage({ type: 'close' } satisfies RoleInbound);
    }
    await this.worker.terminate();
  }

  private onMessage(m: RoleOutbound): void {
    if (m.type === 'log') {
      this.log(m.line);
      return;
    }
    if (m.type !== 'result' && m.type !== 'error') return;
    this.mem = m.mem;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'result') p.resolve(m.value);
    else p.reject(new Error(m.heapExhausted ? heapMessage(this.role, `running ${p.method} (${m.message})`, this.config) : m.message));
  }

  private fail(e: Error): void {
    if (!this.dead) this.dead = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/** A role in a worker, behind the role interfaces: every method is one message there and its reply back. */
export class WorkerRole implements ActorRole, CriticRole, RewardRole {
  readonly name: string;

  constructor(readonly worker: RoleWorker) {
    this.name = worker.role;
  }

  setTraining(training: boolean): Promise<void> {
    return this.worker.call('setTraining', training);
  }
  memory(): Promise<RoleMemory> {
    return this.worker.call('memory');
  }
  async dispose(): Promise<void> {
    try {
      await this.worker.call('dispose');
    } finally {
      await this.worker.close();
    }
  }
  logProbs(inputIds: IntMatrix, attentionMask: IntMatrix): Promise<FloatMatrix> {
    return this.worker.call('logProbs', inputIds, attentionMask);
  }
  generate(prompts: IntMatrix, promptMask: IntMatrix, settings: RolloutSettings): Promise<IntMatrix> {
    return this.worker.call('generate', prompts, promptMask, settings);
  }
  trainPolicy(batch: PolicyBatch, loss: PolicyLossSettings): Promise<UpdateResult> {
    return this.worker.call('trainPolicy', batch, loss);
  }
  trainLm(batch: LmBatch, coef: number): Promise<UpdateResult> {
    return this.worker.call('trainLm', batch, coef);
  }
  updateEma(beta: number): Promise<boolean> {
    return this.worker.call('updateEma', beta);
  }
  saveModel(dir: string, emaDir?: string): Promise<void> {
    return this.worker.call('saveModel', dir, emaDir);
  }
  saveState(dir: string): Promise<void> {
    return this.worker.call('saveState', dir);
  }
  loadState(dir: string): Promise<void> {
    return this.worker.call('loadState', dir);
  }
  values(inputIds: IntMatrix, attentionMask: IntMatrix): Promise<FloatMatrix> {
    return this.worker.call('values', inputIds, attentionMask);
  }
  trainValue(batch: ValueBatch, cliprangeValue: number): Promise<UpdateResult> {
    return this.worker.call('trainValue', batch, cliprangeValue);
  }
  score(inputIds: IntMatrix, attentionMask: IntMatrix, promptLength: number): Promise<Float32Array> {
    return this.worker.call('score', inputIds, attentionMask, promptLength);
  }
}

/** --placement per_role: a worker thread per role (the EMA copy lives beside the actor, which updates it every step). */
class WorkerEngine implements PpoEngine {
  readonly placement = 'per_role' as const;

  constructor(
    readonly actor: WorkerRole,
    readonly reference: WorkerRole,
    readonly critic: WorkerRole | null,
    readonly reward: WorkerRole,
    readonly actorConfig: ModelConfig,
  ) {}

  private roles(): WorkerRole[] {
    return [this.actor, this.reference, this.critic, this.reward].filter((r): r is WorkerRole => r != null);
  }

  async memory(): Promise<Record<string, RoleMemory>> {
    const out: Record<string, RoleMemory> = {};
    for (const r of this.roles()) out[r.name] = await r.memory();
    return out;
  }

  heaps(): HeapMemory[] {
    return this.roles().map((r) => ({ roles: [r.name], heapBytes: r.worker.mem.heapBytes, offHeapBytes: r.worker.mem.offHeapBytes, peakTensorBytes: r.worker.mem.peakTensorBytes }));
  }

  peakTensorBytes(): number {
    return Math.max(...this.roles().map((r) => r.worker.mem.peakTensorBytes));
  }

  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    for (const r of this.roles()) await r.dispose().catch((e: unknown) => errors.push(e));
    if (errors.length) throw errors[0];
  }
}

/** Starts every role's worker (they load side by side); if one fails, the others are stopped and its error is thrown. */
export async function startWorkerEngine(c: PpoConfig, o: RlhfEngineOptions & { log: (l: string) => void }): Promise<PpoEngine> {
  const names: RoleName[] = c.advantageEstimator === 'gae' ? ['actor', 'reference', 'critic', 'reward'] : ['actor', 'reference', 'reward'];
  const started = await Promise.allSettled(
    names.map((role) =>
      RoleWorker.start({ role, config: c, numTotalIters: o.numTotalIters, unsupervised: o.unsupervised, backend: c.backend, threads: c.threads }, o.log),
    ),
  );
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const ok = started.filter((s): s is PromiseFulfilledResult<{ worker: RoleWorker; modelConfig: ModelConfig }> => s.status === 'fulfilled').map((s) => s.value);
  if (failed) {
    await Promise.all(ok.map((w) => w.worker.close()));
    throw failed.reason;
  }
  const by = new Map(ok.map((w) => [w.worker.role, w]));
  const role = (n: RoleName): WorkerRole => new WorkerRole(by.get(n)!.worker);
  return new WorkerEngine(role('actor'), role('reference'), by.has('critic') ? role('critic') : null, role('reward'), by.get('actor')!.modelConfig);
}
