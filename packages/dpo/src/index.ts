// Public API of @rlhfkit/dpo: DeepSpeed-Chat's DPO (step2_dpo_finetuning) as DpoConfig, DpoTrainer, the DPO maths, evaluation and CLI (commands: ./cli).
export { DPO_DEFAULTS, DPO_TENSORBOARD_JOB, referencePath, resolveDpoConfig, type DpoConfig } from './config';
export { dpoLabelMask, dpoTerms, logSigmoid, sequenceLogps, shiftedLabels, toIntMatrix, type DpoIds, type DpoInputs, type DpoSettings, type DpoTerms, type LabelMask } from './dpo-math';
export {
  computeDpoBatch, dpoTrainingLoss, makeDpoBatch, referenceLogps, type ComputeDpoOptions, type DpoBatch, type DpoBatchOptions, type DpoBatchResult,
} from './batch';
export { dpoEvalBatches, dpoEvalMetrics, evaluateDpo, formatDpoEval, type DpoEvalOptions, type DpoEvalResult } from './evaluate';
export { DPO_BETAS, DPO_RESUME_MUST_MATCH, DpoTrainer, type DpoEvalPoint, type DpoResult, type DpoTrainerOptions } from './trainer';
export { answerValence, greedyAnswers, heldOutPrompts, type AnswerOptions, type ValenceReport } from './valence';
export { recordedDpoRun, runDpoEval, type DpoEvalReport, type DpoEvalRunOptions, type RecordedDpoRun } from './run-eval';
