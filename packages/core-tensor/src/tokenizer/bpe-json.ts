// Builds a byte-level BPE tokenizer.json (GPT-2 / OPT style) from vocab.json + merges.txt, since the binding has no ByteLevel decoder.
import * as fs from 'node:fs';
import { readJsonFile } from '../io/file-io';
import type { AddedTokenSpec } from './config';
import { TokenizerError } from './config';

/** The subset of the tokenizer.json schema rlhfkit reads and writes; other fields pass through untouched. */
export interface TokenizerJson {
  version?: string;
  truncation: unknown;
  padding: unknown;
  added_tokens: AddedTokenJson[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: { type: string; vocab?: unknown; merges?: unknown; [k: string]: unknown };
  [k: string]: unknown;
}

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export function addedTokenJson(t: AddedTokenSpec): AddedTokenJson {
  return {
    id: t.id,
    content: t.content,
    single_word: t.single_word ?? false,
    lstrip: t.lstrip ?? false,
    rstrip: t.rstrip ?? false,
    // Special tokens are matched on the raw text; ordinary added ones after normalisation (the transformers default).
    normalized: t.normalized ?? !t.special,
    special: t.special,
  };
}

/** Reads vocab.json (token -> id). */
export function readVocabJson(file: string): Record<string, number> {
  return readJsonFile<Record<string, number>>(file, {
    what: 'the BPE vocabulary', object: true, hint: 'vocab.json maps each token to its id: {"token": id, ...}',
    error: (detail) => new TokenizerError(`${file}: ${detail}`),
  });
}

/** Reads merges.txt / vocab.bpe: one "a b" pair a line, after an optional "#version" line. */
export function readMergesTxt(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read the BPE merges (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const lines = text.split('\n');
  const merges: string[] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line === '' || (i === 0 && line.startsWith('#version'))) return;
    if (line.split(' ').length !== 2) throw new TokenizerError(`${file}:${i + 1}: a merge must be two tokens separated by one space, got ${JSON.stringify(line)}`);
    merges.push(line);
  });
  return merges;
}

export interface ByteLevelBpeOptions {
  vocab: Record<string, number>;
  merges: string[];
  /** Tokens to match verbatim in text (special ones are skipped by decode(skipSpecialTokens)). */
  addedTokens?: AddedTokenSpec[];
  /** GPT-2/OPT: false. A leading space is added before the first word when true. */
  addPrefixSpace?: boolean;
}

/** A tokenizer.json equivalent to transformers' GPT2TokenizerFast conversion (ByteLevel pre-tokenizer and decoder). */
export function byteLevelBpeJson(opts: ByteLevelBpeOptions): TokenizerJson {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: opts.addPrefixSpace ?? false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: (opts.addedTokens ?? []).map(addedTokenJson),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab: opts.vocab,
      merges: opts.merges,
    },
  };
}

/** A TemplateProcessing post-processor adding bos before and/or eos after each sequence (transformers' Llama form). */
export function templatePostProcessorJson(bos: { token: string; id: number } | undefined, eos: { token: string; id: number } | undefined): unknown {
  const tok = (t: { token: string }, typeId: number): unknown => ({ SpecialToken: { id: t.token, type_id: typeId } });
  const seq = (id: 'A' | 'B', typeId: number): unknown => ({ Sequence: { id, type_id: typeId } });
  const wrap = (id: 'A' | 'B', typeId: number): unknown[] => [...(bos ? [tok(bos, typeId)] : []), seq(id, typeId), ...(eos ? [tok(eos, typeId)] : [])];
  const special: Record<string, unknown> = {};
  for (const t of [bos, eos]) if (t) special[t.token] = { id: t.token, ids: [t.id], tokens: [t.token] };
  return { type: 'TemplateProcessing', single: wrap('A', 0), pair: [...wrap('A', 0), ...wrap('B', 1)], special_tokens: special };
}
