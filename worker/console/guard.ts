// The console's gate (issue 10), run before every /api/v1/console/* route: a state-changing
// request must come from the Worker's own origin (when the browser says where it comes from)
// and carry the session's CSRF token in X-Console-CSRF; every request but sign-in needs a live
// session. A cross-site form post has neither the header nor our Origin: 403 `csrf_refused`.
import type { MiddlewareHandler } from 'hono';
import { CONSOLE_CSRF_HEADER, CONSOLE_PREFIX } from '../../protocol/console.ts';
import { timingSafeEqual, utf8 } from '../../protocol/encoding.ts';
import { ApiError } from '../http/errors.ts';
import type { ConsoleEnv, ConsoleOperator } from './context.ts';
import { readSession } from './session.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const CSRF_HEADER_CHARS_MAX = 128;

function csrfRefused(message: string): ApiError {
  return new ApiError(403, 'csrf_refused', message);
}

export const consoleGuard: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  const state_changing = !SAFE_METHODS.has(c.req.method);
  if (state_changing) {
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== new URL(c.req.url).origin) {
      throw csrfRefused('this request came from another site');
    }
  }
  const signing_in = c.req.method === 'POST' && c.req.path === `${CONSOLE_PREFIX}/session`;
  if (signing_in) return next();
  const operator = await readSession(c, Date.now());
  if (state_changing) {
    const sent = c.req.header(CONSOLE_CSRF_HEADER) ?? '';
    if (sent.length === 0) throw csrfRefused(`send the session's CSRF token as ${CONSOLE_CSRF_HEADER}`);
    if (sent.length > CSRF_HEADER_CHARS_MAX || !timingSafeEqual(utf8(sent), utf8(operator.csrf_token))) {
      throw csrfRefused(`${CONSOLE_CSRF_HEADER} is not this session's token`);
    }
  }
  c.set('operator', operator);
  await next();
};

/**
 * The school, if the operator may see it; otherwise 404 exactly as for a school that does not
 * exist, so the answer never says which other schools there are.
 */
export function scopedSchool(operator: ConsoleOperator, school_id: string): string {
  if (!operator.school_ids.includes(school_id)) throw new ApiError(404, 'school_not_found', 'no such school');
  return school_id;
}
