// Every console route behind its gate (issue 10): signed out → 401; an operator of another
// school → 404 for every id and school of this one, exactly as for ids that do not exist; a
// cross-site form post or a request without the CSRF token → 403 `csrf_refused`. In each case
// nothing changes. The school's own operator gets through, which shows the refusals were the
// gate's, not the route's.
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chinaDate } from '../../protocol/alipay.ts';
import { expectLedgerClean } from './helpers/audit.ts';
import { consoleFetch, operatorSession, type TestSession } from './helpers/console.ts';
import { freshSchool, insertCredit, insertOrder, testOrderId } from './helpers/fixtures.ts';
import { randomSuffix } from './helpers/hub.ts';

afterAll(expectLedgerClean);

interface World {
  school_id: string;
  order_id: string;
  grey_id: string;
  hub_id: string;
  credit_id: string;
  own: TestSession;
  foreign: TestSession;
}

interface Route {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  path: (w: World) => string;
  body?: (w: World) => unknown;
  type?: string;
  /** Names this school (or one of its records): another school's operator gets 404. */
  scoped: boolean;
}

const ROUTES: Route[] = [
  { name: 'GET /session', method: 'GET', path: () => '/session', scoped: false },
  { name: 'GET /sessions', method: 'GET', path: () => '/sessions', scoped: false },
  { name: 'GET /overview', method: 'GET', path: (w) => `/overview?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /orders', method: 'GET', path: (w) => `/orders?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /orders/{id}', method: 'GET', path: (w) => `/orders/${w.order_id}`, scoped: true },
  { name: 'GET /pending', method: 'GET', path: (w) => `/pending?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /refunds', method: 'GET', path: (w) => `/refunds?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /grey-records', method: 'GET', path: (w) => `/grey-records?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /hubs', method: 'GET', path: (w) => `/hubs?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /reconciliations', method: 'GET', path: (w) => `/reconciliations?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /agreements', method: 'GET', path: (w) => `/agreements?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /notices', method: 'GET', path: (w) => `/notices?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /audit', method: 'GET', path: (w) => `/audit?school_id=${w.school_id}`, scoped: true },
  { name: 'GET /cards', method: 'GET', path: (w) => `/cards?school_id=${w.school_id}&q=2023`, scoped: true },
  { name: 'GET /charts', method: 'GET', path: (w) => `/charts?school_id=${w.school_id}`, scoped: true },
  { name: 'POST /refunds', method: 'POST', path: () => '/refunds', body: (w) => ({ order_id: w.order_id, reason: '测试' }), scoped: true },
  {
    name: 'POST /grey-records/{id}/settle',
    method: 'POST',
    path: (w) => `/grey-records/${encodeURIComponent(w.grey_id)}/settle`,
    body: () => ({ decision: 'loaded', evidence: '读卡：余额已增加' }),
    scoped: true,
  },
  { name: 'POST /reconciliations/{date}', method: 'POST', path: () => `/reconciliations/${chinaDate(Date.now())}`, body: (w) => ({ school_id: w.school_id }), scoped: true },
  { name: 'POST /cards/import', method: 'POST', path: (w) => `/cards/import?school_id=${w.school_id}`, body: () => '20239999,新同学,student,active,A5FFFFFFFFFFFF01\n', type: 'text/csv', scoped: true },
  { name: 'POST /cards/{card_no}/status', method: 'POST', path: () => '/cards/20230001/status', body: (w) => ({ school_id: w.school_id, status: 'lost' }), scoped: true },
  { name: 'POST /hubs/{hub_id}/state', method: 'POST', path: (w) => `/hubs/${w.hub_id}/state`, body: () => ({ state: 'retiring', reason: '服务器更换' }), scoped: true },
  { name: 'POST /credits/{credit_id}/settle', method: 'POST', path: (w) => `/credits/${w.credit_id}/settle`, body: () => ({ decision: 'release', evidence: '读卡：余额 0.00' }), scoped: true },
  { name: 'POST /sessions/{id}/revoke', method: 'POST', path: () => `/sessions/${'0'.repeat(32)}/revoke`, scoped: false },
  { name: 'DELETE /session', method: 'DELETE', path: () => '/session', scoped: false },
];

let w: World;

async function snapshot(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of ['orders', 'credits', 'claims', 'refunds', 'cards', 'changes', 'grey_records', 'console_audit', 'reconciliations', 'operators', 'hubs', 'hub_state_events', 'credit_settlements']) {
    out[table] = (await env.DB.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all()).results;
  }
  out.live_sessions = (await env.DB.prepare('SELECT id FROM operator_sessions WHERE revoked_at_ms IS NULL ORDER BY id').all()).results;
  return out;
}

function send(route: Route, session: TestSession | null, options: { csrf?: boolean; headers?: Record<string, string> } = {}): Promise<Response> {
  const body = route.body?.(w);
  return consoleFetch(session, route.method, route.path(w), {
    ...(body === undefined ? {} : { body, type: route.type ?? 'application/json' }),
    ...options,
  });
}

beforeAll(async () => {
  const school_id = await freshSchool({ extra: [{ card_no: '20230777', holder_name: '王五', asn: 'A500000000000777' }] });
  const other_school = await freshSchool();
  const now_ms = Date.now();
  const order = { order_id: testOrderId(now_ms), school_id, card_no: '20230777', amount_fen: 500, status: 'paid' as const, created_at_ms: now_ms, paid_at_ms: now_ms };
  await insertOrder(order);
  const credit_id = await insertCredit(order, { state: 'pending' });
  const hub_id = `hub-${randomSuffix(4)}`;
  const claim_id = `K-grey-${randomSuffix(4)}`;
  await env.DB.batch([
    env.DB.prepare(`INSERT INTO hubs (id, school_id, public_key, created_at_ms, updated_at_ms) VALUES (?1, ?2, 'fixture-' || ?1, 0, 0)`).bind(hub_id, school_id),
    env.DB.prepare(
      `INSERT INTO grey_records (hub_id, claim_id, school_id, card_no, terminal_id, amount_fen, credit_ids, online_serial_after, reserved_at_ms, status, reported_at_ms)
       VALUES (?1, ?2, ?3, '20230777', 'POS-1', 500, json_array(?4), 3, ?5, 'open', ?5)`,
    ).bind(hub_id, claim_id, school_id, credit_id, now_ms),
  ]);
  w = {
    school_id,
    order_id: order.order_id,
    grey_id: `${hub_id}:${claim_id}`,
    hub_id,
    credit_id,
    own: await operatorSession([school_id]),
    foreign: await operatorSession([other_school]),
  };
});

describe('the console gate on every route', () => {
  it('answers 401 to a request without a session, and changes nothing', async () => {
    const before = await snapshot();
    for (const route of ROUTES) {
      const response = await send(route, null);
      expect(response.status, route.name).toBe(401);
      expect(await response.json(), route.name).toMatchObject({ error: { code: 'unauthorized' } });
    }
    expect(await snapshot()).toEqual(before);
  });

  it("answers an operator of another school 404 for this school's ids, as for ids that do not exist, and changes nothing", async () => {
    const before = await snapshot();
    for (const route of ROUTES.filter((r) => r.scoped)) {
      const response = await send(route, w.foreign);
      expect(response.status, route.name).toBe(404);
      const body = (await response.json()) as { error: { code: string } };
      expect(['school_not_found', 'order_not_found', 'not_found', 'card_not_found', 'hub_not_found'], route.name).toContain(body.error.code);
    }
    // An order of another school reads exactly like one that was never made.
    const foreign = await consoleFetch(w.foreign, 'GET', `/orders/${w.order_id}`);
    const unknown = await consoleFetch(w.foreign, 'GET', `/orders/${testOrderId(Date.now())}`);
    expect([foreign.status, await foreign.json()]).toEqual([unknown.status, await unknown.json()]);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a cross-site form post and a request without the CSRF token with 403 csrf_refused, and changes nothing', async () => {
    const before = await snapshot();
    for (const route of ROUTES.filter((r) => r.method !== 'GET')) {
      // What a foreign page's <form method=post> would send, had the browser sent the cookie.
      const form = await consoleFetch(w.own, route.method, route.path(w), {
        csrf: false,
        body: 'order_id=x&reason=y',
        type: 'application/x-www-form-urlencoded',
        headers: { origin: 'https://evil.example' },
      });
      expect(form.status, `${route.name} form`).toBe(403);
      expect(await form.json()).toMatchObject({ error: { code: 'csrf_refused' } });
      const bare = await send(route, w.own, { csrf: false });
      expect(bare.status, `${route.name} without the header`).toBe(403);
      const wrong = await send(route, w.own, { csrf: false, headers: { 'x-console-csrf': 'not-the-token', origin: 'http://yikatong.test' } });
      expect(wrong.status, `${route.name} with a wrong token`).toBe(403);
      // The right token from a foreign origin is still refused.
      const foreign_origin = await send(route, w.own, { headers: { origin: 'https://evil.example' } });
      expect(foreign_origin.status, `${route.name} from another origin`).toBe(403);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("lets the school's own operator read every page", async () => {
    for (const route of ROUTES.filter((r) => r.method === 'GET')) {
      const response = await send(route, w.own);
      expect(response.status, `${route.name}: ${await response.clone().text()}`).toBe(200);
    }
  });
});
