// Tensors a checkpoint holds that its config.json does not use: a warning naming them (as transformers warns), an error with --strict.
import { CheckpointError } from '../io/host-tensor';
import type { CausalLM } from './causal-lm';

/** Tensors a model folder may carry beside the model's own (a reward model's value head): never reported. */
export const COMPANION_KEYS: readonly RegExp[] = [/(^|\.)v_head\.weight$/];

export interface UnusedKeysOptions {
  /** An error instead of a warning (`--strict`). */
  strict?: boolean;
  /** Where the warning goes (default: stderr). */
  warn?: (line: string) => void;
  /** The model was loaded without its LM head (reward model, critic): an untied lm_head.weight is expected to stay unused. */
  bodyOnly?: boolean;
}

/** `model.decoder.layers.1.fc1.weight` x16 -> `model.decoder.layers.1.* (16 tensors)`; at most six groups, then a count. */
export function summarizeKeys(keys: readonly string[]): string {
  const groups = new Map<string, number>();
  for (const k of keys) {
    const m = /^(.*?\b(?:layers|h|blocks)\.\d+)\./.exec(k);
    const g = m ? `${m[1]}.*` : k;
    groups.set(g, (groups.get(g) ?? 0) + 1);
  }
  const parts = [...groups].map(([g, n]) => (g.endsWith('.*') ? `${g} (${n} tensor${n === 1 ? '' : 's'})` : g));
  return parts.length > 6 ? `${parts.slice(0, 6).join(', ')} and ${parts.length - 6} more` : parts.join(', ');
}

/**
 * Says which tensors of `file` the model built from `configFile` left unused (companion tensors, and an untied LM
 * head of a body-only load, excepted): a warning, or with `strict` a CheckpointError. A config with fewer layers than
 * the weights gets a line saying so. Missing tensors and wrong shapes are errors already, when the model is built.
 */
export function reportUnusedKeys(model: CausalLM, unused: readonly string[], file: string, configFile: string, opts: UnusedKeysOptions = {}): void {
  const keys = unused.filter((k) => !COMPANION_KEYS.some((re) => re.test(k)) && !(opts.bodyOnly && k === 'lm_head.weight'));
  if (keys.length === 0) return;
  const layers = keys.map((k) => /\b(?:layers|h)\.(\d+)\./.exec(k)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
  const n = model.config.numLayers;
  const layerHint = layers.some((i) => i >= n)
    ? `; ${configFile} says ${n} layer${n === 1 ? '' : 's'} but the weights have ${Math.max(...layers) + 1}`
    : '';
  const what = `${file}: ${keys.length} tensor${keys.length === 1 ? '' : 's'} not used by ${model.hfClassName} built from ${configFile}: ${summarizeKeys(keys)}${layerHint}`;
  if (opts.strict) throw new CheckpointError(`${what}; --strict makes this an error: fix config.json, or load weights that match it`);
  const ignored = keys.length === 1 ? 'it was ignored' : 'they were ignored';
  (opts.warn ?? ((l: string) => process.stderr.write(`${l}\n`)))(`rlhfkit: warning: ${what}; ${ignored} (--strict makes this an error)`);
}
