// Bearer-token guard of the admin API (DESIGN section 10). One shared secret, ADMIN_TOKEN:
// compared in constant time, and a Worker without one (or with a token too short to resist
// guessing) refuses every admin call instead of running open.
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';

// Shorter than this is a placeholder, not a secret; `npm start` generates 32 random bytes.
export const ADMIN_TOKEN_LENGTH_MIN = 16;
// Bounds the work a hostile header can cause before it is refused.
const AUTHORIZATION_LENGTH_MAX = 1024;

const encoder = new TextEncoder();

/**
 * Equal strings → true, in time independent of where they differ. Both sides are hashed first so
 * the comparison also hides the configured token's length.
 */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [digest_a, digest_b] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(a)),
    crypto.subtle.digest('SHA-256', encoder.encode(b)),
  ]);
  const left = new Uint8Array(digest_a);
  const right = new Uint8Array(digest_b);
  let difference = 0;
  for (let i = 0; i < left.length; i++) difference |= left[i]! ^ right[i]!;
  return difference === 0;
}

function refuse(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message, { 'www-authenticate': 'Bearer realm="yikatong-admin"' });
}

/** Hono middleware: lets the request through only with `Authorization: Bearer <ADMIN_TOKEN>`. */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  const configured = c.env.ADMIN_TOKEN ?? '';
  if (configured.length < ADMIN_TOKEN_LENGTH_MIN) {
    throw refuse('the admin API is disabled: ADMIN_TOKEN is not configured');
  }
  const header = c.req.header('authorization') ?? '';
  if (header.length === 0) throw refuse('send Authorization: Bearer <admin token>');
  if (header.length > AUTHORIZATION_LENGTH_MAX) throw refuse('admin token is wrong');
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  if (match === null) throw refuse('send Authorization: Bearer <admin token>');
  if (!(await constantTimeEqual(match[1]!, configured))) throw refuse('admin token is wrong');
  await next();
};
