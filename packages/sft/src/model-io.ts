// Step 1's model folders: resumable checkpoints and the final fused HF save.
import { hasLora, loadLoraResume, loadWeightsInto, saveFused, saveLoraResume, type CausalLM, type Tokenizer } from '@rlhfkit/core-tensor';

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
 * for LoRA runs, the resume-only LoRA file, so a resume is exact.
 */
export async function saveCheckpointModel(model: CausalLM, tokenizer: Tokenizer, dir: string): Promise<void> {
  await saveFinalModel(model, tokenizer, dir);
  saveLoraResume(model, dir);
}

/** Puts a checkpoint's weights back into the model (built with the same flags, LoRA layers included). */
export function loadCheckpointModel(model: CausalLM, dir: string): void {
  loadWeightsInto(model, dir);
  loadLoraResume(model, dir);
}
