// `rlhfkit generate`: load an HF folder, tokenize the prompts, run KV-cache generation, print the continuations.
import { initBackend } from './backend/init-backend';
import { NonFiniteLogitsError } from './generation/generate';
import { generationConfigFromJson, type GenerationConfig } from './generation/generation-config';
import type { CausalLM } from './models/causal-lm';
import { loadPretrained } from './models/load';
import { TokenizerError } from './tokenizer/config';
import { loadTokenizer } from './tokenizer/load';
import type { Tokenizer } from './tokenizer/tokenizer';

export interface GenerateCliArgs {
  model: string;
  /** Text prompts (tokenized with the model's tokenizer, or --tokenizer). */
  prompt?: string[];
  /** Token-id prompts, each "1,2,3"; the output is ids too (no tokenizer needed). */
  prompt_ids?: string[];
  tokenizer?: string;
  max_new_tokens?: number;
  min_new_tokens?: number;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  repetition_penalty?: number;
  seed?: number;
  /** One JSON object per prompt instead of plain text. */
  json?: boolean;
  backend?: string;
  threads?: number;
  /** Unused tensors in the checkpoint are an error, not a warning. */
  strict?: boolean;
}

/** What one prompt turned into. */
export interface GenerateCliResult {
  prompt: string | null;
  promptIds: number[];
  /** The new tokens up to (not including) the first EOS. */
  newIds: number[];
  /** Decoded newIds, or null when run on ids without a tokenizer. */
  text: string | null;
  finishedWithEos: boolean;
}

export function parsePromptIds(raw: string, index: number): number[] {
  const parts = raw.split(/[\s,]+/).filter(Boolean);
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => !Number.isInteger(ids[i]) || ids[i] < 0);
  if (parts.length === 0 || bad >= 0) {
    throw new Error(`--prompt_ids #${index + 1} ('${raw}') must be non-negative whole numbers separated by commas, e.g. --prompt_ids 2,100,7` +
      (bad >= 0 ? `; '${parts[bad]}' is not` : ''));
  }
  return ids;
}

/** The flags that override generation_config.json; unset flags leave the file's (or HF's default) value. */
export function generationFromArgs(args: GenerateCliArgs): GenerationConfig {
  const g: GenerationConfig = {};
  if (args.max_new_tokens !== undefined) g.maxNewTokens = args.max_new_tokens;
  if (args.min_new_tokens !== undefined) g.minNewTokens = args.min_new_tokens;
  if (args.do_sample !== undefined) g.doSample = args.do_sample;
  if (args.temperature !== undefined) g.temperature = args.temperature;
  if (args.top_k !== undefined) g.topK = args.top_k;
  if (args.top_p !== undefined) g.topP = args.top_p;
  if (args.repetition_penalty !== undefined) g.repetitionPenalty = args.repetition_penalty;
  if (args.seed !== undefined) g.seed = args.seed;
  return g;
}

async function tokenizerFor(args: GenerateCliArgs): Promise<Tokenizer | null> {
  const where = args.tokenizer ?? args.model;
  try {
    return await loadTokenizer(where);
  } catch (e) {
    if (!(e instanceof TokenizerError)) throw e;
    if (args.prompt_ids) return null; // ids in, ids out
    const hint = args.tokenizer
      ? 'pass a folder that has tokenizer.json (or vocab.json + merges.txt) to --tokenizer'
      : 'pass --tokenizer DIR (a folder with tokenizer.json or vocab.json + merges.txt), or give token ids with --prompt_ids 1,2,3';
    throw new Error(`${e.message}\nrlhfkit generate: cannot tokenize --prompt without a tokenizer; ${hint}`);
  }
}

function eosIds(model: CausalLM, cfg: GenerationConfig): number[] {
  const fileCfg = generationConfigFromJson(model.generationConfig);
  const raw = cfg.eosTokenId !== undefined ? cfg.eosTokenId : fileCfg.eosTokenId !== undefined ? fileCfg.eosTokenId : model.config.eosTokenId;
  return raw == null ? [] : Array.isArray(raw) ? raw : [raw];
}

/**
 * The id that left-pads ragged prompts (masked, so any in-vocabulary id is correct) and fills rows after EOS:
 * the tokenizer's pad, else the model's pad, else EOS, else 0 -- the first inside the vocabulary.
 */
function padIdFor(model: CausalLM, tokenizer: Tokenizer | null): number {
  const fileCfg = generationConfigFromJson(model.generationConfig);
  const eos = eosIds(model, {});
  const candidates = [tokenizer?.padTokenId, fileCfg.padTokenId, model.config.padTokenId, ...eos];
  return candidates.find((c): c is number => typeof c === 'number' && c >= 0 && c < model.config.vocabSize) ?? 0;
}

export interface RunGenerateOptions {
  /** Notes (generation stopped at the position limit); default: none. */
  log?: (line: string) => void;
}

/** Runs the command; returns one result per prompt (the handler prints them). */
export async function runGenerate(args: GenerateCliArgs, opts: RunGenerateOptions = {}): Promise<GenerateCliResult[]> {
  const texts = args.prompt ?? [];
  const idPrompts = (args.prompt_ids ?? []).map(parsePromptIds);
  if (texts.length === 0 && idPrompts.length === 0) throw new Error('rlhfkit generate: give at least one --prompt TEXT (or --prompt_ids 1,2,3)');
  if (texts.length > 0 && idPrompts.length > 0) throw new Error('rlhfkit generate: use either --prompt or --prompt_ids, not both');
  await initBackend({ backend: args.backend, threads: args.threads });
  const tokenizer = await tokenizerFor(args);
  const model = await loadPretrained(args.model, { trainable: false, strict: args.strict });
  try {
    const prompts = texts.length > 0 && tokenizer ? await Promise.all(texts.map((t) => tokenizer.encode(t))) : idPrompts;
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new Error(`rlhfkit generate: prompt #${i + 1} is empty after tokenization; give some text`);
    });
    const cfg = generationFromArgs(args);
    cfg.padTokenId = padIdFor(model, tokenizer);
    const out = await model.generate(prompts, cfg).catch((e: unknown) => {
      throw e instanceof NonFiniteLogitsError ? new NonFiniteLogitsError(e.step, null, args.model) : e;
    });
    const lim = out.positionLimit;
    if (lim) {
      opts.log?.(
        `rlhfkit generate: note: stopped after ${lim.newTokens} new tokens of the ${lim.askedNewTokens} asked for: the prompt (${out.promptLength} tokens) ` +
          `and the new tokens fill the model's ${lim.maxLength} positions (max_position_embeddings)`,
      );
    }
    const eos = eosIds(model, cfg);
    const results: GenerateCliResult[] = [];
    for (let i = 0; i < prompts.length; i++) {
      const all = out.newTokens[i];
      const stop = out.finished[i] ? all.findIndex((t) => eos.includes(t)) : -1;
      const newIds = stop >= 0 ? all.slice(0, stop) : all;
      const text = tokenizer && texts.length > 0 ? await tokenizer.decode(newIds, { skipSpecialTokens: true }) : null;
      results.push({ prompt: texts[i] ?? null, promptIds: prompts[i], newIds, text, finishedWithEos: out.finished[i] });
    }
    return results;
  } finally {
    model.dispose();
  }
}

/** Plain output: the continuation of each prompt (ids when the prompts were ids), a header line when there are several. */
export function formatGenerateResults(results: GenerateCliResult[], json: boolean): string {
  if (json) {
    return results.map((r) => JSON.stringify({
      prompt: r.prompt, prompt_ids: r.promptIds, new_ids: r.newIds, text: r.text, finished_with_eos: r.finishedWithEos,
    })).join('\n') + '\n';
  }
  const body = (r: GenerateCliResult): string => (r.text !== null ? r.text : r.newIds.join(','));
  if (results.length === 1) return body(results[0]) + '\n';
  return results.map((r, i) => `=== ${i + 1}: ${r.prompt !== null ? JSON.stringify(r.prompt) : r.promptIds.join(',')}\n${body(r)}\n`).join('');
}
