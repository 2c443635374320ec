// Claims batches from a hub (DESIGN sections 3 and 6): idempotent by claim_id, each claim applied
// whole or not at all, and only for its own card's pending credits with the right sum.
import { SELF, env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClaimsResponse, HubClaim } from '../../protocol/hub.ts';
import { ORIGIN, createSchool, creditRow, hubClaimOf, hubFetch, paidTopup, randomSuffix, registerHub, syncFeed, type TestHub } from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';

function claim(card_no: string, credit_ids: string[], amount_fen: number, extra: Partial<HubClaim> = {}): HubClaim {
  return hubClaimOf(card_no, credit_ids, amount_fen, { balance_after_fen: 12_345, online_serial_after: 7, ...extra });
}

async function sendClaims(hub: TestHub, claims: HubClaim[]): Promise<ClaimsResponse> {
  // A hub claims only credits it was handed (and so owns): it pulls first, as a real one does.
  await syncFeed(hub);
  const response = await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims });
  expect(response.status).toBe(200);
  return (await response.json()) as ClaimsResponse;
}

async function claimCount(claim_id: string): Promise<number> {
  return (await env.DB.prepare('SELECT COUNT(*) AS n FROM claims WHERE id = ?').bind(claim_id).first<{ n: number }>())!.n;
}

describe('POST /api/v1/hub/claims', () => {
  let hub: TestHub;
  let school_id: string;

  beforeAll(async () => {
    school_id = await createSchool('claims', ['D1', 'D2']);
    hub = await registerHub(school_id);
  });

  it('claims all listed credits of the card at once and records the claim and the balance', async () => {
    const a = await paidTopup(school_id, 'D1', 500);
    const b = await paidTopup(school_id, 'D1', 300);
    const k = claim('D1', [a.credit_id, b.credit_id], 800, { balance_after_fen: 1_800, online_serial_after: 3 });
    expect(await sendClaims(hub, [k])).toEqual({ results: [{ claim_id: k.claim_id, status: 'accepted' }] });
    for (const id of [a.credit_id, b.credit_id]) {
      expect(await creditRow(id)).toMatchObject({ state: 'claimed', claim_id: k.claim_id });
    }
    const stored = await env.DB.prepare('SELECT * FROM claims WHERE id = ?').bind(k.claim_id).first();
    expect(stored).toMatchObject({ school_id, card_no: 'D1', hub_id: hub.hub_id, terminal_id: 'pos-01', amount_fen: 800, online_serial_after: 3,
      card_terminal_id: '0000000000A1', proof_kind: 'tac', proof_tac: '1A2B3C4D', online_serial_seen: null });
    const card = await env.DB.prepare('SELECT balance_fen, online_serial, balance_as_of_ms FROM cards WHERE school_id = ? AND card_no = ?')
      .bind(school_id, 'D1')
      .first();
    expect(card).toEqual({ balance_fen: 1_800, online_serial: 3, balance_as_of_ms: k.committed_at_ms });
  });

  it('answers the same batch again with duplicate and claims nothing twice', async () => {
    const a = await paidTopup(school_id, 'D2', 1_000);
    const k = claim('D2', [a.credit_id], 1_000);
    await sendClaims(hub, [k]);
    const before = await creditRow(a.credit_id);
    const again = await sendClaims(hub, [k]);
    expect(again).toEqual({ results: [{ claim_id: k.claim_id, status: 'duplicate' }] });
    expect(await creditRow(a.credit_id)).toEqual(before);
    expect(await claimCount(k.claim_id)).toBe(1);
  });

  it('applies a batch once when two copies of it arrive at the same time', async () => {
    for (let round = 0; round < 5; round++) {
      const a = await paidTopup(school_id, 'D2', 111);
      const b = await paidTopup(school_id, 'D2', 222);
      const k = claim('D2', [a.credit_id, b.credit_id], 333);
      const answers = await Promise.all([sendClaims(hub, [k]), sendClaims(hub, [k]), sendClaims(hub, [k])]);
      const statuses = answers.map((answer) => answer.results[0]!.status).sort();
      expect(statuses).toEqual(['accepted', 'duplicate', 'duplicate']);
      expect(await claimCount(k.claim_id)).toBe(1);
      for (const id of [a.credit_id, b.credit_id]) expect(await creditRow(id)).toMatchObject({ state: 'claimed', claim_id: k.claim_id });
    }
  });

  it('rejects a wrong amount, another card’s credit and a credit claimed by another claim, changing nothing', async () => {
    const mine = await paidTopup(school_id, 'D1', 700);
    const theirs = await paidTopup(school_id, 'D2', 900);
    const taken = await paidTopup(school_id, 'D1', 100);
    const first = claim('D1', [taken.credit_id], 100);
    await sendClaims(hub, [first]);

    const wrong_amount = claim('D1', [mine.credit_id], 701);
    const other_card = claim('D1', [mine.credit_id, theirs.credit_id], 1_600);
    const double = claim('D1', [taken.credit_id], 100);
    const unknown = claim('D1', ['C-no-such-credit'], 100);
    const answer = await sendClaims(hub, [wrong_amount, other_card, double, unknown]);
    expect(answer.results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(answer.results[0]!.reason).toMatch(/sum/);
    expect(answer.results[1]!.reason).toMatch(/another card/);
    expect(answer.results[2]!.reason).toMatch(/already claimed/);
    expect(answer.results[3]!.reason).toMatch(/unknown credit/);

    expect(await creditRow(mine.credit_id)).toMatchObject({ state: 'pending', claim_id: null });
    expect(await creditRow(theirs.credit_id)).toMatchObject({ state: 'pending', claim_id: null });
    expect(await creditRow(taken.credit_id)).toMatchObject({ state: 'claimed', claim_id: first.claim_id });
    for (const k of [wrong_amount, other_card, double, unknown]) expect(await claimCount(k.claim_id)).toBe(0);
    // The card office sees what the hub says was loaded but the ledger refused.
    const logged = await env.DB.prepare('SELECT claim_id, reason FROM claim_rejections WHERE hub_id = ? ORDER BY id').bind(hub.hub_id).all();
    expect(logged.results.map((row) => row.claim_id)).toEqual(
      expect.arrayContaining([wrong_amount.claim_id, other_card.claim_id, double.claim_id, unknown.claim_id]),
    );
    const listed = await SELF.fetch(`${ORIGIN}/api/v1/admin/claim-rejections?limit=200`, { headers: ADMIN_AUTH });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { rejections: { claim_id: string; reason: string; claim: HubClaim }[] };
    const shown = body.rejections.find((r) => r.claim_id === wrong_amount.claim_id);
    expect(shown).toMatchObject({ reason: expect.stringMatching(/sum/), claim: { amount_fen: 701, credit_ids: [mine.credit_id] } });
    expect((await SELF.fetch(`${ORIGIN}/api/v1/admin/claim-rejections`)).status).toBe(401);
  });

  it('keeps the card\'s proof with each claim, and refuses a claim whose proof is missing or does not prove the write', async () => {
    const by_prove = await paidTopup(school_id, 'D1', 210);
    const by_serial = await paidTopup(school_id, 'D1', 220);
    const unproven = await paidTopup(school_id, 'D1', 230);
    const prove = claim('D1', [by_prove.credit_id], 210, { online_serial_after: 11, proof: { kind: 'prove', tac: 'ABCDEF01' } });
    const serial = claim('D1', [by_serial.credit_id], 220, { online_serial_after: 12, proof: { kind: 'serial', online_serial_seen: 13 } });
    // The card was seen at serial 12 again: the load to 13 was not written, so this is no proof.
    const short = claim('D1', [unproven.credit_id], 230, { online_serial_after: 13, proof: { kind: 'serial', online_serial_seen: 12 } });
    const answer = await sendClaims(hub, [prove, serial, short]);
    expect(answer.results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'rejected']);
    expect(answer.results[2]!.reason).toMatch(/does not show the load/);
    const rows = await env.DB.prepare(
      'SELECT id, online_serial_after, proof_kind, proof_tac, online_serial_seen FROM claims WHERE id IN (?, ?) ORDER BY online_serial_after',
    )
      .bind(prove.claim_id, serial.claim_id)
      .all();
    expect(rows.results).toEqual([
      { id: prove.claim_id, online_serial_after: 11, proof_kind: 'prove', proof_tac: 'ABCDEF01', online_serial_seen: null },
      { id: serial.claim_id, online_serial_after: 12, proof_kind: 'serial', proof_tac: null, online_serial_seen: 13 },
    ]);
    expect(await creditRow(unproven.credit_id)).toMatchObject({ state: 'pending', claim_id: null });

    // Without a proof, or with a TAC that is not 8 hex digits, the batch is refused whole.
    const { proof: _, ...bare } = claim('D1', [unproven.credit_id], 230);
    for (const bad of [bare, claim('D1', [unproven.credit_id], 230, { proof: { kind: 'tac', tac: 'abc' } })]) {
      const response = await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims: [bad] });
      expect(response.status).toBe(400);
    }
    expect(await creditRow(unproven.credit_id)).toMatchObject({ state: 'pending', claim_id: null });
  });

  it('applies the good claims of a mixed batch and none of a bad one', async () => {
    const good = await paidTopup(school_id, 'D2', 400);
    const x = await paidTopup(school_id, 'D1', 250);
    const y = await paidTopup(school_id, 'D1', 250);
    const ok = claim('D2', [good.credit_id], 400);
    // Half right: x would be fine alone, y is listed but the sum is off.
    const bad = claim('D1', [x.credit_id, y.credit_id], 250);
    const answer = await sendClaims(hub, [ok, bad]);
    expect(answer.results.map((r) => r.status)).toEqual(['accepted', 'rejected']);
    expect(await creditRow(good.credit_id)).toMatchObject({ state: 'claimed' });
    expect(await creditRow(x.credit_id)).toMatchObject({ state: 'pending' });
    expect(await creditRow(y.credit_id)).toMatchObject({ state: 'pending' });
  });

  it('refuses the same credit in two claims of one batch, and a reused claim_id with other credits', async () => {
    const z = await paidTopup(school_id, 'D1', 60);
    const k1 = claim('D1', [z.credit_id], 60);
    const k2 = claim('D1', [z.credit_id], 60);
    const answer = await sendClaims(hub, [k1, k2, k1]);
    expect(answer.results.map((r) => r.status)).toEqual(['accepted', 'rejected', 'duplicate']);

    const w = await paidTopup(school_id, 'D1', 60);
    const reused = { ...k1, credit_ids: [w.credit_id] };
    const second = await sendClaims(hub, [reused]);
    expect(second.results[0]).toMatchObject({ status: 'rejected' });
    expect(await creditRow(w.credit_id)).toMatchObject({ state: 'pending' });
  });

  it('accepts the claim of a card reported lost after the load: the money is on the card', async () => {
    const school = await createSchool('claimslost', ['L1']);
    const own_hub = await registerHub(school);
    const credit = await paidTopup(school, 'L1', 1_200);
    await env.DB.prepare("UPDATE cards SET status = 'lost' WHERE school_id = ? AND card_no = 'L1'").bind(school).run();
    const answer = await sendClaims(own_hub, [claim('L1', [credit.credit_id], 1_200)]);
    expect(answer.results[0]).toMatchObject({ status: 'accepted' });
    expect(await creditRow(credit.credit_id)).toMatchObject({ state: 'claimed' });
  });

  it('does not let a hub claim credits of another school', async () => {
    const elsewhere_school = await createSchool('claimsx', ['D1']);
    const elsewhere = await paidTopup(elsewhere_school, 'D1', 900);
    const answer = await sendClaims(hub, [claim('D1', [elsewhere.credit_id], 900)]);
    expect(answer.results[0]).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/unknown credit/) });
    expect(await creditRow(elsewhere.credit_id)).toMatchObject({ state: 'pending' });
  });

  it('keeps a card’s newer balance when an older claim arrives late', async () => {
    const p = await paidTopup(school_id, 'D2', 100);
    const q = await paidTopup(school_id, 'D2', 100);
    const now_ms = Date.now();
    await sendClaims(hub, [claim('D2', [q.credit_id], 100, { balance_after_fen: 9_000, committed_at_ms: now_ms })]);
    await sendClaims(hub, [claim('D2', [p.credit_id], 100, { balance_after_fen: 1, committed_at_ms: now_ms - 60_000 })]);
    const card = await env.DB.prepare('SELECT balance_fen FROM cards WHERE school_id = ? AND card_no = ?').bind(school_id, 'D2').first();
    expect(card).toEqual({ balance_fen: 9_000 });
  });

  it('takes a full batch of 500 claims in one request', async () => {
    const statements = [];
    const now_ms = Date.now();
    const claims: HubClaim[] = [];
    for (let i = 0; i < 500; i++) {
      const order_id = `Y${now_ms}B${String(i).padStart(4, '0')}${randomSuffix(2)}`;
      const credit_id = `C${order_id.slice(1)}`;
      statements.push(
        env.DB.prepare(
          `INSERT INTO orders (id, school_id, card_no, amount_fen, channel, status, created_at_ms, expires_at_ms, paid_at_ms, provider_trade_no)
           VALUES (?, ?, 'D1', 10, 'alipay', 'paid', ?, ?, ?, ?)`,
        ).bind(order_id, school_id, now_ms, now_ms + 1, now_ms, `T${order_id}`),
        env.DB.prepare(
          `INSERT INTO credits (id, order_id, school_id, card_no, amount_fen, state, created_at_ms) VALUES (?, ?, ?, 'D1', 10, 'pending', ?)`,
        ).bind(credit_id, order_id, school_id, now_ms),
      );
      claims.push(claim('D1', [credit_id], 10));
    }
    await env.DB.batch(statements);
    const answer = await sendClaims(hub, claims);
    expect(answer.results.filter((r) => r.status === 'accepted')).toHaveLength(500);
    const claimed = await env.DB.prepare(
      'SELECT COUNT(*) AS n FROM credits WHERE claim_id IN (SELECT value FROM json_each(?))',
    )
      .bind(JSON.stringify(claims.map((k) => k.claim_id)))
      .first();
    expect(claimed).toEqual({ n: 500 });
  });
});

describe('GET /api/v1/admin/claim-rejections', () => {
  interface RejectionsPage {
    rejections: { id: number; hub_id: string; claim_id: string; reason: string; claim: HubClaim | null }[];
    next_before: number | null;
  }

  async function page(query: string): Promise<RejectionsPage> {
    const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/claim-rejections${query}`, { headers: ADMIN_AUTH });
    expect(response.status).toBe(200);
    return (await response.json()) as RejectionsPage;
  }

  it('pages back newest first: every rejection exactly once, pages no longer than asked', async () => {
    const hub = await registerHub(await createSchool('rejpage', ['E1']));
    // Five claims the ledger refuses (credits it never minted), each kept for the card office.
    const refused = Array.from({ length: 5 }, (_, i) => claim('E1', [`C-never-minted-${randomSuffix(4)}`], 100 + i));
    for (const k of refused) expect((await sendClaims(hub, [k])).results[0]).toMatchObject({ status: 'rejected' });
    const all = await env.DB.prepare('SELECT id FROM claim_rejections ORDER BY id DESC').all<{ id: number }>();
    expect(all.results.length).toBeGreaterThanOrEqual(refused.length);

    const seen: RejectionsPage['rejections'] = [];
    let query = '?limit=2';
    let pages = 0;
    // Bounded by what the table holds: a cursor that stopped moving would loop forever.
    for (; pages <= all.results.length; pages++) {
      const next = await page(query);
      expect(next.rejections.length).toBeLessThanOrEqual(2);
      seen.push(...next.rejections);
      if (next.next_before === null) break;
      expect(next.next_before).toBe(next.rejections.at(-1)!.id);
      query = `?limit=2&before=${next.next_before}`;
    }
    expect(pages).toBeLessThan(all.results.length + 1);
    expect(seen.map((r) => r.id)).toEqual(all.results.map((r) => r.id));
    // The newest five are ours, newest first, each with the claim as the hub sent it.
    expect(seen.slice(0, 5).map((r) => r.claim_id)).toEqual(refused.map((k) => k.claim_id).reverse());
    expect(seen[0]).toMatchObject({ hub_id: hub.hub_id, reason: expect.stringMatching(/unknown credit/), claim: { amount_fen: 104, card_no: 'E1' } });

    // Before the oldest there is nothing; a cursor is a positive id, a page at most 200.
    expect(await page(`?before=${all.results.at(-1)!.id}`)).toEqual({ rejections: [], next_before: null });
    for (const bad of ['?before=0', '?before=x', '?limit=0', '?limit=201']) {
      const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/claim-rejections${bad}`, { headers: ADMIN_AUTH });
      expect(response.status, bad).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: 'invalid_query' } });
    }
  });
});
