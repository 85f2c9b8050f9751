// OpenAI's error body {"error": {"message", "type", "param", "code"}} and the HTTP status that goes with it.

export type ApiErrorType = 'invalid_request_error' | 'not_found_error' | 'server_error' | 'rate_limit_error';

/** The JSON body OpenAI answers every failed request with. */
export interface OpenAIErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/** A request that cannot be served: thrown anywhere in a handler, written as a 4xx/5xx OpenAI error body. */
export class ApiError extends Error {
  readonly type: ApiErrorType;
  readonly param: string | null;
  readonly code: string | null;

  constructor(readonly status: number, message: string, opts: { type?: ApiErrorType; param?: string | null; code?: string | null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.type = opts.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 with a parameter name and code, as most validation failures are. */
export function badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, { param, code });
}
