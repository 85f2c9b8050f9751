import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpt2TokenizerWithMerges, type Tokenizer } from '@rlhfkit/core-tensor';
import { CHATML_TEMPLATE as CHATML } from './testing';
import { ChatTemplateError, ChatTemplateFormat, chatTemplateOf, dsChatFormat, resolvePromptFormat, type ChatMessage } from './chat-format';

const convo: ChatMessage[] = [
  { role: 'user', content: 'what is internet explorer?' },
  { role: 'assistant', content: 'A web browser.' },
  { role: 'user', content: 'what is edge?' },
];

describe('prompt formats', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await gpt2TokenizerWithMerges(500);
  });

  it("ds-chat builds DeepSpeed-Chat's chatbot.py history", () => {
    expect(dsChatFormat.render(convo)).toBe(' Human: what is internet explorer?\n Assistant: A web browser.\n\n Human: what is edge?\n Assistant: ');
    expect(dsChatFormat.render([{ role: 'system', content: 'Be brief.' }, convo[0]])).toBe('Be brief.\n\n Human: what is internet explorer?\n Assistant: ');
    expect(dsChatFormat.stop).toEqual(['Human:']);
    expect(dsChatFormat.addSpecialTokens).toBe(true);
  });

  it('renders a Jinja chat template with the generation prompt and special tokens', () => {
    const f = new ChatTemplateFormat('{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}', {
      bos_token: '<s>',
    });
    expect(f.render(convo.slice(0, 1))).toBe('<s>[user] what is internet explorer?\n[assistant] ');
    expect(new ChatTemplateFormat(CHATML).render(convo)).toBe(
      '<|im_start|>user\nwhat is internet explorer?<|im_end|>\n<|im_start|>assistant\nA web browser.<|im_end|>\n' +
        '<|im_start|>user\nwhat is edge?<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(f.addSpecialTokens).toBe(false);
  });

  it('reports a template that raises or does not parse', () => {
    const f = new ChatTemplateFormat(CHATML);
    expect(() => f.render([{ role: 'tool' as never, content: 'x' }])).toThrow(ChatTemplateError);
    expect(() => new ChatTemplateFormat('{% for %}')).toThrow(/does not parse/);
  });

  it('reads chat_template as a string or as named templates', () => {
    expect(chatTemplateOf({ chat_template: 'T' })).toBe('T');
    expect(chatTemplateOf({ chat_template: [{ name: 'tool_use', template: 'A' }, { name: 'default', template: 'B' }] })).toBe('B');
    expect(chatTemplateOf({})).toBeNull();
  });

  it('picks the tokenizer template when present (auto), and obeys --prompt_format / --chat_template', () => {
    expect(resolvePromptFormat(tok).name).toBe('ds-chat');
    expect(() => resolvePromptFormat(tok, { format: 'chat-template' })).toThrow(/no chat_template/);
    const withTemplate = Object.create(tok, { settings: { value: { ...tok.settings, raw: { chat_template: CHATML } } } }) as Tokenizer;
    expect(resolvePromptFormat(withTemplate).name).toBe('chat-template');
    expect(resolvePromptFormat(withTemplate, { format: 'ds-chat' }).name).toBe('ds-chat');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tmpl-'));
    const file = path.join(dir, 't.jinja');
    fs.writeFileSync(file, '{% for m in messages %}{{ m.content }}|{% endfor %}{{ eos_token }}');
    try {
      expect(resolvePromptFormat(tok, { chatTemplate: file }).render(convo.slice(0, 1))).toBe('what is internet explorer?|<|endoftext|>');
      expect(resolvePromptFormat(tok, { chatTemplate: '{{ messages[0].content }}!' }).render(convo)).toBe('what is internet explorer?!');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => resolvePromptFormat(tok, { format: 'bogus' as never })).toThrow(/prompt_format/);
  });
});
