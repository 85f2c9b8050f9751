import { ApiError } from './errors';
import { parseChatRequest, parseCompletionRequest, parseMessages } from './requests';

const ctx = { vocabSize: 760, defaults: {} };
const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });

function refusal(fn: () => unknown): { status: number; param: string | null; code: string | null; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return { status: e.status, param: e.param, code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected an ApiError');
}

describe('request validation', () => {
  it("maps OpenAI's sampling fields onto the engine's (temperature 0 or top_p 0 = greedy)", () => {
    const r = parseChatRequest(chat({ temperature: 0.7, top_p: 0.9, presence_penalty: 0.5, frequency_penalty: -1, stop: 'END', n: 3, seed: -1, max_tokens: 9 }), ctx);
    expect(r.sampling).toEqual({ temperature: 0.7, topP: 0.9, topK: 0, repetitionPenalty: 1, minNewTokens: 0, seed: 2 ** 32 - 1 });
    expect(r).toMatchObject({ n: 3, stop: ['END'], maxTokens: 9, penalties: { presence: 0.5, frequency: -1, logitBias: [] }, stream: false });
    expect(parseChatRequest(chat({ top_p: 0, temperature: 1 }), ctx).sampling).toMatchObject({ temperature: 0, topP: 1 });
    expect(parseChatRequest(chat({ max_completion_tokens: 4, max_tokens: 9 }), ctx).maxTokens).toBe(4);
    expect(parseChatRequest(chat(), ctx)).toMatchObject({ maxTokens: undefined, penalties: undefined, n: 1, sampling: { temperature: 1 } });
  });

  it("takes generation_config.json's sampling values for fields a request leaves out, and vLLM's extensions", () => {
    const r = parseChatRequest(chat({ top_k: 5, min_tokens: 2, repetition_penalty: 1.2, ignore_eos: true }), { vocabSize: 760, defaults: { temperature: 0.6, topP: 0.9 } });
    expect(r.sampling).toEqual({ temperature: 0.6, topP: 0.9, topK: 5, repetitionPenalty: 1.2, minNewTokens: 2 });
    expect(r.ignoreEos).toBe(true);
    expect(parseChatRequest(chat({ top_k: -1 }), ctx).sampling.topK).toBe(0);
  });

  it('reads messages: text parts joined, developer as system, assistant content optional, null as unset', () => {
    expect(parseMessages([
      { role: 'developer', content: 'be brief' },
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], name: 'me' },
      { role: 'assistant', content: null },
    ])).toEqual([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'a\nb' }, { role: 'assistant', content: '' }]);
    expect(parseChatRequest(chat({ temperature: null, tool_choice: 'none', response_format: { type: 'text' }, user: 'u' }), ctx).sampling.temperature).toBe(1);
  });

  it("words its refusals as OpenAI does", () => {
    expect(refusal(() => parseChatRequest(chat({ temperature: 'hot' }), ctx))).toEqual({
      status: 400, param: 'temperature', code: 'invalid_type', message: "Invalid type for 'temperature': expected a decimal, but got a string instead.",
    });
    expect(refusal(() => parseChatRequest(chat({ n: 0 }), ctx)).message).toBe("Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.");
    expect(refusal(() => parseChatRequest(chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), ctx)).code).toBe('array_above_max_length');
    expect(refusal(() => parseChatRequest(chat({ messages: [{ role: 'robot', content: 'x' }] }), ctx)).message).toBe(
      "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
    );
    expect(refusal(() => parseChatRequest(chat({ foo: 1 }), ctx)).message).toBe('Unrecognized request argument supplied: foo');
    expect(refusal(() => parseChatRequest(chat({ top_logprobs: 2 }), ctx)).param).toBe('top_logprobs');
    expect(refusal(() => parseChatRequest(chat({ logprobs: true, top_logprobs: 21 }), ctx)).code).toBe('integer_above_max_value');
    expect(parseChatRequest(chat({ logprobs: true, top_logprobs: 3 }), ctx).logprobs).toBe(3);
    expect(parseChatRequest(chat({ logprobs: true }), ctx).logprobs).toBe(0);
    expect(parseChatRequest(chat({ logprobs: false }), ctx).logprobs).toBeUndefined();
    expect(refusal(() => parseChatRequest({ messages: [] }, ctx)).message).toBe("Missing required parameter: 'model'.");
  });

  it('reads completion prompts as text, text lists, token ids or token-id lists', () => {
    const base = { model: 'm' };
    expect(parseCompletionRequest({ ...base, prompt: 'hi' }, ctx)).toMatchObject({ prompts: ['hi'], maxTokens: 16, echo: false });
    expect(parseCompletionRequest({ ...base, prompt: ['a', 'b'], max_tokens: 0, echo: true }, ctx)).toMatchObject({ prompts: ['a', 'b'], maxTokens: 0, echo: true });
    expect(parseCompletionRequest({ ...base, prompt: [1, 2] }, ctx).prompts).toEqual([[1, 2]]);
    expect(parseCompletionRequest({ ...base, prompt: [[1], [2, 3]], best_of: 1 }, ctx).prompts).toEqual([[1], [2, 3]]);
    expect(refusal(() => parseCompletionRequest({ ...base, prompt: ['a', 1] }, ctx)).code).toBe('invalid_type');
    expect(refusal(() => parseCompletionRequest({ ...base, prompt: [[]] }, ctx)).code).toBe('empty_array');
    expect(refusal(() => parseCompletionRequest({ ...base, prompt: 'x', best_of: 2 }, ctx)).code).toBe('unsupported_value');
    expect(refusal(() => parseCompletionRequest({ ...base, prompt: 'x', suffix: 'y' }, ctx)).param).toBe('suffix');
    expect(parseCompletionRequest({ ...base, prompt: 'x', logprobs: 2 }, ctx).logprobs).toBe(2);
    expect(refusal(() => parseCompletionRequest({ ...base, prompt: 'x', logprobs: 6 }, ctx)).param).toBe('logprobs');
    expect(refusal(() => parseCompletionRequest({ ...base, prompt: 'x', logprobs: 1, echo: true }, ctx)).code).toBe('unsupported_value');
  });
});
