// The generation engine: one batch of prompt rows through generate(), tokens reported per step, rows stoppable from outside.
import * as tf from '@tensorflow/tfjs';
import { generate, generationConfigFromJson, loadPretrained, type CausalLM, type GenerationConfig } from '@rlhfkit/core-tensor';
import { LogprobCapture, type TokenLogprob } from './logprobs';
import { needsPenalties, PenaltyProcessor, withLogitsProcessor, type RowPenalties } from './penalties';

/** Sampling settings shared by every row of one run (temperature 0 = greedy). */
export interface SamplingParams {
  temperature: number;
  /** Nucleus sampling (1 = off). */
  topP: number;
  /** Keep the k most likely tokens (0 = off). */
  topK: number;
  /** HF repetition penalty (1 = off). */
  repetitionPenalty: number;
  /** EOS is forbidden before this many new tokens. */
  minNewTokens: number;
  /** Reproducible sampling. */
  seed?: number;
}

/** One prompt row of a run. */
export interface EngineRow {
  promptIds: number[];
  /** New tokens at most for this row (the run stops the row there). */
  maxNewTokens: number;
  penalties?: RowPenalties;
}

export interface EngineRequest {
  rows: EngineRow[];
  sampling: SamplingParams;
  /** Ids that end a row ([] = never). */
  eos: number[];
  /** Fills finished rows and left-pads ragged prompts. */
  pad: number;
  /** Report each chosen token's log-probability and this many alternatives (0-20); undefined = none. */
  logprobs?: number;
}

/** What a server or chat session needs to know about the model behind an engine. */
export interface EngineModelInfo {
  modelType: string;
  vocabSize: number;
  /** Prompt + new tokens at most (the position table, or less when asked). */
  contextLength: number;
  /** EOS ids from generation_config.json, else config.json. */
  eos: number[];
  /** The pad id generate() would use. */
  pad: number;
  /** generation_config.json under GenerationConfig names (sampling defaults). */
  generationDefaults: GenerationConfig;
}

/**
 * Called after every decoding step with the token each row produced (finished rows get the pad id), and their
 * log-probabilities when the request asked for them.
 */
export type TokenListener = (step: number, tokens: number[], logprobs?: TokenLogprob[]) => void;

/** One flag per row, settable from another thread (a SharedArrayBuffer): set rows are not generated further. */
export class StopFlags {
  readonly array: Int32Array;

  constructor(rowsOrArray: number | Int32Array) {
    this.array = typeof rowsOrArray === 'number' ? new Int32Array(new SharedArrayBuffer(4 * Math.max(1, rowsOrArray))) : rowsOrArray;
  }

  set(row: number): void {
    Atomics.store(this.array, row, 1);
  }

  has(row: number): boolean {
    return Atomics.load(this.array, row) !== 0;
  }

  /** Sets every row (cancel the run). */
  setAll(): void {
    for (let i = 0; i < this.array.length; i++) Atomics.store(this.array, i, 1);
  }
}

/** A model that runs generation requests one at a time. */
export interface GenerationEngine {
  readonly info: EngineModelInfo;
  /** Runs every row until EOS, its token limit or its stop flag; onTokens sees each step as it happens. */
  run(req: EngineRequest, onTokens: TokenListener, stops: StopFlags): Promise<void>;
  /** tf.memory().numTensors where the model lives. */
  numTensors(): Promise<number>;
  /** False once the engine is closed or its worker died (GET /health then answers 503). */
  alive(): boolean;
  close(): Promise<void>;
}

function idList(v: number | number[] | null | undefined): number[] {
  return v === null || v === undefined ? [] : Array.isArray(v) ? v.slice() : [v];
}

/** The facts an engine reports about a loaded model. */
export function describeModel(model: CausalLM, maxModelLen?: number): EngineModelInfo {
  const defaults = generationConfigFromJson(model.generationConfig);
  const eos = defaults.eosTokenId !== undefined ? idList(defaults.eosTokenId) : idList(model.config.eosTokenId);
  const padRaw = defaults.padTokenId ?? model.config.padTokenId ?? eos[0] ?? 0;
  const pad = padRaw >= 0 && padRaw < model.config.vocabSize ? padRaw : 0;
  const positions = model.config.maxPositions;
  const contextLength = maxModelLen !== undefined ? Math.min(maxModelLen, positions) : positions;
  return { modelType: model.config.modelType, vocabSize: model.config.vocabSize, contextLength, eos, pad, generationDefaults: defaults };
}

/**
 * Runs one request on a model in this thread through core-tensor's generate(): the whole batch decodes together,
 * each row stopping at its EOS, its own token limit or its stop flag; the run ends when every row has.
 */
export async function runOnModel(model: CausalLM, req: EngineRequest, onTokens: TokenListener, stops: StopFlags): Promise<void> {
  const rows = req.rows;
  const maxNew = Math.max(0, ...rows.map((r) => r.maxNewTokens));
  if (rows.length === 0 || maxNew === 0) return;
  const eos = new Set(req.eos);
  const produced = rows.map(() => 0);
  const ended = rows.map((r) => r.maxNewTokens <= 0);
  const penalties = needsPenalties(rows.map((r) => r.penalties)) ? new PenaltyProcessor(rows.map((r) => r.penalties), model.config.vocabSize) : null;
  const capture = req.logprobs !== undefined ? new LogprobCapture(req.logprobs, model.config.vocabSize) : null;
  const runner = penalties || capture
    ? withLogitsProcessor(model, (logits) => {
      capture?.capture(logits);
      return penalties ? penalties.apply(logits) : logits.clone();
    })
    : model;
  const s = req.sampling;
  const sample = s.temperature > 0;
  await generate(runner, rows.map((r) => r.promptIds), {
    maxNewTokens: maxNew,
    minNewTokens: s.minNewTokens,
    doSample: sample,
    temperature: sample ? s.temperature : 1,
    topK: s.topK,
    topP: sample ? s.topP : 1,
    repetitionPenalty: s.repetitionPenalty,
    eosTokenId: req.eos,
    padTokenId: req.pad,
    seed: s.seed,
    onToken: (tokens, step) => {
      onTokens(step, tokens, capture?.take(tokens));
      penalties?.observe(tokens);
      let alive = false;
      tokens.forEach((t, r) => {
        if (ended[r]) return;
        produced[r]++;
        if (eos.has(t) || produced[r] >= rows[r].maxNewTokens || stops.has(r)) ended[r] = true;
        else alive = true;
      });
      return alive;
    },
  });
}

/** The engine that decodes in the calling thread (a chat session, tests); the thread is busy while a run lasts. */
export class InProcessEngine implements GenerationEngine {
  readonly info: EngineModelInfo;

  constructor(readonly model: CausalLM, opts: { maxModelLen?: number; ownsModel?: boolean } = {}) {
    this.info = describeModel(model, opts.maxModelLen);
    this.owns = opts.ownsModel ?? false;
  }

  private readonly owns: boolean;
  private closed = false;

  /** Loads an HF folder (frozen, eval mode); close() disposes it. */
  static async load(dir: string, opts: { maxModelLen?: number } = {}): Promise<InProcessEngine> {
    const model = await loadPretrained(dir, { trainable: false });
    return new InProcessEngine(model.eval(), { ...opts, ownsModel: true });
  }

  run(req: EngineRequest, onTokens: TokenListener, stops: StopFlags): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the engine is closed'));
    return runOnModel(this.model, req, onTokens, stops);
  }

  numTensors(): Promise<number> {
    return Promise.resolve(tf.memory().numTensors);
  }

  alive(): boolean {
    return !this.closed;
  }

  close(): Promise<void> {
    if (!this.closed && this.owns) this.model.dispose();
    this.closed = true;
    return Promise.resolve();
  }
}
