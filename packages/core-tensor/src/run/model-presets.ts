// Randomly initialised model folders with the exact shapes of real checkpoints (facebook/opt-*, a Llama-2 cut), GPT-2 tokenizer.
import { ensureBackend } from '../backend/init-backend';
import type { RawConfig } from '../models/config';
import { createModelFromConfig } from '../models/load';
import { gpt2TokenizerWithMerges } from './tiny-model';
import { roundUpVocab } from './model-setup';

/**
 * The architecture part of each preset's config.json, as the Hugging Face hub has it (facebook/opt-125m, opt-350m,
 * opt-1.3b; meta-llama/Llama-2-7b-hf with 4 of its 32 layers). Token ids and, for LLaMA, the vocabulary follow the
 * GPT-2 tokenizer every preset ships with (OPT's 50272 rows already cover its 50257 tokens).
 */
const OPT_COMMON: RawConfig = {
  architectures: ['OPTForCausalLM'], model_type: 'opt', vocab_size: 50272, max_position_embeddings: 2048, activation_function: 'relu',
  dropout: 0.1, attention_dropout: 0.0, activation_dropout: 0.0, layerdrop: 0.0, init_std: 0.02, enable_bias: true,
  layer_norm_elementwise_affine: true, _remove_final_layer_norm: false, tie_word_embeddings: true, use_cache: true, prefix: '</s>',
};

export const MODEL_PRESETS: Readonly<Record<string, RawConfig>> = Object.freeze({
  'opt-125m': { ...OPT_COMMON, _name_or_path: 'facebook/opt-125m', hidden_size: 768, word_embed_proj_dim: 768, ffn_dim: 3072, num_hidden_layers: 12, num_attention_heads: 12, do_layer_norm_before: true },
  // Post-LN, with a 512-wide embedding projected in and out of the 1024-wide body.
  'opt-350m': { ...OPT_COMMON, _name_or_path: 'facebook/opt-350m', hidden_size: 1024, word_embed_proj_dim: 512, ffn_dim: 4096, num_hidden_layers: 24, num_attention_heads: 16, do_layer_norm_before: false },
  'opt-1.3b': { ...OPT_COMMON, _name_or_path: 'facebook/opt-1.3b', hidden_size: 2048, word_embed_proj_dim: 2048, ffn_dim: 8192, num_hidden_layers: 24, num_attention_heads: 32, do_layer_norm_before: true },
  'llama-2-7b-4l': {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', _name_or_path: 'meta-llama/Llama-2-7b-hf (4 of 32 layers)', hidden_size: 4096,
    intermediate_size: 11008, num_hidden_layers: 4, num_attention_heads: 32, num_key_value_heads: 32, max_position_embeddings: 4096,
    rms_norm_eps: 1e-5, rope_theta: 10000.0, rope_scaling: null, hidden_act: 'silu', attention_bias: false, attention_dropout: 0.0,
    initializer_range: 0.02, pretraining_tp: 1, tie_word_embeddings: false, use_cache: true,
  },
});

export type ModelPresetName = keyof typeof MODEL_PRESETS;
export const MODEL_PRESET_NAMES = Object.keys(MODEL_PRESETS);

export interface PresetModelOptions {
  /** Weight-init seed (default 1234). */
  seed?: number;
  /** Another number of decoder layers than the preset's (a quicker model of the same width). */
  layers?: number;
  /** Dropout written to the config (default: the preset's). */
  dropout?: number;
  /** A chat template written to tokenizer_config.json (as createTinyModel's). */
  chatTemplate?: string;
}

export interface PresetModelInfo {
  dir: string;
  config: RawConfig;
  numParameters: number;
  /** Bytes of the weights file's tensors. */
  weightBytes: number;
}

/** The full config.json of a preset (GPT-2 tokenizer ids, the dtype written, any layer override). */
export function presetConfig(name: string, eot: number, tokenizerSize: number, opts: PresetModelOptions = {}): RawConfig {
  const base = MODEL_PRESETS[name];
  if (!base) throw new Error(`unknown model preset '${name}'; the presets are ${MODEL_PRESET_NAMES.join(', ')}`);
  const c: RawConfig = { ...base, bos_token_id: eot, eos_token_id: eot, pad_token_id: eot, torch_dtype: 'bfloat16' };
  if (c.model_type === 'llama') c.vocab_size = roundUpVocab(tokenizerSize, 8);
  if (opts.layers !== undefined) c.num_hidden_layers = opts.layers;
  if (opts.dropout !== undefined) {
    if (c.model_type === 'opt') c.dropout = opts.dropout;
    else c.attention_dropout = opts.dropout;
  }
  return c;
}

/**
 * Writes a preset's folder: config.json, generation_config.json, model.safetensors and the GPT-2 tokenizer files. The
 * weights (HF's normal init, std = init_std / initializer_range) are held as bfloat16 outside the tensor heap while the
 * model is built and written one tensor at a time as BF16, so even opt-1.3b takes about 2.6 GB of memory to write.
 */
export async function createPresetModel(dir: string, name: string, opts: PresetModelOptions = {}): Promise<PresetModelInfo> {
  await ensureBackend();
  const base = MODEL_PRESETS[name];
  if (!base) throw new Error(`unknown model preset '${name}'; the presets are ${MODEL_PRESET_NAMES.join(', ')}`);
  const tokenizer = await gpt2TokenizerWithMerges(null, Number(base.max_position_embeddings));
  const eot = tokenizer.eosTokenId;
  if (eot === undefined) throw new Error('internal: the GPT-2 tokenizer has no <|endoftext|>');
  const config = presetConfig(name, eot, tokenizer.vocabSize, opts);
  if (opts.chatTemplate !== undefined) tokenizer.settings.raw.chat_template = opts.chatTemplate;
  const model = createModelFromConfig(config, { seed: opts.seed ?? 1234, trainable: false, bf16Weights: () => true });
  try {
    await model.save(dir, { tokenizer, dtype: 'BF16' });
    const n = model.numParameters();
    return { dir, config, numParameters: n, weightBytes: 2 * n };
  } finally {
    model.dispose();
  }
}
