// WorkerEngine: the model in a worker thread, so the HTTP server's event loop stays free while tokens are generated.
import type { Worker } from 'node:worker_threads';
import { startPackageWorker } from '@rlhfkit/core-tensor';
import type { EngineModelInfo, EngineRequest, GenerationEngine, StopFlags, TokenListener } from './engine';
import type { WorkerInbound, WorkerOutbound, WorkerStartData } from './worker-protocol';

export interface WorkerEngineOptions {
  /** The HF model folder. */
  path: string;
  /** Backend for the worker (see initBackend). */
  backend?: string;
  threads?: number;
  /** Lower the context length below the position table. */
  maxModelLen?: number;
  /** Print the backend line (default true). */
  verbose?: boolean;
}

interface Pending {
  onTokens?: TokenListener;
  resolve: (v: number) => void;
  reject: (e: Error) => void;
  /** What the listener threw; the call fails with it when the run ends. */
  error?: Error;
}

/**
 * Runs generate() in a worker thread. Tokens come back as messages; stopping a row is a store into shared memory
 * that the worker reads between steps, so a stop string or a vanished client ends the row at once.
 */
export class WorkerEngine implements GenerationEngine {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | null = null;

  private constructor(private readonly worker: Worker, readonly info: EngineModelInfo) {
    worker.on('message', (m: WorkerOutbound) => this.onMessage(m));
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`the generation worker exited (code ${code})`)));
  }

  /** Starts the worker and waits until the model is loaded. */
  static start(opts: WorkerEngineOptions): Promise<WorkerEngine> {
    const data: WorkerStartData = { path: opts.path, backend: opts.backend, threads: opts.threads, maxModelLen: opts.maxModelLen, quiet: opts.verbose === false };
    // Compiled (dist/*.js) or, in the checkout, the TypeScript through tsx.
    const worker = startPackageWorker(__filename, __dirname, 'engine-worker', data);
    return new Promise((resolve, reject) => {
      const early = (e: Error): void => reject(e);
      const exit = (code: number): void => reject(new Error(`the generation worker exited before the model loaded (code ${code})`));
      worker.once('error', early);
      worker.once('exit', exit);
      const onFirst = (m: WorkerOutbound): void => {
        if (m.type !== 'ready' && m.type !== 'fatal') return;
        worker.off('message', onFirst);
        worker.off('error', early);
        worker.off('exit', exit);
        if (m.type === 'ready') resolve(new WorkerEngine(worker, m.info));
        else {
          void worker.terminate();
          reject(new Error(m.message));
        }
      };
      worker.on('message', onFirst);
    });
  }

  run(req: EngineRequest, onTokens: TokenListener, stops: StopFlags): Promise<void> {
    return this.call({ type: 'run', id: 0, request: req, stops: stops.array }, onTokens).then(() => undefined);
  }

  numTensors(): Promise<number> {
    return this.call({ type: 'stats', id: 0 });
  }

  alive(): boolean {
    return this.dead === null;
  }

  async close(): Promise<void> {
    if (this.dead) return;
    this.dead = new Error('the engine is closed');
    this.worker.postMessage({ type: 'close' } satisfies WorkerInbound);
    await this.worker.terminate();
    this.rejectAll(this.dead);
  }

  private call(msg: Extract<WorkerInbound, { id: number }>, onTokens?: TokenListener): Promise<number> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { onTokens, resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  private onMessage(m: WorkerOutbound): void {
    if (!('id' in m)) return;
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'tokens') {
      // A throwing listener must not take the process down from inside a worker event: report it when the run ends.
      try {
        if (!p.error) p.onTokens?.(m.step, m.tokens, m.logprobs);
      } catch (e) {
        p.error = e instanceof Error ? e : new Error(String(e));
      }
      return;
    }
    this.pending.delete(m.id);
    if (p.error) p.reject(p.error);
    else if (m.type === 'done') p.resolve(0);
    else if (m.type === 'stats') p.resolve(m.numTensors);
    else if (m.type === 'failed') p.reject(new Error(m.message));
  }

  private fail(e: Error): void {
    if (!this.dead) this.dead = e;
    this.rejectAll(e);
  }

  private rejectAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
