// Public API of @rlhfkit/core-tensor (the library). Commands and flag machinery: ./cli; rlhfkit's own internals: ./internals.
export const VERSION = '0.1.0';
// Backends: choose and start one (node-gpu > node > wasm > cpu); the library starts the default on first use.
export * from './backend';
// Checkpoint IO (safetensors, torch .bin, sharding) and hub-cache resolution.
export {
  CheckpointError, type HostTensor, type SafetensorsDtype, type StateDict, type TensorToWrite, type WritableDtype,
} from './io/host-tensor';
export {
  parseSafetensors, parseSafetensorsHeader, readSafetensors, readSafetensorsHeader, readSafetensorsHeaderFull,
  safetensorsDataSize, serializeSafetensors, writeSafetensors, type SafetensorsEntry, type SafetensorsHeader,
} from './io/safetensors';
export {
  DEFAULT_MAX_SHARD_SIZE, parseShardSize, planShards, readShardedCheckpoint, readShardIndex, shardFileName,
  writeShardedSafetensors, type SaveShardedOptions, type SaveShardedResult, type ShardIndex,
} from './io/sharding';
export { lineColumnAt, readJsonFile, type ReadJsonOptions } from './io/file-io';
// Temp files that name their writer's pid: tracked while in flight (removed at exit), a dead process's removed by the next run.
export {
  inFlightTemps, isProcessAlive, removeInFlightTemps, removeTempsIn, tempOwner, tempPathFor, trackTemp, type TempScan,
} from './io/temp-files';
export { readTorchBin } from './io/torch-bin';
export {
  findWeightsFile, loadStateDict, saveStateDict, WEIGHT_FILES, type LoadStateDictOptions, type SaveStateDictOptions, type WeightFile,
} from './io/checkpoint';
export {
  datasetsCacheDir, findHubSnapshot, hfHomeDir, hubCacheDir, hubRepoFolderName, resolveDatasetDir, resolveHubDir, resolveModelDir, ResolveError,
  type HubKind,
} from './io/resolve';
// Training primitives (AdamW, param groups, LR schedules, clipping, accumulation), seeded RNG, metrics.
export * from './train';
export * from './rng';
export * from './metrics';
// Tokenizers (HF tokenizer.json / vocab.json + merges.txt through the `tokenizers` binding).
export {
  Tokenizer, type BatchEncoding, type DecodeOptions, type EncodeBatchOptions, type EncodeOptions, type Side as TokenizerSide,
  type TokenizerSource,
} from './tokenizer/tokenizer';
export { gpt2Tokenizer, loadTokenizer, tokenizerFromBpeFiles, tokenizerFromJson, type LoadTokenizerOptions } from './tokenizer/load';
export { readTokenizerSettings, tokenContent, TokenizerError, type AddedTokenSpec, type TokenizerSettings } from './tokenizer/config';
export { byteLevelBpeJson, templatePostProcessorJson, readMergesTxt, readVocabJson, type TokenizerJson, type AddedTokenJson } from './tokenizer/bpe-json';
export { saveTokenizer } from './tokenizer/save';
// Model zoo (OPT, LLaMA, GPT-2 with HF parity): loadPretrained, CausalLM, configs, loss; KV-cache generation.
export * from './models';
export * from './generation';
// LoRA (DeepSpeed-Chat semantics) and gradient checkpointing (recompute decoder layers in backward).
export * from './lora';
export * from './checkpointing';
// Training runs: DeepSpeed-Chat flags, the shared step loop, resumable checkpoints, model set-up for training.
export * from './run';
// Data parallelism: the communicator (one process, or Open MPI under mpirun), gradient averaging, ZeRO 1/2, mpirun launching.
export * from './dist';
// The functions behind `rlhfkit generate` and `rlhfkit plot` (the commands themselves: @rlhfkit/core-tensor/cli).
export { formatGenerateResults, generationFromArgs, parsePromptIds, runGenerate, type GenerateCliArgs, type GenerateCliResult } from './cli-generate';
export { plotMetricsFile, splitKeys, type PlotMetricsOptions, type PlotMetricsResult } from './cli-plot';
