import type { EngineRequest, SamplingParams } from './engine';
import { GenerationQueue, QueueFullError } from './queue';
import { ScriptedEngine } from './testing';

const greedy: SamplingParams = { temperature: 0, topP: 1, topK: 0, repetitionPenalty: 1, minNewTokens: 0 };
const req = (prompt: number[], maxNewTokens = 3, sampling: SamplingParams = greedy, rows = 1): EngineRequest => ({
  rows: Array.from({ length: rows }, () => ({ promptIds: prompt, maxNewTokens })), sampling, eos: [756], pad: 756,
});

describe('GenerationQueue', () => {
  // Each prompt's answer: its own first id, counting up.
  const engine = (): ScriptedEngine => new ScriptedEngine((p) => Array.from({ length: 20 }, (_, i) => p[0] + i));

  it('batches waiting requests with the same sampling, keeps seeded ones alone, and routes tokens to their owners', async () => {
    const e = engine();
    const q = new GenerationQueue(e);
    const seen: Record<string, number[][]> = { a: [], b: [], c: [] };
    const a = q.submit(req([10], 2), (_s, t) => seen.a.push(t));
    const b = q.submit(req([20, 21], 3, greedy, 2), (_s, t) => seen.b.push(t));
    const c = q.submit(req([30], 2, { ...greedy, temperature: 1, seed: 3 }), (_s, t) => seen.c.push(t));
    expect(q.pending).toBe(3);
    expect(await Promise.all([a.done, b.done, c.done])).toEqual(['completed', 'completed', 'completed']);
    expect(e.runs.map((r) => r.rows.length)).toEqual([3, 1]);
    expect(seen.a).toEqual([[10], [11], [756]]); // the batch runs to its longest row; an ended row gets the pad id
    expect(seen.b).toEqual([[20, 20], [21, 21], [22, 22]]);
    expect(seen.c).toEqual([[30], [31]]);
  });

  it('waits briefly for requests that arrive together (batchWaitMs), or starts at once', async () => {
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const e = engine();
    const q = new GenerationQueue(e, { batchWaitMs: 30 });
    const a = q.submit(req([1]), () => undefined);
    await sleep(5);
    const b = q.submit(req([2]), () => undefined);
    await Promise.all([a.done, b.done]);
    expect(e.runs.map((r) => r.rows.length)).toEqual([2]);
    const e0 = engine();
    const q0 = new GenerationQueue(e0, { batchWaitMs: 0 });
    const c = q0.submit(req([1], 3), () => undefined);
    await sleep(5);
    const d = q0.submit(req([2]), () => undefined);
    await Promise.all([c.done, d.done]);
    expect(e0.runs.map((r) => r.rows.length)).toEqual([1, 1]);
  });

  it('runs one request at a time with maxNumSeqs 1, and never batches past the context', async () => {
    const e = engine();
    const q = new GenerationQueue(e, { maxNumSeqs: 1 });
    await Promise.all([q.submit(req([1]), () => undefined).done, q.submit(req([2]), () => undefined).done]);
    expect(e.runs).toHaveLength(2);
    const e2 = engine();
    const q2 = new GenerationQueue(e2, { contextLength: 10 });
    await Promise.all([q2.submit(req([1], 3), () => undefined).done, q2.submit(req(Array(8).fill(5), 2), () => undefined).done]);
    expect(e2.runs).toHaveLength(2);
  });

  it('drops a request cancelled while waiting, and stops the rows of a running one', async () => {
    const e = engine();
    const q = new GenerationQueue(e, { maxNumSeqs: 1 });
    let steps = 0;
    const running = q.submit(req([1], 20), () => {
      if (++steps === 2) running.cancel();
    });
    const waiting = q.submit(req([2]), () => undefined);
    waiting.cancel();
    expect(await waiting.done).toBe('cancelled');
    expect(await running.done).toBe('completed');
    expect(steps).toBe(2);
    expect(e.runs).toHaveLength(1);
  });

  it('refuses requests beyond maxPending, and cancels everything on close', async () => {
    const e = engine();
    const q = new GenerationQueue(e, { maxPending: 2, maxNumSeqs: 1 });
    const r1 = q.submit(req([1], 20), () => undefined);
    const r2 = q.submit(req([2]), () => undefined);
    expect(() => q.submit(req([3]), () => undefined)).toThrow(QueueFullError);
    await new Promise((resolve) => setImmediate(resolve));
    expect(q.running).toBe(1);
    await q.close();
    expect(await r1.done).toBe('completed');
    expect(await r2.done).toBe('cancelled');
    expect(() => q.submit(req([3]), () => undefined)).toThrow(/shutting down/);
  });

  it('fails the requests of a batch whose engine run fails, and keeps serving', async () => {
    const e = engine();
    const q = new GenerationQueue(e);
    const run = e.run.bind(e);
    e.run = () => Promise.reject(new Error('boom'));
    await expect(q.submit(req([1]), () => undefined).done).rejects.toThrow('boom');
    e.run = run;
    expect(await q.submit(req([1]), () => undefined).done).toBe('completed');
  });
});
