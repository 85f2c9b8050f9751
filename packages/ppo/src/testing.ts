// Test-only helpers: the DeepSpeed-Chat PPO fixture (typed), and tiny step-1/step-2 model folders for engine tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTinyModel, loadPretrained, loadTokenizer, type TinyModelOptions } from '@rlhfkit/core-tensor';
import { rewardModelFromBody } from '@rlhfkit/reward';

/** ../shared/fixtures from the repo root (never copied into the repo). */
export const FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures');
export const PPO_FIXTURE = path.join(FIXTURES, 'dschat-reference', 'ppo', 'golden.json');

type Rows = number[][];

export interface PpoCase {
  seed: number;
  compute_rewards: {
    inputs: { prompts: Rows; log_probs: Rows; ref_log_probs: Rows; reward_score: number[]; action_mask: Rows };
    internals: { start: number; ends: number[]; reward_clip: number[] };
    output_rewards: Rows;
  };
  get_advantages_and_returns: { inputs: { values: Rows; rewards: Rows; start: number }; advantages: Rows; returns: Rows };
  actor_loss_fn: { inputs: { logprobs: Rows; old_logprobs: Rows; advantages: Rows; mask: Rows }; loss: number };
  critic_loss_fn: { inputs: { values: Rows; old_values: Rows; returns: Rows; mask: Rows }; loss: number };
}

export interface PpoEndToEnd {
  seed: number;
  shapes: { batch: number; prompt_length: number; seq_len: number; vocab: number; pad_token_id: number };
  inputs_as_generate_experience_returns: {
    prompts: Rows; input_ids: Rows; attention_mask: Rows; logprobs: Rows; ref_logprobs: Rows; value: Rows; rewards: number[];
  };
  mock_actor_logits_for_new_logprobs: number[][][];
  mock_critic_forward_value_full: Rows;
  internals: {
    start: number; ends: number[]; old_rewards_after_zeroing: Rows; old_values_after_zeroing: Rows; advantages: Rows; returns: Rows;
    actor_log_prob_new: Rows; critic_value_new: Rows;
  };
  actor_loss: number;
  critic_loss: number;
}

export interface PpoGolden {
  hyperparameters: { kl_ctl: number; clip_reward_value: number; cliprange: number; cliprange_value: number; gamma: number; lam: number };
  cases: PpoCase[];
  train_rlhf_end_to_end: PpoEndToEnd[];
  moving_average: {
    beta: number;
    before: { model: Record<'p' | 'q', number[][] | number[]>; ema: Record<'p' | 'q', number[][] | number[]> };
    ema_after_1_update: Record<'p' | 'q', number[][] | number[]>;
    ema_after_2_updates_same_model: Record<'p' | 'q', number[][] | number[]>;
  };
}

/** True when the fixture is there; otherwise prints why the parity specs are skipped. */
export function ppoFixturePresent(): boolean {
  const ok = fs.existsSync(PPO_FIXTURE);
  if (!ok) console.warn(`[skip] DeepSpeed-Chat PPO fixture not found at ${PPO_FIXTURE}; PPO parity specs are skipped`);
  return ok;
}

export function readPpoGolden(): PpoGolden {
  return JSON.parse(fs.readFileSync(PPO_FIXTURE, 'utf8')) as PpoGolden;
}

/** |a - b| within `tol`, relative above 1 (the rule for PPO parity). */
export function close(a: number, b: number, tol: number): boolean {
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

/** Largest violation of `close` over two equal-shaped nested arrays (0 when all pass). */
export function worst(a: ArrayLike<number> | number[][], b: ArrayLike<number> | number[][]): number {
  const fa = (Array.isArray(a) && Array.isArray(a[0]) ? (a as number[][]).flat() : Array.from(a as ArrayLike<number>)) as number[];
  const fb = (Array.isArray(b) && Array.isArray(b[0]) ? (b as number[][]).flat() : Array.from(b as ArrayLike<number>)) as number[];
  if (fa.length !== fb.length) throw new Error(`worst: ${fa.length} vs ${fb.length} values`);
  let m = 0;
  for (let i = 0; i < fa.length; i++) m = Math.max(m, Math.abs(fa[i] - fb[i]) / Math.max(1, Math.abs(fb[i])));
  return m;
}

export interface TinyRlhfModels {
  root: string;
  /** A tiny OPT with the GPT-2 BPE (a stand-in for a step-1 output). */
  actor: string;
  /** The same body saved as a reward model (a stand-in for a step-2 output): random value head. */
  critic: string;
  cleanup(): void;
}

/** Writes a tiny actor folder and a reward-model folder made from it, in a temp directory. */
export async function makeTinyRlhfModels(opts: TinyModelOptions = {}): Promise<TinyRlhfModels> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-ppo-'));
  const actor = path.join(root, 'actor');
  const critic = path.join(root, 'critic');
  await createTinyModel(actor, { arch: 'opt', hiddenSize: 32, layers: 2, heads: 2, maxPositions: 96, merges: 600, dropout: 0, seed: 7, ...opts });
  const body = await loadPretrained(actor, { bodyOnly: true });
  const rm = rewardModelFromBody(body, { seed: 11 });
  const tok = await loadTokenizer(actor);
  await rm.save(critic, { tokenizer: tok });
  rm.dispose();
  return { root, actor, critic, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}
