// Shared types of the model zoo: inputs, outputs, the per-layer context and the decoder-layer contract.
import type * as tf from '@tensorflow/tfjs';

/** Token ids (or a 0/1 mask): a host array [batch][seq] or an int32/float32 tf.Tensor2D. */
export type TokenIds = number[][] | tf.Tensor2D;

export interface ForwardInputs {
  /** [batch, seq] token ids. */
  inputIds: TokenIds;
  /** [batch, past + seq]: 1 = real token, 0 = padding. Omitted = every token is real (or the cache's mask + ones). */
  attentionMask?: TokenIds;
  /**
   * [batch, seq] HF position ids (0-based). Omitted = HF forward()'s default: OPT derives them from the mask
   * (cumsum(mask)*mask - 1); LLaMA and GPT-2 use past..past+seq-1 whatever the mask, as HF's forward does.
   * OPT adds its table offset of 2 itself.
   */
  positionIds?: TokenIds;
}

/**
 * Cached keys/values of one layer (after RoPE for LLaMA), grown along the sequence axis. Normally k and v hold
 * exactly the past tokens; while decoding on wasm they may instead be preallocated buffers written in place
 * (no copy of the whole cache per token), and then `length` says how many positions are filled.
 */
export interface LayerKV {
  /** [batch, kvHeads, past, headDim], or [batch, kvHeads, capacity, headDim] when `length` is set. */
  k: tf.Tensor4D | null;
  /** Same layout as k. */
  v: tf.Tensor4D | null;
  /** Filled positions when k/v are preallocated buffers; undefined when they hold exactly the past tokens. */
  length?: number;
  /** Room to preallocate when decoding in place (KVCache.reserve sets it). */
  capacity?: number;
}

/**
 * Everything a decoder layer reads besides its hidden input and its own weights. Its tensors live only until
 * the enclosing forward's tidy ends: a runner that recomputes a layer during backward (gradient
 * checkpointing via tf.customGrad) must save() maskBias and rope with the layer input and rebuild the context.
 */
export interface LayerContext {
  batch: number;
  queryLen: number;
  pastLen: number;
  /** Additive attention bias [batch, 1, query, past + query]: 0 = attend, large negative = masked; null = none. */
  maskBias: tf.Tensor4D | null;
  /** Rotary tables gathered at each position, [batch, 1, query, headDim] (LLaMA), else null. */
  rope: { cos: tf.Tensor4D; sin: tf.Tensor4D } | null;
  training: boolean;
  /** Identity unless training and rate > 0; seeded from the model's RNG. */
  dropout(x: tf.Tensor, rate: number): tf.Tensor;
}

/**
 * One decoder block. apply() is a pure function of (hidden, ctx, the layer's own parameters) plus an optional
 * cache, so gradient checkpointing can recompute it per layer (e.g. inside tf.customGrad, passing parameters()).
 */
export interface DecoderLayer {
  readonly index: number;
  /** HF module name, e.g. `model.decoder.layers.3`. */
  readonly name: string;
  /** hidden [batch, query, hidden] -> [batch, query, hidden]. With kv, appends this step's keys/values to it. */
  apply(hidden: tf.Tensor3D, ctx: LayerContext, kv?: LayerKV): tf.Tensor3D;
  /** The variables apply() reads, HF name -> variable (internal layout, see CausalLM.namedParameters). */
  parameters(): Map<string, tf.Variable>;
}

/** Replaces how the model runs a layer (gradient checkpointing hooks in here). */
export type LayerRunner = (layer: DecoderLayer, hidden: tf.Tensor3D, ctx: LayerContext, kv: LayerKV | undefined) => tf.Tensor3D;

export interface CausalLMOutputs {
  /** [batch, seq, vocab], or null when not requested. */
  logits: tf.Tensor3D | null;
  /** What HF's AutoModel returns as last_hidden_state (after the final norm, and OPT's project_out). */
  lastHiddenState: tf.Tensor3D;
  /**
   * HF's output_hidden_states: numLayers + 1 entries, [0] the embedding output, [i] the output of layer i-1,
   * and the last one the final-norm output (it replaces the raw last-layer output, as in HF).
   */
  hiddenStates: tf.Tensor3D[] | null;
}
