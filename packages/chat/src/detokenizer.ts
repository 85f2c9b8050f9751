// Incremental detokenization: new token ids -> only complete text, so a multi-byte character split over tokens is never cut.
import type { Tokenizer } from '@rlhfkit/core-tensor';

/** Turns ids into text synchronously (the tokenizers binding's decode() is async; its decoder object is not). */
export type SyncDecode = (ids: readonly number[]) => string;

/** How many prompt tokens give the first new tokens their context (a sentencepiece decoder drops a leading space otherwise). */
const CONTEXT_TOKENS = 5;

/**
 * The tokenizer's own decoder run synchronously on id -> token strings, as the Rust decode() does (tokens of
 * `skip` left out). Lets streaming decode inside generate()'s synchronous onToken callback.
 */
export function syncDecoder(tokenizer: Tokenizer, opts: { skipSpecialTokens?: boolean } = {}): SyncDecode {
  const decoder = tokenizer.native.getDecoder();
  const skip = new Set(opts.skipSpecialTokens === false ? [] : tokenizer.allSpecialIds);
  const cache = new Map<number, string | null>();
  const tokenOf = (id: number): string | null => {
    let t = cache.get(id);
    if (t === undefined) {
      t = tokenizer.idToToken(id) ?? null;
      cache.set(id, t);
    }
    return t;
  };
  return (ids) => {
    const tokens: string[] = [];
    for (const id of ids) {
      if (skip.has(id)) continue;
      const t = tokenOf(id);
      if (t !== null) tokens.push(t);
    }
    if (tokens.length === 0) return '';
    return decoder ? decoder.decode(tokens) : tokens.join(' ');
  };
}

/** The ids that a decode with skipSpecialTokens leaves out. */
export function specialIdSet(tokenizer: Tokenizer): Set<number> {
  return new Set(tokenizer.allSpecialIds);
}

/**
 * vLLM's incremental detokenizer: decodes a short window of ids twice (without and with the newest ones) and
 * emits the difference, holding text back while it ends in U+FFFD (an incomplete UTF-8 sequence). The window
 * starts inside the prompt so the first new token decodes in context.
 */
export class IncrementalDetokenizer {
  private readonly ids: number[];
  private prefixOffset = 0;
  private readOffset: number;
  private text = '';

  constructor(
    private readonly decode: SyncDecode,
    promptIds: readonly number[] = [],
    private readonly skip: ReadonlySet<number> = new Set(),
  ) {
    this.ids = promptIds.filter((id) => !skip.has(id)).slice(-CONTEXT_TOKENS);
    this.readOffset = this.ids.length;
  }

  /** All text emitted so far. */
  get emitted(): string {
    return this.text;
  }

  /** Adds one id; returns the text that is now complete (often '', never half a character). */
  push(id: number): string {
    if (this.skip.has(id)) return '';
    this.ids.push(id);
    return this.step(false);
  }

  /** Whatever is still held back (a trailing incomplete sequence decodes to U+FFFD, as decode() gives it). */
  flush(): string {
    return this.step(true);
  }

  private step(final: boolean): string {
    if (this.readOffset >= this.ids.length) return '';
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decode(this.ids.slice(this.prefixOffset));
    if (!final && (full.length <= prefix.length || full.endsWith('\uFFFD'))) return '';
    // The window's decode can differ from the prefix's only at the end; when it does not extend it, emit the new tail.
    const delta = full.startsWith(prefix) ? full.slice(prefix.length) : full.slice(commonPrefixLength(full, prefix));
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    this.text += delta;
    return delta;
  }
}

function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}
