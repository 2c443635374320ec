// Card holds (protocol/hub.ts, "Card holds"): a card a hub's serial guard froze reaches the Worker
// with the card reports, and the card office settles it with the card's load log. The settlement
// is one guarded D1 batch: the credits the card holds claimed with proof `office` and their
// settlement rows, a refund waiting on one refused, the hold settled, and a `hold` change in the
// feed for that hub alone. Every refusal changes nothing; a repeated settle changes nothing; the
// snapshot of a re-sync carries the card's serial as the Worker knows it; the audit stays clean.
import { SELF, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { AdminCardHoldSettleResponse, CardHold, CardHoldView, HubClaim, SnapshotResponse } from '../../protocol/hub.ts';
import { expectLedgerClean } from './helpers/audit.ts';
import { ORIGIN, createSchool, creditRow, hubClaimOf, hubFetch, paidTopup, randomSuffix, registerHub, syncFeed, type TestHub } from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';

function admin(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`${ORIGIN}${path}`, { ...init, headers: { 'content-type': 'application/json', ...ADMIN_AUTH, ...(init.headers ?? {}) } });
}

function hold(card_no: string, seen: number, recorded: number, extra: Partial<CardHold> = {}): CardHold {
  return { card_no, online_serial_seen: seen, online_serial_recorded: recorded, balance_fen: 1_200, at_ms: Date.now(), ...extra };
}

async function sendHolds(hub: TestHub, holds: CardHold[]): Promise<Response> {
  return hubFetch(hub, 'POST', '/api/v1/hub/card-reports', { reports: [], holds });
}

async function holdsOf(school_id: string, status = 'all'): Promise<CardHoldView[]> {
  const response = await admin(`/api/v1/admin/card-holds?school_id=${school_id}&status=${status}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { holds: CardHoldView[] }).holds;
}

function settle(hub_id: string, card_no: string, body: unknown): Promise<Response> {
  return admin(`/api/v1/admin/card-holds/${hub_id}/${encodeURIComponent(card_no)}/settle`, { method: 'POST', body: JSON.stringify(body) });
}

function claimOf(card_no: string, credit_ids: string[], amount_fen: number, online_serial_after: number): HubClaim {
  return hubClaimOf(card_no, credit_ids, amount_fen, { online_serial_after });
}

/** Everything a settlement may touch, to show a refused one touched nothing. */
async function ledgerState(): Promise<unknown[]> {
  const queries = [
    'SELECT * FROM card_holds ORDER BY hub_id, card_no',
    'SELECT id, state, claim_id FROM credits ORDER BY id',
    'SELECT id FROM claims ORDER BY id',
    'SELECT credit_id FROM credit_settlements ORDER BY credit_id',
    'SELECT id, state FROM refunds ORDER BY id',
    'SELECT count(*) AS n FROM changes',
  ];
  return Promise.all(queries.map(async (sql) => (await env.DB.prepare(sql).all()).results));
}

describe('card holds from the hub', () => {
  it('keeps one row per hub and card: a higher serial raises it, a repeat or an unknown card changes nothing, resolved closes it', async () => {
    const school_id = await createSchool('hold', ['H1', 'H2']);
    const hub = await registerHub(school_id);
    const first = await sendHolds(hub, [hold('H1', 5, 3), hold('NOPE', 9, 1)]);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ holds_accepted: 2 });
    expect(await holdsOf(school_id)).toEqual([expect.objectContaining({ hub_id: hub.hub_id, card_no: 'H1', status: 'open', online_serial_seen: 5, online_serial_recorded: 3 })]);
    // The card showed more at a later load: the hold follows. An older word changes nothing.
    expect((await sendHolds(hub, [hold('H1', 6, 3)])).status).toBe(200);
    expect((await sendHolds(hub, [hold('H1', 4, 3)])).status).toBe(200);
    expect((await holdsOf(school_id))[0]).toMatchObject({ online_serial_seen: 6 });
    // A hold that is no serial ahead of its record is not one: 400, nothing stored.
    const bad = await sendHolds(hub, [hold('H2', 3, 3)]);
    expect(bad.status).toBe(400);
    expect((await holdsOf(school_id)).map((row) => row.card_no)).toEqual(['H1']);
    // The hub's re-sync found every serial accounted for.
    expect((await sendHolds(hub, [hold('H1', 6, 3, { status: 'resolved' })])).status).toBe(200);
    expect(await holdsOf(school_id, 'open')).toEqual([]);
    expect((await holdsOf(school_id, 'resolved'))[0]).toMatchObject({ card_no: 'H1', resolved_at_ms: expect.any(Number) });
    const refused = await settle(hub.hub_id, 'H1', { loaded_credit_ids: [], online_serial: 6, evidence: 'read' });
    expect(refused.status).toBe(409);
    // Frozen again later, at a serial past the resolved one: open again.
    expect((await sendHolds(hub, [hold('H1', 8, 7)])).status).toBe(200);
    expect((await holdsOf(school_id, 'open'))[0]).toMatchObject({ card_no: 'H1', online_serial_seen: 8, online_serial_recorded: 7 });
  });
});

describe('the card office settles a hold', () => {
  it('claims what the card holds with proof office, refuses the refund that waited on it, and tells only that hub', async () => {
    const school_id = await createSchool('hsettle', ['S1', 'S2']);
    const hub = await registerHub(school_id);
    const standby = await registerHub(school_id);
    // Two loads the restored store forgot (serials 3 → 5): 100, then 200 + 50; 700 never loaded.
    const a = await paidTopup(school_id, 'S1', 100);
    const b = await paidTopup(school_id, 'S1', 200);
    const c = await paidTopup(school_id, 'S1', 50);
    const d = await paidTopup(school_id, 'S1', 700);
    await syncFeed(hub);
    await syncFeed(standby);
    const refund = await admin(`/api/v1/admin/orders/${b.order_id}/refund`, { method: 'POST' });
    expect(refund.status).toBe(202);
    await syncFeed(hub);
    expect((await sendHolds(hub, [hold('S1', 5, 3)])).status).toBe(200);
    const [listed] = await holdsOf(school_id, 'open');
    // The view lists the card's pending credits, oldest first: what the loads may have taken.
    expect(listed!.pending_credits.map((credit) => credit.credit_id)).toEqual([a.credit_id, b.credit_id, c.credit_id, d.credit_id]);

    const body = { loaded_credit_ids: [a.credit_id, b.credit_id, c.credit_id], online_serial: 5, evidence: 'load log: #3 100 fen, #4 250 fen', actor: '李老师' };
    const settled = await settle(hub.hub_id, 'S1', body);
    expect(settled.status).toBe(200);
    expect((await settled.json()) as AdminCardHoldSettleResponse).toEqual({
      hub_id: hub.hub_id,
      card_no: 'S1',
      status: 'settled',
      online_serial_settled: 5,
      claimed_credit_ids: [a.credit_id, b.credit_id, c.credit_id],
      claim_ids: [a.credit_id, b.credit_id, c.credit_id].map((id) => `office-${id}`),
      refunds_refused: 1,
    });
    for (const credit of [a, b, c]) expect(await creditRow(credit.credit_id)).toMatchObject({ state: 'claimed', claim_id: `office-${credit.credit_id}` });
    expect(await creditRow(d.credit_id)).toMatchObject({ state: 'pending' });
    expect(await env.DB.prepare('SELECT proof_kind, hub_id, amount_fen FROM claims WHERE id = ?').bind(`office-${b.credit_id}`).first()).toEqual({ proof_kind: 'office', hub_id: hub.hub_id, amount_fen: 200 });
    expect(await env.DB.prepare('SELECT decision, actor, evidence FROM credit_settlements WHERE credit_id = ?').bind(c.credit_id).first()).toEqual({ decision: 'claimed', actor: '李老师', evidence: body.evidence });
    expect(await env.DB.prepare('SELECT state FROM refunds WHERE order_id = ?').bind(b.order_id).first()).toEqual({ state: 'refused' });
    expect((await holdsOf(school_id, 'settled'))[0]).toMatchObject({ online_serial_settled: 5, settled_credit_ids: [a.credit_id, b.credit_id, c.credit_id], actor: '李老师' });

    // The hub hears it in its feed, the standby does not.
    const { changes } = await syncFeed(hub);
    expect(changes).toEqual([{ seq: expect.any(Number), kind: 'hold', card_no: 'S1', online_serial_settled: 5, credit_ids: [a.credit_id, b.credit_id, c.credit_id] }]);
    expect((await syncFeed(standby)).changes).toEqual([]);

    // The same settlement again: refused, nothing changes.
    const before = await ledgerState();
    const again = await settle(hub.hub_id, 'S1', body);
    expect(again.status).toBe(409);
    expect(await ledgerState()).toEqual(before);
    await expectLedgerClean();
  });

  it('settles with no credits when the card holds none of them, the serial alone', async () => {
    const school_id = await createSchool('hnone', ['N1']);
    const hub = await registerHub(school_id);
    const credit = await paidTopup(school_id, 'N1', 300);
    await syncFeed(hub);
    expect((await sendHolds(hub, [hold('N1', 9, 8)])).status).toBe(200);
    const settled = await settle(hub.hub_id, 'N1', { loaded_credit_ids: [], online_serial: 9, evidence: 'load log: #8 was another campus system\'s load' });
    expect(settled.status, await settled.clone().text()).toBe(200);
    expect(await creditRow(credit.credit_id)).toMatchObject({ state: 'pending' });
    expect((await syncFeed(hub)).changes).toEqual([expect.objectContaining({ kind: 'hold', online_serial_settled: 9, credit_ids: [] })]);
  });

  it('refuses what the card cannot have loaded, a serial behind the hub, and bad input, changing nothing', async () => {
    const school_id = await createSchool('hbad', ['B1', 'B2']);
    const other_school = await createSchool('hbad2', ['B1']);
    const hub = await registerHub(school_id);
    const standby = await registerHub(school_id);
    const other_hub = await registerHub(other_school);
    const mine = await paidTopup(school_id, 'B1', 100);
    const other_card = await paidTopup(school_id, 'B2', 100);
    const claimed = await paidTopup(school_id, 'B1', 100);
    const foreign = await paidTopup(other_school, 'B1', 100);
    await syncFeed(hub);
    // Paid after the hub's last pull: no hub owns it.
    const late = await paidTopup(school_id, 'B1', 100);
    await syncFeed(other_hub);
    const accepted = await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims: [claimOf('B1', [claimed.credit_id], 100, 4)] });
    expect(accepted.status).toBe(200);
    expect((await sendHolds(hub, [hold('B1', 6, 4)])).status).toBe(200);
    expect((await sendHolds(standby, [hold('B1', 6, 4)])).status).toBe(200);
    const ok = { online_serial: 6, evidence: 'load log read at the office' };
    const before = await ledgerState();
    const cases: [string, string, unknown, number][] = [
      ['no such hold', `/${hub.hub_id}/B2/settle`, { ...ok, loaded_credit_ids: [] }, 404],
      ['no such hub', `/no-such-hub/B1/settle`, { ...ok, loaded_credit_ids: [] }, 404],
      ['a bad card number', `/${hub.hub_id}/b%201/settle`, { ...ok, loaded_credit_ids: [] }, 404],
      ['below the hub\'s record', `/${hub.hub_id}/B1/settle`, { ...ok, online_serial: 3, loaded_credit_ids: [] }, 409],
      ['below what the card showed', `/${hub.hub_id}/B1/settle`, { ...ok, online_serial: 5, loaded_credit_ids: [] }, 409],
      ['above 0xFFFF', `/${hub.hub_id}/B1/settle`, { ...ok, online_serial: 0x10000, loaded_credit_ids: [] }, 400],
      ['a credit twice', `/${hub.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: [mine.credit_id, mine.credit_id] }, 400],
      ['too many credits', `/${hub.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: Array.from({ length: 101 }, (_, i) => `C${i}`) }, 400],
      ['another card\'s credit', `/${hub.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: [mine.credit_id, other_card.credit_id] }, 409],
      ['a credit no hub owns', `/${hub.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: [late.credit_id] }, 409],
      ['another hub\'s hold of it', `/${standby.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: [mine.credit_id] }, 409],
      ['a claimed credit', `/${hub.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: [claimed.credit_id] }, 409],
      ['another school\'s credit', `/${hub.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: [foreign.credit_id] }, 409],
      ['no such credit', `/${hub.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: ['C-none'] }, 409],
      ['no evidence', `/${hub.hub_id}/B1/settle`, { online_serial: 6, evidence: ' ', loaded_credit_ids: [] }, 400],
      ['an extra field', `/${hub.hub_id}/B1/settle`, { ...ok, loaded_credit_ids: [], decision: 'claimed' }, 400],
    ];
    for (const [what, path, body, status] of cases) {
      const response = await admin(`/api/v1/admin/card-holds${path}`, { method: 'POST', body: JSON.stringify(body) });
      expect(response.status, what).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code, what).toEqual(expect.any(String));
    }
    expect(await ledgerState()).toEqual(before);
    // The valid settlement, after all that: accepted.
    expect((await settle(hub.hub_id, 'B1', { ...ok, loaded_credit_ids: [mine.credit_id] })).status).toBe(200);
    await expectLedgerClean();
  });
});

describe('the snapshot of a re-sync', () => {
  it("carries the card's serial as the Worker's claims account for it, and a settled hold's", async () => {
    const school_id = await createSchool('hsnap', ['P1', 'P2']);
    const hub = await registerHub(school_id);
    const loaded = await paidTopup(school_id, 'P1', 100);
    const waiting = await paidTopup(school_id, 'P1', 200);
    const other = await paidTopup(school_id, 'P2', 300);
    await syncFeed(hub);
    expect((await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims: [claimOf('P1', [loaded.credit_id], 100, 12)] })).status).toBe(200);
    expect((await sendHolds(hub, [hold('P2', 30, 20)])).status).toBe(200);
    expect((await settle(hub.hub_id, 'P2', { loaded_credit_ids: [], online_serial: 31, evidence: 'read' })).status).toBe(200);
    const credits = [];
    let path = '/api/v1/hub/snapshot?since=0&limit=10';
    for (let i = 0; i < 5; i++) {
      const page = (await (await hubFetch(hub, 'GET', path)).json()) as SnapshotResponse;
      credits.push(...page.credits);
      if (page.next_cursor === null) break;
      path = `/api/v1/hub/snapshot?cursor=${encodeURIComponent(page.next_cursor)}&limit=10`;
    }
    const serial = new Map(credits.map((credit) => [credit.credit_id, credit.online_serial_claimed]));
    expect(serial.get(loaded.credit_id)).toBe(12);
    expect(serial.get(waiting.credit_id)).toBe(12);
    expect(serial.get(other.credit_id)).toBe(31);
    // What the card last showed (the claim's serial reached the card's row too).
    expect(credits.find((credit) => credit.credit_id === waiting.credit_id)?.online_serial_reported).toBe(12);
  });
});
