// Writes a CausalLM as an HF folder transformers loads unchanged: config.json, generation_config.json, weights.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { saveStateDict } from '../io/checkpoint';
import { writeFileAtomic } from '../io/file-io';
import type { TensorToWrite } from '../io/host-tensor';
import type { CausalLM } from './causal-lm';
import type { RawConfig } from './config';

export interface SaveOptions {
  /** Anything with save(dir), e.g. rlhfkit's tokenizer; called after the model files. Omit to leave it to the caller. */
  tokenizer?: { save(dir: string): unknown };
  /** More tensors to write beside the model's, HF layout (e.g. a reward model's `v_head.weight`). */
  extraTensors?: Map<string, TensorToWrite>;
  /** Keys to set in config.json on top of the loaded ones. */
  configUpdates?: RawConfig;
  /** On-disk dtype (default F32); compute stays float32. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Shard above this size (default "5GB", as transformers). */
  maxShardSize?: number | string;
}

const TORCH_DTYPE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

/** JSON with sorted keys and 2-space indent, as transformers writes its configs. */
function sortedJson(obj: RawConfig): string {
  const sorted: RawConfig = {};
  for (const k of Object.keys(obj).sort()) sorted[k] = obj[k];
  return JSON.stringify(sorted, null, 2) + '\n';
}

function writeJson(file: string, obj: RawConfig): void {
  writeFileAtomic(file, [Buffer.from(sortedJson(obj), 'utf8')]);
}

/**
 * Each file is written through a temp file and a rename; the weights go first and config.json last, so a
 * folder with a config.json always has complete weights next to it.
 */
export async function saveModel(model: CausalLM, dir: string, opts: SaveOptions = {}): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const dtype = opts.dtype ?? 'F32';
  // Read from the model one tensor at a time as the file is written (no whole-model host copy).
  const tensors = new Map<string, TensorToWrite>(model.tensorsToWrite());
  for (const [k, t] of opts.extraTensors ?? []) tensors.set(k, t);
  saveStateDict(dir, tensors, { dtype, maxShardSize: opts.maxShardSize });

  const c = model.config;
  const gen: RawConfig = model.generationConfig
    ? { ...model.generationConfig }
    : { _from_model_config: true, bos_token_id: c.bosTokenId, eos_token_id: c.eosTokenId, ...(c.padTokenId !== null ? { pad_token_id: c.padTokenId } : {}) };
  writeJson(path.join(dir, 'generation_config.json'), gen);

  const config: RawConfig = { ...model.rawConfig, ...opts.configUpdates, torch_dtype: TORCH_DTYPE[dtype] };
  if (!Array.isArray(config.architectures)) config.architectures = [model.hfClassName];
  writeJson(path.join(dir, 'config.json'), config);

  if (opts.tokenizer) await opts.tokenizer.save(dir);
}
