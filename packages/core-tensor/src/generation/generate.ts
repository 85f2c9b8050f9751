// KV-cache decoding loop (HF generate semantics): greedy or sampled, batched left-padded prompts, EOS stopping.
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '../models/causal-lm';
import { checkRange, hasPadding, paddingBiasFromRows } from '../models/masks';
import type { TokenIds } from '../models/types';
import { generationConfigFromJson, resolveGeneration, type GenerationConfig, type ResolvedGeneration } from './generation-config';
import { applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP, argmax, forbidTokens, sampleFromScores } from './logits-processors';

/**
 * One prompt (ids), several prompts (ragged rows are left-padded with the pad id), or an already padded batch
 * with its attention mask (1 = real token), as HF generate takes it.
 */
export type GenerateInput = number[] | number[][] | { inputIds: TokenIds; attentionMask?: TokenIds };

export interface GenerateOutput {
  /** The (padded) prompt followed by the new tokens, per row; rows that finished early continue with the pad id. */
  sequences: number[][];
  /** Only the new tokens (the same count for every row). */
  newTokens: number[][];
  /** The prompt's attention mask extended with ones, as generate leaves it. */
  attentionMask: number[][];
  promptLength: number;
  /** Whether each row emitted an EOS id. */
  finished: boolean[];
  /** With outputScores: per step, the processed scores [batch * vocab] (row-major) the token was chosen from. */
  scores?: Float32Array[];
  /**
   * Set when the request went past the model's position table (prompt + maxNewTokens > its max_position_embeddings)
   * and generation stopped there, as in transformers: the table's size, the new tokens asked for and those made.
   */
  positionLimit?: { maxLength: number; askedNewTokens: number; newTokens: number };
}

/** NaN or infinite logits: the weights hold NaN/Inf, or the forward pass overflowed float32. */
export class NonFiniteLogitsError extends Error {
  constructor(readonly step: number, row: number | null, model?: string) {
    super(
      `generate: ${model ? `${model}: ` : ''}the model's logits are NaN or infinite at new token ${step + 1}${row === null ? '' : ` of prompt ${row + 1}`}, so no token ` +
        'can be chosen; its weights hold NaN/Inf (a training run that diverged?) or overflow float32. Check the checkpoint, or load another one',
    );
    this.name = 'NonFiniteLogitsError';
  }
}

function firstNonFiniteRow(scores: Float32Array, vocab: number): number | null {
  for (let i = 0; i < scores.length; i++) if (!Number.isFinite(scores[i])) return Math.floor(i / vocab);
  return null;
}

function toRows(x: TokenIds, what: string): number[][] {
  const rows = x instanceof tf.Tensor ? (x.arraySync() as number[][]) : x.map((r) => r.slice());
  if (!Array.isArray(rows) || rows.length === 0 || !Array.isArray(rows[0])) throw new Error(`generate: ${what} must be [batch][seq]`);
  return rows;
}

/** Prompt rows and mask rows, left-padding ragged prompts. */
function normalizeInput(input: GenerateInput, pad: number): { ids: number[][]; mask: number[][] } {
  if (Array.isArray(input)) {
    if (input.length === 0) throw new Error('generate: the prompt is empty');
    const rows = typeof input[0] === 'number' ? [(input as number[]).slice()] : (input as number[][]).map((r) => r.slice());
    const len = Math.max(...rows.map((r) => r.length));
    if (len === 0) throw new Error('generate: every prompt is empty; give at least one token (e.g. BOS)');
    return {
      ids: rows.map((r) => [...new Array<number>(len - r.length).fill(pad), ...r]),
      mask: rows.map((r) => [...new Array<number>(len - r.length).fill(0), ...new Array<number>(r.length).fill(1)]),
    };
  }
  const ids = toRows(input.inputIds, 'inputIds');
  const mask = input.attentionMask !== undefined ? toRows(input.attentionMask, 'attentionMask') : ids.map((r) => r.map(() => 1));
  const len = ids[0].length;
  ids.forEach((r, i) => {
    if (r.length !== len || mask[i]?.length !== len) {
      throw new Error(`generate: row ${i} of inputIds/attentionMask is not ${len} long; pad the batch to one length`);
    }
  });
  if (mask.length !== ids.length) throw new Error(`generate: attentionMask has ${mask.length} rows but inputIds has ${ids.length}`);
  return { ids, mask };
}

/** Picks each row's next token from host logits [b * vocab] (processed in place). */
function chooseFromScores(scores: Float32Array, vocab: number, seqs: number[][], step: number, r: ResolvedGeneration): number[] {
  const out: number[] = [];
  for (let row = 0; row < seqs.length; row++) {
    const s = scores.subarray(row * vocab, (row + 1) * vocab);
    applyRepetitionPenalty(s, seqs[row], r.repetitionPenalty);
    if (step < r.minNewTokens) forbidTokens(s, r.eos);
    if (r.doSample) {
      applyTemperature(s, r.temperature);
      applyTopK(s, r.topK);
      applyTopP(s, r.topP);
      out.push(sampleFromScores(s, r.rng!));
    } else {
      out.push(argmax(s));
    }
  }
  return out;
}

/**
 * Generates with a KV cache. The prompt runs once; each step then feeds one token per row, with HF generate's
 * position ids (from the attention mask) and padding bias, and reads back one small array (argmax ids when
 * greedy without processors, else the last logits). Rows stop at EOS; generation ends when all have stopped
 * or at maxNewTokens/maxLength.
 */
export async function generate(model: CausalLM, input: GenerateInput, config: GenerationConfig = {}): Promise<GenerateOutput> {
  const fileCfg = generationConfigFromJson(model.generationConfig);
  const modelIds = { eos: model.config.eosTokenId, pad: model.config.padTokenId };
  const padGuess = config.padTokenId ?? fileCfg.padTokenId ?? modelIds.pad ?? (Array.isArray(modelIds.eos) ? modelIds.eos[0] : modelIds.eos) ?? 0;
  const { ids, mask } = normalizeInput(input, padGuess);
  const vocab = model.config.vocabSize;
  checkRange(ids, 0, vocab, 'prompt ids', `the model's vocab_size is ${vocab}; use the model's own tokenizer (and a pad id inside the vocabulary)`);
  const b = ids.length;
  const promptLength = ids[0].length;
  const r = resolveGeneration(config, fileCfg, modelIds, promptLength);
  const maxLength = model.maxSequenceLength();
  if (promptLength > maxLength) {
    throw new Error(`generate: the prompt is ${promptLength} tokens (padding included), more than the ${maxLength} positions of ${model.hfClassName} (max_position_embeddings); shorten it`);
  }
  let positionLimit: GenerateOutput['positionLimit'];
  if (promptLength + r.maxNewTokens > maxLength) {
    positionLimit = { maxLength, askedNewTokens: r.maxNewTokens, newTokens: maxLength - promptLength };
    r.maxNewTokens = maxLength - promptLength;
  }
  const seqs = ids.map((row) => row.slice());
  const newTokens: number[][] = ids.map(() => []);
  const finished = new Array<boolean>(b).fill(false);
  const counts = mask.map((row) => row.reduce((a, m) => a + (m ? 1 : 0), 0));
  const scores: Float32Array[] | undefined = r.outputScores ? [] : undefined;
  const padded = hasPadding(mask);
  if (r.maxNewTokens === 0) return { sequences: seqs, newTokens, attentionMask: mask, promptLength, finished, scores, positionLimit };

  const cache = model.createCache();
  cache.reserve(promptLength + r.maxNewTokens); // decoding then writes each token in place (wasm)
  const headT = model.headWeightT();
  let idsT = tf.tensor2d(ids, [b, promptLength], 'int32');
  let posT = tf.tensor2d(model.generationPositionIds(mask), [b, promptLength], 'int32');
  let biasT = padded ? paddingBiasFromRows(mask, promptLength) : null;
  try {
    for (let step = 0; ; step++) {
      const logits = model.forwardStep(idsT, posT, biasT, cache, headT); // [b, vocab]
      idsT.dispose();
      posT.dispose();
      biasT?.dispose();
      const fast = !r.doSample && r.repetitionPenalty === 1 && step >= r.minNewTokens && !scores;
      let chosen: number[];
      if (fast) {
        // The argmax ids and the logits' sum in one read: a NaN or Inf anywhere makes the sum non-finite.
        const packed = tf.tidy(() => tf.concat([tf.cast(tf.argMax(logits, 1), 'float32'), tf.reshape(tf.sum(logits), [1])]));
        logits.dispose();
        const host = await packed.data();
        packed.dispose();
        if (!Number.isFinite(host[b])) throw new NonFiniteLogitsError(step, null);
        chosen = Array.from(host.subarray(0, b));
      } else {
        // data() is already a fresh host copy: the one copy of the vocabulary rows per step.
        const host = (await logits.data()) as Float32Array;
        logits.dispose();
        const bad = firstNonFiniteRow(host, vocab);
        if (bad !== null) throw new NonFiniteLogitsError(step, bad);
        chosen = chooseFromScores(host, vocab, seqs, step, r);
        scores?.push(host);
      }
      for (let row = 0; row < b; row++) {
        const tok = finished[row] ? r.pad : chosen[row];
        chosen[row] = tok;
        seqs[row].push(tok);
        newTokens[row].push(tok);
        mask[row].push(1);
        counts[row]++;
        if (!finished[row] && r.eos.includes(tok)) finished[row] = true;
      }
      const go = r.onToken ? r.onToken(chosen.slice(), step) !== false : true;
      if (!go || step + 1 >= r.maxNewTokens || finished.every(Boolean)) break;
      idsT = tf.tensor2d(chosen, [b, 1], 'int32');
      posT = tf.tensor2d(counts.map((n) => n - 1), [b, 1], 'int32'); // HF: cumsum(mask) - 1 at the new token
      biasT = padded ? paddingBiasFromRows(mask, mask[0].length) : null;
    }
  } finally {
    for (const t of [idsT, posT, biasT]) if (t && !t.isDisposed) t.dispose();
    cache.dispose();
    headT?.dispose();
  }
  // Reported only when the limit is what stopped generation (not EOS or onToken first).
  if (positionLimit && (newTokens[0].length < positionLimit.newTokens || finished.every(Boolean))) positionLimit = undefined;
  return { sequences: seqs, newTokens, attentionMask: mask, promptLength, finished, scores, positionLimit };
}
