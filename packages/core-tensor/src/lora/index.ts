// LoRA with DeepSpeed-Chat's semantics: adapters on linear layers, freezing, fuse/unfuse, state and fused save.
export { LoraAdapter, LORA_LEFT, LORA_RIGHT, kaimingUniform, kaimingUniformBound, type LoraHost, type LoraLayerOptions } from './lora-adapter';
export {
  convertLinearLayerToLora, convertLoraToLinearLayer, fuseLora, hasLora, loraLayers, loraParameters, onlyOptimizeLoraParameters, unfuseLora, withLoraFused,
  type LoraOptions,
} from './convert';
export { fusedStateDict, loadLoraStateDict, loraStateDict, saveFused } from './state';
