// 挂失 from the phone (issue 10): `POST /api/v1/cards/report-lost {card_token}` makes the saved
// card lost, idempotently, and the hub hears of it through the changes feed and the push
// channel at once; nothing a holder sends makes it active again (the card office does that).
import { SELF, env } from 'cloudflare:test';
import { afterAll, describe, expect, it } from 'vitest';
import type { CardLookupResponse } from '../../protocol/api.ts';
import { HUB_PUSH_PATH, type ChangesResponse, type HubPushMessage } from '../../protocol/hub.ts';
import { until } from '../helpers/wait.ts';
import { expectLedgerClean } from './helpers/audit.ts';
import { postFrom, uniqueIp } from './helpers/fixtures.ts';
import { ORIGIN, createSchool, hubFetch, registerHub, signedHeaders, type TestHub } from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';

// wrangler.toml: RATE_LIMIT_CARD 10 per 60 s; a window edge can let up to twice through.
const CARD_LIMIT = 10;

async function tokenFor(school_id: string, card_no: string, name: string, ip = uniqueIp()): Promise<string> {
  const response = await postFrom(ip, '/api/v1/cards/lookup', { school_id, name, card_no });
  expect(response.status).toBe(200);
  return ((await response.json()) as CardLookupResponse).card_token;
}

function reportLost(card_token: unknown, ip = uniqueIp()): Promise<Response> {
  return postFrom(ip, '/api/v1/cards/report-lost', { card_token });
}

async function status(school_id: string, card_no: string): Promise<string | undefined> {
  return (await env.DB.prepare('SELECT status FROM cards WHERE school_id = ? AND card_no = ?').bind(school_id, card_no).first<{ status: string }>())?.status;
}

async function cardChanges(school_id: string): Promise<number> {
  return (await env.DB.prepare(`SELECT count(*) AS n FROM changes WHERE school_id = ? AND kind = 'card'`).bind(school_id).first<{ n: number }>())!.n;
}

async function connect(hub: TestHub): Promise<{ ws: WebSocket; messages: HubPushMessage[] }> {
  const headers = await signedHeaders(hub, 'GET', HUB_PUSH_PATH, '');
  const response = await SELF.fetch(`${ORIGIN}${HUB_PUSH_PATH}`, { headers: { ...headers, upgrade: 'websocket' } });
  expect(response.status).toBe(101);
  const ws = response.webSocket!;
  const messages: HubPushMessage[] = [];
  ws.accept();
  ws.addEventListener('message', (event) => {
    if (typeof event.data === 'string' && event.data.startsWith('{')) messages.push(JSON.parse(event.data) as HubPushMessage);
  });
  await until('first push message', () => messages.length >= 1, { timeout_ms: 3_000, interval_ms: 20 });
  return { ws, messages };
}

async function latestSeq(school_id: string): Promise<number> {
  return (await env.DB.prepare('SELECT MAX(seq) AS seq FROM changes WHERE school_id = ?').bind(school_id).first<{ seq: number }>())!.seq;
}

afterAll(expectLedgerClean);

describe('POST /api/v1/cards/report-lost', () => {
  it('makes the card lost, once, and a connected hub is told to pull the status at once', async () => {
    const school_id = await createSchool('lost', ['L1']);
    const hub = await registerHub(school_id);
    const cursor = ((await (await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=0&limit=100')).json()) as ChangesResponse).next_after;
    const { ws, messages } = await connect(hub);
    const token = await tokenFor(school_id, 'L1', '持卡人0');

    const response = await reportLost(token);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ school_id, card_no: 'L1', status: 'lost', changed: true });
    expect(await status(school_id, 'L1')).toBe('lost');
    const seq = await latestSeq(school_id);
    await until(`push of seq ${seq}`, () => messages.some((message) => message.seq === seq), { timeout_ms: 3_000, interval_ms: 20 });
    const page = (await (await hubFetch(hub, 'GET', `/api/v1/hub/changes?after=${cursor}&limit=100`)).json()) as ChangesResponse;
    expect(page.changes).toEqual([expect.objectContaining({ kind: 'card', card_no: 'L1', status: 'lost' })]);
    ws.close(1000, 'done');

    // Again: nothing changes, and the hub gets no second change.
    const changes_before = await cardChanges(school_id);
    const again = await reportLost(token);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: 'lost', changed: false });
    expect(await cardChanges(school_id)).toBe(changes_before);
    // The saved card can no longer pay, and its lookup says why.
    const topup = await postFrom(uniqueIp(), '/api/v1/recharges', { card_token: token, amount_fen: 100, channel: 'alipay', agree_terms: true });
    expect(topup.status).toBe(403);
    expect(await topup.json()).toMatchObject({ error: { code: 'card_not_active' } });
    expect(await (await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '持卡人0', card_no: 'L1' })).json()).toMatchObject({ status: 'lost' });
  });

  it('gives a holder no way back to active: only the card office’s registry does that', async () => {
    const school_id = await createSchool('lost', ['L2']);
    const token = await tokenFor(school_id, 'L2', '持卡人0');
    expect((await reportLost(token)).status).toBe(200);
    const sneaky = await postFrom(uniqueIp(), '/api/v1/cards/report-lost', { card_token: token, status: 'active' });
    expect(sneaky.status).toBe(400);
    expect(await sneaky.json()).toMatchObject({ error: { code: 'invalid_body' } });
    expect(await status(school_id, 'L2')).toBe('lost');
    const office = await SELF.fetch(`${ORIGIN}/api/v1/admin/schools/${school_id}/cards`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', ...ADMIN_AUTH },
      body: 'L2,持卡人0,student,active\n',
    });
    expect(office.status).toBe(200);
    expect(await status(school_id, 'L2')).toBe('active');
  });

  it('turns a frozen card lost and refuses a closed one', async () => {
    const school_id = await createSchool('lost', ['L3', 'L4']);
    const frozen = await tokenFor(school_id, 'L3', '持卡人0');
    const closed = await tokenFor(school_id, 'L4', '持卡人1');
    await env.DB.prepare(`UPDATE cards SET status = CASE card_no WHEN 'L3' THEN 'frozen' ELSE 'closed' END WHERE school_id = ?`).bind(school_id).run();
    expect(await (await reportLost(frozen)).json()).toMatchObject({ status: 'lost', changed: true });
    const refused = await reportLost(closed);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ error: { code: 'card_closed' } });
    expect(await status(school_id, 'L4')).toBe('closed');
  });

  it('refuses bad input with a 4xx and changes nothing', async () => {
    const school_id = await createSchool('lost', ['L5']);
    const token = await tokenFor(school_id, 'L5', '持卡人0');
    const [payload, signature] = token.split('.') as [string, string];
    const tampered = `${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    const before = await cardChanges(school_id);
    const cases: [unknown, number, string][] = [
      [tampered, 401, 'card_token_invalid'],
      ['not-a-token', 401, 'card_token_invalid'],
      ['', 400, 'invalid_body'],
      [123, 400, 'invalid_body'],
      ['x'.repeat(600), 400, 'invalid_body'],
    ];
    for (const [card_token, code_status, code] of cases) {
      const response = await reportLost(card_token);
      expect(response.status, String(card_token).slice(0, 20)).toBe(code_status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    const not_json = await SELF.fetch(`${ORIGIN}/api/v1/cards/report-lost`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect(not_json.status).toBe(400);
    expect(await status(school_id, 'L5')).toBe('active');
    expect(await cardChanges(school_id)).toBe(before);
  });

  it('is rate-limited per card like the other public routes', async () => {
    const school_id = await createSchool('lost', ['L6']);
    const token = await tokenFor(school_id, 'L6', '持卡人0');
    let refused: Response | null = null;
    for (let i = 0; i < 2 * CARD_LIMIT + 1 && refused === null; i++) {
      const response = await reportLost(token);
      if (response.status === 429) refused = response;
      else await response.arrayBuffer();
    }
    expect(refused?.status).toBe(429);
    expect(await refused!.json()).toMatchObject({ error: { code: 'rate_limited' } });
    expect(refused!.headers.get('retry-after')).toBeTruthy();
  });
});
