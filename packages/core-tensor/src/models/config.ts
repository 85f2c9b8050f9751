// Typed model configs parsed from a Hugging Face config.json (OPT, LLaMA, GPT-2), with errors naming file and key.

/** The raw JSON object of a config.json. */
export type RawConfig = Record<string, unknown>;

/** An error about a config.json the user can act on: names the file and the key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Fields every causal LM config has, under rlhfkit's names (HF's names differ per architecture). */
export interface BaseLmConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads (GQA/MQA); equals numHeads for multi-head attention. */
  numKvHeads: number;
  headDim: number;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  /** One id or several (HF allows a list). */
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
}

export interface OptConfig extends BaseLmConfig {
  modelType: 'opt';
  ffnDim: number;
  /** Width of the token embedding; project_in/project_out exist when it differs from hiddenSize. */
  wordEmbedProjDim: number;
  /** true = pre-LN (125m, 1.3b, ...); false = post-LN (350m). */
  doLayerNormBefore: boolean;
  removeFinalLayerNorm: boolean;
  enableBias: boolean;
  layerNormElementwiseAffine: boolean;
  activation: string;
  dropout: number;
  attentionDropout: number;
  /** Parsed for completeness; HF's OPT layer never applies it, so neither do we. */
  activationDropout: number;
  layerdrop: number;
}

/** rope_scaling variants rlhfkit implements. */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'dynamic'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface LlamaConfig extends BaseLmConfig {
  modelType: 'llama';
  intermediateSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  attentionBias: boolean;
  mlpBias: boolean;
  hiddenAct: string;
  attentionDropout: number;
}

export interface Gpt2Config extends BaseLmConfig {
  modelType: 'gpt2';
  /** MLP width; HF's n_inner (null means 4 * n_embd). */
  nInner: number;
  activation: string;
  layerNormEpsilon: number;
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
  residPdrop: number;
  embdPdrop: number;
  attnPdrop: number;
}

export type ModelConfig = OptConfig | LlamaConfig | Gpt2Config;

/** Reads typed fields from a raw config, naming the file and key on any error. */
export class ConfigReader {
  constructor(readonly raw: RawConfig, readonly file: string) {}

  private fail(key: string, want: string): never {
    throw new ConfigError(`${this.file}: key '${key}' must be ${want}, got ${JSON.stringify(this.raw[key])}; fix the config.json`);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** A positive integer; `fallback` is used when the key is absent or null. */
  int(key: string, fallback?: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${this.file}: required key '${key}' is missing; add it to the config.json`);
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) this.fail(key, 'a positive integer');
    return v;
  }

  num(key: string, fallback: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, 'a number');
    return v;
  }

  /** A probability in [0, 1) (dropout rates). */
  rate(key: string, fallback: number): number {
    const v = this.num(key, fallback);
    if (v < 0 || v >= 1) this.fail(key, 'a rate in [0, 1)');
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  str(key: string, fallback: string): string {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') this.fail(key, 'a string');
    return v;
  }

  /** A token id (non-negative integer) or null. */
  tokenId(key: string): number | null {
    const v = this.raw[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(key, 'a token id (integer >= 0) or null');
    return v;
  }

  /** One token id, a list of them, or null. */
  tokenIds(key: string): number | number[] | null {
    const v = this.raw[key];
    if (Array.isArray(v)) {
      if (!v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) this.fail(key, 'a token id or a list of token ids');
      return v.slice() as number[];
    }
    return this.tokenId(key);
  }

  /** Checks that `a` divides evenly by `b` (heads), naming both keys. */
  divisible(aKey: string, a: number, bKey: string, b: number): void {
    if (a % b !== 0) throw new ConfigError(`${this.file}: '${aKey}' (${a}) must be divisible by '${bKey}' (${b})`);
  }
}

function baseIds(r: ConfigReader): Pick<BaseLmConfig, 'bosTokenId' | 'eosTokenId' | 'padTokenId'> {
  return { bosTokenId: r.tokenId('bos_token_id'), eosTokenId: r.tokenIds('eos_token_id'), padTokenId: r.tokenId('pad_token_id') };
}

export function parseOptConfig(raw: RawConfig, file: string): OptConfig {
  const r = new ConfigReader(raw, file);
  const hiddenSize = r.int('hidden_size');
  const numHeads = r.int('num_attention_heads');
  r.divisible('hidden_size', hiddenSize, 'num_attention_heads', numHeads);
  return {
    modelType: 'opt',
    vocabSize: r.int('vocab_size'),
    hiddenSize,
    numLayers: r.int('num_hidden_layers'),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    maxPositions: r.int('max_position_embeddings', 2048),
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    ...baseIds(r),
    ffnDim: r.int('ffn_dim'),
    wordEmbedProjDim: r.int('word_embed_proj_dim', hiddenSize),
    doLayerNormBefore: r.bool('do_layer_norm_before', true),
    removeFinalLayerNorm: r.bool('_remove_final_layer_norm', false),
    enableBias: r.bool('enable_bias', true),
    layerNormElementwiseAffine: r.bool('layer_norm_elementwise_affine', true),
    activation: r.str('activation_function', 'relu'),
    dropout: r.rate('dropout', 0.1),
    attentionDropout: r.rate('attention_dropout', 0),
    activationDropout: r.rate('activation_dropout', 0),
    layerdrop: r.rate('layerdrop', 0),
  };
}

/**
 * transformers >= 5 writes RoPE settings as one `rope_parameters` object ({rope_type, rope_theta, factor, ...})
 * instead of top-level `rope_theta` + `rope_scaling`; older files have only the latter. Returns which key holds the
 * scaling settings and its object (null when absent).
 */
function ropeSettings(r: ConfigReader): { key: string; value: Record<string, unknown> | null } {
  for (const key of ['rope_scaling', 'rope_parameters']) {
    const v = r.raw[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw new ConfigError(`${r.file}: key '${key}' must be null or an object like {"rope_type": "linear", "factor": 2}`);
    }
    return { key, value: v as Record<string, unknown> };
  }
  return { key: 'rope_scaling', value: null };
}

function parseRopeTheta(r: ConfigReader): number {
  if (r.has('rope_theta')) return r.num('rope_theta', 10000);
  const params = r.raw.rope_parameters as Record<string, unknown> | null | undefined;
  const theta = params && typeof params === 'object' ? params.rope_theta : undefined;
  if (theta === undefined) return 10000;
  if (typeof theta !== 'number' || !(theta > 0)) {
    throw new ConfigError(`${r.file}: 'rope_parameters.rope_theta' must be a positive number, got ${JSON.stringify(theta)}`);
  }
  return theta;
}

function parseRopeScaling(r: ConfigReader): RopeScaling | null {
  const { key, value } = ropeSettings(r);
  if (value === null) return null;
  const o = value;
  const type = (o.rope_type ?? o.type) as unknown;
  const factor = o.factor;
  if (type === 'default' || (type === undefined && key === 'rope_parameters')) return null;
  if (typeof factor !== 'number' || !(factor >= 1)) {
    throw new ConfigError(`${r.file}: '${key}.factor' must be a number >= 1, got ${JSON.stringify(factor)}`);
  }
  if (type === 'linear' || type === 'dynamic') return { type, factor };
  if (type === 'llama3') {
    const num = (k: string): number => {
      const x = o[k];
      if (typeof x !== 'number') throw new ConfigError(`${r.file}: '${key}.${k}' must be a number for rope_type llama3`);
      return x;
    };
    return {
      type,
      factor,
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositions: num('original_max_position_embeddings'),
    };
  }
  throw new ConfigError(
    `${r.file}: ${key} type ${JSON.stringify(type)} is not supported (supported: linear, dynamic, llama3); ` +
      `remove ${key} or convert the model`,
  );
}

export function parseLlamaConfig(raw: RawConfig, file: string): LlamaConfig {
  const r = new ConfigReader(raw, file);
  const hiddenSize = r.int('hidden_size');
  const numHeads = r.int('num_attention_heads');
  const numKvHeads = r.int('num_key_value_heads', numHeads);
  r.divisible('num_attention_heads', numHeads, 'num_key_value_heads', numKvHeads);
  if (!r.has('head_dim')) r.divisible('hidden_size', hiddenSize, 'num_attention_heads', numHeads);
  const headDim = r.int('head_dim', hiddenSize / numHeads);
  if (headDim % 2 !== 0) throw new ConfigError(`${file}: the head dimension (${headDim}) must be even for rotary embeddings`);
  return {
    modelType: 'llama',
    vocabSize: r.int('vocab_size'),
    hiddenSize,
    numLayers: r.int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    maxPositions: r.int('max_position_embeddings', 2048),
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    ...baseIds(r),
    intermediateSize: r.int('intermediate_size'),
    rmsNormEps: r.num('rms_norm_eps', 1e-6),
    ropeTheta: parseRopeTheta(r),
    ropeScaling: parseRopeScaling(r),
    attentionBias: r.bool('attention_bias', false),
    mlpBias: r.bool('mlp_bias', false),
    hiddenAct: r.str('hidden_act', 'silu'),
    attentionDropout: r.rate('attention_dropout', 0),
  };
}

export function parseGpt2Config(raw: RawConfig, file: string): Gpt2Config {
  const r = new ConfigReader(raw, file);
  const hiddenSize = r.int('n_embd', 768);
  const numHeads = r.int('n_head', 12);
  r.divisible('n_embd', hiddenSize, 'n_head', numHeads);
  return {
    modelType: 'gpt2',
    vocabSize: r.int('vocab_size', 50257),
    hiddenSize,
    numLayers: r.int('n_layer', 12),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    maxPositions: r.int('n_positions', 1024),
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    ...baseIds(r),
    nInner: r.int('n_inner', 4 * hiddenSize),
    activation: r.str('activation_function', 'gelu_new'),
    layerNormEpsilon: r.num('layer_norm_epsilon', 1e-5),
    scaleAttnWeights: r.bool('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: r.bool('scale_attn_by_inverse_layer_idx', false),
    residPdrop: r.rate('resid_pdrop', 0.1),
    embdPdrop: r.rate('embd_pdrop', 0.1),
    attnPdrop: r.rate('attn_pdrop', 0.1),
  };
}
