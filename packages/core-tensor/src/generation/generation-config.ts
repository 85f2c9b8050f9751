// Generation settings: HF generation_config.json fields under camelCase names, defaults, and their resolution.
import { Rng } from '../rng';

/** What generate() accepts; unset fields come from generation_config.json, then config.json, then HF's defaults. */
export interface GenerationConfig {
  /** New tokens to generate at most (takes precedence over maxLength). */
  maxNewTokens?: number;
  /** Total length (prompt + new) at most; HF's default is 20 when neither is set. */
  maxLength?: number;
  /** EOS is forbidden until this many new tokens exist (HF MinNewTokensLengthLogitsProcessor). */
  minNewTokens?: number;
  /** Sample instead of greedy argmax (default false). */
  doSample?: boolean;
  /** Sampling only; default 1. */
  temperature?: number;
  /** Sampling only; HF's default 50 (0 disables). */
  topK?: number;
  /** Sampling only; default 1 (disabled). */
  topP?: number;
  /** HF semantics: each token already in the row (prompt included) has its logit divided (>0) or multiplied (<0) by this. */
  repetitionPenalty?: number;
  /** Stop a row when it emits any of these. */
  eosTokenId?: number | number[] | null;
  /** Fills finished rows and left-pads ragged prompts; defaults to the first EOS id as HF does. */
  padTokenId?: number | null;
  /** Sampling seed (reproducible); without seed or rng a random seed is drawn. */
  seed?: number;
  /** Sampling RNG to draw from (advances it); wins over seed. */
  rng?: Rng;
  /** Return the processed scores of each step (HF output_scores). */
  outputScores?: boolean;
  /** Called after each step with the tokens just chosen per row; return false to stop early. */
  onToken?: (tokens: number[], step: number) => boolean | void;
}

/** HF generation_config.json (snake_case) -> GenerationConfig (fields it does not know are ignored). */
export function generationConfigFromJson(raw: Record<string, unknown> | null | undefined): GenerationConfig {
  if (!raw) return {};
  const num = (k: string): number | undefined => (typeof raw[k] === 'number' ? (raw[k] as number) : undefined);
  const ids = (k: string): number | number[] | null | undefined => {
    const v = raw[k];
    if (v === null) return null;
    if (typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number'))) return v as number | number[];
    return undefined;
  };
  const out: GenerationConfig = {
    maxNewTokens: num('max_new_tokens'),
    maxLength: num('max_length'),
    minNewTokens: num('min_new_tokens'),
    doSample: typeof raw.do_sample === 'boolean' ? raw.do_sample : undefined,
    temperature: num('temperature'),
    topK: num('top_k'),
    topP: num('top_p'),
    repetitionPenalty: num('repetition_penalty'),
    eosTokenId: ids('eos_token_id'),
    padTokenId: ids('pad_token_id') as number | null | undefined,
  };
  for (const k of Object.keys(out) as (keyof GenerationConfig)[]) if (out[k] === undefined) delete out[k];
  return out;
}

/** Settings with every default applied, for one generate() call. */
export interface ResolvedGeneration {
  maxNewTokens: number;
  minNewTokens: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  eos: number[];
  pad: number;
  rng: Rng | null;
  outputScores: boolean;
  onToken?: (tokens: number[], step: number) => boolean | void;
}

function check(ok: boolean, msg: string): void {
  if (!ok) throw new Error(`generate: ${msg}`);
}

/**
 * Layers call options over generation_config.json over config.json ids over HF defaults
 * (max_length 20, greedy, temperature 1, top_k 50, top_p 1, repetition_penalty 1).
 */
export function resolveGeneration(
  call: GenerationConfig,
  fileConfig: GenerationConfig,
  modelIds: { eos: number | number[] | null; pad: number | null },
  promptLength: number,
): ResolvedGeneration {
  const c: GenerationConfig = { ...fileConfig, ...stripUndefined(call) };
  let maxNew: number;
  if (call.maxNewTokens !== undefined) maxNew = call.maxNewTokens;
  else if (call.maxLength !== undefined) maxNew = call.maxLength - promptLength;
  else if (c.maxNewTokens !== undefined) maxNew = c.maxNewTokens;
  else maxNew = (c.maxLength ?? 20) - promptLength;
  check(Number.isInteger(maxNew), `maxNewTokens must be an integer, got ${maxNew}`);
  const eosRaw = c.eosTokenId !== undefined ? c.eosTokenId : modelIds.eos;
  const eos = eosRaw === null || eosRaw === undefined ? [] : Array.isArray(eosRaw) ? eosRaw.slice() : [eosRaw];
  const padRaw = c.padTokenId !== undefined && c.padTokenId !== null ? c.padTokenId : modelIds.pad;
  const pad = padRaw ?? eos[0] ?? 0;
  const doSample = c.doSample ?? false;
  const temperature = c.temperature ?? 1;
  const topK = c.topK ?? 50;
  const topP = c.topP ?? 1;
  const repetitionPenalty = c.repetitionPenalty ?? 1;
  check(!doSample || temperature > 0, `temperature must be > 0 when sampling, got ${temperature}`);
  check(topK >= 0 && Number.isInteger(topK), `topK must be an integer >= 0, got ${topK}`);
  check(topP > 0 && topP <= 1, `topP must be in (0, 1], got ${topP}`);
  check(repetitionPenalty > 0, `repetitionPenalty must be > 0, got ${repetitionPenalty}`);
  let rng: Rng | null = null;
  if (doSample) rng = call.rng ?? new Rng(call.seed ?? Math.floor(Math.random() * 2 ** 32));
  return {
    maxNewTokens: Math.max(0, maxNew),
    minNewTokens: c.minNewTokens ?? 0,
    doSample,
    temperature,
    topK,
    topP,
    repetitionPenalty,
    eos,
    pad,
    rng,
    outputScores: call.outputScores ?? false,
    onToken: call.onToken,
  };
}

function stripUndefined(c: GenerationConfig): GenerationConfig {
  const out: GenerationConfig = {};
  for (const [k, v] of Object.entries(c)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
