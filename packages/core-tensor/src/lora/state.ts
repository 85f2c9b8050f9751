// LoRA tensors in and out of StateDicts (resume checkpoints) and the fused HF save (no LoRA tensors written).
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, lazyTensor, numel, type StateDict, type TensorToWrite } from '../io/host-tensor';
import type { CausalLM } from '../models/causal-lm';
import type { SaveOptions } from '../models/save';
import { LORA_LEFT, LORA_RIGHT } from './lora-adapter';
import { loraLayers } from './convert';

/**
 * Every LoRA tensor as `<module>.lora_right_weight` [in, r] and `<module>.lora_left_weight` [r, out] (DeepSpeed-Chat's
 * names and layouts) for a resume checkpoint. Save the base weights unfused beside it (model.save or stateDict()):
 * a fused base weight already holds s·R·L, so this throws while any layer is fused.
 */
export function loraStateDict(model: CausalLM): StateDict {
  const out: StateDict = new Map();
  for (const [name, a] of loraLayers(model)) {
    if (a.fused) {
      throw new Error(`loraStateDict: ${name} is fused, so its base weight already contains the LoRA product; call unfuseLora(model) before saving resume state`);
    }
    out.set(`${name}.${LORA_RIGHT}`, { dtype: 'F32', shape: a.right.shape.slice(), data: Float32Array.from(a.right.dataSync()) });
    out.set(`${name}.${LORA_LEFT}`, { dtype: 'F32', shape: a.left.shape.slice(), data: Float32Array.from(a.left.dataSync()) });
  }
  return out;
}

/**
 * Restores what loraStateDict wrote into a model converted with the same --lora_module_name and --lora_dim.
 * Every LoRA layer must find both tensors; a LoRA key for a layer that has no adapter is an error too.
 * Other keys in `sd` are ignored, so a whole checkpoint's StateDict can be passed. `where` names the file in errors.
 */
export function loadLoraStateDict(model: CausalLM, sd: StateDict, where = 'the LoRA state'): void {
  const layers = loraLayers(model);
  if (layers.size === 0) throw new Error(`loadLoraStateDict: the model has no LoRA layers; call convertLinearLayerToLora with the run's --lora_module_name and --lora_dim first`);
  const expected = new Set<string>();
  for (const [name, a] of layers) {
    for (const [suffix, v] of [[LORA_RIGHT, a.right], [LORA_LEFT, a.left]] as const) {
      const key = `${name}.${suffix}`;
      expected.add(key);
      const t = sd.get(key);
      if (!t) throw new CheckpointError(`${where}: missing tensor '${key}'; was it saved from a model with the same --lora_module_name?`);
      if (t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i]) || numel(t.shape) !== t.data.length) {
        throw new CheckpointError(`${where}: tensor '${key}' has shape [${t.shape}] but the model needs [${v.shape}]; check --lora_dim`);
      }
      if (!(t.data instanceof Float32Array)) throw new CheckpointError(`${where}: tensor '${key}' is ${t.dtype}; LoRA weights must be floating point`);
    }
    if (a.fused) throw new Error(`loadLoraStateDict: ${name} is fused; call unfuseLora(model) before loading LoRA state`);
  }
  for (const key of sd.keys()) {
    if ((key.endsWith(`.${LORA_RIGHT}`) || key.endsWith(`.${LORA_LEFT}`)) && !expected.has(key)) {
      throw new CheckpointError(`${where}: tensor '${key}' belongs to no LoRA layer of this model; convert with the run's --lora_module_name first`);
    }
  }
  for (const [name, a] of layers) {
    for (const [suffix, v] of [[LORA_RIGHT, a.right], [LORA_LEFT, a.left]] as const) {
      const t = sd.get(`${name}.${suffix}`)!;
      tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, t.shape, 'float32')));
    }
  }
}

/**
 * The model's HF state dict with every unfused LoRA product folded into its layer's weight, computed on the side:
 * the model itself is not changed (fusing and unfusing in place would perturb the base weight by rounding).
 */
export function fusedStateDict(model: CausalLM): StateDict {
  const sd = model.stateDict();
  for (const [key, t] of fusedWeights(model)) sd.set(key, { dtype: 'F32', shape: t.shape, data: t.data as Float32Array });
  return sd;
}

/**
 * HF-layout `<module>.weight` = W + s·R·L for every LoRA layer not already fused, each computed when a writer reads it
 * (one fused weight in memory at a time). A frozen bfloat16 W is widened and summed in float32 on the host.
 */
function fusedWeights(model: CausalLM): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const [name, a] of loraLayers(model)) {
    if (a.fused) continue; // the weight already holds the product
    const key = `${name}.weight`;
    const w16 = a.layer.weight16;
    const transposed = w16 ? a.layer.hfLayout === 'linear' : model.isTransposed(key);
    const [rows, cols] = [a.layer.inFeatures, a.layer.outFeatures];
    const read = (): Float32Array => {
      if (w16) {
        const base = w16.toFloat32(); // [in, out]
        const d = a.delta();
        const delta = d.dataSync() as Float32Array;
        d.dispose();
        for (let i = 0; i < base.length; i++) base[i] = Math.fround(base[i] + delta[i]);
        if (!transposed) return base;
        const t = new Float32Array(base.length);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = base[r * cols + c];
        return t;
      }
      const w = tf.tidy(() => {
        const fused = tf.add(a.layer.weight, a.delta()); // [in, out]
        return transposed ? tf.transpose(fused) : fused; // HF nn.Linear: [out, in]
      });
      const data = Float32Array.from(w.dataSync());
      w.dispose();
      return data;
    };
    out.set(key, lazyTensor(transposed ? [cols, rows] : [rows, cols], 'F32', read));
  }
  return out;
}

/**
 * model.save with LoRA fused into the weights and no LoRA tensor written: what DeepSpeed-Chat's
 * convert_lora_to_linear_layer + save_hf_format produce, without changing the model (it keeps training unfused).
 */
export function saveFused(model: CausalLM, dir: string, opts: SaveOptions = {}): Promise<void> {
  // save() writes extraTensors over the model's own entries, so same-named fused weights replace the base ones.
  const extra = new Map<string, TensorToWrite>(opts.extraTensors ?? []);
  for (const [key, t] of fusedWeights(model)) {
    if (extra.has(key)) throw new Error(`saveFused: extraTensors also holds '${key}', a LoRA layer's weight; leave it out`);
    extra.set(key, t);
  }
  return model.save(dir, { ...opts, extraTensors: extra });
}
