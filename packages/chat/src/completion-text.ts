// One generated answer as text: token ids in, streamable text deltas out, ending at EOS, a stop string or the token limit.
import { IncrementalDetokenizer, type SyncDecode } from './detokenizer';
import type { TokenLogprob } from './logprobs';
import { StopStringMatcher } from './stop-strings';

/** OpenAI's finish reasons that a plain text model can give. */
export type FinishReason = 'stop' | 'length';

export interface CompletionTextOptions {
  decode: SyncDecode;
  /** The prompt ids: their tail gives the first new tokens their decoding context. */
  promptIds?: readonly number[];
  /** Ids left out of the text (special tokens). */
  skipIds?: ReadonlySet<number>;
  /** Ids that end the answer (not shown). */
  eos?: readonly number[];
  stop?: readonly string[];
  /** New tokens at most. */
  maxTokens: number;
  /** Text of a single token for log-probability entries (default: decode([id])). */
  tokenText?: (id: number) => string;
}

/** A token with its log-probability, as OpenAI's logprobs show it. */
export interface LogprobEntry {
  id: number;
  token: string;
  logprob: number;
  top: { id: number; token: string; logprob: number }[];
}

export interface TextStep {
  /** Text to show now ('' while a character or a possible stop string is incomplete). */
  text: string;
  /** Set on the token that ended the answer. */
  finish: FinishReason | null;
  /** Log-probabilities of the tokens behind `text` (those consumed since the last step that showed text). */
  logprobs: LogprobEntry[];
}

/** Follows one row of a generation; feed it every token the row produced, in order, until `finished`. */
export class CompletionText {
  private readonly detok: IncrementalDetokenizer;
  private readonly stops: StopStringMatcher;
  private readonly eos: ReadonlySet<number>;
  private out = '';
  /** Tokens consumed (the one that ended the answer included), OpenAI's completion_tokens. */
  tokens = 0;
  finishReason: FinishReason | null = null;
  /** The stop string that ended the text, if any. */
  stopString: string | null = null;
  /** Every token's log-probability entry (EOS left out), when they were given to push(). */
  readonly logprobs: LogprobEntry[] = [];
  private unsent: LogprobEntry[] = [];

  constructor(private readonly opts: CompletionTextOptions) {
    this.detok = new IncrementalDetokenizer(opts.decode, opts.promptIds ?? [], opts.skipIds);
    this.stops = new StopStringMatcher(opts.stop ?? []);
    this.eos = new Set(opts.eos ?? []);
    if (opts.maxTokens <= 0) this.finishReason = 'length';
  }

  get finished(): boolean {
    return this.finishReason !== null;
  }

  /** The text shown so far. */
  get text(): string {
    return this.out;
  }

  push(id: number, logprob?: TokenLogprob): TextStep {
    if (this.finished) return { text: '', finish: null, logprobs: [] };
    this.tokens++;
    if (this.eos.has(id)) return this.end('stop', this.flushAll());
    if (logprob) this.record(id, logprob);
    const r = this.stops.push(this.detok.push(id));
    if (r.stop !== null) {
      this.stopString = r.stop;
      return this.end('stop', r.text);
    }
    if (this.tokens >= this.opts.maxTokens) return this.end('length', r.text + this.flushAll());
    this.out += r.text;
    return { text: r.text, finish: null, logprobs: r.text ? this.takeUnsent() : [] };
  }

  /** Ends the answer early (the generation stopped for another reason); returns the held-back text. */
  close(reason: FinishReason = 'length'): TextStep {
    if (this.finished) return { text: '', finish: null, logprobs: [] };
    return this.end(reason, this.flushAll());
  }

  private record(id: number, lp: TokenLogprob): void {
    const text = this.opts.tokenText ?? ((t: number) => this.opts.decode([t]));
    const entry = { id, token: text(id), logprob: lp.logprob, top: lp.top.map(([t, l]) => ({ id: t, token: text(t), logprob: l })) };
    this.logprobs.push(entry);
    this.unsent.push(entry);
  }

  private takeUnsent(): LogprobEntry[] {
    const out = this.unsent;
    this.unsent = [];
    return out;
  }

  private flushAll(): string {
    const r = this.stops.push(this.detok.flush());
    if (r.stop !== null) {
      this.stopString = r.stop;
      return r.text;
    }
    return r.text + this.stops.flush();
  }

  private end(reason: FinishReason, text: string): TextStep {
    this.finishReason = this.stopString !== null ? 'stop' : reason;
    this.out += text;
    return { text, finish: this.finishReason, logprobs: this.takeUnsent() };
  }
}
