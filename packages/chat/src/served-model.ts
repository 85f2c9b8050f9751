// A model ready to answer: its engine (in this thread or a worker), tokenizer, prompt format and the ids that end text.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTokenizer, type Tokenizer } from '@rlhfkit/core-tensor';
import { resolvePromptFormat, type PromptFormat, type PromptFormatChoice } from './chat-format';
import { specialIdSet, syncDecoder, type SyncDecode } from './detokenizer';
import { InProcessEngine, type GenerationEngine, type SamplingParams } from './engine';
import { WorkerEngine } from './worker-engine';

/** Everything a chat session or the server needs about one model. */
export interface ServedModel {
  /** The model id clients name (`model` in requests, GET /v1/models). */
  readonly id: string;
  readonly engine: GenerationEngine;
  readonly tokenizer: Tokenizer;
  readonly format: PromptFormat;
  /** Synchronous decode with special tokens skipped (streaming). */
  readonly decode: SyncDecode;
  /** One token's text, special tokens shown (log-probability entries). */
  readonly tokenText: (id: number) => string;
  /** Ids the text leaves out. */
  readonly skipIds: ReadonlySet<number>;
  /** Ids that end an answer: generation_config.json's (else config.json's) and the tokenizer's eos. */
  readonly eos: readonly number[];
  readonly contextLength: number;
  readonly vocabSize: number;
  /** Frees the model (and its worker). */
  close(): Promise<void>;
}

export interface ServedModelOptions {
  /** Model id (default: the folder's name). */
  id?: string;
  promptFormat?: PromptFormatChoice;
  /** A chat template file or text that replaces tokenizer_config.json's. */
  chatTemplate?: string;
}

export interface LoadServedModelOptions extends ServedModelOptions {
  /** Decode in a worker thread (default true), so the caller's event loop stays free. */
  worker?: boolean;
  backend?: string;
  threads?: number;
  /** Caps the context below the model's position table. */
  maxModelLen?: number;
  /** Let the worker print its backend line (default true). */
  verbose?: boolean;
}

/** Wraps an engine and a tokenizer (already loaded) as a ServedModel. */
export function servedModel(engine: GenerationEngine, tokenizer: Tokenizer, opts: ServedModelOptions & { id: string }): ServedModel {
  const format = resolvePromptFormat(tokenizer, { format: opts.promptFormat, chatTemplate: opts.chatTemplate });
  const eos = [...new Set([...engine.info.eos, ...(tokenizer.eosTokenId !== undefined ? [tokenizer.eosTokenId] : [])])];
  return {
    id: opts.id,
    engine,
    tokenizer,
    format,
    decode: syncDecoder(tokenizer),
    tokenText: ((all: SyncDecode) => (id: number) => all([id]))(syncDecoder(tokenizer, { skipSpecialTokens: false })),
    skipIds: specialIdSet(tokenizer),
    eos,
    contextLength: engine.info.contextLength,
    vocabSize: engine.info.vocabSize,
    close: () => engine.close(),
  };
}

/** Loads an HF folder's tokenizer and model (in a worker unless `worker: false`). */
export async function loadServedModel(dir: string, opts: LoadServedModelOptions = {}): Promise<ServedModel> {
  const tokenizer = await loadTokenizer(dir);
  const engine = opts.worker === false
    ? await InProcessEngine.load(dir, { maxModelLen: opts.maxModelLen })
    : await WorkerEngine.start({ path: dir, backend: opts.backend, threads: opts.threads, maxModelLen: opts.maxModelLen, verbose: opts.verbose });
  try {
    // A folder is named by its last component, a hub name as given (vLLM's default model id).
    const id = opts.id ?? (fs.existsSync(dir) ? path.basename(path.resolve(dir)) : dir);
    return servedModel(engine, tokenizer, { ...opts, id });
  } catch (e) {
    await engine.close();
    throw e;
  }
}

/**
 * Sampling as the model's generation_config.json sets it (HF semantics: greedy unless do_sample), with `over`
 * on top: what `rlhfkit chat` uses when no flag says otherwise.
 */
export function defaultSampling(model: ServedModel, over: Partial<SamplingParams> = {}): SamplingParams {
  const g = model.engine.info.generationDefaults;
  const base: SamplingParams = {
    temperature: g.doSample ? (g.temperature ?? 1) : 0,
    topP: g.topP ?? 1,
    topK: g.topK ?? 50,
    repetitionPenalty: g.repetitionPenalty ?? 1,
    minNewTokens: 0,
  };
  const out: SamplingParams = { ...base };
  for (const [k, v] of Object.entries(over) as [keyof SamplingParams, number | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}
