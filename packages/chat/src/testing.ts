// Test fixtures: a tiny random model folder (never a download) and a scripted engine whose answers are known in advance.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTinyModel, initBackend, loadTokenizer, type Tokenizer } from '@rlhfkit/core-tensor';
import type { EngineModelInfo, EngineRequest, GenerationEngine, StopFlags, TokenListener } from './engine';
import { servedModel, type ServedModel, type ServedModelOptions } from './served-model';

/** A ChatML template (the Qwen/OpenHermes kind) that refuses tool messages with raise_exception. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'tool' %}{{ raise_exception('no tools') }}{% endif %}" +
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface TinyChatModel {
  dir: string;
  /** Removes the folder. */
  remove(): void;
}

/** A 2-layer, 32-wide random OPT with the GPT-2 BPE cut to 500 merges (vocab 760), 128 positions, in a temp folder. */
export async function tinyChatModel(opts: { chatTemplate?: string; maxPositions?: number } = {}): Promise<TinyChatModel> {
  await initBackend({ quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-chat-'));
  await createTinyModel(dir, { merges: 500, hiddenSize: 32, layers: 2, heads: 2, maxPositions: opts.maxPositions ?? 128, dropout: 0 });
  if (opts.chatTemplate !== undefined) {
    const file = path.join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...cfg, chat_template: opts.chatTemplate }, null, 2));
  }
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** What a scripted engine answers to a prompt: the token ids to produce, in order (EOS included if wanted). */
export type Script = (promptIds: readonly number[]) => number[];

/**
 * A GenerationEngine without a model: each row produces its script's tokens (then the pad id), one step per
 * event-loop turn, honouring stop flags and token limits exactly as the real engine does. For exact tests of
 * everything around the model (stop strings, finish reasons, streaming, queueing).
 */
export class ScriptedEngine implements GenerationEngine {
  readonly info: EngineModelInfo;
  /** Every request run, in order. */
  readonly runs: EngineRequest[] = [];
  /** Decoding steps taken, over all runs. */
  steps = 0;
  closed = false;
  /** Milliseconds per step (default 0: one event-loop turn). */
  stepDelayMs = 0;

  constructor(private readonly script: Script, info: Partial<EngineModelInfo> = {}) {
    this.info = { modelType: 'scripted', vocabSize: 760, contextLength: 128, eos: [756], pad: 756, generationDefaults: {}, ...info };
  }

  async run(req: EngineRequest, onTokens: TokenListener, stops: StopFlags): Promise<void> {
    this.runs.push(req);
    const plans = req.rows.map((r) => this.script(r.promptIds));
    const ended = req.rows.map((r) => r.maxNewTokens <= 0);
    const eos = new Set(req.eos);
    for (let step = 0; ended.some((e) => !e); step++) {
      await new Promise((resolve) => (this.stepDelayMs > 0 ? setTimeout(resolve, this.stepDelayMs) : setImmediate(resolve)));
      this.steps++;
      const tokens = plans.map((p, r) => (ended[r] ? req.pad : (p[step] ?? req.pad)));
      // Scripted log-probabilities: -0.5 for every token, with the next id as the only alternative.
      onTokens(step, tokens, req.logprobs === undefined ? undefined : tokens.map((t) => ({ logprob: -0.5, top: req.logprobs ? [[t, -0.5], [t + 1, -1.5]].slice(0, req.logprobs) as [number, number][] : [] })));
      tokens.forEach((t, r) => {
        if (!ended[r] && (eos.has(t) || step + 1 >= req.rows[r].maxNewTokens || stops.has(r))) ended[r] = true;
      });
    }
  }

  numTensors(): Promise<number> {
    return Promise.resolve(0);
  }

  alive(): boolean {
    return !this.closed;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** The GPT-2 tokenizer of a tiny model folder. */
export function tinyTokenizer(dir: string): Promise<Tokenizer> {
  return loadTokenizer(dir);
}

/** A ServedModel over a scripted engine and a real tokenizer. */
export function scriptedModel(engine: ScriptedEngine, tokenizer: Tokenizer, opts: Partial<ServedModelOptions> = {}): ServedModel {
  return servedModel(engine, tokenizer, { id: 'scripted', ...opts });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
}

/** One HTTP request with exactly the given method, headers and body bytes (for malformed requests the openai client cannot send). */
export function rawRequest(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string | number>; body?: string | Buffer },
): Promise<RawResponse> {
  const body = opts.body ?? '';
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? '/v1/chat/completions', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
