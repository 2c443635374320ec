// Console actions through the ledger (issue 10): refunds, grey-record settlement, card status,
// registry import, reconciliation re-runs; each leaves exactly one audit entry with the record
// before and after, in the same batch as the change. And the reads an operator relies on: the
// whole story of an order, search, pending ageing, overview, hubs, charts, paging.
import { env } from 'cloudflare:test';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChangesResponse, ClaimsResponse } from '../../protocol/hub.ts';
import type {
  ConsoleAuditResponse,
  ConsoleCard,
  ConsoleCardsResponse,
  ConsoleChartsResponse,
  ConsoleGreyRecord,
  ConsoleGreyRecordsResponse,
  ConsoleHubsResponse,
  ConsoleOrderStory,
  ConsoleOrdersResponse,
  ConsoleOverview,
  ConsolePendingResponse,
  ConsoleRefundsResponse,
  ConsoleReconciliationsResponse,
} from '../../protocol/console.ts';
import { chinaDate } from '../../protocol/alipay.ts';
import { auditTestLedger, expectLedgerClean } from './helpers/audit.ts';
import { auditRows, consoleFetch, consoleJson, operatorSession, type TestSession } from './helpers/console.ts';
import { freshSchool, insertCredit, insertOrder, testOrderId } from './helpers/fixtures.ts';
import { createSchool, creditRow, hubFetch, orderStatus, paidTopup, registerHub, testAsn, type TestHub } from './helpers/hub.ts';
import { paidAt } from './helpers/money.ts';
import { DAY_MS, HOUR_MS } from '../helpers/clock.ts';

afterAll(expectLedgerClean);

async function pullAll(hub: TestHub): Promise<ChangesResponse> {
  const response = await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=0&limit=1000');
  expect(response.status).toBe(200);
  return (await response.json()) as ChangesResponse;
}

/** A hub reports a reservation it could not settle, through the real card-reports route. */
async function reportGrey(hub: TestHub, card_no: string, credit_ids: string[], amount_fen: number): Promise<string> {
  const claim_id = `K-${crypto.randomUUID()}`;
  const response = await hubFetch(hub, 'POST', '/api/v1/hub/card-reports', {
    reports: [],
    grey: [{ claim_id, card_no, terminal_id: 'POS-7', amount_fen, credit_ids, online_serial_after: 5, reserved_at_ms: Date.now() - HOUR_MS }],
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return `${hub.hub_id}:${claim_id}`;
}

function settle(session: TestSession, grey_id: string, body: unknown): Promise<Response> {
  return consoleFetch(session, 'POST', `/grey-records/${encodeURIComponent(grey_id)}/settle`, { body });
}

describe('refunds from the console', () => {
  it('refunds an unclaimed top-up through the ledger and records who asked and why, before and after', async () => {
    const paid = await paidAt('alipay', 1_200);
    const clerk = await operatorSession([paid.school_id]);
    const refund = await consoleJson<{ refund_id: string; state: string }>(clerk, 'POST', '/refunds', { order_id: paid.order_id, reason: '家长申请退款' }, 200);
    expect(refund.state).toBe('refunded');
    expect(await orderStatus(paid.order_id)).toBe('refunded');
    expect((await creditRow(paid.credit_id))?.state).toBe('voided');
    const rows = await auditRows(paid.school_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ operator_id: clerk.operator_id, action: 'refund', target: paid.order_id, before_json: null });
    expect(JSON.parse(rows[0]!.after_json!)).toMatchObject({ refund_id: refund.refund_id, reason: '家长申请退款', route: 'direct' });
    // Listed on the refunds page, and asking again refunds nothing twice.
    const list = await consoleJson<ConsoleRefundsResponse>(clerk, 'GET', `/refunds?school_id=${paid.school_id}`);
    expect(list.refunds.map((r) => r.order_id)).toEqual([paid.order_id]);
    const again = await consoleJson<{ refund_id: string; state: string }>(clerk, 'POST', '/refunds', { order_id: paid.order_id, reason: '再次' }, 200);
    expect(again).toMatchObject({ refund_id: refund.refund_id, state: 'refunded' });
    expect(await env.DB.prepare('SELECT COUNT(*) AS n FROM refunds WHERE order_id = ?').bind(paid.order_id).first()).toEqual({ n: 1 });
    expect(await auditRows(paid.school_id)).toHaveLength(1);
  });

  it("asks the hub to void a credit it holds, and refuses a top-up already loaded onto the card", async () => {
    const school_id = await createSchool('con', ['20240001', '20240002']);
    const hub = await registerHub(school_id);
    const held = await paidTopup(school_id, '20240001', 800);
    const loaded = await paidTopup(school_id, '20240002', 900);
    await pullAll(hub);
    const claim = await hubFetch(hub, 'POST', '/api/v1/hub/claims', {
      claims: [{
        claim_id: `K-${crypto.randomUUID()}`, card_no: '20240002', terminal_id: 'POS-1', card_terminal_id: '0000000000A1', amount_fen: 900,
        credit_ids: [loaded.credit_id], balance_after_fen: 900, online_serial_after: 1, committed_at_ms: Date.now(), proof: { kind: 'tac', tac: '0123ABCD' },
      }],
    });
    expect(((await claim.json()) as ClaimsResponse).results[0]!.status).toBe('accepted');
    const clerk = await operatorSession([school_id]);

    const waiting = await consoleJson<{ state: string; route: string }>(clerk, 'POST', '/refunds', { order_id: held.order_id, reason: '重复充值' }, 202);
    expect(waiting).toMatchObject({ state: 'requested', route: 'hub' });
    expect((await creditRow(held.credit_id))?.void_requested_at_ms).not.toBeNull();
    const feed = await pullAll(hub);
    expect(feed.changes.some((change) => change.kind === 'void' && change.credit_id === held.credit_id)).toBe(true);

    const refused = await consoleFetch(clerk, 'POST', '/refunds', { body: { order_id: loaded.order_id, reason: '误操作' } });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ error: { code: 'refund_not_allowed' } });
    const rows = await auditRows(school_id);
    expect(rows.map((row) => [row.action, row.target])).toEqual([['refund', held.order_id]]);
    expect(JSON.parse(rows[0]!.after_json!)).toMatchObject({ state: 'requested', route: 'hub' });
  });
});

describe('grey records settled by the card office', () => {
  it('"loaded" claims the credits through the ledger with the decision as proof, which the audit accepts', async () => {
    const school_id = await createSchool('grey', ['20250001']);
    const hub = await registerHub(school_id);
    const first = await paidTopup(school_id, '20250001', 300);
    const second = await paidTopup(school_id, '20250001', 200);
    await pullAll(hub);
    const grey_id = await reportGrey(hub, '20250001', [first.credit_id, second.credit_id], 500);
    const clerk = await operatorSession([school_id]);
    const open = await consoleJson<ConsoleGreyRecordsResponse>(clerk, 'GET', `/grey-records?school_id=${school_id}`);
    expect(open.records.map((r) => r.grey_id)).toEqual([grey_id]);

    const settled = await settle(clerk, grey_id, { decision: 'loaded', evidence: '读卡器：余额 5.00，联机序号 5', balance_fen: 500, online_serial: 5 });
    expect(settled.status, await settled.clone().text()).toBe(200);
    const record = (await settled.json()) as ConsoleGreyRecord;
    expect(record).toMatchObject({ status: 'resolved', decision: { decision: 'loaded', operator_id: clerk.operator_id } });
    const claim_id = grey_id.slice(grey_id.indexOf(':') + 1);
    for (const credit of [first, second]) expect(await creditRow(credit.credit_id)).toMatchObject({ state: 'claimed', claim_id });
    const claim = await env.DB.prepare('SELECT * FROM claims WHERE id = ?').bind(claim_id).first<Record<string, unknown>>();
    expect(claim).toMatchObject({ hub_id: hub.hub_id, amount_fen: 500, proof_kind: 'decision', balance_after_fen: 500 });
    const rows = await auditRows(school_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'grey_settle', target: grey_id });
    expect(JSON.parse(rows[0]!.before_json!)).toMatchObject({ status: 'open', amount_fen: 500 });
    expect(JSON.parse(rows[0]!.after_json!)).toMatchObject({ decision: 'loaded', evidence: '读卡器：余额 5.00，联机序号 5' });
    expect((await auditTestLedger()).violations).toEqual([]);

    // The hub's own commit of the same reservation, arriving later, is the same claim.
    const late = await hubFetch(hub, 'POST', '/api/v1/hub/claims', {
      claims: [{
        claim_id, card_no: '20250001', terminal_id: 'POS-7', card_terminal_id: '0000000000A1', amount_fen: 500,
        credit_ids: [first.credit_id, second.credit_id], balance_after_fen: 500, online_serial_after: 5, committed_at_ms: Date.now(), proof: { kind: 'prove', tac: '0A0B0C0D' },
      }],
    });
    expect(((await late.json()) as ClaimsResponse).results[0]!.status).toBe('duplicate');
    // Settled once: a second decision is refused and writes nothing.
    expect((await settle(clerk, grey_id, { decision: 'not_loaded', evidence: '再次' })).status).toBe(409);
    expect(await auditRows(school_id)).toHaveLength(1);
  });

  it('the audit names a decision claim without its audit entry (invariant 7)', async () => {
    const school_id = await freshSchool();
    const now_ms = Date.now();
    const order = { order_id: testOrderId(now_ms), school_id, card_no: '20230001', amount_fen: 100, status: 'paid' as const, created_at_ms: now_ms, paid_at_ms: now_ms };
    await insertOrder(order);
    const credit_id = await insertCredit(order, { state: 'claimed', claimed_at_ms: now_ms });
    const claim_id = (await creditRow(credit_id))!.claim_id!;
    await env.DB.prepare("UPDATE claims SET proof_kind = 'decision', proof_tac = NULL WHERE id = ?").bind(claim_id).run();
    const report = await auditTestLedger();
    expect(report.violations.map((v) => [v.check, v.ids])).toContainEqual(['claim_without_card_proof', claim_id]);
    await env.DB.prepare("UPDATE claims SET proof_kind = 'tac', proof_tac = '0A1B2C3D' WHERE id = ?").bind(claim_id).run();
  });

  it('"not_loaded" closes the record and leaves the money pending for the card; a changed ledger is refused', async () => {
    const school_id = await createSchool('grey', ['20250002', '20250003']);
    const hub = await registerHub(school_id);
    const kept = await paidTopup(school_id, '20250002', 400);
    const gone = await paidTopup(school_id, '20250003', 600);
    await pullAll(hub);
    const grey_kept = await reportGrey(hub, '20250002', [kept.credit_id], 400);
    const grey_gone = await reportGrey(hub, '20250003', [gone.credit_id], 600);
    const clerk = await operatorSession([school_id]);

    const settled = await settle(clerk, grey_kept, { decision: 'not_loaded', evidence: '读卡器：余额未变，联机序号 4' });
    expect(settled.status).toBe(200);
    expect(await settled.json()).toMatchObject({ status: 'resolved', decision: { decision: 'not_loaded' } });
    expect((await creditRow(kept.credit_id))?.state).toBe('pending');

    // Meanwhile the card's own claim of that credit arrived under another claim id: "loaded" on
    // the grey record would claim it twice, so it is refused and nothing is written.
    const other = await hubFetch(hub, 'POST', '/api/v1/hub/claims', {
      claims: [{
        claim_id: `K-${crypto.randomUUID()}`, card_no: '20250003', terminal_id: 'POS-1', card_terminal_id: '0000000000A1', amount_fen: 600,
        credit_ids: [gone.credit_id], balance_after_fen: 600, online_serial_after: 6, committed_at_ms: Date.now(), proof: { kind: 'tac', tac: '01020304' },
      }],
    });
    expect(((await other.json()) as ClaimsResponse).results[0]!.status).toBe('accepted');
    const refused = await settle(clerk, grey_gone, { decision: 'loaded', evidence: '读卡' });
    expect(refused.status).toBe(409);
    expect(await env.DB.prepare('SELECT COUNT(*) AS n FROM claims WHERE id = ?').bind(grey_gone.split(':')[1]).first()).toEqual({ n: 0 });
    expect((await auditRows(school_id)).map((row) => row.target)).toEqual([grey_kept]);
  });
});

describe('cards from the console', () => {
  it('a status change reaches the hub through the changes feed, with its audit entry', async () => {
    const school_id = await createSchool('card', ['20260001']);
    const hub = await registerHub(school_id);
    const before = await pullAll(hub);
    const clerk = await operatorSession([school_id]);
    const card = await consoleJson<ConsoleCard>(clerk, 'POST', '/cards/20260001/status', { school_id, status: 'lost' });
    expect(card.status).toBe('lost');
    const after = await hubFetch(hub, 'GET', `/api/v1/hub/changes?after=${before.next_after}`);
    const changes = ((await after.json()) as ChangesResponse).changes;
    expect(changes).toEqual([expect.objectContaining({ kind: 'card', card_no: '20260001', status: 'lost' })]);
    const rows = await auditRows(school_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'card_status', target: '20260001', before_json: '{"status":"active"}', after_json: '{"status":"lost"}' });
    // The same status again changes nothing and records nothing; a card number typed as printed works.
    expect((await consoleJson<ConsoleCard>(clerk, 'POST', '/cards/%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96%EF%BC%90%EF%BC%90%EF%BC%90%EF%BC%91/status', { school_id, status: 'lost' })).status).toBe('lost');
    expect(await auditRows(school_id)).toHaveLength(1);
    // A closed card stays closed.
    await env.DB.prepare("UPDATE cards SET status = 'closed' WHERE school_id = ? AND card_no = '20260001'").bind(school_id).run();
    expect((await consoleFetch(clerk, 'POST', '/cards/20260001/status', { body: { school_id, status: 'active' } })).status).toBe(409);
  });

  it('imports a registry file with its rejected lines, audited, and finds cards by number or name', async () => {
    const school_id = await createSchool('imp', []);
    const clerk = await operatorSession([school_id]);
    const csv = `card_no,name,kind,status,asn\n30001,赵一,student,active,${testAsn(1)}\n30002,钱二,staff,active,${testAsn(2)}\nbad row\n30003,孙三,nobody,active,${testAsn(3)}\n`;
    const response = await consoleFetch(clerk, 'POST', `/cards/import?school_id=${school_id}`, { body: csv, type: 'text/csv' });
    expect(response.status, await response.clone().text()).toBe(200);
    const result = (await response.json()) as { imported: number; rejected: { line: number; reason: string }[] };
    expect(result.imported).toBe(2);
    expect(result.rejected.map((r) => r.line)).toEqual([4, 5]);
    const rows = await auditRows(school_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'cards_import', target: 'part 1/1' });
    expect(JSON.parse(rows[0]!.after_json!)).toMatchObject({ rows: 2, rejected: 2 });
    const by_number = await consoleJson<ConsoleCardsResponse>(clerk, 'GET', `/cards?school_id=${school_id}&q=3000`);
    expect(by_number.cards.map((c) => c.card_no)).toEqual(['30001', '30002']);
    const by_name = await consoleJson<ConsoleCardsResponse>(clerk, 'GET', `/cards?school_id=${school_id}&q=${encodeURIComponent('钱')}`);
    expect(by_name.cards.map((c) => c.holder_name)).toEqual(['钱二']);
    const wildcard = await consoleJson<ConsoleCardsResponse>(clerk, 'GET', `/cards?school_id=${school_id}&q=%25`);
    expect(wildcard.cards).toEqual([]);
    const page = await consoleJson<ConsoleCardsResponse>(clerk, 'GET', `/cards?school_id=${school_id}&limit=1`);
    expect(page.cards.map((c) => c.card_no)).toEqual(['30001']);
    const next = await consoleJson<ConsoleCardsResponse>(clerk, 'GET', `/cards?school_id=${school_id}&limit=1&cursor=${page.next_cursor}`);
    expect(next.cards.map((c) => c.card_no)).toEqual(['30002']);
  });
});

describe('reconciliation from the console', () => {
  it("re-runs a day and answers the school's rows, audited with before and after", async () => {
    const paid = await paidAt('alipay', 700);
    const clerk = await operatorSession([paid.school_id]);
    const today = chinaDate(Date.now());
    const run = await consoleJson<ConsoleReconciliationsResponse>(clerk, 'POST', `/reconciliations/${today}`, { school_id: paid.school_id });
    expect(run.days.length).toBeGreaterThan(0);
    expect(run.days.every((day) => day.school_id === paid.school_id && day.bill_date === today)).toBe(true);
    const listed = await consoleJson<ConsoleReconciliationsResponse>(clerk, 'GET', `/reconciliations?school_id=${paid.school_id}&from=${today}&to=${today}`);
    expect(listed.days).toEqual(run.days);
    const rows = await auditRows(paid.school_id);
    expect(rows.map((row) => [row.action, row.target])).toEqual([['reconcile', today]]);
    expect(JSON.parse(rows[0]!.after_json!)).toEqual(JSON.parse(JSON.stringify(run.days)));
  });
});

describe('what the card office reads', () => {
  it('the whole story of an order: order, credit, claim, notifications, card', async () => {
    const paid = await paidAt('alipay', 1_500);
    const clerk = await operatorSession([paid.school_id]);
    const story = await consoleJson<ConsoleOrderStory>(clerk, 'GET', `/orders/${paid.order_id}`);
    expect(story.order).toMatchObject({ order_id: paid.order_id, status: 'paid', topup_status: 'pending_claim', amount_fen: 1_500 });
    expect(story.credit).toMatchObject({ credit_id: paid.credit_id, state: 'pending', owning_hub_id: null });
    expect(story.notifications.map((n) => n.verdict)).toEqual(['applied']);
    expect(story.card).toMatchObject({ card_no: paid.card_no, pending_fen: 1_500 });
    expect(story.refunds).toEqual([]);
    const search = await consoleJson<ConsoleOrdersResponse>(clerk, 'GET', `/orders?school_id=${paid.school_id}&card_no=${paid.card_no}&date=${chinaDate(Date.now())}`);
    expect(search.orders.map((o) => o.order_id)).toEqual([paid.order_id]);
    const provider = story.order.provider_trade_no!;
    const by_provider = await consoleJson<ConsoleOrdersResponse>(clerk, 'GET', `/orders?school_id=${paid.school_id}&provider_trade_no=${provider}`);
    expect(by_provider.orders.map((o) => o.order_id)).toEqual([paid.order_id]);
  });

  it('pending ageing, overview, hubs and charts add up to what the ledger holds', async () => {
    const school_id = await freshSchool();
    const now_ms = Date.now();
    const ages_ms = [10 * 60_000, 3 * HOUR_MS, 2 * DAY_MS, 9 * DAY_MS, 10 * DAY_MS];
    for (const [i, age_ms] of ages_ms.entries()) {
      const at_ms = now_ms - age_ms;
      const order = { order_id: testOrderId(at_ms), school_id, card_no: '20230001', amount_fen: 100 * (i + 1), status: 'paid' as const, created_at_ms: at_ms, paid_at_ms: at_ms };
      await insertOrder(order);
      await insertCredit(order, { state: 'pending' });
    }
    const hub = await registerHub(school_id);
    // The hub confirms the page durable by asking after it.
    const pulled = await pullAll(hub);
    expect((await hubFetch(hub, 'GET', `/api/v1/hub/changes?after=${pulled.next_after}`)).status).toBe(200);
    const clerk = await operatorSession([school_id]);
    const pending = await consoleJson<ConsolePendingResponse>(clerk, 'GET', `/pending?school_id=${school_id}&limit=2`);
    expect(pending.buckets).toEqual([
      { bucket: 'lt_1h', count: 1, amount_fen: 100 },
      { bucket: '1h_24h', count: 1, amount_fen: 200 },
      { bucket: '1d_7d', count: 1, amount_fen: 300 },
      { bucket: 'gt_7d', count: 2, amount_fen: 900 },
    ]);
    expect(pending.oldest.map((c) => c.amount_fen)).toEqual([500, 400]);
    const rest = await consoleJson<ConsolePendingResponse>(clerk, 'GET', `/pending?school_id=${school_id}&limit=2&cursor=${encodeURIComponent(pending.next_cursor!)}`);
    expect(rest.oldest.map((c) => c.amount_fen)).toEqual([300, 200]);

    const overview = await consoleJson<ConsoleOverview>(clerk, 'GET', `/overview?school_id=${school_id}`);
    expect(overview).toMatchObject({ pending_count: 5, pending_fen: 1_500, open_grey_records: 0 });
    expect(overview.oldest_pending_age_ms).toBeGreaterThanOrEqual(10 * DAY_MS);
    expect(overview.hubs).toEqual([expect.objectContaining({ hub_id: hub.hub_id, sync_lag: 0, healthy: true, pending_credits_owned: 5 })]);

    const hubs = await consoleJson<ConsoleHubsResponse>(clerk, 'GET', `/hubs?school_id=${school_id}`);
    expect(hubs.hubs[0]).toMatchObject({ hub_id: hub.hub_id, sync_lag: 0 });
    await paidTopup(school_id, '20230001', 50);
    const lagging = await consoleJson<ConsoleHubsResponse>(clerk, 'GET', `/hubs?school_id=${school_id}`);
    expect(lagging.hubs[0]!.sync_lag).toBe(1);

    const charts = await consoleJson<ConsoleChartsResponse>(clerk, 'GET', `/charts?school_id=${school_id}&days=31`);
    expect(charts.topups_per_hour.reduce((n, h) => n + h.count, 0)).toBe(6);
    expect(charts.amounts.reduce((n, b) => n + b.count, 0)).toBe(6);
    expect(charts.amounts[0]).toEqual({ le_fen: 1_000, count: 6 });
  });

  it('the audit trail pages newest first and stays with its school', async () => {
    const school_id = await createSchool('aud', ['20270001', '20270002', '20270003']);
    const other = await createSchool('aud', ['20270001']);
    const clerk = await operatorSession([school_id, other]);
    for (const card_no of ['20270001', '20270002', '20270003']) await consoleJson(clerk, 'POST', `/cards/${card_no}/status`, { school_id, status: 'frozen' });
    await consoleJson(clerk, 'POST', '/cards/20270001/status', { school_id: other, status: 'lost' });
    const page = await consoleJson<ConsoleAuditResponse>(clerk, 'GET', `/audit?school_id=${school_id}&limit=2`);
    expect(page.entries.map((e) => e.target)).toEqual(['20270003', '20270002']);
    expect(page.entries[0]).toMatchObject({ operator_id: clerk.operator_id, action: 'card_status', before: { status: 'active' }, after: { status: 'frozen' } });
    const rest = await consoleJson<ConsoleAuditResponse>(clerk, 'GET', `/audit?school_id=${school_id}&limit=2&cursor=${page.next_cursor}`);
    expect(rest.entries.map((e) => e.target)).toEqual(['20270001']);
    expect(rest.next_cursor).toBeNull();
  });
});
