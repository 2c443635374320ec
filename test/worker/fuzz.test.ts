// Every route of the Worker fed generated input (fast-check): paths, queries, headers and bodies
// shaped like the real ones with fields mutated, retyped, huge or unicode, oversized bodies,
// CSV registries, and provider notifications signed with the test pool's keys and hub requests
// signed with a registered hub's key, admin requests with the token and console requests with a
// session of an operator signed in through the real sign-in route (cookie, and CSRF token and
// Origin on writes), so the handler itself is reached, not only the guard in front of it. Properties: no answer is 5xx; every refusal carries {error:{code,message}} (the
// Alipay routes answer their protocol's `fail`); a refused request leaves the ledger as it was
// (fingerprint: counts and sums by state); the ledger audit is clean at the end. Replay a
// failure with YIKATONG_TEST_SEED=<seed> (printed at the start, and by fast-check).
import { SELF, env } from 'cloudflare:test';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { alipaySign } from '../../protocol/alipay.ts';
import type { CardLookupResponse } from '../../protocol/api.ts';
import { CONSOLE_COOKIE, CONSOLE_CSRF_HEADER } from '../../protocol/console.ts';
import { ERROR_CODES } from '../../protocol/errors.ts';
import { importRsaPrivateKey } from '../../protocol/rsa.ts';
import { encryptResource, importApiV3Key, signBody } from '../../protocol/wechat.ts';
import { app } from '../../worker/app.ts';
import { clientRateKey } from '../../worker/http/rate-limit.ts';
import { globalHextets, headerSafeString, ipv6Form, ipv6Text } from '../helpers/fuzz.ts';
import { resolveTestSeed } from '../helpers/test-seed.ts';
import { expectLedgerClean } from './helpers/audit.ts';
import { fetchWithConfig, freshSchool, insertCredit, insertOrder, testOrderId, uniqueIp } from './helpers/fixtures.ts';
import { AN_AGREEMENT, OTHER_SESSION, OWN_SESSION, PAGE_ROUTES, ROUTES, type Draft, type FuzzRoute, type World } from './helpers/fuzz-routes.ts';
import { sandboxKeys } from './helpers/gateway.ts';
import { createOperator, operatorSession, signIn, type TestSession } from './helpers/console.ts';
import { ORIGIN, registerHub, signedHeaders } from './helpers/hub.ts';
import { ADMIN_AUTH, seedDemoCampus } from './helpers/seed.ts';

const SEED = resolveTestSeed('worker fuzz', inject('testSeed'));
// Cases per route: enough to reach every branch family, few enough for a busy 2-core machine.
const RUNS_DEFAULT = 25;
// YIKATONG_FUZZ_RUNS=500 for a deeper run on a quiet machine (each route, then, that many cases).
const RUNS_CONFIGURED = /^[1-9][0-9]{0,5}$/.test(inject('fuzzRuns')) ? Number(inject('fuzzRuns')) : null;
const ROUTE_TIMEOUT_MS = 60_000;

/** Counts and sums that money or a card's standing could move: equal before and after a refusal. */
async function fingerprint(): Promise<Record<string, unknown>> {
  const queries: Record<string, string> = {
    orders: 'SELECT status AS k, count(*) AS n, coalesce(sum(amount_fen), 0) AS s FROM orders GROUP BY status ORDER BY status',
    credits: 'SELECT state AS k, count(*) AS n, coalesce(sum(amount_fen), 0) AS s, count(claim_id) AS c, count(void_requested_at_ms) AS v FROM credits GROUP BY state ORDER BY state',
    claims: 'SELECT hub_id AS k, count(*) AS n, coalesce(sum(amount_fen), 0) AS s FROM claims GROUP BY hub_id ORDER BY hub_id',
    refunds: 'SELECT state AS k, count(*) AS n, coalesce(sum(amount_fen), 0) AS s FROM refunds GROUP BY state ORDER BY state',
    cards: 'SELECT status AS k, count(*) AS n, coalesce(sum(balance_fen), 0) AS s, count(asn) AS a FROM cards GROUP BY status ORDER BY status',
    agreements: 'SELECT state AS k, count(*) AS n FROM agreements GROUP BY state ORDER BY state',
    schools: 'SELECT count(*) AS n, coalesce(sum(max_amount_fen), 0) AS s FROM schools',
    hubs: "SELECT count(*) AS n, group_concat(public_key || ' ' || state) AS keys FROM (SELECT public_key, state FROM hubs ORDER BY id)",
    changes: 'SELECT count(*) AS n FROM changes',
    grey: 'SELECT status AS k, count(*) AS n FROM grey_records GROUP BY status ORDER BY status',
    // Who may sign in to the console, and which sessions live: a refusal moves none of it
    // (a session's last_seen_at_ms does move on every request it makes, refused or not).
    operators: "SELECT count(*) AS n, group_concat(id || ' ' || school_ids || ' ' || coalesce(password_hash, '') || ' ' || coalesce(access_email, '') || ' ' || disabled) AS o FROM (SELECT * FROM operators ORDER BY id)",
    sessions: 'SELECT count(*) AS n, count(revoked_at_ms) AS r FROM operator_sessions',
    console_audit: 'SELECT count(*) AS n FROM console_audit',
  };
  const names = Object.keys(queries);
  const results = await env.DB.batch(names.map((name) => env.DB.prepare(queries[name]!)));
  return Object.fromEntries(names.map((name, i) => [name, results[i]!.results]));
}

async function buildWorld(): Promise<World> {
  await seedDemoCampus();
  const school_id = await freshSchool();
  const found = await SELF.fetch('http://yikatong.test/api/v1/cards/lookup', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
    body: JSON.stringify({ school_id, name: '张三', card_no: '20230001' }),
  });
  expect(found.status).toBe(200);
  const { card_token } = (await found.json()) as CardLookupResponse;
  const now_ms = Date.now();
  const paid = { order_id: testOrderId(now_ms), school_id, card_no: '20230001', amount_fen: 100, status: 'paid' as const, created_at_ms: now_ms, paid_at_ms: now_ms };
  await insertOrder(paid);
  await insertCredit(paid, { state: 'pending' });
  const alipay_order_id = testOrderId(now_ms);
  await insertOrder({ order_id: alipay_order_id, school_id, card_no: '20230001', amount_fen: 100, status: 'unpaid', created_at_ms: now_ms, channel: 'alipay' });
  const wechat_order_id = testOrderId(now_ms);
  await insertOrder({ order_id: wechat_order_id, school_id, card_no: '20230001', amount_fen: 100, status: 'unpaid', created_at_ms: now_ms, channel: 'wechat' });
  const for_claim = { ...paid, order_id: testOrderId(now_ms) };
  await insertOrder(for_claim);
  const claim_credit_id = await insertCredit(for_claim, { state: 'pending' });
  const hub = await registerHub(school_id);
  // Another school's hub: an admin state change there leaves the world's hub the active signer.
  const spare_hub = await registerHub(await freshSchool());
  const grey_claim_id = `K-grey-${crypto.randomUUID().slice(0, 8)}`;
  await env.DB.prepare(
    `INSERT INTO grey_records (hub_id, claim_id, school_id, card_no, terminal_id, amount_fen, credit_ids, online_serial_after, reserved_at_ms, status, reported_at_ms)
     VALUES (?1, ?2, ?3, '20230001', 'POS-1', 100, json_array(?4), 2, ?5, 'open', ?5)`,
  )
    .bind(hub.hub_id, grey_claim_id, school_id, `C${paid.order_id.slice(1)}`, now_ms)
    .run();
  const console_session = await operatorSession([school_id]);
  // A standby of the world's school: the console's state changes go there, never to the signer.
  const console_hub = await registerHub(school_id);
  return {
    school_id,
    card_token,
    paid_order_id: paid.order_id,
    alipay_order_id,
    wechat_order_id,
    claim_credit_id,
    hub,
    spare_hub_id: spare_hub.hub_id,
    console: console_session,
    grey_id: `${hub.hub_id}:${grey_claim_id}`,
    console_hub_id: console_hub.hub_id,
  };
}

let alipay_key: CryptoKey;
let wechat_keys: { platform: CryptoKey; api_v3: CryptoKey; serial: string };

/** The console's credentials on a case: the session's cookie, and on writes its CSRF token and our Origin; spoiled as the case says. */
async function consoleCredentials(route: FuzzRoute, w: World, d: Draft, headers: Headers): Promise<string> {
  let path = d.path;
  let session = w.console;
  // A case that ends its session (the sign-out route, or another route's path sent as DELETE)
  // gets a session of its own, of a new operator (sign-in is limited per name).
  if (route.auth === 'console-fresh' || (d.method === 'DELETE' && /^\/api\/v1\/console\/session(\?|$)/.test(path))) {
    const operator = await createOperator([w.school_id]);
    session = await signIn(operator);
    if (path.includes(OTHER_SESSION)) await signIn(operator);
  }
  if (path.includes(OWN_SESSION) || path.includes(OTHER_SESSION)) {
    const rows = await env.DB.prepare('SELECT id FROM operator_sessions WHERE operator_id = ?1 AND revoked_at_ms IS NULL ORDER BY created_at_ms').bind(session.operator_id).all<{ id: string }>();
    const own = await sessionIdOf(session);
    const other = rows.results.find((row) => row.id !== own)?.id ?? '0'.repeat(32);
    path = path.replaceAll(OWN_SESSION, own).replaceAll(OTHER_SESSION, other);
  }
  const writes = d.method !== 'GET' && d.method !== 'HEAD';
  headers.set('cf-connecting-ip', session.ip);
  const cookie = writes || d.spoil === null ? session.cookie : d.spoil === 'wrong' ? 'x'.repeat(43) : `${session.cookie.slice(0, -2)}zz`;
  if (d.spoil !== 'missing') headers.set('cookie', `${CONSOLE_COOKIE}=${cookie}`);
  if (writes && d.spoil !== 'missing') {
    headers.set(CONSOLE_CSRF_HEADER, d.spoil === 'wrong' ? `${session.csrf_token.slice(0, -1)}x` : session.csrf_token);
    headers.set('origin', d.spoil === 'garbled' ? 'https://evil.example' : ORIGIN);
  }
  return path;
}

async function sessionIdOf(session: TestSession): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(session.cookie)));
  const hash = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  const row = await env.DB.prepare('SELECT id FROM operator_sessions WHERE token_hash = ?1').bind(hash).first<{ id: string }>();
  expect(row).not.toBeNull();
  return row!.id;
}

async function toRequest(route: FuzzRoute, w: World, d: Draft): Promise<Request> {
  const headers = new Headers(d.headers);
  let path = d.path;
  if (route.auth === 'console' || route.auth === 'console-fresh') path = await consoleCredentials(route, w, d, headers);
  let body: string | Uint8Array | undefined = d.body?.body;
  if (d.body?.content_type) headers.set('content-type', d.body.content_type);
  if (d.alipay !== undefined) {
    const named = { ...d.alipay.params };
    if (named.external_agreement_no === AN_AGREEMENT) {
      const row = await env.DB.prepare('SELECT id FROM agreements ORDER BY random() LIMIT 1').first<{ id: string }>();
      named.external_agreement_no = row?.id ?? `A${'1'.repeat(20)}`;
    }
    const params = d.alipay.sign ? { ...named, sign_type: 'RSA2' } : named;
    const signed = d.alipay.sign ? { ...params, sign: await alipaySign(alipay_key, params, 'notification') } : params;
    body = new URLSearchParams(signed).toString();
    if (d.alipay.content_type !== null) headers.set('content-type', d.alipay.content_type);
  }
  if (d.wechat !== undefined) {
    const { envelope, plaintext, sign, skew_s } = d.wechat;
    const { original_type, ...rest } = envelope;
    const kind = typeof original_type === 'string' ? original_type : 'transaction';
    const resource = plaintext === null ? { algorithm: 'AEAD_AES_256_GCM', ciphertext: 'AAAA', nonce: 'abcdefabcdef', associated_data: kind, original_type: kind } : await encryptResource(wechat_keys.api_v3, plaintext, kind, kind);
    body = JSON.stringify({ ...rest, resource });
    headers.set('content-type', 'application/json');
    if (sign) for (const [name, value] of Object.entries(await signBody(wechat_keys.platform, wechat_keys.serial, body, Date.now() + skew_s * 1_000))) headers.set(name, value);
  }
  const sent_body = d.method === 'GET' ? undefined : body;
  if (route.auth === 'admin' && d.spoil !== 'missing') {
    headers.set('authorization', d.spoil === 'wrong' ? 'Bearer test-admin-token-0123456789abcdeF' : d.spoil === 'garbled' ? 'bearer  ' : ADMIN_AUTH.authorization);
  }
  if (route.auth === 'hub' && d.spoil !== 'missing') {
    const text = typeof sent_body === 'string' ? sent_body : sent_body === undefined ? '' : new TextDecoder().decode(sent_body);
    // The signature covers the body's bytes; a body that is not UTF-8 is signed as what the Worker reads.
    const options = d.spoil === 'wrong' ? { timestamp_ms: Date.now() - 6 * 60_000 } : d.spoil === 'garbled' ? { signed_hub_id: 'another-hub' } : {};
    for (const [name, value] of Object.entries(await signedHeaders(w.hub, d.method, d.path, text, options))) headers.set(name, value);
  }
  const init: RequestInit = { method: d.method, headers };
  if (sent_body !== undefined) init.body = sent_body;
  return new Request(`http://yikatong.test${path}`, init);
}

function describeDraft(d: Draft): string {
  const body = d.alipay ? JSON.stringify(d.alipay.params) : d.wechat ? JSON.stringify(d.wechat) : typeof d.body?.body === 'string' ? d.body.body : d.body ? `bytes(${d.body.body.length})` : '';
  return `${d.method} ${d.path.slice(0, 200)} [${d.body?.kind ?? ''} ${d.body?.content_type ?? ''} spoil=${d.spoil}] ${body.slice(0, 300)}`;
}

let world: World;

beforeAll(async () => {
  world = await buildWorld();
  alipay_key = await importRsaPrivateKey(sandboxKeys().alipay.alipay_private_key);
  const wechat = sandboxKeys().wechat;
  wechat_keys = { platform: await importRsaPrivateKey(wechat.platform_private_key), api_v3: await importApiV3Key(wechat.api_v3_key), serial: wechat.platform_public_key_id };
});

afterAll(expectLedgerClean);

describe('generated input on every Worker route', () => {
  it('has a fuzz entry for every route the Worker serves', () => {
    const served = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
    const covered = new Set(ROUTES.map((route) => route.pattern));
    expect([...served].filter((route) => !covered.has(route))).toEqual([]);
    expect([...covered].filter((route) => !served.has(route))).toEqual([]);
  });

  it.each([...ROUTES, ...PAGE_ROUTES].map((route) => [route.pattern, route] as const))(
    '%s: never 5xx, refusals carry a code and change nothing',
    async (_, route) => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(route.draft(world), async (d) => {
          // Built first: a case's own console session is made before the ledger is read.
          const request = await toRequest(route, world, d);
          const before = await fingerprint();
          const response = route.env === undefined ? await SELF.fetch(request) : await fetchWithConfig(route.env, request.url.slice(ORIGIN.length), request);
          const text = await response.text();
          const what = `${describeDraft(d)}\n→ ${response.status} ${text.slice(0, 300)}`;
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          expect(response.status, what).toBeLessThan(500);
          if (response.status < 400) return;
          if (d.method === 'HEAD') {
            // A HEAD answer has no body to carry the code.
            expect(text, what).toBe('');
          } else if (route.answer === 'alipay' && d.method === 'POST') {
            expect(text, what).toBe('fail');
          } else {
            const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
            expect(ERROR_CODES as readonly unknown[], what).toContain(parsed.error?.code);
            expect(typeof parsed.error?.message, what).toBe('string');
          }
          expect(await fingerprint(), what).toEqual(before);
        }),
        { seed: SEED, numRuns: RUNS_CONFIGURED ?? route.runs ?? RUNS_DEFAULT, endOnFailure: true },
      );
      // Some cases got past the guards: the handler itself answered (an acceptance, or a
      // refusal other than the guard's).
      console.log(`[worker fuzz] ${route.pattern}: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
      expect(statuses.size, JSON.stringify(Object.fromEntries(statuses))).toBeGreaterThan(1);
    },
    RUNS_CONFIGURED === null ? ROUTE_TIMEOUT_MS : 60 * ROUTE_TIMEOUT_MS,
  );
});

describe('rate-limit keys (CF-Connecting-IP)', () => {
  it('every address of one IPv6 /64 shares one key, however written; another /64 has another', () => {
    fc.assert(
      fc.property(globalHextets, fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 }), ipv6Form, ipv6Form, (words, low, form_a, form_b) => {
        const same = [...words.slice(0, 4), ...low];
        const key = clientRateKey(ipv6Text(words, form_a));
        expect(key).toBe(`${words.slice(0, 4).map((w) => w.toString(16)).join(':')}::/64`);
        expect(clientRateKey(ipv6Text(same, form_b))).toBe(key);
      }),
      { seed: SEED, numRuns: 500 },
    );
    fc.assert(
      fc.property(globalHextets, globalHextets, ipv6Form, ipv6Form, (a, b, form_a, form_b) => {
        fc.pre(a.slice(0, 4).join() !== b.slice(0, 4).join());
        expect(clientRateKey(ipv6Text(a, form_a))).not.toBe(clientRateKey(ipv6Text(b, form_b)));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('an IPv4 caller is keyed by its address, written plainly or IPv4-mapped; distinct ones never share', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), ipv6Form, (a, b, form) => {
        expect(clientRateKey(a)).toBe(a);
        const octets = a.split('.').map(Number) as [number, number, number, number];
        const mapped = ipv6Text([0, 0, 0, 0, 0, 0xffff, (octets[0] << 8) | octets[1], (octets[2] << 8) | octets[3]], { ...form, zone: null });
        expect(clientRateKey(mapped), mapped).toBe(a);
        if (a !== b) expect(clientRateKey(b)).not.toBe(clientRateKey(a));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('any header value gives a bounded, non-empty key', () => {
    fc.assert(
      fc.property(fc.oneof(headerSafeString(300), fc.string({ maxLength: 200 })), (text) => {
        const key = clientRateKey(text);
        expect(key.length).toBeLessThanOrEqual(128);
        expect(key.length).toBeGreaterThan(0);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('the lookup route spends the client bucket of the /64 the header names', async () => {
    const keys: string[] = [];
    const recorder: RateLimit = {
      async limit({ key }) {
        keys.push(key);
        return { success: true };
      },
    };
    await fc.assert(
      fc.asyncProperty(globalHextets, ipv6Form, async (words, form) => {
        const address = ipv6Text(words, form);
        keys.length = 0;
        const response = await fetchWithConfig({ RATE_LIMIT_CLIENT: recorder }, '/api/v1/cards/lookup', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'cf-connecting-ip': address },
          body: JSON.stringify({ school_id: world.school_id, name: '无此人', card_no: `9${words[7]}` }),
        });
        await response.arrayBuffer();
        expect(keys, address).toEqual([`${words.slice(0, 4).map((w) => w.toString(16)).join(':')}::/64`]);
      }),
      { seed: SEED, numRuns: 20 },
    );
  });
});
