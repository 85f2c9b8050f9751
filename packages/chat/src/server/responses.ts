// Writing responses: JSON bodies, OpenAI error bodies, and server-sent events ending with `data: [DONE]`.
import type * as http from 'node:http';
import { ApiError } from './errors';

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Any error as an ApiError (unknown ones are a 500 whose message says what failed). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ApiError(500, `The server had an error while processing your request: ${msg}`, { code: 'internal_error' });
}

export function sendError(res: http.ServerResponse, e: unknown, headers: Record<string, string> = {}): ApiError {
  const err = toApiError(e);
  sendJson(res, err.status, err.body(), headers);
  return err;
}

/** A text/event-stream response: one `data: {json}` event per chunk, then `data: [DONE]`. */
export class SseWriter {
  private opened = false;

  constructor(private readonly res: http.ServerResponse) {}

  /** Whether the client is gone or the stream was ended. */
  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  open(): void {
    if (this.opened || this.closed) return;
    this.opened = true;
    this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    this.res.flushHeaders();
  }

  event(data: unknown): void {
    if (this.closed) return;
    this.open();
    this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** An error after the stream began: an `error` event (what vLLM sends and the openai client raises), then [DONE]. */
  error(e: unknown): void {
    if (!this.opened) {
      sendError(this.res, e);
      return;
    }
    this.event(toApiError(e).body());
    this.done();
  }

  done(): void {
    if (this.closed) return;
    this.open();
    this.res.end('data: [DONE]\n\n');
  }
}
