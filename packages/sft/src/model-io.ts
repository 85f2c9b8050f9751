// Step 1's model plumbing: LoRA and gradient checkpointing set-up, resumable checkpoint folders, and the final fused HF save.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  assignWeights, convertLinearLayerToLora, enableGradientCheckpointing, hasLora, loadLoraStateDict, loadWeightsInto, loraLayers,
  loraStateDict, onlyOptimizeLoraParameters, readSafetensors, saveFused, writeSafetensors, type CausalLM, type StateDict, type Tokenizer,
} from '@rlhfkit/core-tensor';
import type { SftConfig } from './config';

/** Resume-only tensors of a LoRA run: unfused base weights of the LoRA layers plus the LoRA factors. */
export const LORA_RESUME_FILE = 'lora_resume.safetensors';

/** DeepSpeed-Chat's convert_linear_layer_to_lora (+ only_optimize_lora_parameters with --only_optimize_lora). */
export function applyLora(model: CausalLM, config: Pick<SftConfig, 'loraDim' | 'loraModuleName' | 'onlyOptimizeLora' | 'seed'>, log: (line: string) => void): void {
  const made = convertLinearLayerToLora(model, { loraModuleName: config.loraModuleName, loraDim: config.loraDim, seed: config.seed });
  if (config.onlyOptimizeLora) onlyOptimizeLoraParameters(model);
  const trainable = [...model.trainableParameters().values()].reduce((n, v) => n + v.size, 0);
  log(`LoRA r=${config.loraDim} on ${made.size} linear layers matching '${config.loraModuleName}'; ${trainable} trainable parameters${config.onlyOptimizeLora ? ' (LoRA only)' : ''}`);
}

/** --gradient_checkpointing: recompute each decoder layer in the backward pass. */
export function setUpGradientCheckpointing(model: CausalLM, log: (line: string) => void): void {
  enableGradientCheckpointing(model);
  log(`gradient checkpointing: the ${model.layers.length} decoder layers are recomputed in the backward pass`);
}

/**
 * The final HF folder (DeepSpeed-Chat's convert_lora_to_linear_layer + save_hf_format): LoRA fused into the weights,
 * no LoRA tensors, tokenizer files, config.json and generation_config.json. The model itself is left as it was.
 */
export async function saveFinalModel(model: CausalLM, tokenizer: Tokenizer, dir: string): Promise<void> {
  if (hasLora(model)) await saveFused(model, dir, { tokenizer });
  else await model.save(dir, { tokenizer });
}

/**
 * A checkpoint's model: the same HF folder as the final save (so loadPretrained gives the trained model), plus,
 * for LoRA runs, the unfused base weights of the LoRA layers and the LoRA factors, so a resume is exact.
 */
export async function saveCheckpointModel(model: CausalLM, tokenizer: Tokenizer, dir: string): Promise<void> {
  await saveFinalModel(model, tokenizer, dir);
  if (!hasLora(model)) return;
  const sd = model.stateDict();
  const resume: StateDict = loraStateDict(model);
  for (const name of loraLayers(model).keys()) {
    const key = `${name}.weight`;
    const t = sd.get(key);
    if (t) resume.set(key, t);
  }
  writeSafetensors(path.join(dir, LORA_RESUME_FILE), resume, { format: 'rlhfkit-lora-resume' });
}

/** Puts a checkpoint's weights back into the model (built with the same flags, LoRA layers included). */
export function loadCheckpointModel(model: CausalLM, dir: string): void {
  loadWeightsInto(model, dir);
  if (!hasLora(model)) return;
  const file = path.join(dir, LORA_RESUME_FILE);
  if (!fs.existsSync(file)) {
    throw new Error(`${dir}: no ${LORA_RESUME_FILE}, so this checkpoint is not from a LoRA run; resume it without --lora_dim, or start fresh`);
  }
  const sd = readSafetensors(file);
  // The HF file holds fused weights; the LoRA layers get their unfused base back, then their factors.
  assignWeights(model, sd, file, { partial: true });
  loadLoraStateDict(model, sd, file);
}
