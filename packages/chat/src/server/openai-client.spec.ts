import OpenAI from 'openai';
import { loadServedModel } from '../served-model';
import { rawRequest, tinyChatModel, type TinyChatModel } from '../testing';
import { createServer, type ChatServer } from './http-server';
import { MALFORMED_REQUESTS } from './malformed';

/** The server as `rlhfkit serve` runs it (a real tiny model, generating in a worker thread), driven by the openai client. */
describe('rlhfkit serve under the official openai client', () => {
  let fixture: TinyChatModel;
  let server: ChatServer;
  let client: OpenAI;
  let port: number;
  let tensorsAtStart: number;
  beforeAll(async () => {
    fixture = await tinyChatModel();
    const model = await loadServedModel(fixture.dir, { id: 'tiny', verbose: false });
    server = createServer({ model });
    ({ port } = await server.listen(0));
    client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
    tensorsAtStart = await model.engine.numTensors();
  });
  afterAll(async () => {
    await server.close();
    fixture.remove();
  });

  const ask = { model: 'tiny', messages: [{ role: 'user' as const, content: 'What is RLHF?' }] };

  it('answers non-streamed and streamed requests with the same greedy text', async () => {
    const plain = await client.chat.completions.create({ ...ask, max_tokens: 12, temperature: 0 });
    expect(plain.choices[0].finish_reason).toBe('length');
    expect(plain.usage?.completion_tokens).toBe(12);
    const stream = await client.chat.completions.create({ ...ask, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(plain.choices[0].message.content);
    expect(finish).toBe('length');
    expect(usage).toEqual(plain.usage);
  });

  it('samples reproducibly with a seed, and completes raw text with log-probabilities', async () => {
    const a = await client.chat.completions.create({ ...ask, max_tokens: 10, temperature: 1.2, seed: 42 });
    const b = await client.chat.completions.create({ ...ask, max_tokens: 10, temperature: 1.2, seed: 42 });
    expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
    const c = await client.completions.create({ model: 'tiny', prompt: 'The reward model', max_tokens: 5, temperature: 0, logprobs: 2 });
    expect(c.choices[0].text.length).toBeGreaterThan(0);
    const lp = c.choices[0].logprobs!;
    expect(lp.tokens!.join('')).toBe(c.choices[0].text);
    // greedy: each chosen token is the most likely one, and its logprob heads the alternatives
    lp.token_logprobs!.forEach((l, i) => expect(Math.max(...Object.values(lp.top_logprobs![i]))).toBeCloseTo(l, 5));
  });

  it('serves 20 concurrent streaming clients to completion', async () => {
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const stream = await client.chat.completions.create({
          model: 'tiny', messages: [{ role: 'user', content: `Question number ${i}?` }], max_tokens: 16, temperature: 0.8, stream: true,
        });
        let text = '';
        let finish: string | null = null;
        let chunks = 0;
        for await (const chunk of stream) {
          chunks++;
          text += chunk.choices[0]?.delta.content ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        return { text, finish, chunks };
      }),
    );
    const ms = Date.now() - t0;
    for (const r of results) {
      expect(['stop', 'length']).toContain(r.finish);
      expect(r.chunks).toBeGreaterThan(1);
    }
    process.stdout.write(`20 concurrent streams: ${ms} ms, all ${results.length} finished\n`);
  });

  it('answers 50 malformed requests with 4xx OpenAI errors and keeps serving', async () => {
    const statuses: number[] = [];
    for (const m of MALFORMED_REQUESTS) {
      const body = m.raw !== undefined ? m.raw : m.body === undefined ? undefined : JSON.stringify(m.body);
      const r = await rawRequest(port, { method: m.method, path: m.path, body, headers: m.headers });
      statuses.push(r.status);
      expect(r.status).toBe(m.status);
      expect(Object.keys((r.json as { error: object }).error).sort()).toEqual(['code', 'message', 'param', 'type']);
    }
    expect(statuses).toHaveLength(50);
    expect(statuses.every((s) => s >= 400 && s < 500)).toBe(true);
    expect((await rawRequest(port, { method: 'GET', path: '/health' })).status).toBe(200);
    const ok = await client.chat.completions.create({ ...ask, max_tokens: 3 });
    expect(ok.choices[0].message.content).toEqual(expect.any(String));
  });

  it('answers /health while a generation runs, and frees the slot of a client that disconnects', async () => {
    // A model with a long context of its own, asked for 2000 tokens: the tiny model decodes so fast that 100 tokens could
    // all be done before the disconnect reaches the server, and then nothing would show that decoding stopped.
    const long = await tinyChatModel({ maxPositions: 2048 });
    const model = await loadServedModel(long.dir, { id: 'tiny', verbose: false });
    const own = createServer({ model });
    try {
      const { port: ownPort } = await own.listen(0);
      const ownClient = new OpenAI({ baseURL: `http://127.0.0.1:${ownPort}/v1`, apiKey: 'unused', maxRetries: 0 });
      const engine = model.engine;
      const run = engine.run.bind(engine);
      let steps = 0;
      engine.run = (req, onTokens, stops) => run(req, (step, tokens) => {
        steps++;
        onTokens(step, tokens);
      }, stops);
      const stream = await ownClient.chat.completions.create({ ...ask, max_tokens: 2000, temperature: 0, stream: true });
      let healthDuring = 0;
      let chunks = 0;
      for await (const _ of stream) {
        if (++chunks === 3) {
          healthDuring = (await rawRequest(ownPort, { method: 'GET', path: '/health' })).status;
          break; // the client goes away mid-stream
        }
      }
      expect(healthDuring).toBe(200);
      for (let i = 0; i < 300 && own.queue.running + own.queue.pending > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(own.queue.running + own.queue.pending).toBe(0);
      expect(steps).toBeLessThan(2000); // the worker stopped decoding the abandoned row
      engine.run = run;
      const next = await ownClient.chat.completions.create({ ...ask, max_tokens: 4 });
      expect(next.usage?.completion_tokens).toBe(4);
    } finally {
      await own.close();
      long.remove();
    }
  });

  it('leaves the worker with the tensors it started with', async () => {
    expect(await server.model.engine.numTensors()).toBe(tensorsAtStart);
  });
});
