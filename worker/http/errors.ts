// One shape for every refusal: `{"error": {"code", "message"}}` with a 4xx status. Thrown as
// an exception from deep inside a handler, so validation never has to thread results back up.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { errorBody, type ErrorCode } from '../../protocol/errors.ts';

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function errorResponse(c: Context, status: ContentfulStatusCode, code: ErrorCode, message: string): Response {
  return c.json(errorBody(code, message), status);
}

/** Hono's onError: ApiError as its own answer; anything else is ours to fix, logged and 500. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
    return errorResponse(c, err.status, err.code, err.message);
  }
  console.error(JSON.stringify({ level: 'error', msg: 'unhandled', path: c.req.path, error: String(err?.stack ?? err) }));
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
}
