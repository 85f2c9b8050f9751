import * as net from 'node:net';
import OpenAI from 'openai';
import type { Tokenizer } from '@rlhfkit/core-tensor';
import { rawRequest, ScriptedEngine, scriptedModel, tinyChatModel, tinyTokenizer, type TinyChatModel } from '../testing';
import { createServer, type ChatServer } from './http-server';
import { MALFORMED_REQUESTS } from './malformed';

/** Exact server semantics over a scripted engine (answers known in advance) and the real GPT-2 tokenizer. */
describe('OpenAI-compatible server (scripted engine)', () => {
  let fixture: TinyChatModel;
  let tok: Tokenizer;
  let engine: ScriptedEngine;
  let server: ChatServer;
  let client: OpenAI;
  let port: number;
  const ANSWER = 'Sure! Voilà: 日本語 text.\n\n Human: invented turn';
  beforeAll(async () => {
    fixture = await tinyChatModel();
    tok = await tinyTokenizer(fixture.dir);
    const answer = await tok.encode(ANSWER);
    const eos = tok.eosTokenId!;
    // A prompt ending in "!" gets EOS after two tokens; anything else gets the long answer.
    const bang = (await tok.encode('!'))[0];
    engine = new ScriptedEngine((p) => (p[p.length - 1] === bang ? [...answer.slice(0, 2), eos] : [...answer, ...answer]));
    server = createServer({ model: scriptedModel(engine, tok, { id: 'tiny' }), maxBodyBytes: 64 * 1024 });
    ({ port } = await server.listen(0));
    client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await server.close();
    fixture.remove();
  });

  it('answers a chat completion, cut before the invented Human turn, with usage', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].message).toMatchObject({ role: 'assistant', content: 'Sure! Voilà: 日本語 text.\n\n ' });
    expect(r.choices[0].finish_reason).toBe('stop');
    const promptTokens = (await tok.encode(' Human: hello\n Assistant: ')).length;
    const cut = (await tok.encode(ANSWER)).length - (await tok.encode(' invented turn')).length;
    expect(r.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: cut, total_tokens: promptTokens + cut });
  });

  it('streams the same text as server-sent events: role first, finish_reason last, usage on request, [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'tiny', messages: [{ role: 'user', content: 'hello' }], temperature: 0, stream: true, stream_options: { include_usage: true }, n: 2,
    });
    const text = ['', ''];
    const finish: (string | null)[] = [null, null];
    const roles: string[] = [];
    let usage: unknown = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        expect(finish[c.index]).toBeNull(); // nothing after a choice's finish_reason
        if (c.delta.role) roles.push(c.delta.role);
        text[c.index] += c.delta.content ?? '';
        expect(c.delta.content ?? '').not.toContain('\uFFFD');
        if (c.finish_reason) finish[c.index] = c.finish_reason;
      }
    }
    expect(roles).toEqual(['assistant', 'assistant']);
    expect(text).toEqual(['Sure! Voilà: 日本語 text.\n\n ', 'Sure! Voilà: 日本語 text.\n\n ']);
    expect(finish).toEqual(['stop', 'stop']);
    expect(usage).toMatchObject({ completion_tokens: expect.any(Number) as number, prompt_tokens: expect.any(Number) as number });
  });

  it('honours stop strings, max_tokens (finish_reason length) and EOS', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], stop: ['語'], max_tokens: 50 });
    expect(r.choices[0].message.content).toBe('Sure! Voilà: 日本');
    const short = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_completion_tokens: 3 });
    expect(short.choices[0].finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(3);
    const eos = await client.completions.create({ model: 'tiny', prompt: 'wow!', max_tokens: 10 });
    expect(eos.choices[0]).toMatchObject({ finish_reason: 'stop', text: await tok.decode((await tok.encode(ANSWER)).slice(0, 2)) });
    expect(eos.usage?.completion_tokens).toBe(3);
  });

  it('completes text prompts and token-id prompts, several at once, with echo', async () => {
    const r = await client.completions.create({ model: 'tiny', prompt: ['Once upon', 'A'], max_tokens: 2, n: 2, echo: true });
    expect(r.object).toBe('text_completion');
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(r.choices[0].text.startsWith('Once upon')).toBe(true);
    expect(r.choices[2].text.startsWith('A')).toBe(true);
    expect(r.choices.every((c) => c.finish_reason === 'length')).toBe(true);
    const ids = await client.completions.create({ model: 'tiny', prompt: [[10, 20, 30]], max_tokens: 1 });
    expect(ids.usage?.prompt_tokens).toBe(3);
    const streamed = await client.completions.create({ model: 'tiny', prompt: 'Once upon', max_tokens: 40, stream: true, stop: [':'] });
    let text = '';
    for await (const c of streamed) text += c.choices[0]?.text ?? '';
    expect(text).toBe('Sure! Voilà');
  });

  it('returns log-probabilities in both APIs, streamed and not, aligned with the text', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], logprobs: true, top_logprobs: 2, max_tokens: 6 });
    const content = r.choices[0].logprobs?.content ?? [];
    expect(content).toHaveLength(6);
    expect(content.map((e) => e.token).join('')).toBe(r.choices[0].message.content);
    expect(content[0]).toMatchObject({ logprob: -0.5, top_logprobs: [{ logprob: -0.5 }, { logprob: -1.5 }] });
    expect(content[0].bytes).toEqual(Array.from(Buffer.from(content[0].token)));
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], logprobs: true, max_tokens: 6, stream: true });
    const streamed: string[] = [];
    for await (const c of stream) for (const e of c.choices[0]?.logprobs?.content ?? []) streamed.push(e.token);
    expect(streamed).toEqual(content.map((e) => e.token));
    const plain = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 2 });
    expect(plain.choices[0].logprobs).toBeNull();
    const c = await client.completions.create({ model: 'tiny', prompt: 'Once upon', max_tokens: 5, logprobs: 1 });
    const lp = c.choices[0].logprobs!;
    expect(lp.tokens!.join('')).toBe(c.choices[0].text);
    expect(lp.token_logprobs).toEqual([-0.5, -0.5, -0.5, -0.5, -0.5]);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length === 1)).toBe(true);
    expect(lp.text_offset![1]).toBe(lp.tokens![0].length);
  });

  it('lists the model and answers /health', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['tiny']);
    expect((await client.models.retrieve('tiny')).id).toBe('tiny');
    const health = await rawRequest(port, { method: 'GET', path: '/health' });
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: 'ok' });
  });

  it.each(MALFORMED_REQUESTS.map((m) => [m.name, m] as const))('refuses %s with an OpenAI error body', async (_name, m) => {
    const body = m.raw !== undefined ? m.raw : m.body === undefined ? undefined : JSON.stringify(m.body);
    const r = await rawRequest(port, { method: m.method, path: m.path, body, headers: m.headers });
    expect(r.status).toBe(m.status);
    expect(r.json).toEqual({ error: { message: expect.any(String) as string, type: expect.any(String) as string, param: m.param ?? null, code: expect.any(String) as string } });
  });

  it('refuses an oversized body (413), a wrong method (405 with Allow) and garbage bytes (400), then still answers', async () => {
    const big = await rawRequest(port, { body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }] }) });
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ error: { code: 'request_too_large', type: 'invalid_request_error' } });
    const del = await rawRequest(port, { method: 'DELETE', path: '/v1/models' });
    expect(del.status).toBe(405);
    expect(del.headers.allow).toBe('GET, HEAD');
    const garbage = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('\x00\x01 NOT HTTP\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
    });
    expect(garbage).toMatch(/^HTTP\/1.1 400/);
    const ok = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'still there?' }], max_tokens: 2 });
    expect(ok.choices[0].finish_reason).toBe('length');
  });

  it('gives the openai client typed errors', async () => {
    await expect(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], top_p: 7 })).rejects.toMatchObject({
      status: 400, param: 'top_p', code: 'decimal_above_max_value', type: 'invalid_request_error',
    });
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('frees the slot of a client that disconnects mid-stream: its rows stop, the next request runs', async () => {
    const slow = new ScriptedEngine(() => Array.from({ length: 500 }, (_, i) => 300 + (i % 50)), { contextLength: 1024 });
    slow.stepDelayMs = 5;
    const one = createServer({ model: scriptedModel(slow, tok, { id: 'tiny' }), queue: { maxNumSeqs: 1 } });
    const { port: p } = await one.listen(0);
    try {
      const c = new OpenAI({ baseURL: `http://127.0.0.1:${p}/v1`, apiKey: 'x', maxRetries: 0 });
      const first = await c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'talk' }], max_tokens: 400, stream: true });
      const waiting = c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'me next' }], max_tokens: 5 });
      let chunks = 0;
      for await (const _ of first) {
        if (++chunks === 5) break; // leaving the loop aborts the request: the client goes away
      }
      const t0 = Date.now();
      const second = await waiting;
      expect(second.choices[0].finish_reason).toBe('length');
      expect(Date.now() - t0).toBeLessThan(1000); // 400 more steps would take 2 s
      expect(slow.steps).toBeLessThan(60);
      expect(one.queue.pending + one.queue.running).toBe(0);
    } finally {
      await one.close();
    }
  });

  it('requires the API key when one is set, and reports a dead engine on /health', async () => {
    const lockedEngine = new ScriptedEngine(() => [1, 2]);
    const locked = createServer({ model: scriptedModel(lockedEngine, tok, { id: 'tiny' }), apiKey: 'sesame' });
    const { port: p } = await locked.listen(0);
    try {
      const bad = new OpenAI({ baseURL: `http://127.0.0.1:${p}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await expect(bad.models.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
      const good = new OpenAI({ baseURL: `http://127.0.0.1:${p}/v1`, apiKey: 'sesame', maxRetries: 0 });
      expect((await good.models.list()).data).toHaveLength(1);
      expect((await rawRequest(p, { method: 'GET', path: '/health' })).status).toBe(200);
      lockedEngine.closed = true; // as when the generation worker dies
      expect((await rawRequest(p, { method: 'GET', path: '/health' })).status).toBe(503);
    } finally {
      await locked.close();
    }
  });
});
