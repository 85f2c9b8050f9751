// model_type -> architecture: adding an architecture is one file plus one line in BUILTIN below.
import type { CausalLM, BuildOptions } from './causal-lm';
import { ConfigError, type BaseLmConfig, type ModelConfig, type RawConfig } from './config';
import { gpt2Architecture } from './gpt2';
import { llamaArchitecture } from './llama';
import { optArchitecture } from './opt';
import type { WeightSource } from './params';

export interface Architecture<C extends BaseLmConfig = BaseLmConfig> {
  /** config.json `model_type`. */
  modelType: string;
  /** HF causal-LM class, written to config.json `architectures`. */
  hfClassName: string;
  /** HF base_model_prefix plus a dot (`model.`, `transformer.`). */
  basePrefix: string;
  /** Full name of the token embedding; it locates how a checkpoint prefixes its keys. */
  embeddingKey: string;
  parseConfig(raw: RawConfig, file: string): C;
  build(config: C, source: WeightSource, opts: BuildOptions): CausalLM;
}

const BUILTIN: Architecture<ModelConfig>[] = [
  optArchitecture as Architecture<ModelConfig>,
  llamaArchitecture as Architecture<ModelConfig>,
  gpt2Architecture as Architecture<ModelConfig>,
];

const registry = new Map<string, Architecture>();
for (const a of BUILTIN) registry.set(a.modelType, a as unknown as Architecture);

/** Adds (or replaces) an architecture at run time, e.g. from a plugin package. */
export function registerArchitecture<C extends BaseLmConfig>(arch: Architecture<C>): void {
  registry.set(arch.modelType, arch as unknown as Architecture);
}

export function supportedModelTypes(): string[] {
  return [...registry.keys()];
}

/** The architecture for a config.json; an unknown or missing model_type is a ConfigError naming the file. */
export function getArchitecture(raw: RawConfig, file: string): Architecture {
  const type = raw.model_type;
  if (typeof type !== 'string') {
    throw new ConfigError(`${file}: key 'model_type' is missing or not a string; rlhfkit supports: ${supportedModelTypes().join(', ')}`);
  }
  const arch = registry.get(type);
  if (!arch) {
    throw new ConfigError(
      `${file}: model_type '${type}' is not supported; rlhfkit supports: ${supportedModelTypes().join(', ')}. ` +
        'Use a checkpoint of a supported architecture or add one with registerArchitecture()',
    );
  }
  return arch;
}

/** Parses a config.json object into its typed config. */
export function parseModelConfig(raw: RawConfig, file = 'config.json'): ModelConfig {
  return getArchitecture(raw, file).parseConfig(raw, file) as ModelConfig;
}
