// `/api/v1/console/session` (issue 10): sign in (password or Cloudflare Access), who am I, sign
// out; `/sessions`: the operator's own sessions, each revocable. Sign-in is rate-limited per
// address and per operator name (RATE_LIMIT_SIGNIN), and every failure answers the same
// `sign_in_failed`, so the answer never says whether the name exists.
import { Hono } from 'hono';
import { consoleSignInRequest, type ConsoleSessionsResponse } from '../../protocol/console.ts';
import { accessConfigured, ACCESS_JWT_HEADER, verifyAccessAssertion } from '../console/access.ts';
import { auditStatement } from '../console/audit.ts';
import { consoleAddress, type ConsoleEnv } from '../console/context.ts';
import { verifyPassword } from '../console/password.ts';
import { clearSessionCookie, parseSchoolIds, sessionView, startSession } from '../console/session.ts';
import { ApiError } from '../http/errors.ts';
import { RATE_LIMIT_PERIOD_S } from '../http/rate-limit.ts';
import { readJson } from '../http/validate.ts';

const SESSIONS_LIST_MAX = 100;
const SESSION_ID = /^[0-9a-f]{32}$/;

interface OperatorRow {
  id: string;
  display_name: string;
  school_ids: string;
  password_hash: string | null;
  password_salt: string | null;
  password_iterations: number | null;
  disabled: number;
}

async function limitSignIn(limiter: RateLimit | undefined, key: string): Promise<void> {
  if (limiter === undefined) return;
  if (!(await limiter.limit({ key: key.slice(0, 128) })).success) {
    throw new ApiError(429, 'rate_limited', 'too many sign-in attempts; try again in a minute', { 'retry-after': String(RATE_LIMIT_PERIOD_S) });
  }
}

function signInFailed(): ApiError {
  return new ApiError(401, 'sign_in_failed', 'the name, the password or the Access sign-in was not accepted');
}

const OPERATOR_SQL = `SELECT id, display_name, school_ids, password_hash, password_salt, password_iterations, disabled FROM operators`;

export const consoleSessionRoutes = new Hono<ConsoleEnv>()
  .post('/session', async (c) => {
    const input = await readJson(c, consoleSignInRequest);
    const now_ms = Date.now();
    await limitSignIn(c.env.RATE_LIMIT_SIGNIN, `address:${consoleAddress(c)}`);
    let operator: OperatorRow | null;
    let method: 'password' | 'access';
    if ('password' in input) {
      await limitSignIn(c.env.RATE_LIMIT_SIGNIN, `operator:${input.operator_id}`);
      operator = await c.env.DB.prepare(`${OPERATOR_SQL} WHERE id = ?1`).bind(input.operator_id).first<OperatorRow>();
      const stored =
        operator !== null && operator.password_hash !== null && operator.password_salt !== null && operator.password_iterations !== null
          ? { password_hash: operator.password_hash, password_salt: operator.password_salt, password_iterations: operator.password_iterations }
          : null;
      if (!(await verifyPassword(input.password, stored))) throw signInFailed();
      method = 'password';
    } else {
      // A sign-in this console does not offer is the caller's mistake (4xx), not an outage.
      if (!accessConfigured(c.env)) throw new ApiError(404, 'access_not_configured', 'this console offers no Cloudflare Access sign-in');
      const identity = await verifyAccessAssertion(c.env, c.req.header(ACCESS_JWT_HEADER), now_ms);
      if (identity === null) throw signInFailed();
      operator = await c.env.DB.prepare(`${OPERATOR_SQL} WHERE access_email = ?1`).bind(identity.email).first<OperatorRow>();
      method = 'access';
    }
    if (operator === null || operator.disabled !== 0) throw signInFailed();
    const session = await startSession(
      c,
      { id: operator.id, display_name: operator.display_name, school_ids: parseSchoolIds(operator.school_ids) },
      method,
      now_ms,
    );
    return c.json(await sessionView(c.env, session), 201, { 'cache-control': 'no-store' });
  })
  .get('/session', async (c) => c.json(await sessionView(c.env, c.get('operator')), 200, { 'cache-control': 'no-store' }))
  .delete('/session', async (c) => {
    const operator = c.get('operator');
    await c.env.DB.prepare('UPDATE operator_sessions SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL')
      .bind(operator.session_id, Date.now())
      .run();
    clearSessionCookie(c);
    return c.json({ signed_out: true });
  })
  .get('/sessions', async (c) => {
    const operator = c.get('operator');
    const now_ms = Date.now();
    const rows = await c.env.DB.prepare(
      `SELECT id, method, address, user_agent, created_at_ms, last_seen_at_ms, expires_at_ms, revoked_at_ms
         FROM operator_sessions WHERE operator_id = ?1 AND revoked_at_ms IS NULL AND expires_at_ms > ?2
        ORDER BY created_at_ms DESC LIMIT ${SESSIONS_LIST_MAX}`,
    )
      .bind(operator.operator_id, now_ms)
      .all<{ id: string; method: 'password' | 'access'; address: string | null; user_agent: string | null; created_at_ms: number; last_seen_at_ms: number; expires_at_ms: number; revoked_at_ms: number | null }>();
    const body: ConsoleSessionsResponse = {
      sessions: rows.results.map(({ id, ...row }) => ({ session_id: id, current: id === operator.session_id, ...row })),
    };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  })
  .post('/sessions/:session_id/revoke', async (c) => {
    const operator = c.get('operator');
    const session_id = c.req.param('session_id');
    // Another operator's session answers as one that does not exist.
    if (!SESSION_ID.test(session_id)) throw new ApiError(404, 'not_found', 'no such session');
    const now_ms = Date.now();
    const [revoked] = await c.env.DB.batch([
      c.env.DB.prepare('UPDATE operator_sessions SET revoked_at_ms = ?3 WHERE id = ?1 AND operator_id = ?2 AND revoked_at_ms IS NULL').bind(
        session_id,
        operator.operator_id,
        now_ms,
      ),
      auditStatement(
        c.env.DB,
        operator,
        { school_id: '', action: 'session_revoke', target: session_id, before: { revoked: false }, after: { revoked: true }, at_ms: now_ms, address: consoleAddress(c) },
        { guard: 'EXISTS (SELECT 1 FROM operator_sessions WHERE id = ?9 AND operator_id = ?1 AND revoked_at_ms = ?6)', params: [session_id] },
      ),
    ]);
    if ((revoked?.meta.changes ?? 0) === 0) throw new ApiError(404, 'not_found', 'no such session');
    if (session_id === operator.session_id) clearSessionCookie(c);
    return c.json({ revoked: true });
  });
