// Conversation -> prompt text: DeepSpeed-Chat's " Human: ...\n Assistant: " turns, or the tokenizer's Jinja chat_template.
import * as fs from 'node:fs';
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from '@rlhfkit/core-tensor';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** How a conversation becomes the prompt of the next answer. */
export interface PromptFormat {
  readonly name: 'ds-chat' | 'chat-template';
  /** The prompt for the assistant's next answer. */
  render(messages: readonly ChatMessage[]): string;
  /** Whether the tokenizer adds bos/eos when encoding the rendered prompt (a chat template writes its own). */
  readonly addSpecialTokens: boolean;
  /** Strings that end an answer (the start of a turn the model invents). */
  readonly stop: readonly string[];
}

export const PROMPT_FORMATS = ['auto', 'ds-chat', 'chat-template'] as const;
export type PromptFormatChoice = (typeof PROMPT_FORMATS)[number];

/** DeepSpeed-Chat's chatbot turn markers. */
export const DS_HUMAN = ' Human: ';
export const DS_ASSISTANT = '\n Assistant: ';

/**
 * DeepSpeed-Chat's chatbot.py format: each user turn appends " Human: {input}\n Assistant: " to the history, each
 * answer is followed by a blank line, and the answer ends where the model starts a "Human:" turn of its own. A
 * system message (DeepSpeed-Chat has none) goes first, followed by a blank line.
 */
export const dsChatFormat: PromptFormat = {
  name: 'ds-chat',
  addSpecialTokens: true,
  stop: ['Human:'],
  render(messages) {
    let out = '';
    for (const m of messages) {
      if (m.role === 'system') out += `${m.content}\n\n`;
      else if (m.role === 'user') out += `${DS_HUMAN}${m.content}${DS_ASSISTANT}`;
      else out += `${m.content}\n\n`;
    }
    return out;
  },
};

/** Renders a Hugging Face chat template (Jinja) as transformers' apply_chat_template(add_generation_prompt=True) does. */
export class ChatTemplateFormat implements PromptFormat {
  readonly name = 'chat-template';
  readonly addSpecialTokens = false;
  readonly stop: readonly string[] = [];
  private readonly template: Template;

  constructor(readonly source: string, private readonly specialTokens: Record<string, string | undefined> = {}) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new Error(`the chat template does not parse: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  render(messages: readonly ChatMessage[], extra: Record<string, unknown> = {}): string {
    try {
      return this.template.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: true,
        ...this.specialTokens,
        ...extra,
      });
    } catch (e) {
      throw new ChatTemplateError(`the chat template failed to render: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/** A chat template refused the conversation (raise_exception) or failed. */
export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

/** tokenizer_config.json's chat_template: a string, or a list of named templates (the one named "default"). */
export function chatTemplateOf(raw: Record<string, unknown>): string | null {
  const t = raw.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name: string; template: string } => !!x && typeof x === 'object' && typeof (x as { template?: unknown }).template === 'string');
    return (named.find((x) => x.name === 'default') ?? named[0])?.template ?? null;
  }
  return null;
}

export interface ResolveFormatOptions {
  /** auto (a chat_template when there is one, else ds-chat), ds-chat, or chat-template. */
  format?: PromptFormatChoice;
  /** A template file (or the template text itself), overriding tokenizer_config.json's. */
  chatTemplate?: string;
}

/** The prompt format for a tokenizer: --prompt_format and --chat_template over what tokenizer_config.json says. */
export function resolvePromptFormat(tokenizer: Tokenizer, opts: ResolveFormatOptions = {}): PromptFormat {
  const choice = opts.format ?? 'auto';
  if (!(PROMPT_FORMATS as readonly string[]).includes(choice)) throw new Error(`--prompt_format must be one of ${PROMPT_FORMATS.join(', ')}, got '${choice}'`);
  if (choice === 'ds-chat') return dsChatFormat;
  let source: string | null = null;
  if (opts.chatTemplate !== undefined) source = fs.existsSync(opts.chatTemplate) ? fs.readFileSync(opts.chatTemplate, 'utf8') : opts.chatTemplate;
  else source = chatTemplateOf(tokenizer.settings.raw);
  if (source === null) {
    if (choice === 'chat-template') throw new Error('--prompt_format chat-template: the tokenizer_config.json has no chat_template; give one with --chat_template FILE');
    return dsChatFormat;
  }
  return new ChatTemplateFormat(source, {
    bos_token: tokenizer.bosToken,
    eos_token: tokenizer.eosToken,
    unk_token: tokenizer.unkToken,
    pad_token: tokenizer.padToken,
  });
}
