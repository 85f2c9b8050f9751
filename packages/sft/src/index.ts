// Public API of @rlhfkit/sft: DeepSpeed-Chat step 1 (supervised fine-tuning) as SftConfig, SftTrainer, prompt evaluation and CLI (commands: ./cli).
export { resolveSftConfig, SFT_DEFAULTS, SFT_TENSORBOARD_JOB, type SftConfig } from './config';
export { evalBatches, loadSftDatasets, sftBatch, sftLoss } from './data';
export { loadCheckpointModel, saveCheckpointModel, saveFinalModel } from './model-io';
export { SFT_BETAS, SFT_RESUME_MUST_MATCH, SftTrainer, type SftResult, type SftTrainerOptions } from './trainer';
export { answer, formatBlocks, formatColumns, resolvePrompts, runPromptEval, wrap, type PromptEvalOptions, type PromptEvalRow } from './prompt-eval';
export { BUILTIN_PROMPTS, PROMPT_LANGUAGES, readPromptsFile, type PromptLanguage } from './prompts';
