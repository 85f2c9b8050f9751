// loadPretrained: an HF model folder (or hub-cache name) -> CausalLM, with HF's base-model-prefix key matching.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findWeightsFile } from '../io/checkpoint';
import { readJsonFile } from '../io/file-io';
import { CheckpointError } from '../io/host-tensor';
import { openStateDict, type TensorSource } from '../io/lazy-state-dict';
import { resolveModelDir } from '../io/resolve';
import type { CausalLM } from './causal-lm';
import { ConfigError, type ModelConfig, type RawConfig } from './config';
import { RandomWeightSource, type Bf16Selector, type ParamKind, type WeightSource } from './params';
import { getArchitecture, type Architecture } from './registry';
import { reportUnusedKeys } from './unused-keys';
import { ensureBackend, requireBackend } from '../backend/init-backend';

export interface LoadOptions {
  /** Compute dtype; only 'float32' (F16/BF16 checkpoints are converted on load). */
  dtype?: 'float32';
  /** Parameters start trainable (default true); use model.setTrainable to freeze some. */
  trainable?: boolean;
  /** Load only the body (reward model / critic): an untied lm_head is not required and not loaded. */
  bodyOnly?: boolean;
  /** Seed of the dropout RNG (default 0). */
  seed?: number;
  /** Tensors in the checkpoint that the model does not use are an error (`--strict`) instead of a warning naming them. */
  strict?: boolean;
  /** Where that warning goes (default: stderr). */
  warn?: (line: string) => void;
  /** Parameters to hold as frozen bfloat16 outside the tensor heap (see BuildOptions.bf16Weights). */
  bf16Weights?: Bf16Selector | null;
}

/** Buffers HF never loads from a file (GPT-2's causal-mask buffers, old rotary caches); skipped silently. */
const IGNORED_KEYS = [/(^|\.)attn\.(masked_)?bias$/, /rotary_emb\.inv_freq$/];

function readConfigJson(file: string, what: string): RawConfig {
  return readJsonFile<RawConfig>(file, { what, object: true, error: (detail) => new ConfigError(`${file}: ${detail}`) });
}

/**
 * A model folder's config.json (required) and generation_config.json (optional). A missing config.json, or either
 * file not holding a JSON object, is a ConfigError naming the file.
 */
export function readModelConfigs(dir: string): { configFile: string; raw: RawConfig; generationConfig: RawConfig | null } {
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) {
    throw new ConfigError(`${dir}: no config.json; a model folder needs config.json next to its weights (as save_pretrained writes it)`);
  }
  const genFile = path.join(dir, 'generation_config.json');
  return {
    configFile,
    raw: readConfigJson(configFile, 'config.json'),
    generationConfig: fs.existsSync(genFile) ? readConfigJson(genFile, 'generation_config.json') : null,
  };
}

/**
 * Finds what a checkpoint puts before the base model's own names: `model.` for a full OPT/LLaMA CausalLM,
 * `transformer.` for GPT-2, '' for a bare AutoModel, `rwtranformer.` for a DeepSpeed-Chat reward model.
 */
function detectWrapperPrefix(keys: string[], arch: Architecture): string {
  const rel = arch.embeddingKey.slice(arch.basePrefix.length);
  const found = keys.filter((k) => k === rel || k.endsWith(`.${rel}`)).map((k) => k.slice(0, k.length - rel.length));
  if (found.includes(arch.basePrefix)) return arch.basePrefix;
  if (found.includes('')) return '';
  found.sort((a, b) => a.length - b.length);
  return found[0] ?? arch.basePrefix;
}

/** Serves parameters from a loaded state dict, mapping model names to file keys and checking shapes. */
export class CheckpointSource implements WeightSource {
  private readonly used = new Set<string>();
  private readonly wrapper: string;

  constructor(
    private readonly sd: TensorSource,
    private readonly file: string,
    private readonly configFile: string,
    private readonly arch: Architecture,
    config: ModelConfig,
  ) {
    this.wrapper = detectWrapperPrefix([...sd.keys()], arch);
    // A tied head may still be in the file (some exporters write it); HF ignores it, so do we.
    if (config.tieWordEmbeddings && sd.has('lm_head.weight')) this.used.add('lm_head.weight');
  }

  fileKey(name: string): string {
    return name.startsWith(this.arch.basePrefix) ? this.wrapper + name.slice(this.arch.basePrefix.length) : name;
  }

  take(name: string, hfShape: number[], _kind: ParamKind): Float32Array {
    const key = this.fileKey(name);
    const t = this.sd.get(key);
    if (!t) {
      if (name === 'lm_head.weight') {
        throw new CheckpointError(
          `${this.file}: missing tensor 'lm_head.weight': ${this.configFile} says tie_word_embeddings=false, so the LM head ` +
            'must be in the checkpoint. Load with bodyOnly: true for a reward model/critic, or set tie_word_embeddings to true if the head is tied',
        );
      }
      const also = key !== name ? ` (parameter '${name}')` : '';
      throw new CheckpointError(
        `${this.file}: missing tensor '${key}'${also}, which ${this.arch.hfClassName} built from ${this.configFile} needs; ` +
          'the checkpoint does not match its config.json',
      );
    }
    const same = t.shape.length === hfShape.length && t.shape.every((d, i) => d === hfShape[i]);
    if (!same) {
      throw new CheckpointError(
        `${this.file}: tensor '${key}' has shape [${t.shape.join(', ')}] but ${this.configFile} implies [${hfShape.join(', ')}]; ` +
          'the checkpoint does not match its config.json',
      );
    }
    if (!(t.data instanceof Float32Array)) {
      throw new CheckpointError(`${this.file}: tensor '${key}' has integer dtype ${t.dtype}; a model weight must be floating point`);
    }
    this.used.add(key);
    return t.data;
  }

  /** Keys the model did not take (and HF would not skip), in file order. */
  unusedKeys(): string[] {
    return [...this.sd.keys()].filter((k) => !this.used.has(k) && !IGNORED_KEYS.some((re) => re.test(k)));
  }
}

/**
 * Loads an HF causal LM folder (config.json + weights; generation_config.json if present). `dirOrName` is a
 * folder or a hub id found in the local HF cache (never downloaded). Keys with or without the base-model
 * prefix load (HF's base_model_prefix logic); keys the model does not use are listed in model.unexpectedKeys
 * and kept in model.extraTensors (e.g. a reward model's v_head.weight), and, besides such companion tensors,
 * named in a warning (an error with `strict`).
 */
export async function loadPretrained(dirOrName: string, opts: LoadOptions = {}): Promise<CausalLM> {
  if (opts.dtype !== undefined && opts.dtype !== 'float32') {
    throw new Error(`loadPretrained: dtype '${String(opts.dtype)}' is not supported; rlhfkit computes in float32 (F16/BF16 weights are converted on load)`);
  }
  const dir = resolveModelDir(dirOrName);
  const { configFile, raw, generationConfig } = readModelConfigs(dir);
  await ensureBackend();
  const arch = getArchitecture(raw, configFile);
  const config = arch.parseConfig(raw, configFile) as ModelConfig;
  const weights = findWeightsFile(dir).file;
  // Tensor by tensor from the file as the model takes them: no second full copy of the weights at load time.
  const sd = openStateDict(weights);
  const source = new CheckpointSource(sd, weights, configFile, arch, config);
  const model = arch.build(config, source, {
    rawConfig: raw,
    generationConfig,
    trainable: opts.trainable,
    bodyOnly: opts.bodyOnly,
    seed: opts.seed,
    bf16Weights: opts.bf16Weights,
  });
  model.unexpectedKeys = source.unusedKeys();
  model.extraTensors = new Map(model.unexpectedKeys.map((k) => [k, sd.get(k)!]));
  try {
    reportUnusedKeys(model, model.unexpectedKeys, weights, configFile, { strict: opts.strict, warn: opts.warn, bodyOnly: opts.bodyOnly });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

export interface CreateModelOptions {
  /** Seed of the weight init (default 0); also seeds dropout. */
  seed?: number;
  /** Std of the normal init of matrices and embeddings (default: the config's initializer_range / init_std, else 0.02). */
  initStd?: number;
  trainable?: boolean;
  bodyOnly?: boolean;
  generationConfig?: RawConfig | null;
  /** Named in config errors (default 'config.json'). */
  configFile?: string;
  /** Parameters to hold as frozen bfloat16 outside the tensor heap (see BuildOptions.bf16Weights). */
  bf16Weights?: Bf16Selector | null;
}

/**
 * A randomly initialised model from a config.json object (tests, benchmarks, training from scratch). It is synchronous,
 * so a backend must be running: `await initBackend()` first, unless loadPretrained or createTinyModel already started it.
 */
export function createModelFromConfig(raw: RawConfig, opts: CreateModelOptions = {}): CausalLM {
  requireBackend('createModelFromConfig');
  const file = opts.configFile ?? 'config.json';
  const arch = getArchitecture(raw, file);
  const config = arch.parseConfig(raw, file) as ModelConfig;
  const cfgStd = typeof raw.initializer_range === 'number' ? raw.initializer_range : typeof raw.init_std === 'number' ? raw.init_std : 0.02;
  const seed = opts.seed ?? 0;
  return arch.build(config, new RandomWeightSource(seed, opts.initStd ?? cfgStd), {
    rawConfig: raw,
    generationConfig: opts.generationConfig ?? null,
    trainable: opts.trainable,
    bodyOnly: opts.bodyOnly,
    seed,
    bf16Weights: opts.bf16Weights,
  });
}
