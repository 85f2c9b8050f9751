// Request bodies of /v1/chat/completions and /v1/completions, validated as OpenAI does, turned into typed requests.
import type { GenerationConfig } from '@rlhfkit/core-tensor';
import type { ChatMessage } from '../chat-format';
import type { SamplingParams } from '../engine';
import type { RowPenalties } from '../penalties';
import { ApiError, badRequest } from './errors';
import { Fields, invalidType, invalidValue, isObject } from './fields';

/** What both endpoints share once validated. */
export interface GenerationParams {
  model: string;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with `usage` and no choices. */
  includeUsage: boolean;
  /** Choices per prompt. */
  n: number;
  /** New tokens at most; undefined = whatever the context leaves (chat's default). */
  maxTokens: number | undefined;
  sampling: SamplingParams;
  stop: string[];
  penalties: RowPenalties | undefined;
  /** vLLM's ignore_eos: keep generating past EOS. */
  ignoreEos: boolean;
  /** Return log-probabilities with this many alternatives per token; undefined = none. */
  logprobs: number | undefined;
}

export interface ChatRequest extends GenerationParams {
  messages: ChatMessage[];
}

export interface CompletionRequest extends GenerationParams {
  /** Text prompts, or prompts given as token ids. */
  prompts: (string | number[])[];
  /** Put the prompt in front of each answer. */
  echo: boolean;
}

export interface ParseContext {
  vocabSize: number;
  /** generation_config.json's sampling values: defaults for fields a request leaves out (as vLLM does). */
  defaults: GenerationConfig;
}

const COMMON = [
  'model', 'stream', 'stream_options', 'n', 'max_tokens', 'temperature', 'top_p', 'stop', 'presence_penalty', 'frequency_penalty',
  'logit_bias', 'seed', 'user', 'logprobs',
  // vLLM's sampling extensions
  'top_k', 'min_tokens', 'repetition_penalty', 'ignore_eos',
] as const;
const CHAT_ONLY = [
  'messages', 'max_completion_tokens', 'top_logprobs', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls', 'functions',
  'function_call', 'modalities', 'metadata', 'store', 'service_tier', 'safety_identifier', 'prompt_cache_key',
] as const;
const COMPLETION_ONLY = ['prompt', 'echo', 'suffix', 'best_of'] as const;
const ROLES = ['system', 'assistant', 'user', 'function', 'tool', 'developer'] as const;
const PART_TYPES = ['text', 'image_url', 'input_audio', 'file', 'refusal'] as const;
/** OpenAI's limit on choices per prompt. */
export const MAX_N = 128;
/** Prompts per /v1/completions request. */
export const MAX_PROMPTS = 128;

function unsupported(message: string, param: string): ApiError {
  return badRequest(message, param, 'unsupported_value');
}

function bodyFields(body: unknown): Fields {
  if (!isObject(body)) throw badRequest(`Invalid type for request body: expected a JSON object, but got ${Array.isArray(body) ? 'an array' : typeof body} instead.`, null, 'invalid_type');
  return new Fields(body);
}

function parseCommon(f: Fields, ctx: ParseContext): GenerationParams {
  const model = f.required('model');
  if (typeof model !== 'string') throw invalidType('model', 'a string', model);
  const stream = f.boolean('stream') ?? false;
  const so = f.object('stream_options');
  if (so && !stream) throw badRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options', 'invalid_value');
  so?.only(['include_usage', 'continuous_usage_stats', 'include_obfuscation']);
  const includeUsage = so?.boolean('include_usage') ?? false;
  so?.boolean('continuous_usage_stats');
  so?.boolean('include_obfuscation');
  const n = f.integer('n', { min: 1, max: MAX_N }) ?? 1;
  const temperature = f.number('temperature', { min: 0, max: 2 });
  const topP = f.number('top_p', { min: 0, max: 1 });
  const presence = f.number('presence_penalty', { min: -2, max: 2 }) ?? 0;
  const frequency = f.number('frequency_penalty', { min: -2, max: 2 }) ?? 0;
  const seed = f.integer('seed', { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
  f.string('user');
  const stop = f.stopStrings('stop');
  const logitBias = f.logitBias('logit_bias', ctx.vocabSize);
  const topKRaw = f.integer('top_k', { min: -1 });
  const minTokens = f.integer('min_tokens', { min: 0 }) ?? 0;
  const repetitionPenalty = f.number('repetition_penalty', { min: 0 });
  if (repetitionPenalty === 0) throw badRequest("Invalid 'repetition_penalty': it must be > 0 (1 = off).", 'repetition_penalty', 'decimal_below_min_value');
  const ignoreEos = f.boolean('ignore_eos') ?? false;
  const d = ctx.defaults;
  let t = temperature ?? d.temperature ?? 1;
  const p = topP ?? d.topP ?? 1;
  if (p === 0) t = 0; // nucleus of probability 0 keeps only the most likely token
  const sampling: SamplingParams = {
    temperature: t,
    topP: p === 0 ? 1 : p,
    topK: topKRaw !== undefined ? Math.max(0, topKRaw) : (d.topK ?? 0),
    repetitionPenalty: repetitionPenalty ?? d.repetitionPenalty ?? 1,
    minNewTokens: minTokens,
  };
  // The sampler's seed is unsigned; OpenAI's may be any integer.
  if (seed !== undefined) sampling.seed = ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const penalties = presence !== 0 || frequency !== 0 || logitBias.length > 0 ? { presence, frequency, logitBias } : undefined;
  return { model, stream, includeUsage, n, maxTokens: undefined, sampling, stop, penalties, ignoreEos, logprobs: undefined };
}

function messageText(content: unknown, param: string, role: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalidType(param, 'a string or an array of content parts', content);
  const texts: string[] = [];
  content.forEach((part, j) => {
    const pp = `${param}[${j}]`;
    if (!isObject(part)) throw invalidType(pp, 'an object', part);
    const pf = new Fields(part, `${pp}.`);
    const type = pf.required('type');
    if (typeof type !== 'string') throw invalidType(`${pp}.type`, 'a string', type);
    if (!(PART_TYPES as readonly string[]).includes(type)) throw invalidValue(`${pp}.type`, type, PART_TYPES);
    if (type === 'text') {
      const text = pf.required('text');
      if (typeof text !== 'string') throw invalidType(`${pp}.text`, 'a string', text);
      texts.push(text);
    } else if (type === 'refusal' && role === 'assistant') {
      const text = pf.required('refusal');
      if (typeof text !== 'string') throw invalidType(`${pp}.refusal`, 'a string', text);
      texts.push(text);
    } else {
      throw unsupported(`Unsupported content part type '${type}' in ${param}: this model reads text only.`, `${pp}.type`);
    }
  });
  return texts.join('\n');
}

/** messages -> ChatMessage[] (developer counts as system; tool and function turns are refused: no tools here). */
export function parseMessages(raw: unknown[]): ChatMessage[] {
  return raw.map((m, i) => {
    const param = `messages[${i}]`;
    if (!isObject(m)) throw invalidType(param, 'an object', m);
    const f = new Fields(m, `${param}.`);
    const role = f.required('role');
    if (typeof role !== 'string') throw invalidType(`${param}.role`, 'a string', role);
    if (!(ROLES as readonly string[]).includes(role)) throw invalidValue(`${param}.role`, role, ROLES);
    if (role === 'tool' || role === 'function') throw unsupported(`Messages with role '${role}' are not supported: this server does not call tools.`, `${param}.role`);
    f.string('name');
    const calls = f.array('tool_calls');
    if (calls && calls.length > 0) throw unsupported('Assistant messages with tool_calls are not supported: this server does not call tools.', `${param}.tool_calls`);
    const content = role === 'assistant' && !f.given('content') ? '' : f.required('content');
    return { role: role === 'developer' ? 'system' : (role as 'system' | 'user' | 'assistant'), content: messageText(content, `${param}.content`, role) };
  });
}

export function parseChatRequest(body: unknown, ctx: ParseContext): ChatRequest {
  const f = bodyFields(body).only([...COMMON, ...CHAT_ONLY]);
  const common = parseCommon(f, ctx);
  f.required('messages');
  const messages = parseMessages(f.array('messages', { min: 1 })!);
  const maxTokens = f.integer('max_completion_tokens', { min: 1 }) ?? f.integer('max_tokens', { min: 1 });
  const wantLogprobs = f.boolean('logprobs') ?? false;
  const top = f.integer('top_logprobs', { min: 0, max: 20 });
  if (top !== undefined && !wantLogprobs) throw badRequest("'top_logprobs' needs 'logprobs': true.", 'top_logprobs', 'invalid_value');
  const rf = f.object('response_format');
  if (rf) {
    const type = rf.required('type');
    if (type !== 'text') throw unsupported(`response_format type '${String(type)}' is not supported: only 'text'.`, 'response_format.type');
  }
  for (const name of ['tools', 'functions']) {
    const tools = f.array(name);
    if (tools && tools.length > 0) throw unsupported(`'${name}' are not supported: this server does not call tools.`, name);
  }
  for (const name of ['tool_choice', 'function_call']) {
    if (f.given(name) && f.obj[name] !== 'none' && f.obj[name] !== 'auto') throw unsupported(`'${name}' other than 'none' needs tools, which this server does not support.`, name);
  }
  f.boolean('parallel_tool_calls');
  const modalities = f.array('modalities');
  modalities?.forEach((m, i) => {
    if (m !== 'text') throw unsupported(`Modality '${String(m)}' is not supported: only 'text'.`, `modalities[${i}]`);
  });
  f.object('metadata');
  f.boolean('store');
  for (const s of ['service_tier', 'safety_identifier', 'prompt_cache_key']) f.string(s);
  return { ...common, maxTokens, messages, logprobs: wantLogprobs ? (top ?? 0) : undefined };
}

/** prompt: a string, strings, token ids, or lists of token ids (ids must be inside the vocabulary). */
export function parsePrompts(f: Fields, vocabSize: number): (string | number[])[] {
  const v = f.required('prompt');
  if (typeof v === 'string') return [v];
  const expected = 'a string, an array of strings, an array of integers, or an array of integer arrays';
  if (!Array.isArray(v)) throw invalidType('prompt', expected, v);
  const list = f.array('prompt', { min: 1, max: MAX_PROMPTS })!;
  const ids = (xs: unknown[], param: string): number[] => {
    if (xs.length === 0) throw badRequest(`Invalid '${param}': empty array. Expected at least one token id.`, 'prompt', 'empty_array');
    return xs.map((x) => {
      if (typeof x !== 'number' || !Number.isInteger(x)) throw invalidType('prompt', expected, v);
      if (x < 0 || x >= vocabSize) throw badRequest(`Invalid token id ${x} in '${param}': ids must be between 0 and ${vocabSize - 1}.`, 'prompt', 'invalid_value');
      return x;
    });
  };
  if (list.every((x) => typeof x === 'string')) return list as string[];
  if (list.every((x) => typeof x === 'number')) return [ids(list, 'prompt')];
  if (list.every((x) => Array.isArray(x))) return list.map((x, i) => ids(x as unknown[], `prompt[${i}]`));
  throw invalidType('prompt', expected, v);
}

export function parseCompletionRequest(body: unknown, ctx: ParseContext): CompletionRequest {
  const f = bodyFields(body).only([...COMMON, ...COMPLETION_ONLY]);
  const common = parseCommon(f, ctx);
  const prompts = parsePrompts(f, ctx.vocabSize);
  const maxTokens = f.integer('max_tokens', { min: 0 }) ?? 16;
  const echo = f.boolean('echo') ?? false;
  const logprobs = f.integer('logprobs', { min: 0, max: 5 });
  if (logprobs !== undefined && echo) throw unsupported('logprobs together with echo (log-probabilities of the prompt) are not supported by this server.', 'logprobs');
  const suffix = f.string('suffix');
  if (suffix) throw unsupported('suffix is not supported by this model.', 'suffix');
  const bestOf = f.integer('best_of', { min: 1 });
  if (bestOf !== undefined && bestOf < common.n) throw badRequest('best_of must be greater than or equal to n.', 'best_of', 'invalid_value');
  if (bestOf !== undefined && bestOf > common.n) throw unsupported('best_of greater than n is not supported by this server.', 'best_of');
  if (common.stream && bestOf !== undefined && bestOf > 1) throw badRequest('best_of cannot be used with stream.', 'best_of', 'invalid_value');
  return { ...common, maxTokens, prompts, echo, logprobs };
}
