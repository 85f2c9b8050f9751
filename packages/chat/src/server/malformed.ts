// Fifty malformed requests, each with the status OpenAI answers it with: the server's robustness fixture.

export interface MalformedRequest {
  name: string;
  method?: string;
  path?: string;
  /** A JSON value (serialized) or raw text. */
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  /** The `param` the error names, when it names one. */
  param?: string;
}

const chat = (extra: Record<string, unknown>): Record<string, unknown> => ({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], ...extra });
const msg = (m: unknown): Record<string, unknown> => ({ model: 'tiny', messages: [m] });
const cmpl = (extra: Record<string, unknown>): Record<string, unknown> => ({ model: 'tiny', prompt: 'hi', ...extra });
const C = '/v1/completions';

/** For a served model named `tiny` with a 128-token context and vocabulary 760. */
export const MALFORMED_REQUESTS: MalformedRequest[] = [
  { name: 'truncated JSON', raw: '{"model": "tiny", "messages": [', status: 400 },
  { name: 'empty body', raw: '', status: 400 },
  { name: 'not JSON at all', raw: 'model=tiny&prompt=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 400 },
  { name: 'JSON array body', body: [1, 2, 3], status: 400 },
  { name: 'JSON string body', body: 'hello', status: 400 },
  { name: 'missing model', body: { messages: [{ role: 'user', content: 'hi' }] }, status: 400, param: 'model' },
  { name: 'model of the wrong type', body: chat({ model: 42 }), status: 400, param: 'model' },
  { name: 'unknown model', body: chat({ model: 'gpt-9' }), status: 404, param: 'model' },
  { name: 'missing messages', body: { model: 'tiny' }, status: 400, param: 'messages' },
  { name: 'messages not an array', body: chat({ messages: 'hi' }), status: 400, param: 'messages' },
  { name: 'empty messages', body: chat({ messages: [] }), status: 400, param: 'messages' },
  { name: 'message not an object', body: msg('hi'), status: 400, param: 'messages[0]' },
  { name: 'message without role', body: msg({ content: 'hi' }), status: 400, param: 'messages[0].role' },
  { name: 'unknown role', body: msg({ role: 'wizard', content: 'hi' }), status: 400, param: 'messages[0].role' },
  { name: 'tool role', body: msg({ role: 'tool', content: 'hi', tool_call_id: 'x' }), status: 400, param: 'messages[0].role' },
  { name: 'content of the wrong type', body: msg({ role: 'user', content: 42 }), status: 400, param: 'messages[0].content' },
  { name: 'user message without content', body: msg({ role: 'user' }), status: 400, param: 'messages[0].content' },
  { name: 'image part', body: msg({ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }), status: 400, param: 'messages[0].content[0].type' },
  { name: 'audio part', body: msg({ role: 'user', content: [{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }] }), status: 400, param: 'messages[0].content[0].type' },
  { name: 'unknown part type', body: msg({ role: 'user', content: [{ type: 'video' }] }), status: 400, param: 'messages[0].content[0].type' },
  { name: 'text part without text', body: msg({ role: 'user', content: [{ type: 'text' }] }), status: 400, param: 'messages[0].content[0].text' },
  { name: 'temperature as a string', body: chat({ temperature: 'hot' }), status: 400, param: 'temperature' },
  { name: 'temperature above 2', body: chat({ temperature: 2.5 }), status: 400, param: 'temperature' },
  { name: 'negative temperature', body: chat({ temperature: -1 }), status: 400, param: 'temperature' },
  { name: 'top_p above 1', body: chat({ top_p: 1.5 }), status: 400, param: 'top_p' },
  { name: 'presence_penalty above 2', body: chat({ presence_penalty: 3 }), status: 400, param: 'presence_penalty' },
  { name: 'frequency_penalty below -2', body: chat({ frequency_penalty: -2.5 }), status: 400, param: 'frequency_penalty' },
  { name: 'five stop strings', body: chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), status: 400, param: 'stop' },
  { name: 'stop as a number', body: chat({ stop: 42 }), status: 400, param: 'stop' },
  { name: 'empty stop string', body: chat({ stop: [''] }), status: 400, param: 'stop' },
  { name: 'n = 0', body: chat({ n: 0 }), status: 400, param: 'n' },
  { name: 'fractional n', body: chat({ n: 1.5 }), status: 400, param: 'n' },
  { name: 'max_tokens = 0', body: chat({ max_tokens: 0 }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens as a string', body: chat({ max_tokens: '10' }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens past the context', body: chat({ max_tokens: 100000 }), status: 400, param: 'messages' },
  { name: 'prompt longer than the context', body: msg({ role: 'user', content: 'lorem ipsum '.repeat(200) }), status: 400, param: 'messages' },
  { name: 'stream as a string', body: chat({ stream: 'yes' }), status: 400, param: 'stream' },
  { name: 'stream_options without stream', body: chat({ stream_options: { include_usage: true } }), status: 400, param: 'stream_options' },
  { name: 'logit_bias with a non-id key', body: chat({ logit_bias: { abc: 5 } }), status: 400, param: 'logit_bias' },
  { name: 'logit_bias out of range', body: chat({ logit_bias: { 5: 500 } }), status: 400, param: 'logit_bias.5' },
  { name: 'fractional seed', body: chat({ seed: 1.5 }), status: 400, param: 'seed' },
  { name: 'unknown parameter', body: chat({ temprature: 0.5 }), status: 400, param: 'temprature' },
  { name: 'tools', body: chat({ tools: [{ type: 'function', function: { name: 'f' } }] }), status: 400, param: 'tools' },
  { name: 'json response_format', body: chat({ response_format: { type: 'json_object' } }), status: 400, param: 'response_format.type' },
  { name: 'completions without prompt', path: C, body: { model: 'tiny' }, status: 400, param: 'prompt' },
  { name: 'completions with an empty prompt list', path: C, body: cmpl({ prompt: [] }), status: 400, param: 'prompt' },
  { name: 'token id outside the vocabulary', path: C, body: cmpl({ prompt: [99999] }), status: 400, param: 'prompt' },
  { name: 'prompt as an object', path: C, body: cmpl({ prompt: { text: 'hi' } }), status: 400, param: 'prompt' },
  { name: 'GET on a POST endpoint', method: 'GET', status: 405 },
  { name: 'unknown path', path: '/v1/embeddings', body: { model: 'tiny', input: 'hi' }, status: 404 },
];
