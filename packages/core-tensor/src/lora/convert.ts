// Model-level LoRA with DeepSpeed-Chat's rules: which layers get wrapped, what is frozen, fuse/unfuse/convert back.
import type * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '../models/causal-lm';
import type { Linear } from '../models/linear';
import { Rng } from '../rng';
import { LORA_LEFT, LORA_RIGHT, LoraAdapter, type LoraLayerOptions } from './lora-adapter';

export interface LoraOptions extends LoraLayerOptions {
  /**
   * Wrap every linear layer whose HF module name contains this substring (DeepSpeed-Chat's `--lora_module_name`;
   * its step-1 default `decoder.layers.` selects OPT's decoder blocks and never the lm_head).
   */
  loraModuleName: string;
  /**
   * Also wrap GPT-2's Conv1D layers (default true). DeepSpeed-Chat only wraps nn.Linear, so on GPT-2 it wraps no
   * block layer at all; PEFT does wrap c_attn/c_proj/c_fc. In rlhfkit a Conv1D is the same [in, out] Linear, so
   * the maths is identical; pass false to reproduce DeepSpeed-Chat's nn.Linear-only selection exactly.
   */
  includeConv1d?: boolean;
  /** Draws lora_right_weight (default: a fresh Rng(seed)). DeepSpeed-Chat draws from torch's global seed. */
  rng?: Rng;
  /** Seed for the default init RNG (default 0). */
  seed?: number;
}

/** The LoRA adapter of every wrapped linear layer, by HF module name. */
export function loraLayers(model: CausalLM): Map<string, LoraAdapter> {
  const out = new Map<string, LoraAdapter>();
  for (const [name, lin] of model.linearLayers()) if (lin.adapter instanceof LoraAdapter) out.set(name, lin.adapter);
  return out;
}

/** true when at least one layer carries a LoRA adapter. */
export function hasLora(model: CausalLM): boolean {
  return loraLayers(model).size > 0;
}

/** LoRA variables as `<module>.lora_right_weight` / `<module>.lora_left_weight` (also in model.namedParameters()). */
export function loraParameters(model: CausalLM): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [name, a] of loraLayers(model)) {
    out.set(`${name}.${LORA_RIGHT}`, a.right);
    out.set(`${name}.${LORA_LEFT}`, a.left);
  }
  return out;
}

/**
 * DeepSpeed-Chat's convert_linear_layer_to_lora: every linear layer whose name contains `loraModuleName` gets a
 * LoRA adapter (R [in, r] kaiming-uniform, L [r, out] zeros, scale loraScaling/loraDim) and its base weight is
 * frozen (trainable = false). As in DeepSpeed-Chat the bias keeps its trainable flag and every other parameter is
 * untouched; call onlyOptimizeLoraParameters to train LoRA alone. Layers already wrapped are skipped (DeepSpeed-Chat
 * only matches plain nn.Linear). A tied LM head is the embedding matrix, not a Linear, so it is never wrapped
 * (DeepSpeed-Chat would wrap it and thereby freeze and fuse into the shared embedding). Returns the new adapters.
 */
export function convertLinearLayerToLora(model: CausalLM, opts: LoraOptions): Map<string, LoraAdapter> {
  const part = opts.loraModuleName;
  if (typeof part !== 'string') throw new TypeError('convertLinearLayerToLora: loraModuleName (--lora_module_name) must be a string');
  const includeConv1d = opts.includeConv1d ?? true;
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const linears = model.linearLayers();
  const chosen: Linear[] = [];
  for (const [name, lin] of linears) {
    if (!name.includes(part) || (!includeConv1d && lin.hfLayout === 'conv1d')) continue;
    if (lin.adapter instanceof LoraAdapter) continue;
    if (lin.adapter) throw new Error(`convertLinearLayerToLora: ${name} already has a non-LoRA adapter; remove it first (layer.adapter = null)`);
    chosen.push(lin);
  }
  if (chosen.length === 0 && !hasLora(model)) {
    const sample = [...linears.keys()].slice(0, 4).join(', ');
    throw new Error(
      `--lora_module_name '${part}': no linear layer name of this ${model.hfClassName} contains '${part}'` +
        `${includeConv1d ? '' : ' among nn.Linear layers (Conv1D excluded)'}; names look like: ${sample}. ` +
        `Use e.g. 'decoder.layers.' for OPT, 'layers.' for LLaMA, 'h.' for GPT-2.`,
    );
  }
  const made = new Map<string, LoraAdapter>();
  for (const lin of chosen) {
    const adapter = new LoraAdapter(lin, opts, model, rng);
    lin.adapter = adapter;
    if (lin.weight16 == null) lin.weight.trainable = false; // a bf16 weight is frozen by construction
    made.set(lin.name, adapter);
  }
  return made;
}

/**
 * DeepSpeed-Chat's only_optimize_lora_parameters: LoRA variables trainable, everything else frozen, except names
 * listed in `forceOptimizeParams` (exact HF names, e.g. a reward model's extra head handled by the caller).
 */
export function onlyOptimizeLoraParameters(model: CausalLM, forceOptimizeParams: readonly string[] = []): void {
  const force = new Set(forceOptimizeParams);
  model.setTrainable((name) => name.includes(LORA_RIGHT) || name.includes(LORA_LEFT) || force.has(name));
}

/** Folds every LoRA product into its base weight (idempotent per layer); forward then runs the plain layers. */
export function fuseLora(model: CausalLM, opts: { exact?: boolean } = {}): void {
  for (const a of loraLayers(model).values()) a.fuse(opts);
}

/**
 * Runs `fn` with every LoRA product folded into its weight (DeepSpeed's hybrid engine for generation), then puts the
 * base weights back exactly as they were; layers already fused stay fused.
 */
export async function withLoraFused<T>(model: CausalLM, fn: () => Promise<T>): Promise<T> {
  // A frozen bfloat16 base cannot take the product in place; those layers run their LoRA branch unfused.
  const layers = [...loraLayers(model).values()].filter((a) => !a.fused && a.layer.weight16 == null);
  try {
    for (const a of layers) a.fuse({ exact: true });
    return await fn();
  } finally {
    for (const a of layers) a.unfuse();
  }
}

/** Undoes fuseLora (idempotent per layer); forward runs the LoRA branch again. */
export function unfuseLora(model: CausalLM): void {
  for (const a of loraLayers(model).values()) a.unfuse();
}

/**
 * What DeepSpeed-Chat does before saving (convert_lora_to_linear_layer): fuse every LoRA layer. rlhfkit also
 * removes the adapters and disposes their variables, so the model is plain again; frozen base weights stay frozen.
 * Drop the LoRA variables from any optimizer first. Returns the names of the layers converted.
 */
export function convertLoraToLinearLayer(model: CausalLM): string[] {
  const names: string[] = [];
  for (const [name, a] of loraLayers(model)) {
    a.fuse();
    a.layer.adapter = null;
    a.dispose();
    names.push(name);
  }
  return names;
}
