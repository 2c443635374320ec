// Console sessions (issue 10): a random 32-byte id in the `ykt_console` cookie (HttpOnly,
// SameSite=Strict, Secure but on http://localhost), stored only as its SHA-256; at most 8 hours,
// ended after 30 minutes without a request, by sign-out, by revocation, or by the operator being
// disabled. Each session has its own CSRF token, returned at sign-in and by GET /session.
import type { Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import {
  CONSOLE_COOKIE,
  CONSOLE_SESSION_IDLE_MS_MAX,
  CONSOLE_SESSION_MS_MAX,
  type ConsoleSession,
} from '../../protocol/console.ts';
import { bytesToBase64Url, bytesToHex, sha256Hex } from '../../protocol/encoding.ts';
import type { Env } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { consoleAddress, type ConsoleEnv, type ConsoleOperator } from './context.ts';

const TOKEN_BYTES = 32;
const SESSION_ID_BYTES = 16;
// The idle clock is written at most this often, so reading pages is not a D1 write each time.
const LAST_SEEN_WRITE_MS = 60 * 1000;
const USER_AGENT_CHARS_MAX = 200;
const COOKIE_CHARS_MAX = 128;

export interface SessionRow {
  id: string;
  operator_id: string;
  csrf_token: string;
  method: 'password' | 'access';
  created_at_ms: number;
  last_seen_at_ms: number;
  expires_at_ms: number;
  revoked_at_ms: number | null;
  display_name: string;
  school_ids: string;
  disabled: number;
}

function randomToken(bytes: number): string {
  return bytesToBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** http://localhost and http://127.0.0.1 (local development) cannot take a Secure cookie. */
export function isLocalHttp(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === 'http:' && (parsed.hostname === 'localhost' || parsed.hostname === '127.0.0.1' || parsed.hostname === '[::1]');
}

export function parseSchoolIds(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

/** Starts a session for an operator already authenticated; sets the cookie on `c`. */
export async function startSession(
  c: Context<ConsoleEnv>,
  operator: { id: string; display_name: string; school_ids: string[] },
  method: 'password' | 'access',
  now_ms: number,
): Promise<ConsoleOperator> {
  const token = randomToken(TOKEN_BYTES);
  const session_id = bytesToHex(crypto.getRandomValues(new Uint8Array(SESSION_ID_BYTES)));
  const csrf_token = randomToken(TOKEN_BYTES);
  const expires_at_ms = now_ms + CONSOLE_SESSION_MS_MAX;
  await c.env.DB.prepare(
    `INSERT INTO operator_sessions (id, token_hash, operator_id, csrf_token, method, address, user_agent, created_at_ms, last_seen_at_ms, expires_at_ms)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)`,
  )
    .bind(
      session_id,
      await sha256Hex(token),
      operator.id,
      csrf_token,
      method,
      consoleAddress(c),
      (c.req.header('user-agent') ?? '').slice(0, USER_AGENT_CHARS_MAX) || null,
      now_ms,
      expires_at_ms,
    )
    .run();
  setCookie(c, CONSOLE_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/',
    secure: !isLocalHttp(c.req.url),
    maxAge: Math.floor(CONSOLE_SESSION_MS_MAX / 1000),
  });
  return {
    session_id,
    operator_id: operator.id,
    display_name: operator.display_name,
    school_ids: operator.school_ids,
    csrf_token,
    method,
    created_at_ms: now_ms,
    last_seen_at_ms: now_ms,
    expires_at_ms,
  };
}

export function clearSessionCookie(c: Context<ConsoleEnv>): void {
  deleteCookie(c, CONSOLE_COOKIE, { path: '/', secure: !isLocalHttp(c.req.url), httpOnly: true, sameSite: 'Strict' });
}

export const SESSION_READ_SQL = `SELECT s.id, s.operator_id, s.csrf_token, s.method, s.created_at_ms, s.last_seen_at_ms, s.expires_at_ms, s.revoked_at_ms,
       o.display_name, o.school_ids, o.disabled
  FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
 WHERE s.token_hash = ?1`;

function refuse(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message);
}

/** The signed-in operator of this request, or 401: no cookie, unknown, expired, idle, revoked, disabled. */
export async function readSession(c: Context<ConsoleEnv>, now_ms: number): Promise<ConsoleOperator> {
  const token = getCookie(c, CONSOLE_COOKIE);
  if (token === undefined || token.length === 0) throw refuse('sign in to the console first');
  if (token.length > COOKIE_CHARS_MAX) throw refuse('the session is not valid; sign in again');
  const row = await c.env.DB.prepare(SESSION_READ_SQL)
    .bind(await sha256Hex(token))
    .first<SessionRow>();
  if (row === null || row.revoked_at_ms !== null || row.disabled !== 0) throw refuse('the session has ended; sign in again');
  if (now_ms >= row.expires_at_ms) throw refuse('the session has expired (8 hours); sign in again');
  if (now_ms - row.last_seen_at_ms >= CONSOLE_SESSION_IDLE_MS_MAX) throw refuse('the session ended after 30 minutes without use; sign in again');
  let last_seen_at_ms = row.last_seen_at_ms;
  if (now_ms - row.last_seen_at_ms >= LAST_SEEN_WRITE_MS) {
    await c.env.DB.prepare('UPDATE operator_sessions SET last_seen_at_ms = ?2 WHERE id = ?1 AND last_seen_at_ms < ?2').bind(row.id, now_ms).run();
    last_seen_at_ms = now_ms;
  }
  return {
    session_id: row.id,
    operator_id: row.operator_id,
    display_name: row.display_name,
    school_ids: parseSchoolIds(row.school_ids),
    csrf_token: row.csrf_token,
    method: row.method,
    created_at_ms: row.created_at_ms,
    last_seen_at_ms,
    expires_at_ms: row.expires_at_ms,
  };
}

/** The session's answer to "who am I", with its school names. */
export async function sessionView(env: Env, operator: ConsoleOperator): Promise<ConsoleSession> {
  const rows = await env.DB.prepare(`SELECT id, name FROM schools WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id`)
    .bind(JSON.stringify(operator.school_ids))
    .all<{ id: string; name: string }>();
  return {
    operator_id: operator.operator_id,
    display_name: operator.display_name,
    schools: rows.results.map((row) => ({ school_id: row.id, name: row.name })),
    csrf_token: operator.csrf_token,
    method: operator.method,
    created_at_ms: operator.created_at_ms,
    expires_at_ms: operator.expires_at_ms,
    idle_expires_at_ms: Math.min(operator.expires_at_ms, operator.last_seen_at_ms + CONSOLE_SESSION_IDLE_MS_MAX),
  };
}

/** Ends every live session of an operator (the administrator's revoke, disabling). */
export function revokeOperatorSessionsStatement(d1: D1Database, operator_id: string, now_ms: number): D1PreparedStatement {
  return d1
    .prepare('UPDATE operator_sessions SET revoked_at_ms = ?2 WHERE operator_id = ?1 AND revoked_at_ms IS NULL AND expires_at_ms > ?2')
    .bind(operator_id, now_ms);
}
