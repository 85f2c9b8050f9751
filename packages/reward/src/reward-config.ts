// What a saved reward model records in its config.json, and how it is read back.

/** The value head's tensor name, as DeepSpeed-Chat's RewardModel state dict has it. */
export const V_HEAD_KEY = 'v_head.weight';

/** The config.json key of rlhfkit's reward-model block (transformers keeps unknown keys and ignores them). */
export const REWARD_CONFIG_KEY = 'rlhfkit_reward_model';

/** Bumped if the block's meaning changes. */
export const REWARD_CONFIG_VERSION = 1;

/** config.json → rlhfkit_reward_model. */
export interface RewardConfigBlock {
  version: number;
  /** Always 'reward_model': this folder holds a body plus a trained value head. */
  kind: 'reward_model';
  /** The id the training data was padded with (DeepSpeed-Chat: eos for every non-LLaMA model). */
  pad_token_id: number;
  num_padding_at_beginning: number;
  /** Tensor name of the value head in the weights file. */
  value_head: string;
}

export function rewardConfigBlock(m: { padTokenId: number; numPaddingAtBeginning: number }): RewardConfigBlock {
  return {
    version: REWARD_CONFIG_VERSION,
    kind: 'reward_model',
    pad_token_id: m.padTokenId,
    num_padding_at_beginning: m.numPaddingAtBeginning,
    value_head: V_HEAD_KEY,
  };
}

/** The block from a parsed config.json, or null when the folder is not an rlhfkit reward model; throws if malformed. */
export function readRewardConfigBlock(raw: Record<string, unknown>, configFile: string): RewardConfigBlock | null {
  const b = raw[REWARD_CONFIG_KEY];
  if (b === undefined) return null;
  const bad = (what: string): never => {
    throw new Error(`${configFile}: ${REWARD_CONFIG_KEY}.${what}; re-save the reward model with rlhfkit or fix the key by hand`);
  };
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return bad('is not an object');
  const o = b as Record<string, unknown>;
  const int = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return bad(`${k} must be an integer >= 0, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const version = int('version');
  if (version > REWARD_CONFIG_VERSION) bad(`version is ${version}, newer than this rlhfkit understands (${REWARD_CONFIG_VERSION}); upgrade rlhfkit`);
  const head = o.value_head ?? V_HEAD_KEY;
  if (typeof head !== 'string' || head === '') bad('value_head must be a tensor name');
  return {
    version,
    kind: 'reward_model',
    pad_token_id: int('pad_token_id'),
    num_padding_at_beginning: int('num_padding_at_beginning'),
    value_head: head as string,
  };
}
