// Tokenizes rendered phase texts as DeepSpeed-Chat's create_dataset_split does: truncation for phases 1-2, dropping long prompts in phase 3.
import type { Phase, Phase1Text, Phase2Text, Phase3Text, PhaseText } from './prompt-dataset';

/**
 * What the data layer needs from a tokenizer; core-tensor's Tokenizer satisfies it. encodeBatch follows
 * transformers: truncation to maxLength keeps the special tokens the post-processor adds.
 */
export interface TokenizerLike {
  encodeBatch(
    texts: string[],
    opts?: { addSpecialTokens?: boolean; truncation?: boolean; maxLength?: number; padding?: false },
  ): Promise<{ inputIds: number[][]; attentionMask: number[][] }>;
  readonly padTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly bosTokenId?: number | undefined;
  readonly eosToken?: string | undefined;
  readonly vocabSize: number;
}

/** Phase 1 row: ids of prompt+chosen+eot (truncated to max_seq_len); promptLength tokens belong to the prompt. */
export interface Phase1Item {
  readonly inputIds: number[];
  readonly promptLength: number;
}
export interface Phase2Item {
  readonly chosenIds: number[];
  readonly rejectedIds: number[];
}
/** Phase 3 row: the prompt ids in reading order (the collator left-pads them). */
export interface Phase3Item {
  readonly promptIds: number[];
}
export type PhaseItem = Phase1Item | Phase2Item | Phase3Item;
export type PhaseItemOf<P extends Phase> = P extends 1 ? Phase1Item : P extends 2 ? Phase2Item : Phase3Item;

export interface TokenizeCounts {
  /** Rows cut to max_seq_len (phases 1-2; a pair counts once). */
  truncated: number;
  /** Prompts longer than max_seq_len (phase 3), dropped as DeepSpeed-Chat does. */
  dropped: number;
}

const CHUNK = 256;

/** Token ids of many texts, untruncated, in chunks so the native tokenizer never gets a huge batch. */
async function encodeAll(tok: TokenizerLike, texts: readonly string[], addSpecialTokens = true): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < texts.length; i += CHUNK) {
    const { inputIds } = await tok.encodeBatch(texts.slice(i, i + CHUNK), { addSpecialTokens, padding: false });
    out.push(...inputIds);
  }
  return out;
}

/** Encode, then re-encode only the rows that overflow with the tokenizer's own truncation (which keeps bos/eos). */
async function encodeTruncated(tok: TokenizerLike, texts: readonly string[], maxLen: number): Promise<{ ids: number[][]; cut: boolean[] }> {
  const ids = await encodeAll(tok, texts);
  const cut = ids.map((r) => r.length > maxLen);
  const long = ids.map((_, i) => i).filter((i) => cut[i]);
  for (let k = 0; k < long.length; k += CHUNK) {
    const batch = long.slice(k, k + CHUNK);
    const { inputIds } = await tok.encodeBatch(batch.map((i) => texts[i]), { truncation: true, maxLength: maxLen, padding: false });
    batch.forEach((i, j) => (ids[i] = inputIds[j]));
  }
  return { ids, cut };
}

/** How many special tokens the tokenizer puts before the text (e.g. OPT's </s> bos). */
export async function prefixSpecialCount(tok: TokenizerLike): Promise<number> {
  const [withSp] = (await tok.encodeBatch(['a'], { addSpecialTokens: true, padding: false })).inputIds;
  const [plain] = (await tok.encodeBatch(['a'], { addSpecialTokens: false, padding: false })).inputIds;
  for (let i = 0; i + plain.length <= withSp.length; i++) if (plain.every((t, j) => withSp[i + j] === t)) return i;
  return 0;
}

export interface TokenizeOptions {
  /** max_seq_len for phases 1-2; max_prompt_seq_len for phase 3 (as DeepSpeed-Chat passes it). */
  maxSeqLen: number;
  /** Phase 1: compute promptLength so the collator can mask the prompt out of the loss. */
  maskPrompt?: boolean;
}

/** Tokenize one dataset part of one phase. */
export async function tokenizePhase(
  tok: TokenizerLike,
  phase: Phase,
  items: readonly PhaseText[],
  options: TokenizeOptions,
): Promise<{ items: PhaseItem[]; counts: TokenizeCounts }> {
  const maxLen = options.maxSeqLen;
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new RangeError(`max_seq_len must be a positive integer, got ${maxLen}`);
  if (phase === 1) {
    const rows = items as readonly Phase1Text[];
    const { ids, cut } = await encodeTruncated(tok, rows.map((r) => r.text), maxLen);
    let promptLens: number[] = rows.map(() => 0);
    if (options.maskPrompt) {
      const prefix = await prefixSpecialCount(tok);
      const plain = await encodeAll(tok, rows.map((r) => r.prompt ?? ''), false);
      promptLens = plain.map((p, i) => Math.min(rows[i].prompt === null ? 0 : prefix + p.length, ids[i].length));
    }
    return {
      items: ids.map((inputIds, i) => ({ inputIds, promptLength: promptLens[i] })),
      counts: { truncated: cut.filter(Boolean).length, dropped: 0 },
    };
  }
  if (phase === 2) {
    const rows = items as readonly Phase2Text[];
    const c = await encodeTruncated(tok, rows.map((r) => r.chosen), maxLen);
    const r = await encodeTruncated(tok, rows.map((x) => x.rejected), maxLen);
    return {
      items: c.ids.map((chosenIds, i) => ({ chosenIds, rejectedIds: r.ids[i] })),
      counts: { truncated: c.cut.filter((x, i) => x || r.cut[i]).length, dropped: 0 },
    };
  }
  const rows = items as readonly Phase3Text[];
  const ids = await encodeAll(tok, rows.map((r) => r.prompt));
  const kept = ids.filter((p) => p.length <= maxLen);
  return { items: kept.map((promptIds) => ({ promptIds })), counts: { truncated: 0, dropped: ids.length - kept.length } };
}
