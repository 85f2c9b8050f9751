// POST /v1/chat/completions and /v1/completions: validate, tokenize, queue, then answer as JSON or as server-sent events.
import { randomUUID } from 'node:crypto';
import type * as http from 'node:http';
import type { CompletionText, LogprobEntry } from '../completion-text';
import type { GenerationQueue } from '../queue';
import type { ServedModel } from '../served-model';
import { ApiError } from './errors';
import { chatJobs, completionJobs, startGeneration, type ActiveGeneration, type ChoiceDelta, type PromptJob } from './generation';
import { parseChatRequest, parseCompletionRequest, type GenerationParams, type ParseContext } from './requests';
import { sendJson, SseWriter } from './responses';

export interface EndpointContext {
  model: ServedModel;
  queue: GenerationQueue;
  closing: () => boolean;
}

function parseContext(model: ServedModel): ParseContext {
  return { vocabSize: model.vocabSize, defaults: model.engine.info.generationDefaults };
}

function checkModel(model: ServedModel, asked: string): void {
  if (asked !== model.id) throw new ApiError(404, `The model \`${asked}\` does not exist or you do not have access to it.`, { param: 'model', code: 'model_not_found' });
}

/** Cancels the generation when the client goes away before the response is complete (its rows stop at once). */
function cancelOnDisconnect(res: http.ServerResponse, g: ActiveGeneration): void {
  // The client may already be gone (it left while its prompt was being tokenized): 'close' will not come again.
  if (res.destroyed) g.cancel();
  else {
    res.on('close', () => {
      if (!res.writableFinished) g.cancel();
    });
  }
}

interface Shape {
  /** id prefix and object names. */
  prefix: string;
  object: string;
  chunkObject: string;
  /** One choice of a streamed chunk. */
  chunkChoice(d: ChoiceDelta): Record<string, unknown>;
  /** Chunks sent before any token (chat: the role of each choice; completions with echo: the prompt). */
  openers(choices: number): Record<string, unknown>[];
  /** One choice of the complete response. */
  finalChoice(index: number, choice: CompletionText): Record<string, unknown>;
}

const utf8 = (s: string): number[] => Array.from(Buffer.from(s, 'utf8'));

/** Chat's logprobs.content entries. */
function chatLogprobs(entries: LogprobEntry[]): Record<string, unknown>[] {
  return entries.map((e) => ({
    token: e.token, logprob: e.logprob, bytes: utf8(e.token),
    top_logprobs: e.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: utf8(t.token) })),
  }));
}

/** The legacy completions logprobs object; text_offset counts characters from `offset` (the echo in front). */
function completionLogprobs(entries: LogprobEntry[], offset: number): Record<string, unknown> {
  const textOffset: number[] = [];
  for (const e of entries) {
    textOffset.push(offset);
    offset += e.token.length;
  }
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((t) => [t.token, t.logprob]))),
    text_offset: textOffset,
  };
}

async function respond(ctx: EndpointContext, res: http.ServerResponse, params: GenerationParams, jobs: PromptJob[], stops: readonly string[], shape: Shape): Promise<void> {
  const id = `${shape.prefix}-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const model = ctx.model.id;
  const choices = jobs.length * params.n;
  if (!params.stream) {
    const g = startGeneration(ctx.model, ctx.queue, jobs, params, stops, () => undefined);
    cancelOnDisconnect(res, g);
    const r = await g.result;
    sendJson(res, 200, {
      id, object: shape.object, created, model, system_fingerprint: null,
      choices: r.choices.map((c, i) => shape.finalChoice(i, c)),
      usage: r.usage,
    });
    return;
  }
  const sse = new SseWriter(res);
  const usageField = params.includeUsage ? { usage: null } : {};
  const chunk = (list: Record<string, unknown>[]): Record<string, unknown> => ({ id, object: shape.chunkObject, created, model, system_fingerprint: null, choices: list, ...usageField });
  const g = startGeneration(ctx.model, ctx.queue, jobs, params, stops, (d) => sse.event(chunk([shape.chunkChoice(d)])));
  cancelOnDisconnect(res, g);
  for (const c of shape.openers(choices)) sse.event(chunk([c]));
  try {
    const r = await g.result;
    if (params.includeUsage) sse.event({ id, object: shape.chunkObject, created, model, system_fingerprint: null, choices: [], usage: r.usage });
    sse.done();
  } catch (e) {
    sse.error(e);
  }
}

export async function handleChatCompletions(ctx: EndpointContext, body: unknown, res: http.ServerResponse): Promise<void> {
  const req = parseChatRequest(body, parseContext(ctx.model));
  checkModel(ctx.model, req.model);
  const jobs = await chatJobs(ctx.model, req);
  const lp = (entries: LogprobEntry[]): Record<string, unknown> | null => (req.logprobs === undefined ? null : { content: chatLogprobs(entries), refusal: null });
  await respond(ctx, res, req, jobs, ctx.model.format.stop, {
    prefix: 'chatcmpl',
    object: 'chat.completion',
    chunkObject: 'chat.completion.chunk',
    chunkChoice: (d) => ({ index: d.index, delta: d.text ? { content: d.text } : {}, logprobs: lp(d.logprobs), finish_reason: d.finish }),
    openers: (n) => Array.from({ length: n }, (_, index) => ({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null })),
    finalChoice: (index, c) => ({ index, message: { role: 'assistant', content: c.text, refusal: null }, logprobs: lp(c.logprobs), finish_reason: c.finishReason }),
  });
}

export async function handleCompletions(ctx: EndpointContext, body: unknown, res: http.ServerResponse): Promise<void> {
  const req = parseCompletionRequest(body, parseContext(ctx.model));
  checkModel(ctx.model, req.model);
  const jobs = await completionJobs(ctx.model, req);
  const echoOf = (i: number): string => jobs[Math.floor(i / req.n)].echo ?? '';
  const streamedChars = new Map<number, number>();
  const lp = (entries: LogprobEntry[], offset: number): Record<string, unknown> | null => (req.logprobs === undefined ? null : completionLogprobs(entries, offset));
  await respond(ctx, res, req, jobs, [], {
    prefix: 'cmpl',
    object: 'text_completion',
    chunkObject: 'text_completion',
    chunkChoice: (d) => {
      const offset = streamedChars.get(d.index) ?? 0;
      streamedChars.set(d.index, offset + d.logprobs.reduce((n, e) => n + e.token.length, 0));
      return { index: d.index, text: d.text, logprobs: lp(d.logprobs, offset), finish_reason: d.finish };
    },
    openers: (n) => (req.echo ? Array.from({ length: n }, (_, index) => ({ index, text: echoOf(index), logprobs: null, finish_reason: null })) : []),
    finalChoice: (index, c) => ({ index, text: echoOf(index) + c.text, logprobs: lp(c.logprobs, echoOf(index).length), finish_reason: c.finishReason }),
  });
}
