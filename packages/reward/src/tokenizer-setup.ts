// The step-2 tokenizer conventions: DeepSpeed-Chat pads OPT with its eos (= BOS = id 2); other models keep their own pad.
import { loadTokenizer, type Tokenizer } from '@rlhfkit/core-tensor';

export interface RewardTokenizerOptions {
  /** DeepSpeed-Chat's --add_eot_token: add `eotToken` as a special token. */
  addEotToken?: boolean;
  eotToken?: string;
  /** A pad id already decided (a saved reward model's): it wins over every convention. */
  padTokenId?: number;
}

export interface RewardTokenizer {
  tokenizer: Tokenizer;
  padTokenId: number;
  /** One line for the run log: which pad was chosen and why. */
  note: string;
}

/**
 * Loads the tokenizer of `dir` and sets its pad token the way a step-2 run needs it:
 *  - a pad id given (a saved reward model records one) is used as is;
 *  - OPT: pad = eos, as DeepSpeed-Chat's get_tokenizer does for every non-LLaMA model; OPT's eos `</s>` (id 2) is
 *    also its BOS, which is why --num_padding_at_beginning is 1 for OPT;
 *  - other models: the tokenizer's own pad token; without one, a new '[PAD]' for LLaMA and the eos otherwise
 *    (DeepSpeed-Chat's load_hf_tokenizer).
 */
export async function loadRewardTokenizer(dir: string, modelType: string, opts: RewardTokenizerOptions = {}): Promise<RewardTokenizer> {
  const eot = opts.eotToken ?? '<|endoftext|>';
  const tokenizer = await loadTokenizer(dir, { addSpecialTokens: opts.addEotToken ? [eot] : undefined });
  // DeepSpeed-Chat pads on the right whatever the tokenizer_config says.
  tokenizer.paddingSide = 'right';
  let note: string;
  if (opts.padTokenId !== undefined) {
    tokenizer.padTokenId = opts.padTokenId;
    note = `pad token id ${opts.padTokenId} (recorded with the reward model)`;
  } else if (modelType === 'llama' && tokenizer.padToken === undefined) {
    // DeepSpeed-Chat adds a new '[PAD]' token to LLaMA tokenizers (the embedding is resized to fit).
    tokenizer.padToken = '[PAD]';
    note = `the tokenizer has no pad token: added '[PAD]' (id ${tokenizer.padTokenId}) as DeepSpeed-Chat does for LLaMA`;
  } else if (modelType === 'opt' || tokenizer.padToken === undefined) {
    if (tokenizer.eosToken === undefined) {
      throw new Error(`${dir}: the tokenizer has neither a pad nor an eos token, so batches cannot be padded; add a pad token to its tokenizer_config.json`);
    }
    tokenizer.padToken = tokenizer.eosToken;
    note =
      modelType === 'opt'
        ? `pad token = eos '${tokenizer.eosToken}' (id ${tokenizer.padTokenId}), DeepSpeed-Chat's OPT convention`
        : `the tokenizer has no pad token: using eos '${tokenizer.eosToken}' (id ${tokenizer.padTokenId}) as DeepSpeed-Chat does`;
  } else {
    note = `pad token '${tokenizer.padToken}' (id ${tokenizer.padTokenId}), the tokenizer's own`;
  }
  const padTokenId = tokenizer.padTokenId;
  if (padTokenId === undefined) throw new Error(`${dir}: could not set a pad token id on the tokenizer`);
  return { tokenizer, padTokenId, note };
}

/**
 * --num_padding_at_beginning when not given: 1 if the tokenizer starts every sequence with a token equal to the
 * pad id (OPT's BOS `</s>` with pad = eos), else 0. DeepSpeed-Chat's default is always 1, which puts the end
 * one step late for models without such a BOS (GPT-2, LLaMA), so its LLaMA scripts pass 0.
 */
export async function detectNumPaddingAtBeginning(tokenizer: Tokenizer, padTokenId: number): Promise<number> {
  const ids = await tokenizer.encode('Hello');
  let n = 0;
  while (n < ids.length && ids[n] === padTokenId) n++;
  return n;
}
