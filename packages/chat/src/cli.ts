// `rlhfkit chat` (DeepSpeed-Chat's chat.py / chatbot.py) and `rlhfkit serve` (an OpenAI-compatible HTTP server).
import type { Argv, CommandModule } from 'yargs';
import { flagOption, initBackend } from '@rlhfkit/core-tensor';
import { PROMPT_FORMATS, type PromptFormatChoice } from './chat-format';
import { ChatSession } from './chat-session';
import type { SamplingParams } from './engine';
import { runChatRepl } from './repl';
import { createServer } from './server/http-server';
import { loadServedModel } from './served-model';

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

interface CommonArgs {
  path: string;
  prompt_format: PromptFormatChoice;
  chat_template?: string;
  backend?: string;
  threads?: number;
}

function commonOptions<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .option('path', { type: 'string', demandOption: true, describe: 'the model folder (Hugging Face layout: config.json, weights, tokenizer)' })
    .option('prompt_format', {
      alias: 'prompt-format', type: 'string', choices: [...PROMPT_FORMATS], default: 'auto',
      describe: "how turns become the prompt: the tokenizer's chat_template when it has one (auto), DeepSpeed-Chat's \" Human: ...\\n Assistant: \" (ds-chat), or the template (chat-template)",
    })
    .option('chat_template', { alias: 'chat-template', type: 'string', describe: 'a Jinja chat template file (or the template text) used instead of tokenizer_config.json\'s' })
    .option('backend', flagOption('backend'))
    .option('threads', flagOption('threads')) as unknown as Argv<T & CommonArgs>;
}

interface ChatArgs extends CommonArgs {
  max_new_tokens: number;
  system?: string;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  repetition_penalty?: number;
  seed?: number;
}

async function runChat(a: ChatArgs): Promise<void> {
  await initBackend({ backend: a.backend, threads: a.threads });
  const model = await loadServedModel(a.path, { worker: false, promptFormat: a.prompt_format, chatTemplate: a.chat_template });
  try {
    const g = model.engine.info.generationDefaults;
    const sampling: Partial<SamplingParams> = { topK: a.top_k, topP: a.top_p, repetitionPenalty: a.repetition_penalty, seed: a.seed };
    if (a.do_sample === false) sampling.temperature = 0;
    else if (a.do_sample === true) sampling.temperature = a.temperature ?? g.temperature ?? 1;
    else if (a.temperature !== undefined) sampling.temperature = a.temperature;
    const session = new ChatSession(model, { maxNewTokens: a.max_new_tokens, sampling, system: a.system });
    say(`chat: ${model.id} (${model.format.name} prompts, ${model.contextLength}-token context, up to ${a.max_new_tokens} new tokens per answer)`);
    await runChatRepl(session, { input: process.stdin, output: process.stdout, log: say });
  } finally {
    await model.close();
  }
}

export const chatCommand: CommandModule<object, ChatArgs> = {
  command: 'chat',
  describe: "Multi-round chat with a model in the terminal (DeepSpeed-Chat's chat.py): 'clear' starts over, 'quit' exits",
  builder: (y) =>
    commonOptions(y)
      .option('max_new_tokens', { alias: 'max-new-tokens', type: 'number', default: 128, describe: 'new tokens per answer at most' })
      .option('system', { type: 'string', describe: 'a system message at the start of the conversation' })
      .option('do_sample', { alias: 'do-sample', type: 'boolean', describe: "sample instead of greedy decoding (default: the model's generation_config.json)" })
      .option('temperature', { type: 'number', describe: 'sampling temperature (0 = greedy)' })
      .option('top_k', { alias: 'top-k', type: 'number', describe: 'sampling: keep the k most likely tokens (0 = off)' })
      .option('top_p', { alias: 'top-p', type: 'number', describe: 'sampling: nucleus probability' })
      .option('repetition_penalty', { alias: 'repetition-penalty', type: 'number', describe: 'HF repetition penalty (1 = off)' })
      .option('seed', { type: 'number', describe: 'sampling seed' })
      .strict() as unknown as Argv<ChatArgs>,
  handler: runChat,
};

interface ServeArgs extends CommonArgs {
  host: string;
  port: number;
  served_model_name?: string;
  max_model_len?: number;
  max_num_seqs: number;
  batch_wait_ms: number;
  max_queue: number;
  max_body_bytes: number;
  api_key?: string;
  worker: boolean;
  log_requests: boolean;
}

async function runServe(a: ServeArgs): Promise<void> {
  // With the worker (the default) the model loads, and initBackend runs, in the worker thread.
  if (!a.worker) await initBackend({ backend: a.backend, threads: a.threads });
  const model = await loadServedModel(a.path, {
    worker: a.worker, backend: a.backend, threads: a.threads, maxModelLen: a.max_model_len, id: a.served_model_name,
    promptFormat: a.prompt_format, chatTemplate: a.chat_template,
  });
  const server = createServer({
    model, queue: { maxNumSeqs: a.max_num_seqs, batchWaitMs: a.batch_wait_ms, maxPending: a.max_queue }, maxBodyBytes: a.max_body_bytes, apiKey: a.api_key,
    log: a.log_requests ? say : undefined,
  });
  try {
    const info = await server.listen(a.port, a.host);
    if (!['127.0.0.1', '::1', 'localhost'].includes(a.host)) say(`rlhfkit serve: listening on ${a.host}, reachable from the network${a.api_key ? '' : ' without an --api_key'}`);
    say(`rlhfkit serve: model '${model.id}' (${model.format.name} prompts, ${model.contextLength}-token context)`);
    process.stdout.write(`Serving on ${info.url} (POST /chat/completions, POST /completions, GET /models; GET /health)\n`);
  } catch (e) {
    await server.close();
    throw e;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('rlhfkit serve: shutting down');
  await server.close();
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'An OpenAI-compatible HTTP server for a model folder (/v1/chat/completions, /v1/completions, /v1/models, /health)',
  builder: (y) =>
    commonOptions(y)
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to bind (0.0.0.0 serves the network)' })
      .option('port', { type: 'number', default: 8000, describe: 'port (0 picks a free one)' })
      .option('served_model_name', { alias: 'served-model-name', type: 'string', describe: "the model id clients use (default: the folder's name)" })
      .option('max_model_len', { alias: 'max-model-len', type: 'number', describe: "context length (default: the model's position table)" })
      .option('max_num_seqs', { alias: 'max-num-seqs', type: 'number', default: 16, describe: 'sequences decoded together in one batch (1 = one request at a time)' })
      .option('batch_wait_ms', { alias: 'batch-wait-ms', type: 'number', default: 5, describe: 'before a batch starts, wait this long for more requests to join it (0 = start at once)' })
      .option('max_queue', { alias: 'max-queue', type: 'number', default: 256, describe: 'requests allowed to wait; more get a 503' })
      .option('max_body_bytes', { alias: 'max-body-bytes', type: 'number', default: 4 * 1024 * 1024, describe: 'largest request body; larger gets a 413' })
      .option('api_key', { alias: 'api-key', type: 'string', describe: 'require "Authorization: Bearer KEY" on /v1 requests' })
      .option('worker', { type: 'boolean', default: true, describe: 'generate in a worker thread so the server answers while it decodes (--no-worker: in the main thread)' })
      .option('log_requests', { alias: 'log-requests', type: 'boolean', default: true, describe: 'one stderr line per request' })
      .strict() as unknown as Argv<ServeArgs>,
  handler: runServe,
};
