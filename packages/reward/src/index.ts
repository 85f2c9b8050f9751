// Public API of @rlhfkit/reward: DeepSpeed-Chat's step 2 (pairwise reward model) for rlhfkit (commands: ./cli).
export {
  RewardModel,
  type ForwardValueOutput, type ForwardValueTensors, type RewardBatch, type RewardForwardOutput, type RewardForwardTensors,
  type RewardIds, type RewardModelOptions, type RewardSaveOptions,
} from './reward-model';
export { emptySpan, idRows, pairIndices, scoreColumn, valueEndIndices, type HostIds, type IdRows, type PairIndices } from './pair-indices';
export { readRewardConfigBlock, rewardConfigBlock, REWARD_CONFIG_KEY, REWARD_CONFIG_VERSION, V_HEAD_KEY, type RewardConfigBlock } from './reward-config';
export {
  defaultNumPaddingAtBeginning, defaultPadTokenId, loadRewardModel, rewardLoadReport, rewardModelFromBody,
  type LoadRewardModelOptions, type RewardLoadReport, type ValueHeadInit,
} from './load';
export { rewardLoss } from './loss';
export { evalBatches, evaluateReward, type RewardEvalOptions, type RewardEvalResult } from './evaluate';
export { detectNumPaddingAtBeginning, loadRewardTokenizer, type RewardTokenizer, type RewardTokenizerOptions } from './tokenizer-setup';
export {
  formatScoredAnswer, formatScoredPair, readScoreFile, RW_EVAL_EXAMPLES, scoreAnswers, scorePairs,
  type AnswerToScore, type PairToScore, type ScoredAnswer, type ScoredPair, type ScoreOptions,
} from './score';
export { REWARD_DEFAULTS, resolveRewardConfig, validateRewardConfig, type RewardConfig } from './config';
export { RewardTrainer, type RewardTrainerOptions, type RewardTrainResult } from './trainer';
export { rewardModelFromLoadedBody } from './load';
export { afinnReport, heldOutPairs, pearson, ranks, spearman, type AfinnReport } from './afinn-report';
