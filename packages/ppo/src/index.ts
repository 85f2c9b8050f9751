// Public API of @rlhfkit/ppo: DeepSpeed-Chat's step 3 (RLHF engine, PPO maths, trainer) and its critic-free variants (commands: ./cli).
export {
  actorLossFn, actorLossTensor, answerEnds, computeRewards, criticLossFn, criticLossTensor, DSCHAT_PPO, getAdvantagesAndReturns, maskedWhiten,
  movingAverage, movingAverageHost, promptLengthOf, type MatrixInput, type NamedTensors, type PpoHyperParams, type VectorInput,
} from './ppo-maths';
export {
  concatRows, floatFromRows, floatMatrix, fromTensor, intFromRows, intMatrix, matrixRows, notEqualMask, onesMask, pickRows, row, sliceCols, sliceRows,
  toTensor, type FloatMatrix, type IntMatrix,
} from './matrix';
export { concatExperience, experienceBuffer, experienceSize, MiniDataset, pickExperience, sliceExperience, type Experience } from './experience';
export { actionMaskOf, experienceStats, mergeStats, rlhfTargets, type ExperienceStats, type RlhfTargets, type TargetOptions } from './rlhf-targets';
export { buildTargets, criticFreeTargets, groupAdvantages, GRPO_EPS, type EstimatorOptions } from './estimators';
export { KlController } from './kl-controller';
export type {
  ActorRole, CriticRole, LmBatch, LogProbRole, PolicyBatch, PolicyLossSettings, RewardRole, Role, RoleMemory, RolloutSettings, UpdateResult, ValueBatch,
} from './roles';
export { assignRewardWeights, HeapMeter, LocalActor, LocalCritic, LocalReference, LocalReward, sequenceLogProbs, type LocalActorOptions } from './local-roles';
export { PPO_BETAS, RoleOptimizer, type RoleOptimizerOptions } from './role-optimizer';
export { createPpoEngine, RlhfEngine, type EngineRoles, type HeapMemory, type PpoEngine, type RlhfEngineOptions } from './engine';
// Placement (--placement colocated|per_role): each role in its own worker thread, backend and heap, behind the same interfaces.
export { decidePlacement, type PlacementDecision, type RoleEstimate } from './placement';
export { bf16WeightsFor, buildActor, buildCritic, buildReference, buildReward, ROLE_NAMES, type RoleBuildContext, type RoleName } from './role-factory';
export { RoleWorker, startWorkerEngine, WorkerRole } from './worker-roles';
export type { RoleWorkerStart, WorkerMemoryReport } from './role-worker-protocol';
export { engineMemoryLines, engineMemoryMetrics, peakRssBytes } from './memory-report';
export {
  ADVANTAGE_ESTIMATORS, FROZEN_DTYPES, numTotalIters, PLACEMENTS, PPO_DEFAULTS, PPO_RESUME_MAY_CHANGE, PPO_RESUME_MUST_MATCH, PPO_TENSORBOARD_JOB,
  resolvePpoConfig, validatePpoConfig, type AdvantageEstimator, type FrozenDtype, type Placement, type PpoConfig,
} from './config';
export {
  PpoTrainer, type ExperienceTimes, type LastGenerated, type PpoResult, type PpoTrainerOptions, type PpoTrainerSettings, type RlhfStepResult,
} from './ppo-trainer';
export { promptBatch, runPpoLoop, type PpoData, type PpoLoopOptions, type PpoLoopResult, type PpoRoundInfo } from './ppo-loop';
export { setUpPpo, trainerSettings, type PpoSetup } from './ppo-setup';
export { readUnsupervisedTexts, unsupervisedBlocks } from './unsupervised';
export { answerStats, compareActors, type AnswerStats, type CompareOptions, type CompareResult, type CompareRow, type ScoredAnswerText } from './compare';
