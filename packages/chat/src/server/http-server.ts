// createServer: the OpenAI-compatible HTTP server (node:http) over a ServedModel and its GenerationQueue.
import { timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GenerationQueue, type QueueOptions } from '../queue';
import type { ServedModel } from '../served-model';
import { ApiError } from './errors';
import { handleChatCompletions, handleCompletions, type EndpointContext } from './endpoints';
import { sendError, sendJson } from './responses';

export interface ServerOptions {
  model: ServedModel;
  queue?: QueueOptions;
  /** Largest request body accepted (default 4 MiB); larger is a 413. */
  maxBodyBytes?: number;
  /** One line per request (method, path, status, milliseconds). */
  log?: (line: string) => void;
  /** close() also closes the model (default true). */
  closeModel?: boolean;
  /** When set, /v1 requests need `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
}

export interface ListenInfo {
  host: string;
  port: number;
  /** http://host:port/v1, the openai client's baseURL. */
  url: string;
}

/** The server: listen, close, and the queue its requests wait in. */
export interface ChatServer {
  readonly http: http.Server;
  readonly queue: GenerationQueue;
  readonly model: ServedModel;
  /** Binds (default 127.0.0.1:8000; port 0 picks a free port). */
  listen(port?: number, host?: string): Promise<ListenInfo>;
  /** Stops accepting, cancels waiting and running requests, closes every connection (and the model). */
  close(): Promise<void>;
}

type Route = { methods: string[]; handle: (req: http.IncomingMessage, res: http.ServerResponse, params: string[]) => Promise<void> | void };

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (n: number): ApiError =>
    new ApiError(413, `Request body too large: ${n} bytes is over this server's limit of ${limit} bytes.`, { code: 'request_too_large' });
  const declared = Number(req.headers['content-length']);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else if (size > 16 * limit) req.destroy(); // stop reading a client that will not stop sending
    });
    req.on('end', () => (size > limit ? reject(tooLarge(size)) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
    if (Number.isFinite(declared) && declared > limit) {
      reject(tooLarge(declared));
      req.resume();
    }
  });
}

function authorized(header: string | undefined, key: string): boolean {
  const got = Buffer.from(header ?? '');
  const want = Buffer.from(`Bearer ${key}`);
  return got.length === want.length && timingSafeEqual(got, want);
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new ApiError(400, "We could not parse the JSON body of your request. The server expects a JSON payload, but what was sent was not valid JSON.", { code: 'invalid_json' });
  }
}

export function createServer(opts: ServerOptions): ChatServer {
  const model = opts.model;
  const queue = new GenerationQueue(model.engine, { contextLength: model.contextLength, ...opts.queue });
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const created = Math.floor(Date.now() / 1000);
  const inflight = new Set<Promise<void>>();
  let closing = false;
  const ctx: EndpointContext = { model, queue, closing: () => closing };

  const jsonBody = async (req: http.IncomingMessage): Promise<unknown> => parseJson(await readBody(req, maxBody));
  const modelCard = { id: model.id, object: 'model', created, owned_by: 'rlhfkit', root: model.id, parent: null, max_model_len: model.contextLength };
  const routes: [RegExp, Route][] = [
    [/^\/health$/, {
      methods: ['GET', 'HEAD'],
      handle: (_q, res) => {
        const ok = model.engine.alive() && !closing;
        sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', model: model.id, pending: queue.pending, running: queue.running });
      },
    }],
    [/^\/v1\/models$/, { methods: ['GET', 'HEAD'], handle: (_q, res) => sendJson(res, 200, { object: 'list', data: [modelCard] }) }],
    [/^\/v1\/models\/(.+)$/, {
      methods: ['GET', 'HEAD'],
      handle: (_q, res, [id]) => {
        if (decodeURIComponent(id) !== model.id) throw new ApiError(404, `The model \`${decodeURIComponent(id)}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
        sendJson(res, 200, modelCard);
      },
    }],
    [/^\/v1\/chat\/completions$/, { methods: ['POST'], handle: async (req, res) => handleChatCompletions(ctx, await jsonBody(req), res) }],
    [/^\/v1\/completions$/, { methods: ['POST'], handle: async (req, res) => handleCompletions(ctx, await jsonBody(req), res) }],
  ];

  const dispatch = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = (new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/');
    const found = routes.map(([re, r]) => ({ m: re.exec(path), r })).find((x) => x.m !== null);
    if (!found) throw new ApiError(404, `Invalid URL (${method} ${path})`, { code: 'unknown_url' });
    if (!found.r.methods.includes(method)) {
      res.setHeader('allow', found.r.methods.join(', '));
      throw new ApiError(405, `Method ${method} is not allowed on ${path}; use ${found.r.methods.filter((x) => x !== 'HEAD').join(' or ')}.`, { code: 'method_not_allowed' });
    }
    if (opts.apiKey !== undefined && path.startsWith('/v1/') && !authorized(req.headers.authorization, opts.apiKey)) {
      throw new ApiError(401, 'Incorrect API key provided.', { code: 'invalid_api_key' });
    }
    if (closing && path !== '/health') throw new ApiError(503, 'The server is shutting down.', { code: 'server_shutting_down' });
    await found.r.handle(req, res, found.m!.slice(1));
  };

  const server = http.createServer((req, res) => {
    const t0 = Date.now();
    res.on('finish', () => opts.log?.(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - t0}ms`));
    const done = dispatch(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        if (!res.writableEnded) res.end();
        return;
      }
      // A body we did not read to the end would be parsed as the next request: close such connections.
      const headers: Record<string, string> = req.complete ? {} : { connection: 'close' };
      const err = sendError(res, e, headers);
      if (err.status >= 500 && err.code === 'internal_error') opts.log?.(`error: ${err.message}`);
    });
    inflight.add(done);
    void done.finally(() => inflight.delete(done));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n' +
      JSON.stringify(new ApiError(400, 'Malformed HTTP request.', { code: 'bad_http' }).body()));
    else socket.destroy();
  });

  let closed: Promise<void> | null = null;
  return {
    http: server,
    queue,
    model,
    listen(port = 8000, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          resolve({ host: a.address, port: a.port, url: `http://${shown}:${a.port}/v1` });
        });
      });
    },
    close() {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await queue.close();
        await Promise.allSettled([...inflight]);
        server.closeAllConnections();
        await stopped;
        if (opts.closeModel !== false) await model.close();
      })();
      return closed;
    },
  };
}
