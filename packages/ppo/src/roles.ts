// The narrow role interfaces of step 3: what the trainer may ask of the actor, reference, critic and reward model.
//
// Roles exchange only token ids, masks and per-token numbers (host matrices), never tensors or models, so each may
// live in this heap or in another worker or process. Every method is async for that reason. Nothing here holds
// global state: two engines in one process do not interfere.
import type { FloatMatrix, IntMatrix } from './matrix';

/** Generation settings for a rollout (HF generate semantics; unset fields come from the model's generation_config). */
export interface RolloutSettings {
  /** New tokens at most (DeepSpeed-Chat: max_answer_seq_len; it passes max_length = prompt + this). */
  maxNewTokens: number;
  /** Fills finished rows (DeepSpeed-Chat passes the tokenizer's pad id). */
  padTokenId: number;
  /** Sample instead of greedy decoding; undefined keeps the model's generation_config (DeepSpeed-Chat's behaviour). */
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  /** Sampling seed of this call (reproducible, and transportable to another process). */
  seed?: number;
  /** EOS ids that end an answer; undefined keeps the actor's own, null/[] never stops early (fixed-length rollouts). */
  eosTokenId?: number | number[] | null;
  /** EOS is forbidden until this many new tokens exist. */
  minNewTokens?: number;
}

/** One micro-batch of a policy update: the sequences and the fixed targets from `start` on (W = L - 1 - start). */
export interface PolicyBatch {
  inputIds: IntMatrix;
  attentionMask: IntMatrix;
  /** P - 1: where the answer's log-probs start in the [B, L-1] per-token arrays. */
  start: number;
  /** [B, W] log-probs at generation time (the ratio's denominator). */
  oldLogprobs: FloatMatrix;
  /** [B, W] advantages. */
  advantages: FloatMatrix;
  /** [B, W] 1 on answer tokens. */
  actionMask: FloatMatrix;
  /** [B, W] reference log-probs, when the loss has a KL term (klInLoss). */
  refLogprobs?: FloatMatrix;
}

/** How the policy loss is formed (DeepSpeed-Chat's clipped surrogate, optionally with GRPO's KL term). */
export interface PolicyLossSettings {
  cliprange: number;
  /** Add coef·KL(π‖π_ref) (k3 estimator, masked mean) to the loss, as GRPO does; 0 = none (DeepSpeed-Chat). */
  klInLossCoef?: number;
}

/** One micro-batch of a value update. */
export interface ValueBatch {
  inputIds: IntMatrix;
  attentionMask: IntMatrix;
  start: number;
  /** [B, W] experience values (zeroed past each row's end). */
  oldValues: FloatMatrix;
  /** [B, W] value targets. */
  returns: FloatMatrix;
  /** [B, W] 1 on answer tokens. */
  actionMask: FloatMatrix;
}

/** A language-modelling micro-batch (DeepSpeed-Chat's unsupervised mixing: blocks of text, labels = ids). */
export interface LmBatch {
  inputIds: IntMatrix;
  attentionMask: IntMatrix;
}

/** What one backward pass (and, at an accumulation boundary, one optimizer step) reports. */
export interface UpdateResult {
  /** The micro-batch loss before the 1/accumulation scaling. */
  loss: number;
  /** True when this call completed an accumulation window and the optimizer stepped. */
  stepped: boolean;
  /** Global gradient norm before clipping, when it stepped. */
  gradNorm?: number;
  /** Learning rate the step used (first param group), when it stepped. */
  lr?: number;
}

/** Memory a role reports (bytes). */
export interface RoleMemory {
  /** Parameters (and frozen weights) held. */
  parameters: number;
  /** Optimizer state held (AdamW moments). */
  optimizer: number;
  /** The largest amount of tensor memory observed in its heap while it worked (all roles of that heap together). */
  peakTensorBytes: number;
}

/** Common to every role. */
export interface Role {
  /** 'actor' | 'reference' | 'critic' | 'reward' (for messages and metrics). */
  readonly name: string;
  /** Dropout on (training) or off, as DeepSpeed-Chat's trainer.train()/eval() toggles its engines. */
  setTraining(training: boolean): Promise<void>;
  memory(): Promise<RoleMemory>;
  dispose(): Promise<void>;
}

/** A model that gives per-token log-probs of the given sequences: the frozen reference. */
export interface LogProbRole extends Role {
  /** [B, L] ids and mask -> [B, L-1] log p(ids[t+1] | ids[..t]) (DeepSpeed-Chat's gather_log_probs of logits[:, :-1]). */
  logProbs(inputIds: IntMatrix, attentionMask: IntMatrix): Promise<FloatMatrix>;
}

/** The actor: generates, scores its own tokens, and learns from policy batches (and, optionally, plain text). */
export interface ActorRole extends LogProbRole {
  /** Left-padded prompts [B, P] and their mask -> prompt + answer [B, P + n], finished rows padded with the pad id. */
  generate(prompts: IntMatrix, promptMask: IntMatrix, settings: RolloutSettings): Promise<IntMatrix>;
  /** Forward in training mode, clipped surrogate loss, backward; steps the optimizer at each accumulation boundary. */
  trainPolicy(batch: PolicyBatch, loss: PolicyLossSettings): Promise<UpdateResult>;
  /** coef·LM loss on a text block, backward; steps at each boundary (DeepSpeed-Chat's train_unsupervised). */
  trainLm(batch: LmBatch, coef: number): Promise<UpdateResult>;
  /** DeepSpeed-Chat's moving_average(actor, actor_ema, beta) when an EMA copy is kept; false when there is none. */
  updateEma(beta: number): Promise<boolean>;
  /** Writes the final HF folders (LoRA fused): the actor into `dir`, and the EMA copy into `emaDir` if there is one. */
  saveModel(dir: string, emaDir?: string): Promise<void>;
  /** Everything to resume exactly (weights, LoRA, optimizer, schedule, RNG), into / from a checkpoint sub-folder. */
  saveState(dir: string): Promise<void>;
  loadState(dir: string): Promise<void>;
}

/** The critic: per-token values, trained on value batches. */
export interface CriticRole extends Role {
  /** [B, L] -> [B, L-1] values (forward_value(..., return_value_only=True)[:, :-1]). */
  values(inputIds: IntMatrix, attentionMask: IntMatrix): Promise<FloatMatrix>;
  trainValue(batch: ValueBatch, cliprangeValue: number): Promise<UpdateResult>;
  saveModel(dir: string): Promise<void>;
  saveState(dir: string): Promise<void>;
  loadState(dir: string): Promise<void>;
}

/** The frozen reward model. */
export interface RewardRole extends Role {
  /** [B, L] and the prompt length -> [B] end scores (forward_value(...)['chosen_end_scores']). */
  score(inputIds: IntMatrix, attentionMask: IntMatrix, promptLength: number): Promise<Float32Array>;
}
