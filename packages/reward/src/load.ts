// loadRewardModel: a saved reward model folder, DeepSpeed-Chat's own step-2 output, or a causal LM plus a value head.
import * as tf from '@tensorflow/tfjs';
import { loadPretrained, loadStateDict, Rng, type CausalLM, type HostTensor } from '@rlhfkit/core-tensor';
import { RewardModel } from './reward-model';
import { readRewardConfigBlock, V_HEAD_KEY, type RewardConfigBlock } from './reward-config';

/** How to start a value head when the checkpoint has none. */
export type ValueHeadInit = 'linear' | 'zeros';

export interface LoadRewardModelOptions {
  /**
   * A safetensors (or torch .bin) file holding `v_head.weight` [1, dim], for a folder that has no head of its own
   * (a causal LM or base model). It wins over a head inside the folder.
   */
  valueHead?: string;
  /**
   * Start a fresh head when the folder has none: 'linear' = torch nn.Linear's default init, U(±1/sqrt(dim)),
   * what DeepSpeed-Chat's step 2 starts from; 'zeros'. Without it, a folder with no head is an error, never a
   * silent random head.
   */
  initValueHead?: ValueHeadInit;
  /** Seed of a fresh head (default 1234, DeepSpeed-Chat's --seed default) and of the body's dropout. */
  seed?: number;
  /** Overrides the saved value; default for a folder without one: 1 for OPT when pad = bos, else 0. */
  numPaddingAtBeginning?: number;
  /** Overrides the saved value; default for a folder without one: eos (DeepSpeed-Chat's pad = eos), else pad_token_id. */
  padTokenId?: number;
  /** Parameters start trainable (default true). */
  trainable?: boolean;
  /** Tensors the model does not use are an error (`--strict`), not a warning naming them. */
  strict?: boolean;
}

/** What loadRewardModel found, for a run's log. */
export interface RewardLoadReport {
  /** Where the value head came from. */
  valueHead: 'checkpoint' | 'file' | 'fresh';
  /** The rlhfkit block of config.json, or null (a DeepSpeed-Chat folder or a plain causal LM). */
  savedConfig: RewardConfigBlock | null;
}

const loadReports = new WeakMap<RewardModel, RewardLoadReport>();

/** How loadRewardModel built this model (null for models built otherwise). */
export function rewardLoadReport(m: RewardModel): RewardLoadReport | null {
  return loadReports.get(m) ?? null;
}

function firstId(v: number | number[] | null): number | null {
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

/** DeepSpeed-Chat's pad for a model without a saved choice: eos for every non-LLaMA model, else the config's pad. */
export function defaultPadTokenId(body: CausalLM): number | null {
  const c = body.config;
  const eos = firstId(c.eosTokenId);
  if (c.modelType !== 'llama' && eos !== null) return eos;
  return c.padTokenId ?? eos;
}

/** 1 when the tokenizer starts every row with a BOS that is also the pad id (OPT with pad = eos), else 0. */
export function defaultNumPaddingAtBeginning(body: CausalLM, padTokenId: number): number {
  return body.config.modelType === 'opt' && body.config.bosTokenId === padTokenId ? 1 : 0;
}

function checkHead(t: HostTensor, dim: number, where: string): Float32Array {
  const ok = t.shape.length === 2 && t.shape[0] === 1 && t.shape[1] === dim;
  if (!ok) throw new Error(`${where}: '${V_HEAD_KEY}' has shape [${t.shape.join(', ')}] but this model's value head must be [1, ${dim}]`);
  if (!(t.data instanceof Float32Array)) throw new Error(`${where}: '${V_HEAD_KEY}' has integer dtype ${t.dtype}; it must be floating point`);
  return t.data;
}

function freshHead(init: ValueHeadInit, dim: number, seed: number): Float32Array {
  const out = new Float32Array(dim);
  if (init === 'linear') new Rng(seed).fillUniform(out, -1 / Math.sqrt(dim), 1 / Math.sqrt(dim));
  return out;
}

/**
 * Loads a reward model. `dir` (a folder or a hub name in the local cache) is one of:
 *  - a reward model saved by rlhfkit: everything comes from the folder, no options needed;
 *  - DeepSpeed-Chat's step-2 output (`rwtransformer.*` + `v_head.weight` in pytorch_model.bin);
 *  - a causal LM or base model (e.g. step 1's output) with `opts.valueHead` or `opts.initValueHead`.
 */
export async function loadRewardModel(dir: string, opts: LoadRewardModelOptions = {}): Promise<RewardModel> {
  const body = await loadPretrained(dir, { bodyOnly: true, trainable: opts.trainable, seed: opts.seed ?? 1234, strict: opts.strict });
  return rewardModelFromLoadedBody(body, dir, opts);
}

/**
 * Wraps a body loaded from `dir` (loadPretrained or loadModelForTraining with bodyOnly) into a RewardModel: the
 * value head comes from opts.valueHead, else the folder's own `v_head.weight`, else a fresh head if
 * opts.initValueHead says so, else it is an error. Takes ownership of `body` (disposed when this throws).
 */
export function rewardModelFromLoadedBody(body: CausalLM, dir: string, opts: LoadRewardModelOptions = {}): RewardModel {
  const seed = opts.seed ?? 1234;
  try {
    const configFile = `${dir}/config.json`;
    const saved = readRewardConfigBlock(body.rawConfig, configFile);
    const dim = RewardModel.hiddenWidth(body);
    const headKey = saved?.value_head ?? V_HEAD_KEY;
    let head: Float32Array;
    let source: RewardLoadReport['valueHead'];
    if (opts.valueHead) {
      const sd = loadStateDict(opts.valueHead);
      const t = sd.get(V_HEAD_KEY) ?? (sd.size === 1 ? [...sd.values()][0] : undefined);
      if (!t) throw new Error(`${opts.valueHead}: no tensor '${V_HEAD_KEY}' (it holds ${[...sd.keys()].slice(0, 8).join(', ') || 'nothing'})`);
      head = checkHead(t, dim, opts.valueHead);
      source = 'file';
    } else if (body.extraTensors.has(headKey)) {
      head = checkHead(body.extraTensors.get(headKey)!, dim, dir);
      source = 'checkpoint';
    } else if (opts.initValueHead && !saved) {
      head = freshHead(opts.initValueHead, dim, seed);
      source = 'fresh';
    } else {
      const what = saved
        ? `its config.json says it is a reward model, but the weights have no '${headKey}': the folder is damaged; re-save it`
        : `it has no '${V_HEAD_KEY}', so it is a causal LM or base model, not a reward model`;
      throw new Error(
        `${dir}: cannot load as a reward model: ${what}. To start a reward model from it, pass a value head file ` +
          `(valueHead / --value_head FILE.safetensors) or ask for a fresh head explicitly (initValueHead / --init_value_head linear)`,
      );
    }
    // The host copies of unused tensors (an untied lm_head of a body-only load) are not needed any more.
    body.extraTensors = new Map();
    const padTokenId = opts.padTokenId ?? saved?.pad_token_id ?? defaultPadTokenId(body);
    if (padTokenId === null) {
      throw new Error(`${configFile}: no pad token id (no eos_token_id or pad_token_id); pass padTokenId (--pad_token_id) explicitly`);
    }
    const numPaddingAtBeginning = opts.numPaddingAtBeginning ?? saved?.num_padding_at_beginning ?? defaultNumPaddingAtBeginning(body, padTokenId);
    const init = tf.tensor2d(head, [dim, 1]);
    const vHead = tf.variable(init, opts.trainable ?? true);
    init.dispose();
    const model = new RewardModel(body, vHead, { padTokenId, numPaddingAtBeginning });
    loadReports.set(model, { valueHead: source, savedConfig: saved });
    return model;
  } catch (e) {
    body.dispose();
    throw e;
  }
}

/** A RewardModel around an existing body (tests, benchmarks): a fresh 'linear' head unless `head` [dim] is given. */
export function rewardModelFromBody(body: CausalLM, opts: Partial<{ padTokenId: number; numPaddingAtBeginning: number; head: Float32Array; seed: number }> = {}): RewardModel {
  const dim = RewardModel.hiddenWidth(body);
  const data = opts.head ?? freshHead('linear', dim, opts.seed ?? 1234);
  if (data.length !== dim) throw new Error(`rewardModelFromBody: head has ${data.length} values but the body's hidden width is ${dim}`);
  const padTokenId = opts.padTokenId ?? defaultPadTokenId(body);
  if (padTokenId === null) throw new Error('rewardModelFromBody: the config has no eos or pad id; pass padTokenId');
  const init = tf.tensor2d(data, [dim, 1]);
  const vHead = tf.variable(init, true);
  init.dispose();
  return new RewardModel(body, vHead, { padTokenId, numPaddingAtBeginning: opts.numPaddingAtBeginning ?? defaultNumPaddingAtBeginning(body, padTokenId) });
}
