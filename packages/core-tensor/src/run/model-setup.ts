// Loading a model for training as DeepSpeed-Chat's create_hf_model does: --dropout, pad/end token ids, vocab resized to a multiple of 8.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend/init-backend';
import { findWeightsFile, loadStateDict } from '../io/checkpoint';
import { CheckpointError, type StateDict } from '../io/host-tensor';
import { openStateDict } from '../io/lazy-state-dict';
import { resolveModelDir } from '../io/resolve';
import type { CausalLM } from '../models/causal-lm';
import { ConfigError, type ModelConfig, type RawConfig } from '../models/config';
import { CheckpointSource, readModelConfigs } from '../models/load';
import { transpose2d, type Bf16Selector, type ParamKind, type WeightSource } from '../models/params';
import { getArchitecture } from '../models/registry';
import { reportUnusedKeys } from '../models/unused-keys';
import { DSCHAT_LORA_NAMES } from '../train/param-groups';
import { loadTokenizer } from '../tokenizer/load';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { FlagError } from './flags';

/** HF config attributes DeepSpeed-Chat's configure_dropout sets, per model type (those the HF config class has). */
const DROPOUT_KEYS: Record<string, readonly string[]> = {
  opt: ['dropout', 'attention_dropout', 'activation_dropout'],
  llama: ['attention_dropout'],
  gpt2: [],
};
const DSCHAT_DROPOUT_KEYS = ['dropout', 'attention_dropout', 'hidden_dropout', 'activation_dropout'];

/** ceil(n / multiple) * multiple (DeepSpeed-Chat pads the vocabulary to a multiple of 8). */
export function roundUpVocab(n: number, multiple = 8): number {
  return multiple > 0 ? Math.ceil(n / multiple) * multiple : n;
}

/**
 * `--dropout p`: sets each of dropout / attention_dropout / hidden_dropout / activation_dropout that the model's HF
 * config class has (as DeepSpeed-Chat's configure_dropout does); returns the keys set. GPT-2 has none of them
 * (its rates are resid_pdrop etc.), so there, as in DeepSpeed-Chat, the flag changes nothing.
 */
export function configureDropout(raw: RawConfig, dropout: number | null | undefined, log: (line: string) => void = () => undefined): string[] {
  if (dropout === null || dropout === undefined) return [];
  if (!(dropout >= 0 && dropout < 1)) throw new ConfigError(`--dropout must be in [0, 1), got ${dropout}`);
  const known = DROPOUT_KEYS[String(raw.model_type)] ?? [];
  const set: string[] = [];
  for (const key of DSCHAT_DROPOUT_KEYS) {
    if (!(key in raw) && !known.includes(key)) continue;
    raw[key] = dropout;
    log(`Setting model_config.${key} to ${dropout}`);
    set.push(key);
  }
  if (set.length === 0) log(`--dropout ${dropout}: model_type '${String(raw.model_type)}' has none of ${DSCHAT_DROPOUT_KEYS.join('/')}, so it changes nothing (as in DeepSpeed-Chat)`);
  return set;
}

/** New vocabulary rows: the mean of the old rows (transformers' mean_resizing, minus its 1e-9-scaled noise); shrinking cuts rows. */
export function resizeRows(data: Float32Array, oldRows: number, cols: number, newRows: number): Float32Array {
  const out = new Float32Array(newRows * cols);
  out.set(data.subarray(0, Math.min(oldRows, newRows) * cols));
  if (newRows > oldRows) {
    const meanRow = new Float64Array(cols);
    for (let r = 0; r < oldRows; r++) for (let c = 0; c < cols; c++) meanRow[c] += data[r * cols + c];
    for (let c = 0; c < cols; c++) meanRow[c] /= Math.max(1, oldRows);
    for (let r = oldRows; r < newRows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = meanRow[c];
  }
  return out;
}

/** Serves a checkpoint's tensors, with the token embedding (and an untied LM head) resized to the new vocabulary. */
class ResizingSource implements WeightSource {
  constructor(
    private readonly inner: CheckpointSource,
    private readonly resized: ReadonlySet<string>,
    private readonly oldVocab: number,
    private readonly newVocab: number,
  ) {}

  take(name: string, hfShape: number[], kind: ParamKind): Float32Array {
    if (!this.resized.has(name) || hfShape[0] !== this.newVocab) return this.inner.take(name, hfShape, kind);
    const cols = hfShape[1];
    return resizeRows(this.inner.take(name, [this.oldVocab, cols], kind), this.oldVocab, cols, this.newVocab);
  }
}

export interface TrainingModelOptions {
  /**
   * The tokenizer trained with. As in create_hf_model: config.end_token_id = its eos id, pad_token_id = the
   * model's eos_token_id, and the vocabulary is resized to ceil(len(tokenizer) / 8) * 8 (growing or shrinking).
   */
  tokenizer?: { readonly vocabSize: number; readonly eosTokenId?: number | undefined };
  /** `--dropout` (null/undefined: keep the config's rates). */
  dropout?: number | null;
  /** Multiple to pad the vocabulary to (default 8; 0 = keep the checkpoint's size). */
  vocabMultiple?: number;
  /** Dropout RNG seed (default 0). */
  seed?: number;
  bodyOnly?: boolean;
  trainable?: boolean;
  /** Messages; also where the warning about unused checkpoint tensors goes (default for that warning: stderr). */
  log?: (line: string) => void;
  /** `--strict`: unused checkpoint tensors are an error instead of a warning. */
  strict?: boolean;
  /** Parameters to hold as frozen bfloat16 outside the tensor heap (`--frozen_dtype bf16`; see BuildOptions.bf16Weights). */
  bf16Weights?: Bf16Selector | null;
}

/**
 * Loads an HF causal LM folder (or local hub-cache name) the way DeepSpeed-Chat prepares models for training
 * (create_hf_model): dropout override, end/pad token ids, and the vocabulary resized to a multiple of 8. Saving
 * the result writes the resized embedding and the updated config.json, which transformers loads as is.
 */
export async function loadModelForTraining(dirOrName: string, opts: TrainingModelOptions = {}): Promise<CausalLM> {
  const log = opts.log ?? (() => undefined);
  const dir = resolveModelDir(dirOrName);
  const { configFile, raw, generationConfig } = readModelConfigs(dir);
  await ensureBackend();
  const arch = getArchitecture(raw, configFile);
  const original = arch.parseConfig(raw, configFile) as ModelConfig;
  configureDropout(raw, opts.dropout, log);
  const oldVocab = original.vocabSize;
  let newVocab = oldVocab;
  if (opts.tokenizer) {
    if (opts.tokenizer.eosTokenId !== undefined) raw.end_token_id = opts.tokenizer.eosTokenId;
    raw.pad_token_id = raw.eos_token_id ?? null;
    newVocab = roundUpVocab(opts.tokenizer.vocabSize, opts.vocabMultiple ?? 8);
    if (newVocab !== oldVocab) {
      raw.vocab_size = newVocab;
      log(`resizing the token embedding from ${oldVocab} to ${newVocab} rows (tokenizer has ${opts.tokenizer.vocabSize} tokens, rounded up to a multiple of ${opts.vocabMultiple ?? 8})`);
    }
  }
  const config = arch.parseConfig(raw, configFile) as ModelConfig;
  const weights = findWeightsFile(dir).file;
  // Tensor by tensor from the file as the model takes them: no second full copy of the weights at load time.
  const sd = openStateDict(weights);
  const inner = new CheckpointSource(sd, weights, configFile, arch, original);
  const source = new ResizingSource(inner, new Set([arch.embeddingKey, 'lm_head.weight']), oldVocab, newVocab);
  const model = arch.build(config, source, {
    rawConfig: raw, generationConfig, trainable: opts.trainable, bodyOnly: opts.bodyOnly, seed: opts.seed, bf16Weights: opts.bf16Weights,
  });
  model.unexpectedKeys = inner.unusedKeys();
  model.extraTensors = new Map(model.unexpectedKeys.map((k) => [k, sd.get(k)!]));
  try {
    reportUnusedKeys(model, model.unexpectedKeys, weights, configFile, { strict: opts.strict, warn: opts.log, bodyOnly: opts.bodyOnly });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * `--max_seq_len` against the model, before training starts: above what its learned position table holds (OPT,
 * GPT-2) it is a FlagError saying the largest allowed value; rotary models (LLaMA) run longer rows, so there it is
 * only a note when above max_position_embeddings.
 */
export function checkMaxSeqLen(maxSeqLen: number, model: CausalLM, where: string, log: (line: string) => void = () => undefined, flag = 'max_seq_len'): void {
  const hard = model.maxSequenceLength();
  const table = model.config.maxPositions;
  if (maxSeqLen > hard) {
    throw new FlagError(
      `--${flag} ${maxSeqLen} is more than ${where} can take: ${model.hfClassName} has ${hard} positions (max_position_embeddings in its ` +
        `config.json); use --${flag} ${hard} or less`,
    );
  }
  if (maxSeqLen > table) log(`note: --${flag} ${maxSeqLen} is above ${where}'s max_position_embeddings (${table}); rotary positions go on, but the model never trained on such lengths`);
}

/**
 * Copies weights from a state dict (HF names and layout, e.g. a checkpoint's model.safetensors) into the model's
 * existing variables; every parameter must be present with its shape (LoRA variables are skipped), or with
 * `partial` only those in `sd` are set. Used to resume a run in place.
 */
export function assignWeights(model: CausalLM, sd: StateDict, where = 'checkpoint', opts: { partial?: boolean } = {}): void {
  // Adapter variables (LoRA) are not part of an HF state dict; their own state is restored separately.
  const params = new Map(
    [...model.namedParameters()].filter(([name]) => !DSCHAT_LORA_NAMES.some((s) => name.endsWith(`.${s}`)) && (!opts.partial || sd.has(name))),
  );
  // Check everything first, so a mismatching file leaves the model untouched.
  for (const [name, v] of params) {
    const t = sd.get(name);
    if (!t) throw new CheckpointError(`${where}: missing tensor '${name}'; the checkpoint does not match this model`);
    const hfShape = model.isTransposed(name) ? [v.shape[1], v.shape[0]] : v.shape;
    if (t.shape.length !== hfShape.length || t.shape.some((d, i) => d !== hfShape[i])) {
      throw new CheckpointError(`${where}: tensor '${name}' has shape [${t.shape}] but the model has [${hfShape}]; the checkpoint is from another model`);
    }
    if (!(t.data instanceof Float32Array)) throw new CheckpointError(`${where}: tensor '${name}' is ${t.dtype}; a weight must be floating point`);
  }
  for (const [name, v] of params) {
    const t = sd.get(name)!;
    const data = model.isTransposed(name) ? transpose2d(t.data as Float32Array, t.shape[0], t.shape[1]) : (t.data as Float32Array);
    tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
  }
}

/** assignWeights from a model folder's weights file. */
export function loadWeightsInto(model: CausalLM, dir: string): void {
  const file = findWeightsFile(dir).file;
  assignWeights(model, loadStateDict(file), file);
}

export interface TrainingTokenizerOptions {
  /** `--add_eot_token`: add `eotToken` as an additional special token. */
  addEotToken?: boolean;
  eotToken?: string;
}

/**
 * DeepSpeed-Chat's load_hf_tokenizer: right padding, and pad = eos, except LLaMA models without a pad token,
 * which get a new '[PAD]' special token (DeepSpeed-Chat decides by "llama" in the model name; rlhfkit reads
 * config.json's model_type). With addEotToken the eot token is added as an additional special token.
 */
export async function loadTrainingTokenizer(dirOrName: string, opts: TrainingTokenizerOptions = {}): Promise<Tokenizer> {
  const dir = resolveModelDir(dirOrName);
  const tok = await loadTokenizer(dir);
  const modelType = fs.existsSync(path.join(dir, 'config.json')) ? String(readModelConfigs(dir).raw.model_type ?? '') : '';
  if (modelType === 'llama') {
    if (tok.padToken === undefined) tok.padToken = '[PAD]';
  } else {
    if (tok.eosToken === undefined) throw new ConfigError(`${dir}: the tokenizer has no eos token, which DeepSpeed-Chat uses as the pad token; set eos_token in tokenizer_config.json`);
    tok.padToken = tok.eosToken;
  }
  tok.paddingSide = 'right';
  if (opts.addEotToken) tok.addSpecialTokens([opts.eotToken ?? '<|endoftext|>']);
  return tok;
}
