// Console sign-in, sessions and their ends (issue 10): password and Cloudflare Access sign-in,
// the cookie's attributes, who-am-I, sign-out, the 8-hour and 30-minute limits, revocation by
// the operator and by the administrator, disabled operators, and the sign-in rate limit.
import { SELF, env } from 'cloudflare:test';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConsoleSession, ConsoleSessionsResponse } from '../../protocol/console.ts';
import { bytesToBase64Url, utf8 } from '../../protocol/encoding.ts';
import { expectLedgerClean } from './helpers/audit.ts';
import { ageSession, consoleFetch, consoleJson, createOperator, sessionCookie, signIn, signInRequest } from './helpers/console.ts';
import { fetchWithConfig, freshSchool, uniqueIp } from './helpers/fixtures.ts';
import { ORIGIN } from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';
import { HOUR_MS, MINUTE_MS } from '../helpers/clock.ts';

afterAll(expectLedgerClean);

async function adminPut(operator_id: string, body: unknown): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/admin/operators/${operator_id}`, {
    method: 'PUT',
    headers: { ...ADMIN_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('console sign-in with a password', () => {
  it('signs in, sets a strict HttpOnly Secure cookie, and answers who the operator is with their schools', async () => {
    const school_id = await freshSchool({ name: '会话测试学校' });
    const operator = await createOperator([school_id]);
    const response = await signInRequest({ operator_id: operator.operator_id, password: operator.password });
    expect(response.status).toBe(201);
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^ykt_console=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).toMatch(/Secure/);
    const session = (await response.json()) as ConsoleSession;
    expect(session).toMatchObject({ operator_id: operator.operator_id, method: 'password', schools: [{ school_id, name: '会话测试学校' }] });
    expect(session.expires_at_ms - session.created_at_ms).toBe(8 * HOUR_MS);
    // Only the hash of the cookie is stored.
    const stored = await env.DB.prepare('SELECT token_hash FROM operator_sessions WHERE operator_id = ?').bind(operator.operator_id).first<{ token_hash: string }>();
    expect(stored!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored!.token_hash).not.toContain(sessionCookie(response)!);

    const who = await consoleJson<ConsoleSession>({ operator_id: operator.operator_id, cookie: sessionCookie(response)!, csrf_token: '', ip: uniqueIp() }, 'GET', '/session');
    expect(who.csrf_token).toBe(session.csrf_token);
    expect(who.schools).toEqual([{ school_id, name: '会话测试学校' }]);
  });

  it('leaves out Secure only on http://localhost, where a browser would refuse the cookie', async () => {
    const school_id = await freshSchool();
    const operator = await createOperator([school_id]);
    const response = await SELF.fetch('http://localhost/api/v1/console/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
      body: JSON.stringify({ operator_id: operator.operator_id, password: operator.password }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('refuses a wrong password and an unknown operator with the same answer, and sets no cookie', async () => {
    const school_id = await freshSchool();
    const operator = await createOperator([school_id]);
    const wrong = await signInRequest({ operator_id: operator.operator_id, password: `${operator.password}x` });
    const unknown = await signInRequest({ operator_id: 'nobody-here', password: operator.password });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const [a, b] = [await wrong.json(), await unknown.json()];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ error: { code: 'sign_in_failed' } });
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const count = await env.DB.prepare('SELECT COUNT(*) AS n FROM operator_sessions WHERE operator_id = ?').bind(operator.operator_id).first<{ n: number }>();
    expect(count!.n).toBe(0);
  });

  it('refuses a disabled operator, and disabling ends the sessions they had', async () => {
    const school_id = await freshSchool();
    const operator = await createOperator([school_id]);
    const session = await signIn(operator);
    expect((await consoleFetch(session, 'GET', '/session')).status).toBe(200);
    const disabled = await adminPut(operator.operator_id, { school_ids: [school_id], display_name: 'x', disabled: true });
    expect(disabled.status).toBe(200);
    expect(await disabled.json()).toMatchObject({ disabled: true, has_password: true });
    expect((await consoleFetch(session, 'GET', '/session')).status).toBe(401);
    expect((await signInRequest({ operator_id: operator.operator_id, password: operator.password })).status).toBe(401);
  });

  it('rate-limits sign-in attempts for one operator name, from however many addresses', async () => {
    const school_id = await freshSchool();
    const operator = await createOperator([school_id]);
    // wrangler.toml: 5 a minute; windows align to the clock, so a burst may see up to twice that.
    let refused: Response | null = null;
    let attempts = 0;
    for (; attempts < 11; attempts++) {
      const response = await signInRequest({ operator_id: operator.operator_id, password: 'wrong-password-123' });
      if (response.status === 429) {
        refused = response;
        break;
      }
      expect(response.status).toBe(401);
    }
    expect(refused).not.toBeNull();
    expect(attempts).toBeGreaterThanOrEqual(5);
    expect(await refused!.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // Even the right password waits out the minute: the limit is what stops guessing.
    expect((await signInRequest({ operator_id: operator.operator_id, password: operator.password })).status).toBe(429);
  });

  it('rate-limits sign-in attempts from one address, whatever names it tries', async () => {
    const ip = uniqueIp();
    let refused = false;
    for (let i = 0; i < 11 && !refused; i++) {
      const response = await signInRequest({ operator_id: `guess-${i}`, password: 'wrong-password-123' }, { 'cf-connecting-ip': ip });
      refused = response.status === 429;
      if (!refused) expect(response.status).toBe(401);
    }
    expect(refused).toBe(true);
  });

  it('refuses malformed sign-in bodies with a code, and signs nobody in', async () => {
    for (const body of [{}, { operator_id: 'a', password: 'x' }, { operator_id: 'ok-op', password: '' }, { access: false }, { operator_id: 'ok-op', password: 'x', extra: 1 }]) {
      const response = await signInRequest(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: 'invalid_body' } });
    }
    const form = await SELF.fetch(`${ORIGIN}/api/v1/console/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'operator_id=a&password=b' });
    expect(form.status).toBe(415);
  });
});

describe('console session lifetime', () => {
  it('ends after 30 minutes without a request', async () => {
    const school_id = await freshSchool();
    const session = await signIn(await createOperator([school_id]));
    await ageSession(session, 31 * MINUTE_MS, 29 * MINUTE_MS);
    expect((await consoleFetch(session, 'GET', '/session')).status).toBe(200);
    await ageSession(session, 61 * MINUTE_MS, 30 * MINUTE_MS);
    const idle = await consoleFetch(session, 'GET', '/session');
    expect(idle.status).toBe(401);
    expect(await idle.json()).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it('a request keeps the session alive, but not beyond 8 hours', async () => {
    const school_id = await freshSchool();
    const session = await signIn(await createOperator([school_id]));
    await ageSession(session, 8 * HOUR_MS - MINUTE_MS, 2 * MINUTE_MS);
    expect((await consoleFetch(session, 'GET', '/session')).status).toBe(200);
    // The request just now moved the idle clock.
    const row = await env.DB.prepare('SELECT last_seen_at_ms FROM operator_sessions WHERE operator_id = ?').bind(session.operator_id).first<{ last_seen_at_ms: number }>();
    expect(Date.now() - row!.last_seen_at_ms).toBeLessThan(MINUTE_MS);
    await ageSession(session, 8 * HOUR_MS, 0);
    expect((await consoleFetch(session, 'GET', '/session')).status).toBe(401);
  });

  it('signs out: the cookie is cleared and the session no longer works', async () => {
    const school_id = await freshSchool();
    const session = await signIn(await createOperator([school_id]));
    const out = await consoleFetch(session, 'DELETE', '/session');
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/ykt_console=;/);
    expect((await consoleFetch(session, 'GET', '/session')).status).toBe(401);
  });

  it('sign-out is refused without the CSRF token or from another site', async () => {
    const school_id = await freshSchool();
    const session = await signIn(await createOperator([school_id]));
    const bare = await consoleFetch(session, 'DELETE', '/session', { csrf: false });
    expect(bare.status).toBe(403);
    expect(await bare.json()).toMatchObject({ error: { code: 'csrf_refused' } });
    const foreign = await consoleFetch(session, 'DELETE', '/session', { headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect((await consoleFetch(session, 'GET', '/session')).status).toBe(200);
  });

  it('lists the operator’s own sessions and revokes one of them, never another operator’s', async () => {
    const school_id = await freshSchool();
    const operator = await createOperator([school_id]);
    const first = await signIn(operator);
    const second = await signIn(operator);
    const other = await signIn(await createOperator([school_id]));
    const list = await consoleJson<ConsoleSessionsResponse>(first, 'GET', '/sessions');
    expect(list.sessions).toHaveLength(2);
    expect(list.sessions.filter((s) => s.current)).toHaveLength(1);
    const second_id = list.sessions.find((s) => !s.current)!.session_id;
    const other_id = (await consoleJson<ConsoleSessionsResponse>(other, 'GET', '/sessions')).sessions[0]!.session_id;

    const foreign = await consoleFetch(first, 'POST', `/sessions/${other_id}/revoke`);
    expect(foreign.status).toBe(404);
    expect((await consoleFetch(other, 'GET', '/session')).status).toBe(200);

    expect((await consoleFetch(first, 'POST', `/sessions/${second_id}/revoke`)).status).toBe(200);
    expect((await consoleFetch(second, 'GET', '/session')).status).toBe(401);
    expect((await consoleFetch(first, 'GET', '/session')).status).toBe(200);
    const audit = await env.DB.prepare("SELECT * FROM console_audit WHERE action = 'session_revoke' AND target = ?").bind(second_id).all();
    expect(audit.results).toHaveLength(1);
    expect(audit.results[0]).toMatchObject({ operator_id: operator.operator_id });
  });

  it('the administrator revokes every session of an operator', async () => {
    const school_id = await freshSchool();
    const operator = await createOperator([school_id]);
    const a = await signIn(operator);
    const b = await signIn(operator);
    const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/operators/${operator.operator_id}/revoke-sessions`, { method: 'POST', headers: ADMIN_AUTH });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ revoked: 2 });
    expect((await consoleFetch(a, 'GET', '/session')).status).toBe(401);
    expect((await consoleFetch(b, 'GET', '/session')).status).toBe(401);
    // A new sign-in works again.
    expect((await consoleFetch(await signIn(operator), 'GET', '/session')).status).toBe(200);
  });

  it('a forged or overlong cookie is refused', async () => {
    for (const cookie of ['x'.repeat(43), 'y'.repeat(500)]) {
      const response = await consoleFetch({ operator_id: 'x', cookie, csrf_token: 'x', ip: uniqueIp() }, 'GET', '/session');
      expect(response.status).toBe(401);
    }
  });
});

describe('console operators (administrator)', () => {
  it('needs the admin token, known schools, and a way to sign in', async () => {
    const school_id = await freshSchool();
    const anonymous = await SELF.fetch(`${ORIGIN}/api/v1/admin/operators/someone`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ school_ids: [school_id], display_name: 'x', password: 'long-enough-pw' }),
    });
    expect(anonymous.status).toBe(401);
    expect((await adminPut('someone-new', { school_ids: ['no-such-school'], display_name: 'x', password: 'long-enough-pw' })).status).toBe(404);
    expect((await adminPut('someone-new', { school_ids: [school_id], display_name: 'x' })).status).toBe(400);
    expect((await adminPut('someone-new', { school_ids: [school_id], display_name: 'x', password: 'short' })).status).toBe(400);
    expect((await adminPut('Bad Id', { school_ids: [school_id], display_name: 'x', password: 'long-enough-pw' })).status).toBe(400);
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM operators WHERE id = 'someone-new'").first<{ n: number }>();
    expect(count!.n).toBe(0);
    const list = await SELF.fetch(`${ORIGIN}/api/v1/admin/operators`, { headers: ADMIN_AUTH });
    expect(list.status).toBe(200);
    const body = (await list.json()) as { operators: { operator_id: string; has_password: boolean }[] };
    // No hash or salt ever leaves the Worker.
    expect(JSON.stringify(body)).not.toMatch(/password_hash|password_salt/);
  });

  it('a new password ends the sessions signed in with the old one', async () => {
    const school_id = await freshSchool();
    const operator = await createOperator([school_id]);
    const session = await signIn(operator);
    expect((await adminPut(operator.operator_id, { school_ids: [school_id], display_name: 'x', password: 'a-brand-new-password' })).status).toBe(200);
    expect((await consoleFetch(session, 'GET', '/session')).status).toBe(401);
    expect((await signInRequest({ operator_id: operator.operator_id, password: operator.password })).status).toBe(401);
    expect((await signInRequest({ operator_id: operator.operator_id, password: 'a-brand-new-password' })).status).toBe(201);
  });
});

describe('console sign-in through Cloudflare Access', () => {
  const TEAM = 'yikatong-test.cloudflareaccess.com';
  const AUD = 'a1b2c3d4e5f6-console-aud';

  async function accessKeys(): Promise<{ jwks: string; sign: (claims: Record<string, unknown>, kid?: string) => Promise<string> }> {
    const pair = (await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair;
    const jwk = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey;
    const jwks = JSON.stringify({ keys: [{ kty: 'RSA', kid: 'k1', alg: 'RS256', use: 'sig', n: jwk.n, e: jwk.e }] });
    const sign = async (claims: Record<string, unknown>, kid = 'k1') => {
      const head = bytesToBase64Url(utf8(JSON.stringify({ alg: 'RS256', kid, typ: 'JWT' })));
      const body = bytesToBase64Url(utf8(JSON.stringify(claims)));
      const signature = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', pair.privateKey, utf8(`${head}.${body}`)));
      return `${head}.${body}.${bytesToBase64Url(signature)}`;
    };
    return { jwks, sign };
  }

  function accessSignIn(config: Record<string, string>, assertion: string | null): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() };
    if (assertion !== null) headers['cf-access-jwt-assertion'] = assertion;
    return fetchWithConfig(config, '/api/v1/console/session', { method: 'POST', headers, body: JSON.stringify({ access: true }) });
  }

  it('signs in the operator whose Access e-mail the verified assertion carries, and refuses every forged or stale one', async () => {
    const school_id = await freshSchool();
    const email = `clerk-${crypto.randomUUID().slice(0, 8)}@school.example`;
    const operator = await createOperator([school_id], { access_email: email });
    const keys = await accessKeys();
    const config = { CF_ACCESS_TEAM_DOMAIN: TEAM, CF_ACCESS_AUD: AUD, CF_ACCESS_JWKS: keys.jwks };
    const now_s = Math.floor(Date.now() / 1000);
    const good = { aud: [AUD], email, iss: `https://${TEAM}`, iat: now_s, nbf: now_s, exp: now_s + 600, type: 'app', sub: 'u1' };

    const ok = await accessSignIn(config, await keys.sign(good));
    expect(ok.status, await ok.clone().text()).toBe(201);
    expect(await ok.json()).toMatchObject({ operator_id: operator.operator_id, method: 'access' });

    const other = await accessKeys();
    const refusals: [string, string | null][] = [
      ['no assertion', null],
      ['another key', await other.sign(good)],
      ['another application', await keys.sign({ ...good, aud: ['someone-else'] })],
      ['another team', await keys.sign({ ...good, iss: 'https://evil.cloudflareaccess.com' })],
      ['expired', await keys.sign({ ...good, exp: now_s - 3600 })],
      ['not yet valid', await keys.sign({ ...good, nbf: now_s + 3600 })],
      ['unknown e-mail', await keys.sign({ ...good, email: 'stranger@school.example' })],
      ['tampered', (await keys.sign(good)).replace(/\.[^.]+\./, `.${bytesToBase64Url(utf8(JSON.stringify({ ...good, email: 'x@y' })))}.`)],
      ['alg none', `${bytesToBase64Url(utf8('{"alg":"none"}'))}.${bytesToBase64Url(utf8(JSON.stringify(good)))}.`],
    ];
    for (const [label, assertion] of refusals) {
      const response = await accessSignIn(config, assertion);
      expect(response.status, label).toBe(401);
      expect(response.headers.get('set-cookie'), label).toBeNull();
    }
    // Without Access configured, an Access sign-in is not possible at all.
    const unconfigured = await accessSignIn({ CF_ACCESS_TEAM_DOMAIN: '', CF_ACCESS_AUD: '' }, await keys.sign(good));
    expect(unconfigured.status).toBe(404);
    expect(((await unconfigured.json()) as { error: { code: string } }).error.code).toBe('access_not_configured');
    expect(unconfigured.headers.get('set-cookie')).toBeNull();
  });
});
