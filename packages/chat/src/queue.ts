// GenerationQueue: requests wait their turn for the one engine; compatible waiting requests decode together as one batch.
import { StopFlags, type EngineRequest, type GenerationEngine, type TokenListener } from './engine';

export interface QueueOptions {
  /** Requests allowed to wait (beyond the running batch); more is QueueFullError. Default 256. */
  maxPending?: number;
  /**
   * Rows (sequences) one batch may hold; waiting requests with the same sampling settings and no seed join the
   * batch of the request at the head of the queue up to this many rows. 1 runs requests strictly one by one.
   * Default 16.
   */
  maxNumSeqs?: number;
  /** Longest prompt + most new tokens a batch may reach (the model's context); default unlimited. */
  contextLength?: number;
  /**
   * Before a batch starts with room to spare, wait until no request has arrived for this many milliseconds (at most
   * 8 times as long in all), so that requests arriving together decode together. Default 5; 0 starts at once.
   */
  batchWaitMs?: number;
}

/** How a queued request ended. */
export type RunOutcome = 'completed' | 'cancelled';

export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`the server is busy: ${limit} requests are already waiting; retry later`);
    this.name = 'QueueFullError';
  }
}

/** A request in the queue: stop rows or cancel it at any time, await `done`. */
export class QueuedRun {
  /** Resolves when every row has ended ('cancelled' when it was cancelled before it started). */
  readonly done: Promise<RunOutcome>;
  started = false;
  private flags: StopFlags | null = null;
  private offset = 0;
  private readonly early: Set<number> = new Set();
  private settle!: (o: RunOutcome) => void;
  private fail!: (e: Error) => void;

  /** @internal the queue makes these. */
  constructor(readonly request: EngineRequest, readonly onTokens: TokenListener, private readonly onCancel: (run: QueuedRun) => void) {
    this.done = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
  }

  get rows(): number {
    return this.request.rows.length;
  }

  /** Stops generating one row of this request (its answer is complete or nobody reads it). */
  stopRow(row: number): void {
    if (this.flags) this.flags.set(this.offset + row);
    else this.early.add(row);
  }

  /** Stops every row; a request still waiting leaves the queue. */
  cancel(): void {
    for (let r = 0; r < this.rows; r++) this.stopRow(r);
    if (!this.started) this.onCancel(this);
  }

  /** @internal binds the run to its slice of the batch's stop flags. */
  attach(flags: StopFlags, offset: number): void {
    this.flags = flags;
    this.offset = offset;
    this.started = true;
    for (const r of this.early) flags.set(offset + r);
  }

  /** @internal */
  finish(outcome: RunOutcome, error?: Error): void {
    if (error) this.fail(error);
    else this.settle(outcome);
  }
}

function batchKey(req: EngineRequest): string | null {
  if (req.sampling.seed !== undefined) return null; // a seeded request is reproducible only alone
  return JSON.stringify([req.sampling, [...req.eos].sort((a, b) => a - b), req.pad, req.logprobs ?? null]);
}

/** One engine, one batch at a time; everything else waits here in arrival order. */
export class GenerationQueue {
  private readonly waiting: QueuedRun[] = [];
  private active: QueuedRun[] = [];
  private closed = false;
  private readonly maxPending: number;
  private readonly maxNumSeqs: number;
  private readonly contextLength: number;
  private idle: Promise<void> = Promise.resolve();
  private pumping = false;
  private lastArrival = 0;
  private readonly batchWaitMs: number;

  constructor(private readonly engine: GenerationEngine, opts: QueueOptions = {}) {
    this.maxPending = opts.maxPending ?? 256;
    this.maxNumSeqs = Math.max(1, opts.maxNumSeqs ?? 16);
    this.contextLength = opts.contextLength ?? Number.POSITIVE_INFINITY;
    this.batchWaitMs = Math.max(0, opts.batchWaitMs ?? 5);
  }

  /** Requests waiting to start. */
  get pending(): number {
    return this.waiting.length;
  }

  /** Requests in the batch being decoded. */
  get running(): number {
    return this.active.length;
  }

  /** Queues a request; throws QueueFullError when too many wait. */
  submit(request: EngineRequest, onTokens: TokenListener): QueuedRun {
    if (this.closed) throw new Error('the server is shutting down');
    if (this.waiting.length >= this.maxPending) throw new QueueFullError(this.maxPending);
    const run = new QueuedRun(request, onTokens, (r) => this.drop(r));
    this.waiting.push(run);
    this.lastArrival = Date.now();
    if (!this.pumping) {
      // Start on the next turn of the event loop: requests that arrive together can share the first batch, and the
      // caller has returned (and set up its response) before any token is reported.
      this.pumping = true;
      this.idle = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.pump());
    }
    return run;
  }

  /** Cancels everything waiting or running and waits for the running batch to stop. */
  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.waiting.splice(0)) r.finish('cancelled');
    for (const r of this.active) r.cancel();
    await this.idle;
  }

  private drop(run: QueuedRun): void {
    const i = this.waiting.indexOf(run);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      run.finish('cancelled');
    }
  }

  /** The head of the queue plus the waiting requests that can share its batch. */
  private takeBatch(): QueuedRun[] {
    const head = this.waiting.shift()!;
    const batch = [head];
    const key = batchKey(head.request);
    if (key === null) return batch;
    let rows = head.rows;
    let longestPrompt = Math.max(...head.request.rows.map((r) => r.promptIds.length));
    let mostNew = Math.max(...head.request.rows.map((r) => r.maxNewTokens));
    for (let i = 0; i < this.waiting.length; ) {
      const cand = this.waiting[i];
      const p = Math.max(longestPrompt, ...cand.request.rows.map((r) => r.promptIds.length));
      const n = Math.max(mostNew, ...cand.request.rows.map((r) => r.maxNewTokens));
      // Left padding makes every row as long as the longest prompt: the batch must still fit the context.
      if (batchKey(cand.request) === key && rows + cand.rows <= this.maxNumSeqs && p + n <= this.contextLength) {
        batch.push(cand);
        this.waiting.splice(i, 1);
        rows += cand.rows;
        longestPrompt = p;
        mostNew = n;
      } else i++;
    }
    return batch;
  }

  /** Waits while requests keep arriving and the next batch still has room (see batchWaitMs). */
  private async gather(): Promise<void> {
    if (this.batchWaitMs === 0) return;
    const deadline = Date.now() + 8 * this.batchWaitMs;
    for (;;) {
      const rows = this.waiting.reduce((n, r) => n + r.rows, 0);
      const quietAt = this.lastArrival + this.batchWaitMs;
      const now = Date.now();
      if (this.closed || rows >= this.maxNumSeqs || now >= quietAt || now >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(quietAt, deadline) - now));
    }
  }

  private async pump(): Promise<void> {
    for (;;) {
      await this.gather();
      if (this.waiting.length === 0) break;
      const batch = this.takeBatch();
      this.active = batch;
      const flags = new StopFlags(batch.reduce((n, r) => n + r.rows, 0));
      const offsets: number[] = [];
      let off = 0;
      for (const run of batch) {
        offsets.push(off);
        run.attach(flags, off);
        off += run.rows;
      }
      const head = batch[0].request;
      const merged: EngineRequest = batch.length === 1 ? head : { ...head, rows: batch.flatMap((r) => r.request.rows) };
      const onTokens: TokenListener = (step, tokens, logprobs) => {
        batch.forEach((run, i) => {
          try {
            run.onTokens(step, tokens.slice(offsets[i], offsets[i] + run.rows), logprobs?.slice(offsets[i], offsets[i] + run.rows));
          } catch {
            run.cancel(); // a listener that throws (its client is gone) loses its rows, not the batch
          }
        });
      };
      try {
        await this.engine.run(merged, onTokens, flags);
        for (const run of batch) run.finish('completed');
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        for (const run of batch) run.finish('completed', err);
      }
      this.active = [];
    }
    this.pumping = false;
  }
}
