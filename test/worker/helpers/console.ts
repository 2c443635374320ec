// Console sessions for workerd tests: operators made through the admin API, signed in through
// the real sign-in route, and requests carrying the session's cookie and CSRF token exactly as
// the console pages send them.
import { SELF, env } from 'cloudflare:test';
import { expect } from 'vitest';
import { CONSOLE_COOKIE, CONSOLE_CSRF_HEADER, type ConsoleSession } from '../../../protocol/console.ts';
import { ORIGIN, randomSuffix } from './hub.ts';
import { uniqueIp } from './fixtures.ts';
import { ADMIN_AUTH } from './seed.ts';

export interface TestOperator {
  operator_id: string;
  password: string;
  school_ids: string[];
}

export interface TestSession {
  operator_id: string;
  cookie: string;
  csrf_token: string;
  ip: string;
}

export async function createOperator(school_ids: string[], options: { access_email?: string } = {}): Promise<TestOperator> {
  const operator_id = `op-${randomSuffix(5)}`;
  const password = `pw-${randomSuffix(8)}`;
  const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/operators/${operator_id}`, {
    method: 'PUT',
    headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ school_ids, display_name: `测试 ${operator_id}`, password, ...options }),
  });
  expect(response.status, await response.clone().text()).toBe(201);
  return { operator_id, password, school_ids };
}

export function signInRequest(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/console/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp(), ...headers },
    body: JSON.stringify(body),
  });
}

/** The cookie value a response set, or null. */
export function sessionCookie(response: Response): string | null {
  const header = response.headers.get('set-cookie') ?? '';
  const match = new RegExp(`${CONSOLE_COOKIE}=([^;]*)`).exec(header);
  return match === null || match[1] === '' ? null : match[1]!;
}

export async function signIn(operator: TestOperator): Promise<TestSession> {
  const ip = uniqueIp();
  const response = await signInRequest({ operator_id: operator.operator_id, password: operator.password }, { 'cf-connecting-ip': ip });
  expect(response.status, await response.clone().text()).toBe(201);
  const session = (await response.json()) as ConsoleSession;
  const cookie = sessionCookie(response);
  expect(cookie).not.toBeNull();
  return { operator_id: operator.operator_id, cookie: cookie!, csrf_token: session.csrf_token, ip };
}

export async function operatorSession(school_ids: string[]): Promise<TestSession> {
  return signIn(await createOperator(school_ids));
}

/** A console request as the pages make it: cookie, CSRF token, same origin. `null` session: signed out. */
export function consoleFetch(
  session: TestSession | null,
  method: string,
  path: string,
  options: { body?: unknown; type?: string; headers?: Record<string, string>; csrf?: boolean } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (session !== null) {
    headers.cookie = `${CONSOLE_COOKIE}=${session.cookie}`;
    headers['cf-connecting-ip'] = session.ip;
    if (options.csrf !== false && method !== 'GET') {
      headers[CONSOLE_CSRF_HEADER] = session.csrf_token;
      headers.origin ??= ORIGIN;
    }
  }
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= options.type ?? 'application/json';
  }
  return SELF.fetch(`${ORIGIN}/api/v1/console${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
}

export async function consoleJson<T>(session: TestSession, method: string, path: string, body?: unknown, expected = 200): Promise<T> {
  const response = await consoleFetch(session, method, path, body === undefined ? {} : { body });
  expect(response.status, await response.clone().text()).toBe(expected);
  return (await response.json()) as T;
}

/** Moves a session's clocks back, as if it had been signed in `age_ms` ago and idle for `idle_ms`. */
export async function ageSession(session: TestSession, age_ms: number, idle_ms: number): Promise<void> {
  const now_ms = Date.now();
  const hash = await sha256Hex(session.cookie);
  const result = await env.DB.prepare(
    'UPDATE operator_sessions SET created_at_ms = ?2, expires_at_ms = ?2 + 28800000, last_seen_at_ms = ?3 WHERE token_hash = ?1',
  )
    .bind(hash, now_ms - age_ms, now_ms - idle_ms)
    .run();
  expect(result.meta.changes).toBe(1);
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function auditRows(school_id: string): Promise<{ operator_id: string; action: string; target: string; before_json: string | null; after_json: string | null; at_ms: number }[]> {
  return (await env.DB.prepare('SELECT * FROM console_audit WHERE school_id = ? ORDER BY id').bind(school_id).all<{ operator_id: string; action: string; target: string; before_json: string | null; after_json: string | null; at_ms: number }>()).results;
}
