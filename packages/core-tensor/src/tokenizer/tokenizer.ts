// The rlhfkit tokenizer: a `tokenizers` (Rust) tokenizer plus the transformers-level settings (special tokens, padding, truncation).
import { templateProcessing, Tokenizer as NativeTokenizer } from 'tokenizers';
import type { TokenizerSettings } from './config';
import { TokenizerError } from './config';
import { saveTokenizer } from './save';

export type Side = 'left' | 'right';

export interface EncodeOptions {
  /** Add bos/eos as the tokenizer's post-processor says (default true, as in transformers). */
  addSpecialTokens?: boolean;
  /** Cut to maxLength (default: modelMaxLength) keeping the special tokens. */
  truncation?: boolean;
  maxLength?: number;
  truncationSide?: Side;
}

export interface EncodeBatchOptions extends EncodeOptions {
  /** 'longest' (or true): pad to the longest row; 'max_length': pad to maxLength; false: ragged rows. */
  padding?: 'longest' | 'max_length' | boolean;
  paddingSide?: Side;
}

export interface BatchEncoding {
  inputIds: number[][];
  attentionMask: number[][];
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  /** transformers' clean_up_tokenization (" ." -> ".", " n't" -> "n't", ...); default from tokenizer_config.json, else false. */
  cleanUpTokenizationSpaces?: boolean;
}

type SpecialName = 'bos' | 'eos' | 'unk' | 'pad';

/** Where a Tokenizer came from; save() writes vocab.json + merges.txt too for the vocab/merges kind. */
export type TokenizerSource = 'tokenizer.json' | 'vocab-merges';

function cleanUp(s: string): string {
  return s
    .replace(/ \./g, '.')
    .replace(/ \?/g, '?')
    .replace(/ !/g, '!')
    .replace(/ ,/g, ',')
    .replace(/ ' /g, "'")
    .replace(/ n't/g, "n't")
    .replace(/ 'm/g, "'m")
    .replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve")
    .replace(/ 're/g, "'re");
}

/**
 * A loaded tokenizer. Encoding/decoding run in the Rust binding (async); padding and truncation are done here,
 * per call, so concurrent calls with different options cannot interfere. Use `loadTokenizer` to make one.
 */
export class Tokenizer {
  private readonly special: Partial<Record<SpecialName, string>> = {};
  private additional: string[];
  /** When set, rlhfkit owns the post-processor: bos/eos per these flags (from add_bos_token / add_eos_token). */
  private template?: { bos: boolean; eos: boolean };
  private nAdded?: Promise<number>;
  paddingSide: Side;
  truncationSide: Side;
  modelMaxLength: number;
  cleanUpTokenizationSpaces: boolean;

  /** @internal use loadTokenizer / tokenizerFromJson. */
  constructor(
    readonly native: NativeTokenizer,
    readonly settings: TokenizerSettings,
    readonly source: TokenizerSource,
    template?: { bos: boolean; eos: boolean },
  ) {
    // The binding would pad/truncate on its own if tokenizer.json says so; we do both per call instead.
    native.disablePadding();
    native.disableTruncation();
    this.paddingSide = settings.paddingSide;
    this.truncationSide = settings.truncationSide;
    this.modelMaxLength = settings.modelMaxLength;
    this.cleanUpTokenizationSpaces = settings.cleanUpTokenizationSpaces ?? false;
    this.additional = [...settings.additionalSpecialTokens];
    this.special.bos = settings.bosToken;
    this.special.eos = settings.eosToken;
    this.special.unk = settings.unkToken;
    this.special.pad = settings.padToken;
    // As transformers does at init: every configured special token becomes a special added token
    // (matched verbatim in text, dropped by skipSpecialTokens), keeping its vocab id if it has one.
    const all = [...Object.values(this.special), ...this.additional].filter((t): t is string => !!t);
    if (all.length) native.addSpecialTokens([...new Set(all)]);
    this.template = template;
    if (template) this.applyTemplate();
  }

  // ---- vocabulary ----

  /** Vocabulary size including added tokens (transformers' len(tokenizer)). */
  get vocabSize(): number {
    return this.native.getVocabSize(true);
  }

  tokenToId(token: string): number | undefined {
    return this.native.tokenToId(token) ?? undefined;
  }

  idToToken(id: number): string | undefined {
    return this.native.idToToken(id) ?? undefined;
  }

  /**
   * Adds tokens as special tokens (matched whole in text, skipped by decode(skipSpecialTokens)); like
   * transformers' add_special_tokens({'additional_special_tokens': tokens}). Returns how many are new to the vocab.
   */
  addSpecialTokens(tokens: string[]): number {
    const before = this.vocabSize;
    this.native.addSpecialTokens(tokens);
    for (const t of tokens) if (!this.additional.includes(t) && !Object.values(this.special).includes(t)) this.additional.push(t);
    return this.vocabSize - before;
  }

  /** Every special token id (bos, eos, unk, pad, additional), deduplicated. */
  get allSpecialIds(): number[] {
    const ids = [...Object.values(this.special), ...this.additional].map((t) => (t ? this.tokenToId(t) : undefined));
    return [...new Set(ids.filter((i): i is number => i !== undefined))];
  }

  get additionalSpecialTokens(): string[] {
    return [...this.additional];
  }

  // ---- special tokens: strings and ids ----

  private getSpecial(name: SpecialName): string | undefined {
    return this.special[name];
  }

  /** Setting a token the vocabulary lacks adds it as a special token (transformers' add_special_tokens({...})). */
  private setSpecial(name: SpecialName, token: string | undefined): void {
    // New tokens get the next id; an existing vocab entry keeps its id and becomes special.
    if (token !== undefined) this.native.addSpecialTokens([token]);
    this.special[name] = token;
    if (this.template && (name === 'bos' || name === 'eos')) this.applyTemplate();
  }

  private setSpecialId(name: SpecialName, id: number | undefined): void {
    if (id === undefined) return this.setSpecial(name, undefined);
    const t = this.idToToken(id);
    if (t === undefined) throw new TokenizerError(`cannot set ${name} token id ${id}: the vocabulary (size ${this.vocabSize}) has no such id`);
    this.setSpecial(name, t);
  }

  private idOf(name: SpecialName): number | undefined {
    const t = this.special[name];
    return t === undefined ? undefined : this.tokenToId(t);
  }

  get bosToken(): string | undefined { return this.getSpecial('bos'); }
  set bosToken(t: string | undefined) { this.setSpecial('bos', t); }
  get eosToken(): string | undefined { return this.getSpecial('eos'); }
  set eosToken(t: string | undefined) { this.setSpecial('eos', t); }
  get unkToken(): string | undefined { return this.getSpecial('unk'); }
  set unkToken(t: string | undefined) { this.setSpecial('unk', t); }
  get padToken(): string | undefined { return this.getSpecial('pad'); }
  set padToken(t: string | undefined) { this.setSpecial('pad', t); }
  get bosTokenId(): number | undefined { return this.idOf('bos'); }
  set bosTokenId(id: number | undefined) { this.setSpecialId('bos', id); }
  get eosTokenId(): number | undefined { return this.idOf('eos'); }
  set eosTokenId(id: number | undefined) { this.setSpecialId('eos', id); }
  get unkTokenId(): number | undefined { return this.idOf('unk'); }
  set unkTokenId(id: number | undefined) { this.setSpecialId('unk', id); }
  get padTokenId(): number | undefined { return this.idOf('pad'); }
  set padTokenId(id: number | undefined) { this.setSpecialId('pad', id); }

  // ---- bos/eos insertion ----

  /** Whether encode adds bos/eos; undefined when the tokenizer.json post-processor decides (and was not overridden). */
  get addBosToken(): boolean | undefined { return this.template?.bos; }
  set addBosToken(v: boolean | undefined) { this.setTemplate({ bos: v ?? false, eos: this.template?.eos ?? this.settings.addEosToken ?? false }); }
  get addEosToken(): boolean | undefined { return this.template?.eos; }
  set addEosToken(v: boolean | undefined) { this.setTemplate({ bos: this.template?.bos ?? this.settings.addBosToken ?? false, eos: v ?? false }); }

  private setTemplate(t: { bos: boolean; eos: boolean }): void {
    this.template = t;
    this.applyTemplate();
  }

  private applyTemplate(): void {
    const t = this.template!;
    const need = (name: 'bos' | 'eos'): { token: string; id: number } | undefined => {
      if (!t[name]) return undefined;
      const token = this.special[name];
      const id = token === undefined ? undefined : this.tokenToId(token);
      if (token === undefined || id === undefined) {
        throw new TokenizerError(`add_${name}_token is true but the tokenizer has no ${name} token; set tokenizer.${name}Token first`);
      }
      return { token, id };
    };
    const bos = need('bos');
    const eos = need('eos');
    // transformers' LlamaTokenizerFast.update_post_processor form.
    const single = `${bos ? `${bos.token}:0 ` : ''}$A:0${eos ? ` ${eos.token}:0` : ''}`;
    const pair = `${single}${bos ? ` ${bos.token}:1` : ''} $B:1${eos ? ` ${eos.token}:1` : ''}`;
    const specials: [string, number][] = [];
    if (bos) specials.push([bos.token, bos.id]);
    if (eos && eos.token !== bos?.token) specials.push([eos.token, eos.id]);
    this.native.setPostProcessor(templateProcessing(single, pair, specials));
    this.nAdded = undefined;
  }

  /** How many tokens the post-processor adds to one sequence. */
  numSpecialTokensToAdd(): Promise<number> {
    this.nAdded ??= (async () => {
      const [withSp, without] = await Promise.all([
        this.native.encode('', null, { addSpecialTokens: true }),
        this.native.encode('', null, { addSpecialTokens: false }),
      ]);
      return withSp.getLength() - without.getLength();
    })();
    return this.nAdded;
  }

  // ---- encode / decode ----

  async encode(text: string, opts: EncodeOptions = {}): Promise<number[]> {
    return (await this.encodeBatch([text], { ...opts, padding: false })).inputIds[0];
  }

  /**
   * Tokenizes a batch like transformers' `tokenizer(texts, padding=..., truncation=..., max_length=...)`:
   * truncation keeps bos/eos and cuts content on truncationSide; padding uses padTokenId on paddingSide.
   */
  async encodeBatch(texts: string[], opts: EncodeBatchOptions = {}): Promise<BatchEncoding> {
    if (texts.length === 0) return { inputIds: [], attentionMask: [] };
    const add = opts.addSpecialTokens ?? true;
    const padding = opts.padding === true ? 'longest' : (opts.padding ?? false);
    // transformers truncates when max_length is given without padding, even if truncation was not asked for.
    const truncation = opts.truncation ?? (opts.maxLength !== undefined && padding === false);
    const limit = opts.maxLength ?? this.modelMaxLength;
    const tside = opts.truncationSide ?? this.truncationSide;
    const encs = await this.native.encodeBatch(texts, { addSpecialTokens: false });
    const nAdded = add ? await this.numSpecialTokensToAdd() : 0;
    const inputIds = encs.map((e) => {
      if (truncation && Number.isFinite(limit)) {
        const room = limit - nAdded;
        if (room < 0) throw new TokenizerError(`maxLength ${limit} is shorter than the ${nAdded} special tokens every sequence gets`);
        if (e.getLength() > room) e.truncate(room, 0, tside);
      }
      return add && nAdded > 0 ? this.native.postProcess(e, null, true).getIds() : e.getIds();
    });
    const attentionMask = inputIds.map((ids) => ids.map(() => 1));
    if (padding === false) return { inputIds, attentionMask };
    let target: number;
    if (padding === 'max_length') {
      if (!Number.isFinite(limit)) throw new TokenizerError("padding: 'max_length' needs maxLength (the tokenizer has no model_max_length)");
      target = limit;
    } else {
      target = Math.max(...inputIds.map((r) => r.length));
    }
    const pad = this.padTokenId;
    const pside = opts.paddingSide ?? this.paddingSide;
    for (let i = 0; i < inputIds.length; i++) {
      const n = target - inputIds[i].length;
      if (n <= 0) continue;
      if (pad === undefined) {
        throw new TokenizerError(
          'asked to pad but the tokenizer has no pad token; set tokenizer.padToken (DeepSpeed-Chat uses the eos token: tokenizer.padToken = tokenizer.eosToken)',
        );
      }
      const fill = new Array<number>(n).fill(pad);
      const zeros = new Array<number>(n).fill(0);
      inputIds[i] = pside === 'left' ? [...fill, ...inputIds[i]] : [...inputIds[i], ...fill];
      attentionMask[i] = pside === 'left' ? [...zeros, ...attentionMask[i]] : [...attentionMask[i], ...zeros];
    }
    return { inputIds, attentionMask };
  }

  async decode(ids: readonly number[], opts: DecodeOptions = {}): Promise<string> {
    const s = await this.native.decode([...ids], opts.skipSpecialTokens ?? false);
    return (opts.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces) ? cleanUp(s) : s;
  }

  async decodeBatch(batch: readonly (readonly number[])[], opts: DecodeOptions = {}): Promise<string[]> {
    if (batch.length === 0) return [];
    const out = await this.native.decodeBatch(batch.map((r) => [...r]), opts.skipSpecialTokens ?? false);
    return (opts.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces) ? out.map(cleanUp) : out;
  }

  /** Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json (+ vocab.json/merges.txt for BPE-file tokenizers). */
  save(dir: string): string[] {
    return saveTokenizer(this, dir);
  }

  /** @internal for save(): the state save() writes to the config files. */
  snapshot(): { special: Partial<Record<SpecialName, string>>; additional: string[]; template?: { bos: boolean; eos: boolean } } {
    return { special: { ...this.special }, additional: [...this.additional], template: this.template && { ...this.template } };
  }
}
