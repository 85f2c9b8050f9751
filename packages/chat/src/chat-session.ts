// ChatSession: DeepSpeed-Chat's multi-round chat as a library: history, clear, answers streamed as they are generated.
import { CompletionText, type FinishReason } from './completion-text';
import type { ChatMessage } from './chat-format';
import { StopFlags, type SamplingParams } from './engine';
import { defaultSampling, type ServedModel } from './served-model';

export interface ChatSessionOptions {
  /** New tokens per answer at most (DeepSpeed-Chat's --max_new_tokens, default 128). */
  maxNewTokens?: number;
  /** Overrides of the model's generation_config.json sampling (default: greedy unless it says do_sample). */
  sampling?: Partial<SamplingParams>;
  /** A system message kept at the start of the conversation (ds-chat puts it first, followed by a blank line). */
  system?: string;
}

export interface ChatReply {
  /** The answer (trailing whitespace removed), as kept in the history. */
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Earliest rounds left out of this prompt because the conversation outgrew the context (the history keeps them). */
  droppedRounds: number;
  /** Whether the prompt still had to be cut to its last tokens. */
  truncated: boolean;
}

/** One conversation with a model; `send` answers the next user turn given everything said so far. */
export class ChatSession {
  private history: ChatMessage[] = [];
  private readonly maxNewTokens: number;
  private readonly sampling: SamplingParams;

  constructor(readonly model: ServedModel, private readonly opts: ChatSessionOptions = {}) {
    this.maxNewTokens = opts.maxNewTokens ?? 128;
    if (!Number.isInteger(this.maxNewTokens) || this.maxNewTokens < 1) throw new Error(`maxNewTokens must be an integer >= 1, got ${this.maxNewTokens}`);
    this.sampling = defaultSampling(model, opts.sampling);
    this.clear();
  }

  /** The conversation so far (system message first, when there is one). */
  get messages(): readonly ChatMessage[] {
    return this.history;
  }

  /** Completed rounds since the start or the last clear(). */
  get rounds(): number {
    return this.history.filter((m) => m.role === 'assistant').length;
  }

  /** Forgets the conversation (DeepSpeed-Chat's `clear`). */
  clear(): void {
    this.history = this.opts.system ? [{ role: 'system', content: this.opts.system }] : [];
  }

  /** The prompt text the next answer to `input` would be generated from. */
  promptFor(input: string): string {
    return this.model.format.render([...this.history, { role: 'user', content: input }]);
  }

  /** Answers `input`, calling onText with each piece of text as soon as it is complete; the round joins the history. */
  async send(input: string, onText?: (delta: string) => void): Promise<ChatReply> {
    const { ids, droppedRounds, truncated } = await this.fitPrompt([...this.history, { role: 'user', content: input }]);
    const m = this.model;
    const maxTokens = Math.min(this.maxNewTokens, m.contextLength - ids.length);
    const answer = new CompletionText({ decode: m.decode, promptIds: ids, skipIds: m.skipIds, eos: m.eos, stop: m.format.stop, maxTokens });
    const stops = new StopFlags(1);
    await m.engine.run(
      { rows: [{ promptIds: ids, maxNewTokens: maxTokens }], sampling: this.sampling, eos: [...m.eos], pad: m.engine.info.pad },
      (_step, tokens) => {
        const r = answer.push(tokens[0]);
        if (r.text) onText?.(r.text);
        if (answer.finished) stops.set(0);
      },
      stops,
    );
    const tail = answer.close();
    if (tail.text) onText?.(tail.text);
    const text = answer.text.replace(/\s+$/, '');
    this.history.push({ role: 'user', content: input }, { role: 'assistant', content: text });
    return { text, finishReason: answer.finishReason ?? 'length', promptTokens: ids.length, completionTokens: answer.tokens, droppedRounds, truncated };
  }

  /** Encodes the conversation, leaving out the oldest rounds (then the oldest tokens) until an answer fits. */
  private async fitPrompt(messages: ChatMessage[]): Promise<{ ids: number[]; droppedRounds: number; truncated: boolean }> {
    const m = this.model;
    const room = m.contextLength - Math.min(this.maxNewTokens, Math.max(1, m.contextLength - 1));
    let msgs = messages;
    let dropped = 0;
    for (;;) {
      const ids = await m.tokenizer.encode(m.format.render(msgs), { addSpecialTokens: m.format.addSpecialTokens });
      const firstTurn = msgs.findIndex((x) => x.role !== 'system');
      const lastUser = msgs.length - 1;
      if (ids.length <= room || firstTurn >= lastUser) {
        if (ids.length === 0) throw new Error('the prompt encodes to no tokens; type something');
        const truncated = ids.length > room;
        return { ids: truncated ? ids.slice(ids.length - room) : ids, droppedRounds: dropped, truncated };
      }
      // Drop the earliest user turn and the answer after it.
      const next = msgs.findIndex((x, i) => i > firstTurn && x.role === 'user');
      msgs = [...msgs.slice(0, firstTurn), ...msgs.slice(next)];
      dropped++;
    }
  }
}
