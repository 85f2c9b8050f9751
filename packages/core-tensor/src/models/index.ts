// Public surface of the model zoo.
export * from './types';
export * from './config';
export { CausalLM, type BuildOptions, type ForwardOptions, type OutputsOptions } from './causal-lm';
export { OptForCausalLM, optArchitecture } from './opt';
export { LlamaForCausalLM, llamaArchitecture } from './llama';
export { Gpt2LMHeadModel, gpt2Architecture } from './gpt2';
export { registerArchitecture, getArchitecture, parseModelConfig, supportedModelTypes, type Architecture } from './registry';
export { loadPretrained, createModelFromConfig, CheckpointSource, readModelConfigs, type LoadOptions, type CreateModelOptions } from './load';
export { saveModel, type SaveOptions } from './save';
export { COMPANION_KEYS, reportUnusedKeys, summarizeKeys, type UnusedKeysOptions } from './unused-keys';
export { causalLmLoss, gatherLogProbs, IGNORE_INDEX } from './loss';
export { KVCache } from './kv-cache';
export { Linear, type LinearAdapter, type HfLinearLayout } from './linear';
export { LayerNorm, RMSNorm } from './norms';
export { Embedding } from './embedding';
export { getActivation, type Activation } from './activations';
export { attention, splitHeads, mergeHeads, type AttentionOptions } from './attention';
export { MASK_NEG } from './masks';
export { RotaryEmbedding, applyRotary, ropeInverseFrequencies, ropeTables } from './rope';
export { RandomWeightSource, ParamStore, transpose2d, type WeightSource, type ParamKind, type ParamEntry, type Bf16Entry, type Bf16Selector } from './params';
// Frozen weights held as bfloat16 outside the tensor heap (--frozen_dtype bf16), and the products that widen them as they pack.
export { Bf16Matrix, bf16MatMul, bf16ProductsNative } from '../backend/bf16-weights';
export { ModuleFactory } from './factory';
