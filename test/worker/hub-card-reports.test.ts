// Card reports (chip balances seen at swipes) feeding the balance the PWA shows, and grey records
// (reservations the hub could not resolve) listed for the card office.
import { SELF, env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CardLookupResponse } from '../../protocol/api.ts';
import type { CardReportsResponse, GreyRecord, GreyRecordsResponse } from '../../protocol/hub.ts';
import { ORIGIN, createSchool, hubFetch, paidTopup, randomSuffix, registerHub, syncFeed, type TestHub } from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';

let ip_counter = 0;

async function lookup(school_id: string, card_no: string, name = '持卡人0'): Promise<CardLookupResponse> {
  const response = await SELF.fetch(`${ORIGIN}/api/v1/cards/lookup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': `2001:db8::c4:${(++ip_counter).toString(16)}` },
    body: JSON.stringify({ school_id, name, card_no }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as CardLookupResponse;
}

async function report(hub: TestHub, body: unknown): Promise<CardReportsResponse> {
  const response = await hubFetch(hub, 'POST', '/api/v1/hub/card-reports', body);
  expect(response.status).toBe(200);
  return (await response.json()) as CardReportsResponse;
}

async function greyList(query: string, headers: Record<string, string> = ADMIN_AUTH): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/admin/grey-records${query}`, { headers });
}

describe('POST /api/v1/hub/card-reports', () => {
  let school_id: string;
  let hub: TestHub;

  beforeAll(async () => {
    school_id = await createSchool('reports', ['E1', 'E2']);
    hub = await registerHub(school_id);
  });

  it('shows the reported chip balance in the card lookup, newest report winning', async () => {
    const before = await lookup(school_id, 'E1');
    expect(before.balance_fen).toBeNull();
    const seen_at_ms = Date.now() - 1_000;
    const answer = await report(hub, {
      reports: [
        { card_no: 'E1', balance_fen: 4_200, online_serial: 3, seen_at_ms: seen_at_ms - 5_000 },
        { card_no: 'E1', balance_fen: 3_750, online_serial: 3, seen_at_ms },
      ],
    });
    expect(answer.accepted).toBe(2);
    const after = await lookup(school_id, 'E1');
    expect(after).toMatchObject({ balance_fen: 3_750, balance_as_of: seen_at_ms });

    // A report older than what the Worker has changes nothing, a newer one replaces it.
    await report(hub, { reports: [{ card_no: 'E1', balance_fen: 1, online_serial: 2, seen_at_ms: seen_at_ms - 60_000 }] });
    expect((await lookup(school_id, 'E1')).balance_fen).toBe(3_750);
    await report(hub, { reports: [{ card_no: 'E1', balance_fen: 3_000, online_serial: 3, seen_at_ms: seen_at_ms + 500 }] });
    expect(await lookup(school_id, 'E1')).toMatchObject({ balance_fen: 3_000, balance_as_of: seen_at_ms + 500 });
  });

  it('shows pending money until a claim loads it, then the balance after the load', async () => {
    const credit = await paidTopup(school_id, 'E2', 10_000);
    expect((await lookup(school_id, 'E2', '持卡人1')).pending_fen).toBe(10_000);
    const committed_at_ms = Date.now();
    const claims = [
      {
        claim_id: `K${randomSuffix(8)}`,
        card_no: 'E2',
        terminal_id: 'pos-02',
        amount_fen: 10_000,
        credit_ids: [credit.credit_id],
        card_terminal_id: '0000000000A2',
        balance_after_fen: 12_282,
        online_serial_after: 9,
        committed_at_ms,
        proof: { kind: 'tac', tac: '5E6F7A8B' },
      },
    ];
    await syncFeed(hub);
    expect((await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims })).status).toBe(200);
    expect(await lookup(school_id, 'E2', '持卡人1')).toMatchObject({ pending_fen: 0, balance_fen: 12_282, balance_as_of: committed_at_ms });
  });

  it('ignores reports stamped in the future and cards of other schools', async () => {
    const other_school = await createSchool('reportsx', ['E1']);
    const answer = await report(hub, {
      reports: [{ card_no: 'E1', balance_fen: 99, online_serial: 1, seen_at_ms: Date.now() + 3_600_000 }],
    });
    expect(answer.accepted).toBe(0);
    expect((await lookup(school_id, 'E1')).balance_fen).not.toBe(99);
    await report(hub, { reports: [{ card_no: 'E1', balance_fen: 77, online_serial: 1, seen_at_ms: Date.now() }] });
    expect((await lookup(other_school, 'E1')).balance_fen).toBeNull();
  });
});

describe('grey records', () => {
  let school_id: string;
  let hub: TestHub;

  function grey(card_no: string, extra: Partial<GreyRecord> = {}): GreyRecord {
    return {
      claim_id: `G${randomSuffix(8)}`,
      card_no,
      terminal_id: 'pos-09',
      amount_fen: 500,
      credit_ids: [`C${randomSuffix(8)}`],
      online_serial_after: 4,
      reserved_at_ms: Date.now() - 86_400_000,
      ...extra,
    };
  }

  beforeAll(async () => {
    school_id = await createSchool('grey', ['F1']);
    hub = await registerHub(school_id);
  });

  it('stores grey records sent with card reports and lists them for the card office', async () => {
    const first = grey('F1', { reserved_at_ms: 1_000 });
    const second = grey('F1', { reserved_at_ms: 2_000 });
    const answer = await report(hub, { reports: [], grey: [first, second] });
    expect(answer).toEqual({ accepted: 0, grey_accepted: 2 });
    // Sent again (the hub repeats its list until it is resolved): still one row each.
    await report(hub, { reports: [], grey: [first] });

    const response = await greyList(`?school_id=${school_id}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as GreyRecordsResponse;
    expect(body.records.map((r) => r.claim_id)).toEqual([first.claim_id, second.claim_id]);
    expect(body.records[0]).toMatchObject({
      hub_id: hub.hub_id,
      school_id,
      card_no: 'F1',
      terminal_id: 'pos-09',
      amount_fen: 500,
      credit_ids: first.credit_ids,
      status: 'open',
      resolved_at_ms: null,
    });

    const page1 = (await (await greyList(`?school_id=${school_id}&limit=1`)).json()) as GreyRecordsResponse;
    expect(page1.records.map((r) => r.claim_id)).toEqual([first.claim_id]);
    expect(page1.next_cursor).not.toBeNull();
    const page2 = (await (await greyList(`?school_id=${school_id}&limit=1&cursor=${encodeURIComponent(page1.next_cursor!)}`)).json()) as GreyRecordsResponse;
    expect(page2.records.map((r) => r.claim_id)).toEqual([second.claim_id]);
    expect(page2.next_cursor).toBeNull();
  });

  it('marks a grey record resolved when the hub says so or its claim arrives', async () => {
    const by_hub = grey('F1', { reserved_at_ms: 3_000 });
    const credit = await paidTopup(school_id, 'F1', 500);
    const by_claim = grey('F1', { reserved_at_ms: 4_000, credit_ids: [credit.credit_id] });
    await report(hub, { reports: [], grey: [by_hub, by_claim] });

    await report(hub, { reports: [], grey: [{ ...by_hub, status: 'resolved' }] });
    const claim = {
      claim_id: by_claim.claim_id,
      card_no: 'F1',
      terminal_id: 'pos-09',
      amount_fen: 500,
      credit_ids: [credit.credit_id],
      card_terminal_id: '0000000000A9',
      balance_after_fen: 500,
      online_serial_after: 4,
      committed_at_ms: Date.now(),
      // The card came back with its serial past the load: that is its proof.
      proof: { kind: 'serial', online_serial_seen: 4 },
    };
    await syncFeed(hub);
    const claimed = await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims: [claim] });
    expect(((await claimed.json()) as { results: { status: string }[] }).results[0]!.status).toBe('accepted');
    // A stale "open" for a record the Worker knows resolved does not reopen it.
    await report(hub, { reports: [], grey: [by_claim] });

    const open = (await (await greyList(`?school_id=${school_id}`)).json()) as GreyRecordsResponse;
    const open_ids = open.records.map((r) => r.claim_id);
    expect(open_ids).not.toContain(by_hub.claim_id);
    expect(open_ids).not.toContain(by_claim.claim_id);
    const resolved = (await (await greyList(`?school_id=${school_id}&status=resolved`)).json()) as GreyRecordsResponse;
    expect(resolved.records.map((r) => r.claim_id)).toEqual([by_hub.claim_id, by_claim.claim_id]);
    expect(resolved.records.every((r) => r.resolved_at_ms !== null)).toBe(true);
  });

  it('needs the admin token and a well-formed query', async () => {
    expect((await greyList('', {})).status).toBe(401);
    for (const query of ['?status=maybe', '?limit=0', '?limit=201', '?cursor=garbage', '?school_id=NOT%20A%20SCHOOL']) {
      const response = await greyList(query);
      expect([query, response.status]).toEqual([query, 400]);
      expect(await response.json()).toMatchObject({ error: { code: 'invalid_query' } });
    }
  });

  it('refuses an empty request and malformed grey records', async () => {
    const empty = await hubFetch(hub, 'POST', '/api/v1/hub/card-reports', { reports: [], grey: [] });
    expect(empty.status).toBe(400);
    const bad = await hubFetch(hub, 'POST', '/api/v1/hub/card-reports', { reports: [], grey: [{ ...grey('F1'), amount_fen: 0 }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_body' } });
    const rows = await env.DB.prepare('SELECT COUNT(*) AS n FROM grey_records WHERE amount_fen = 0').first();
    expect(rows).toEqual({ n: 0 });
  });
});
