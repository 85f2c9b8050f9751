// Runs a validated chat or completion request through the queue and reports each choice's text as it is produced.
import type { CompletionText as CompletionTextType, FinishReason, LogprobEntry } from '../completion-text';
import { CompletionText } from '../completion-text';
import type { EngineRequest } from '../engine';
import { QueueFullError, type GenerationQueue, type QueuedRun } from '../queue';
import type { ServedModel } from '../served-model';
import { ApiError, badRequest } from './errors';
import type { ChatRequest, CompletionRequest, GenerationParams } from './requests';

/** One prompt of a request, tokenized, with its token budget. */
export interface PromptJob {
  ids: number[];
  maxTokens: number;
  /** completions with echo: the prompt text, put in front of the answer. */
  echo?: string;
}

/** A piece of one choice's text; `finish` is set on its last piece. */
export interface ChoiceDelta {
  index: number;
  text: string;
  finish: FinishReason | null;
  /** The log-probabilities of the tokens behind `text`, when the request asked for them. */
  logprobs: LogprobEntry[];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface GenerationResult {
  choices: CompletionTextType[];
  usage: Usage;
}

/** Throws OpenAI's context_length_exceeded error unless prompt + answer fit; returns the answer's token budget. */
export function tokenBudget(model: ServedModel, promptLength: number, maxTokens: number | undefined, param: 'messages' | 'prompt'): number {
  const ctx = model.contextLength;
  const where = param === 'messages' ? 'in the messages' : 'in your prompt';
  if (maxTokens === undefined) {
    if (promptLength < ctx) return ctx - promptLength;
    throw badRequest(
      `This model's maximum context length is ${ctx} tokens. However, your ${param} resulted in ${promptLength} tokens. Please reduce the length of the ${param}.`,
      param, 'context_length_exceeded');
  }
  if (promptLength + maxTokens > ctx) {
    throw badRequest(
      `This model's maximum context length is ${ctx} tokens. However, you requested ${promptLength + maxTokens} tokens (${promptLength} ${where}, ` +
        `${maxTokens} for the completion). Please reduce the length of the ${param} or completion.`,
      param, 'context_length_exceeded');
  }
  return maxTokens;
}

/** Encodes one text prompt; an empty one starts from BOS (else EOS), as OpenAI's models start from <|endoftext|>. */
export async function encodePrompt(model: ServedModel, text: string, addSpecialTokens: boolean): Promise<number[]> {
  const ids = await model.tokenizer.encode(text, { addSpecialTokens });
  const outside = ids.find((id) => id >= model.vocabSize);
  if (outside !== undefined) {
    throw badRequest(`The prompt encodes to token id ${outside}, which the model's ${model.vocabSize}-token vocabulary does not have (its tokenizer has more tokens than the model).`, 'prompt', 'invalid_value');
  }
  if (ids.length > 0) return ids;
  const start = model.tokenizer.bosTokenId ?? model.eos[0];
  if (start === undefined) throw badRequest('The prompt is empty and the model has no BOS token to start from.', 'prompt', 'invalid_value');
  return [start];
}

/** The prompt of a chat request, rendered with the model's prompt format. */
export async function chatJobs(model: ServedModel, req: ChatRequest): Promise<PromptJob[]> {
  let text: string;
  try {
    text = model.format.render(req.messages);
  } catch (e) {
    throw badRequest(e instanceof Error ? e.message : String(e), 'messages', 'invalid_value');
  }
  const ids = await encodePrompt(model, text, model.format.addSpecialTokens);
  return [{ ids, maxTokens: tokenBudget(model, ids.length, req.maxTokens, 'messages') }];
}

/** The prompts of a completions request (text is encoded with the tokenizer's special tokens, as OpenAI's API does). */
export async function completionJobs(model: ServedModel, req: CompletionRequest): Promise<PromptJob[]> {
  const jobs: PromptJob[] = [];
  for (const p of req.prompts) {
    const ids = typeof p === 'string' ? await encodePrompt(model, p, true) : p;
    const echo = req.echo ? (typeof p === 'string' ? p : model.decode(p)) : undefined;
    jobs.push({ ids, maxTokens: tokenBudget(model, ids.length, req.maxTokens, 'prompt'), echo });
  }
  return jobs;
}

/** A running request: `result` settles when every choice is complete; `cancel` frees its rows (the client left). */
export interface ActiveGeneration {
  result: Promise<GenerationResult>;
  cancel(): void;
}

/**
 * Submits one queue run per prompt (n rows each) and turns their tokens into text: choice j*n + r belongs to row
 * r of prompt j. A choice ends at EOS, a stop string or its budget; its row is then stopped in the engine.
 */
export function startGeneration(
  model: ServedModel,
  queue: GenerationQueue,
  jobs: PromptJob[],
  params: GenerationParams,
  extraStops: readonly string[],
  onDelta: (d: ChoiceDelta) => void,
): ActiveGeneration {
  const n = params.n;
  const eos = params.ignoreEos ? [] : [...model.eos];
  const stop = [...new Set([...params.stop, ...extraStops])];
  const choices: CompletionText[] = [];
  const runs: QueuedRun[] = [];
  try {
    jobs.forEach((job, j) => {
      for (let r = 0; r < n; r++) {
        choices.push(new CompletionText({ decode: model.decode, tokenText: model.tokenText, promptIds: job.ids, skipIds: model.skipIds, eos, stop, maxTokens: job.maxTokens }));
      }
      const request: EngineRequest = {
        rows: Array.from({ length: n }, () => ({ promptIds: job.ids, maxNewTokens: job.maxTokens, penalties: params.penalties })),
        sampling: params.sampling,
        eos,
        pad: model.engine.info.pad,
        logprobs: params.logprobs,
      };
      const base = j * n;
      runs.push(queue.submit(request, (_step, tokens, logprobs) => {
        tokens.forEach((t, r) => {
          const c = choices[base + r];
          if (c.finished) return;
          const s = c.push(t, logprobs?.[r]);
          if (s.text || s.finish) onDelta({ index: base + r, text: s.text, finish: s.finish, logprobs: s.logprobs });
          if (c.finished) runs[j].stopRow(r);
        });
      }));
    });
  } catch (e) {
    for (const r of runs) r.cancel();
    if (e instanceof QueueFullError) throw new ApiError(503, e.message, { code: 'server_overloaded' });
    throw e;
  }
  const result = (async (): Promise<GenerationResult> => {
    const outcomes = await Promise.all(runs.map((r) => r.done));
    if (outcomes.includes('cancelled')) throw new ApiError(503, 'The request was cancelled: the server is shutting down.', { code: 'server_shutting_down' });
    choices.forEach((c, index) => {
      const s = c.close('length');
      if (s.finish) onDelta({ index, text: s.text, finish: s.finish, logprobs: s.logprobs });
    });
    const promptTokens = jobs.reduce((a, j) => a + j.ids.length, 0);
    const completionTokens = choices.reduce((a, c) => a + c.tokens, 0);
    return { choices, usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } };
  })();
  return { result, cancel: () => runs.forEach((r) => r.cancel()) };
}
