// The model-side training flags every step applies the same way (--lora_dim, --only_optimize_lora, --gradient_checkpointing) and a LoRA run's resume file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { enableGradientCheckpointing } from '../checkpointing/gradient-checkpointing';
import type { TensorToWrite } from '../io/host-tensor';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { convertLinearLayerToLora, hasLora, loraLayers, onlyOptimizeLoraParameters } from '../lora/convert';
import { loadLoraStateDict, loraStateDict } from '../lora/state';
import type { CausalLM } from '../models/causal-lm';
import { assignWeights } from './model-setup';

export interface LoraFlags {
  loraDim: number;
  loraModuleName: string;
  onlyOptimizeLora: boolean;
  seed: number;
}

/** DeepSpeed-Chat's convert_linear_layer_to_lora (+ only_optimize_lora_parameters with --only_optimize_lora). */
export function applyLora(model: CausalLM, flags: LoraFlags, log: (line: string) => void): void {
  const made = convertLinearLayerToLora(model, { loraModuleName: flags.loraModuleName, loraDim: flags.loraDim, seed: flags.seed });
  if (flags.onlyOptimizeLora) onlyOptimizeLoraParameters(model);
  const trainable = [...model.trainableParameters().values()].reduce((n, v) => n + v.size, 0);
  log(`LoRA r=${flags.loraDim} on ${made.size} linear layers matching '${flags.loraModuleName}'; ${trainable} trainable parameters${flags.onlyOptimizeLora ? ' (LoRA only)' : ''}`);
}

/** --gradient_checkpointing: recompute each decoder layer in the backward pass. */
export function setUpGradientCheckpointing(model: CausalLM, log: (line: string) => void): void {
  enableGradientCheckpointing(model);
  log(`gradient checkpointing: the ${model.layers.length} decoder layers are recomputed in the backward pass`);
}

/** Written beside a checkpoint's HF weights, which hold LoRA fused (so loadPretrained gives the trained model). */
export const LORA_RESUME_FILE = 'lora_resume.safetensors';

/** Writes LORA_RESUME_FILE into a checkpoint folder, so a resume is exact; does nothing for a model without LoRA. */
export function saveLoraResume(model: CausalLM, dir: string): void {
  if (!hasLora(model)) return;
  // Each base weight is read when written (one host copy at a time); frozen bf16 bases never change, so they are left out.
  const sd = model.tensorsToWrite();
  const resume = new Map<string, TensorToWrite>(loraStateDict(model));
  for (const [name, a] of loraLayers(model)) {
    const key = `${name}.weight`;
    const t = sd.get(key);
    if (t && a.layer.weight16 == null) resume.set(key, t);
  }
  writeSafetensors(path.join(dir, LORA_RESUME_FILE), resume, { format: 'rlhfkit-lora-resume' });
}

/**
 * After a checkpoint's fused HF weights were loaded into a model built with the same LoRA flags: puts the LoRA
 * layers' unfused base weights back, then their factors. Does nothing for a model without LoRA.
 */
export function loadLoraResume(model: CausalLM, dir: string): void {
  if (!hasLora(model)) return;
  const file = path.join(dir, LORA_RESUME_FILE);
  if (!fs.existsSync(file)) {
    throw new Error(`${dir}: no ${LORA_RESUME_FILE}, so this checkpoint is not from a LoRA run; resume it without --lora_dim, or start fresh`);
  }
  const sd = readSafetensors(file);
  assignWeights(model, sd, file, { partial: true });
  loadLoraStateDict(model, sd, file);
}
