// Everything step 3 needs before its loop, as DeepSpeed-Chat's main.py prepares it: config, tokenizer, prompt and text data, engine.
import { defaultCommunicator, loadTrainingTokenizer, type Tokenizer } from '@rlhfkit/core-tensor';
import { createStepDatasets } from '@rlhfkit/data';
import { numTotalIters, resolvePpoConfig, type PpoConfig } from './config';
import { createPpoEngine, type PpoEngine } from './engine';
import type { PpoData } from './ppo-loop';
import type { PpoTrainerSettings } from './ppo-trainer';
import { readUnsupervisedTexts, unsupervisedBlocks } from './unsupervised';

export interface PpoSetup {
  config: PpoConfig;
  tokenizer: Tokenizer;
  /** The roles, colocated (RlhfEngine) or each in its own worker (--placement). */
  engine: PpoEngine;
  settings: PpoTrainerSettings;
  data: PpoData;
  /** The schedule length of both engines (DeepSpeed-Chat's num_total_iters). */
  numTotalIters: number;
}

function eosIds(v: number | number[] | null): number[] {
  return v === null ? [] : Array.isArray(v) ? v : [v];
}

/** The trainer's settings from the config and the engine's actor (its eos ids and model type). */
export function trainerSettings(c: PpoConfig, engine: Pick<PpoEngine, 'actorConfig'>, tokenizer: Tokenizer, log: (l: string) => void): PpoTrainerSettings {
  const pad = tokenizer.padTokenId;
  if (pad === undefined) throw new Error(`${c.actorModelNameOrPath}: the tokenizer has no pad token`);
  const actorConfig = engine.actorConfig;
  // DeepSpeed-Chat forces greedy decoding for LLaMA (a sampling NaN of Llama-2's generation_config); elsewhere generate
  // follows the model's generation_config (greedy for OPT) unless --do_sample says otherwise.
  const doSample = c.doSample ?? (actorConfig.modelType === 'llama' ? false : undefined);
  return {
    padTokenId: pad,
    eosTokenIds: eosIds(actorConfig.eosTokenId),
    maxAnswerSeqLen: c.maxAnswerSeqLen,
    sampling: {
      doSample,
      temperature: c.temperature ?? undefined,
      topK: c.topK ?? undefined,
      topP: c.topP ?? undefined,
      repetitionPenalty: c.repetitionPenalty ?? undefined,
    },
    hyper: { klCtl: c.klCtl, clipRewardValue: c.clipRewardValue, cliprange: c.cliprange, cliprangeValue: c.cliprangeValue, gamma: c.gamma, lam: c.lam },
    klTarget: c.klTarget,
    klHorizon: c.klHorizon,
    estimator: c.advantageEstimator,
    samplesPerPrompt: c.nSamplesPerPrompt,
    klInLoss: c.klInLoss,
    whitenRewards: c.whitenRewards,
    whitenAdvantages: c.whitenAdvantages,
    eosPenalty: c.eosPenalty,
    seed: c.seed,
    printAnswers: c.printAnswers ? { interval: c.printAnswersInterval, decode: (rows) => tokenizer.decodeBatch(rows, { skipSpecialTokens: true }) } : null,
    log,
  };
}

/**
 * Config resolved and checked, the actor's tokenizer (pad = eos as DeepSpeed-Chat; LLaMA gets [PAD]), the phase-3 prompts
 * (and the unsupervised blocks), num_total_iters, and the engine with every role. The first model load starts the default
 * backend unless initBackend chose one.
 */
export async function setUpPpo(partial: Partial<PpoConfig>, log: (l: string) => void): Promise<PpoSetup> {
  const c = resolvePpoConfig(partial);
  const tokenizer = await loadTrainingTokenizer(c.actorModelNameOrPath, { addEotToken: c.addEotToken, eotToken: c.eotToken });
  const ds = await createStepDatasets({
    phase: 3,
    dataPath: c.dataPath,
    dataSplit: c.dataSplit,
    dataDir: c.dataDir,
    seed: c.seed,
    tokenizer,
    tokenizerName: c.actorModelNameOrPath,
    maxSeqLen: c.maxPromptSeqLen,
    dataOutputPath: c.dataOutputPath || undefined,
    log,
  });
  if (ds.train.length === 0) throw new Error(`step 3 has no prompts from dataPath (--data_path) ${c.dataPath.join(' ')} with dataSplit (--data_split) ${c.dataSplit}; check the data and the split`);
  let unsup = null;
  if (c.unsupervisedDatasetName) {
    const { texts, source } = await readUnsupervisedTexts(c.unsupervisedDatasetName, c.unsupervisedDatasetConfigName);
    unsup = await unsupervisedBlocks(texts, tokenizer, c.maxPromptSeqLen + c.maxAnswerSeqLen);
    log(`unsupervised data: ${texts.length} texts from ${source} -> ${unsup.shape[0]} blocks of ${unsup.shape[1]} tokens (--unsup_coef ${c.unsupCoef})`);
  }
  // Per rank, as DeepSpeed-Chat's len(prompt_train_dataloader) under its DistributedSampler (padded to a multiple of the ranks).
  const world = defaultCommunicator().size;
  const promptBatches = Math.ceil(Math.ceil(ds.train.length / world) / c.perDeviceGenerationBatchSize);
  const unsupBatches = unsup ? Math.ceil(Math.ceil(unsup.shape[0] / world) / c.perDeviceGenerationBatchSize) : null;
  const iters = numTotalIters(c, promptBatches, unsupBatches);
  const engine = await createPpoEngine(c, { tokenizer, numTotalIters: iters, unsupervised: unsup !== null, log });
  try {
    // Learned position tables (OPT, GPT-2) end at max_position_embeddings; rotary positions (LLaMA) do not.
    const ac = engine.actorConfig;
    const maxPos = ac.maxPositions;
    if (ac.modelType !== 'llama' && c.maxPromptSeqLen + c.maxAnswerSeqLen > maxPos) {
      throw new Error(
        `--max_prompt_seq_len ${c.maxPromptSeqLen} + --max_answer_seq_len ${c.maxAnswerSeqLen} = ${c.maxPromptSeqLen + c.maxAnswerSeqLen} tokens, ` +
          `more than the actor's max_position_embeddings ${maxPos}; lower them so that their sum is at most ${maxPos}`,
      );
    }
    return { config: c, tokenizer, engine, settings: trainerSettings(c, engine, tokenizer, log), data: { prompts: ds.train, unsup }, numTotalIters: iters };
  } catch (e) {
    await engine.dispose();
    throw e;
  }
}
