// Test-only helpers: where the DeepSpeed-Chat reward fixture lives, its typed contents, and a tiny random OPT folder.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createModelFromConfig, type CausalLM } from '@rlhfkit/core-tensor';

/** ../shared/fixtures from the repo root (never copied into the repo). */
export const FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures');
export const REWARD_FIXTURE = path.join(FIXTURES, 'dschat-reference', 'reward');
export const OPT_FIXTURE = path.join(FIXTURES, 'hf-reference', 'opt');

type Rows = number[][];

export interface GoldenPair {
  c_ind: number;
  r_ind: number;
  divergence_ind: number;
  end_ind: number;
  loss_term: number;
  chosen_score: number;
  rejected_score: number;
}

export interface GoldenVariant {
  pad_token_id: number;
  num_padding_at_beginning: number;
  input_ids: Rows;
  attention_mask: Rows;
  forward: {
    loss: number;
    chosen_mean_scores: number[];
    rejected_mean_scores: number[];
    per_pair: GoldenPair[];
    v_head_weight_grad: { l2_norm: number; values: number[][] };
  };
  per_token_rewards: Rows;
  forward_value: { prompt_length: number; values: Rows; chosen_end_scores: number[]; c_ind: number[] };
}

export interface RewardGolden {
  v_head: { values: number[][] };
  seq_len: number;
  variants: Record<'pad_eq_eos' | 'pad1_npb1' | 'pad1_npb0', GoldenVariant>;
  forward_value_step3_style: {
    pad_token_id: number;
    prompt_length: number;
    input_ids: Rows;
    attention_mask: Rows;
    values: (number | null)[][];
    chosen_end_scores: number[];
    c_ind: number[];
  };
}

/** True when the fixtures are there; otherwise prints why the parity specs are skipped. */
export function rewardFixturePresent(): boolean {
  const ok = fs.existsSync(path.join(REWARD_FIXTURE, 'golden.json')) && fs.existsSync(path.join(OPT_FIXTURE, 'model.safetensors'));
  if (!ok) console.warn(`[skip] DeepSpeed-Chat reward fixture not found at ${REWARD_FIXTURE} (or ${OPT_FIXTURE}); reward parity specs are skipped`);
  return ok;
}

export function readRewardGolden(): RewardGolden {
  return JSON.parse(fs.readFileSync(path.join(REWARD_FIXTURE, 'golden.json'), 'utf8')) as RewardGolden;
}

/** A fresh temporary folder (the caller removes it). */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rlhfkit-reward-${prefix}-`));
}

/** config.json of a tiny OPT (pad = eos = bos = 2, as DeepSpeed-Chat sets it), for fast training specs. */
export function tinyOptConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_type: 'opt',
    architectures: ['OPTForCausalLM'],
    vocab_size: 64,
    hidden_size: 16,
    word_embed_proj_dim: 16,
    ffn_dim: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    max_position_embeddings: 64,
    do_layer_norm_before: true,
    activation_function: 'relu',
    dropout: 0,
    attention_dropout: 0,
    layerdrop: 0,
    bos_token_id: 2,
    eos_token_id: 2,
    pad_token_id: 1,
    init_std: 0.2,
    ...over,
  };
}

/** A randomly initialised tiny OPT body. */
export function tinyOptBody(seed = 0, over: Record<string, unknown> = {}): CausalLM {
  return createModelFromConfig(tinyOptConfig(over), { seed, bodyOnly: true });
}
