// Reads the transformers tokenizer settings files (tokenizer_config.json, special_tokens_map.json, added_tokens.json).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile } from '../io/file-io';

/** An added token as tokenizer.json / added_tokens_decoder store it. */
export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  single_word?: boolean;
}

/** The settings rlhfkit takes from the config files; undefined means "not said". */
export interface TokenizerSettings {
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string;
  additionalSpecialTokens: string[];
  paddingSide: 'left' | 'right';
  truncationSide: 'left' | 'right';
  /** Infinity when unset (transformers' VERY_LARGE_INTEGER). */
  modelMaxLength: number;
  addBosToken?: boolean;
  addEosToken?: boolean;
  addPrefixSpace?: boolean;
  cleanUpTokenizationSpaces?: boolean;
  tokenizerClass?: string;
  /** From added_tokens_decoder (or added_tokens.json), by id. */
  addedTokens: AddedTokenSpec[];
  /** The tokenizer_config.json object as read, so save() can keep keys rlhfkit does not interpret (chat_template, ...). */
  raw: Record<string, unknown>;
}

/** An error about tokenizer files that names the folder/file and what to do. */
export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

/** transformers accepts a special token as a string or as a serialized AddedToken ({content, ...}). */
export function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  return readJsonFile<Record<string, unknown>>(file, {
    what: path.basename(file), object: true, hint: 'fix or delete the file', error: (detail) => new TokenizerError(`${file}: ${detail}`),
  });
}

function side(v: unknown, file: string, key: string): 'left' | 'right' | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'left' || v === 'right') return v;
  throw new TokenizerError(`${file}: "${key}" is ${JSON.stringify(v)}; it must be "left" or "right"`);
}

/** Reads the settings files in `dir`; special_tokens_map.json wins over tokenizer_config.json, as in transformers. */
export function readTokenizerSettings(dir: string): TokenizerSettings {
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const cfg = readJson(cfgFile) ?? {};
  const map = readJson(path.join(dir, 'special_tokens_map.json')) ?? {};
  const pick = (key: string): string | undefined => tokenContent(map[key]) ?? tokenContent(cfg[key]);
  const additional = (map.additional_special_tokens ?? cfg.additional_special_tokens ?? []) as unknown[];
  const addedTokens: AddedTokenSpec[] = [];
  const decoder = cfg.added_tokens_decoder as Record<string, Record<string, unknown>> | undefined;
  if (decoder && typeof decoder === 'object') {
    for (const [id, t] of Object.entries(decoder)) {
      const content = tokenContent(t);
      if (content === undefined || !Number.isInteger(Number(id))) continue;
      addedTokens.push({
        id: Number(id),
        content,
        special: t.special !== false,
        lstrip: Boolean(t.lstrip),
        rstrip: Boolean(t.rstrip),
        normalized: t.normalized === undefined ? undefined : Boolean(t.normalized),
        single_word: Boolean(t.single_word),
      });
    }
  }
  const legacy = readJson(path.join(dir, 'added_tokens.json'));
  if (legacy) {
    for (const [content, id] of Object.entries(legacy)) {
      if (typeof id === 'number' && !addedTokens.some((t) => t.id === id)) addedTokens.push({ id, content, special: false });
    }
  }
  const mml = cfg.model_max_length;
  const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
  return {
    bosToken: pick('bos_token'),
    eosToken: pick('eos_token'),
    unkToken: pick('unk_token'),
    padToken: pick('pad_token'),
    additionalSpecialTokens: additional.map(tokenContent).filter((t): t is string => t !== undefined),
    paddingSide: side(cfg.padding_side, cfgFile, 'padding_side') ?? 'right',
    truncationSide: side(cfg.truncation_side, cfgFile, 'truncation_side') ?? 'right',
    // transformers writes int(1e30) for "no limit"; anything that large is no limit.
    modelMaxLength: typeof mml === 'number' && mml > 0 && mml < 1e18 ? mml : Infinity,
    addBosToken: bool(cfg.add_bos_token),
    addEosToken: bool(cfg.add_eos_token),
    addPrefixSpace: bool(cfg.add_prefix_space),
    cleanUpTokenizationSpaces: bool(cfg.clean_up_tokenization_spaces),
    tokenizerClass: typeof cfg.tokenizer_class === 'string' ? cfg.tokenizer_class : undefined,
    addedTokens: addedTokens.sort((a, b) => a.id - b.id),
    raw: cfg,
  };
}
