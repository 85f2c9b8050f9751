// Step 1's data: DeepSpeed-Chat's phase-1 datasets, batches of prompt+answer ids with labels, and the causal-LM loss of a batch.
import * as tf from '@tensorflow/tfjs';
import { causalLmLoss, type CausalLM } from '@rlhfkit/core-tensor';
import { collatePhase1, createStepDatasets, type Phase1Batch, type Phase1Item, type StepDatasets, type TokenizerLike } from '@rlhfkit/data';
import type { SftConfig } from './config';

/** The train and eval rows of step 1, as create_prompt_dataset builds them (end-of-conversation = the tokenizer's eos). */
export function loadSftDatasets(config: SftConfig, tokenizer: TokenizerLike, log: (line: string) => void): Promise<StepDatasets<Phase1Item>> {
  return createStepDatasets({
    phase: 1,
    dataPath: config.dataPath,
    dataSplit: config.dataSplit,
    seed: config.seed,
    sftOnlyDataPath: config.sftOnlyDataPath,
    dataDir: config.dataDir,
    tokenizer,
    tokenizerName: config.modelNameOrPath,
    maxSeqLen: config.maxSeqLen,
    maskPrompt: config.maskPrompt,
    dataOutputPath: config.dataOutputPath || undefined,
    log,
  });
}

/** Right-padded ids, mask and labels (-100 at padding, and at the prompt with maskPrompt). */
export function sftBatch(items: readonly Phase1Item[], config: Pick<SftConfig, 'maxSeqLen' | 'padTo' | 'maskPrompt'>, padTokenId: number | undefined): Phase1Batch {
  return collatePhase1(items, { padTokenId, maxSeqLen: config.maxSeqLen, padTo: config.padTo, maskPrompt: config.maskPrompt });
}


/** HF's causal-LM loss of one batch (model(**batch).loss); call inside tf.tidy or variableGrads. */
export function sftLoss(model: CausalLM, batch: Phase1Batch): tf.Scalar {
  const ids = tf.tensor2d(batch.inputIds.data, batch.inputIds.shape, 'int32');
  const mask = tf.tensor2d(batch.attentionMask.data, batch.attentionMask.shape, 'int32');
  const logits = model.forward({ inputIds: ids, attentionMask: mask });
  return causalLmLoss(logits, tf.tensor2d(batch.labels.data, batch.labels.shape, 'int32'));
}

/** The eval set in order, batch by batch (DeepSpeed-Chat's SequentialSampler). */
export function* evalBatches(items: readonly Phase1Item[], batchSize: number, config: Pick<SftConfig, 'maxSeqLen' | 'padTo' | 'maskPrompt'>, padTokenId: number | undefined): Generator<Phase1Batch> {
  for (let i = 0; i < items.length; i += batchSize) yield sftBatch(items.slice(i, i + batchSize), config, padTokenId);
}
