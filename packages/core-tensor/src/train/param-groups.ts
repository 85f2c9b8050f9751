// DeepSpeed-Chat's optimizer parameter grouping (dschat/utils/utils.py get_optimizer_grouped_parameters).
import type { ParamGroupSpec } from './adamw';

/** Substrings that put a parameter in the no-decay group (matched against the lower-cased name). */
export const DSCHAT_NO_DECAY_NAMES: readonly string[] = Object.freeze([
  'bias', 'layer_norm.weight', 'layernorm.weight', 'norm.weight', 'ln_f.weight',
]);

/** Substrings that mark LoRA parameters (DeepSpeed-Chat's LinearLayer_LoRA names). */
export const DSCHAT_LORA_NAMES: readonly string[] = Object.freeze(['lora_right_weight', 'lora_left_weight']);

export interface GroupingOptions {
  /** Learning rate of the LoRA group (DeepSpeed-Chat's `--lora_learning_rate`; its function default is 5e-4). */
  loraLr?: number;
  noDecayNameList?: readonly string[];
  loraNameList?: readonly string[];
}

/**
 * Splits trainable parameter names into DeepSpeed-Chat's three groups, dropping empty ones, in its order:
 *  1. decayed, non-LoRA: `weightDecay`, the optimizer's lr;
 *  2. decayed LoRA: `weightDecay`, lr = `loraLr`;
 *  3. no-decay (any name containing a no-decay substring, LoRA or not): weight decay 0, the optimizer's lr.
 * Pass only trainable names (DeepSpeed-Chat filters on requires_grad). Matching is a substring test on the
 * lower-cased name, so GPT-2's `ln_1.weight` / `ln_2.weight` are decayed exactly as in DeepSpeed-Chat.
 */
export function getOptimizerGroupedParameters(names: readonly string[], weightDecay: number, options: GroupingOptions = {}): ParamGroupSpec[] {
  const loraLr = options.loraLr ?? 5e-4;
  const noDecay = options.noDecayNameList ?? DSCHAT_NO_DECAY_NAMES;
  const lora = options.loraNameList ?? DSCHAT_LORA_NAMES;
  const has = (name: string, list: readonly string[]): boolean => {
    const lower = name.toLowerCase();
    return list.some((s) => lower.includes(s));
  };
  const decayed = names.filter((n) => !has(n, noDecay) && !has(n, lora));
  const decayedLora = names.filter((n) => !has(n, noDecay) && has(n, lora));
  const notDecayed = names.filter((n) => has(n, noDecay));
  const groups: ParamGroupSpec[] = [
    { params: decayed, weightDecay },
    { params: decayedLora, weightDecay, lr: loraLr },
    { params: notDecayed, weightDecay: 0 },
  ];
  return groups.filter((g) => g.params.length > 0);
}
