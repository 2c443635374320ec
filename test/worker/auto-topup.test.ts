// Auto top-up (自动圈存, DESIGN section 7) in workerd with real local D1 against the real
// gateway process: the holder signs the Alipay withholding agreement, the gateway's signed
// dut_user_sign makes it active, hub card reports below the threshold start at most one
// withholding charge per day-slot however many race, its credit reaches the hub's changes feed
// and is claimed by a load; the daily cap, an unsign, a refused charge, a lost card and a cancel
// each stop charges, visibly.
import { createExecutionContext, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { AdminAgreementsResponse, AutoTopupResponse, AutoTopupSignRequest, AutoTopupSigned } from '../../protocol/auto-topup.ts';
import type { CardLookupResponse } from '../../protocol/api.ts';
import { formatChinaTime } from '../../protocol/alipay.ts';
import type { ChangesResponse, ClaimsResponse } from '../../protocol/hub.ts';
import { app } from '../../worker/app.ts';
import { autoTopupCron, startAutoTopups } from '../../worker/auto/charges.ts';
import { creditIdForOrder } from '../../worker/ledger/payment.ts';
import { generateRsaKeyPair } from '../../protocol/rsa.ts';
import { signedForm, sim } from './helpers/gateway.ts';
import { postFrom, uniqueIp } from './helpers/fixtures.ts';
import { ORIGIN, createSchool, hubFetch, randomSuffix, registerHub, signedHeaders, type TestHub } from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';

interface Card {
  card_no: string;
  card_token: string;
}

let school_id: string;
let hub: TestHub;
const CARDS = ['M1', 'M2', 'M3', 'M4', 'M5', 'M6'];

beforeAll(async () => {
  school_id = await createSchool('auto', CARDS);
  hub = await registerHub(school_id);
});

async function card(index: number): Promise<Card> {
  const response = await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: `持卡人${index}`, card_no: CARDS[index] });
  expect(response.status).toBe(200);
  return { card_no: CARDS[index]!, card_token: ((await response.json()) as CardLookupResponse).card_token };
}

function post(path: string, body: unknown): Promise<Response> {
  return SELF.fetch(`${ORIGIN}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
    body: JSON.stringify(body),
  });
}

async function agreementOf(holder: Card): Promise<AutoTopupResponse['agreement']> {
  const response = await SELF.fetch(`${ORIGIN}/api/v1/auto-topup/agreements?card_token=${encodeURIComponent(holder.card_token)}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as AutoTopupResponse).agreement;
}

function postAgreementNotification(body: string): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/notify/alipay-agreement`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
}

async function gatewayAgreementNotification(agreement_id: string, notify_type?: string): Promise<{ body: string; params: Record<string, string> }> {
  return sim(`/sim/alipay/agreements/${agreement_id}/notification`, { body: notify_type === undefined ? {} : { notify_type } });
}

/** Signs through the real flow: the signed page, 同意并签约, and the gateway's dut_user_sign. */
async function signed(holder: Card, terms: Omit<AutoTopupSignRequest, 'card_token'> = { threshold_fen: 2_000, amount_fen: 5_000, daily_cap_fen: 10_000 }): Promise<string> {
  const response = await post('/api/v1/auto-topup/agreements', { card_token: holder.card_token, ...terms });
  expect(response.status).toBe(201);
  const created = (await response.json()) as AutoTopupSigned;
  const page = await fetch(created.sign_url);
  expect(await page.text()).toContain('同意并签约');
  const pressed = await fetch(new URL('/cashier/agreement/sign', created.sign_url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ external_agreement_no: created.agreement_id }).toString(),
    redirect: 'manual',
  });
  expect(pressed.status).toBe(302);
  expect(pressed.headers.get('location')).toBe(`${ORIGIN}/cards/${encodeURIComponent(`${school_id}|${holder.card_no}`)}/auto`);
  expect((await agreementOf(holder))?.state).toBe('signing');
  const notification = await gatewayAgreementNotification(created.agreement_id, 'dut_user_sign');
  expect(await (await postAgreementNotification(notification.body)).text()).toBe('success');
  expect((await agreementOf(holder))?.state).toBe('active');
  return created.agreement_id;
}

/** A card report from the hub, through the Worker's real fetch handler; resolves once every
 *  charge it started (waitUntil) has finished. */
async function report(card_no: string, balance_fen: number, seen_at_ms = Date.now()): Promise<void> {
  const path = '/api/v1/hub/card-reports';
  const body = JSON.stringify({ reports: [{ card_no, balance_fen, online_serial: 1, seen_at_ms }] });
  const headers = await signedHeaders(hub, 'POST', path, body);
  const ctx = createExecutionContext();
  const response = await app.fetch(new Request(`${ORIGIN}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }), env, ctx);
  expect(response.status).toBe(200);
  await waitOnExecutionContext(ctx);
}

async function autoOrders(card_no: string) {
  return (await env.DB.prepare(`SELECT id, status, amount_fen FROM orders WHERE school_id = ? AND card_no = ? AND origin = 'auto' ORDER BY created_at_ms`)
    .bind(school_id, card_no)
    .all<{ id: string; status: string; amount_fen: number }>()).results;
}

async function claimAtHub(card_no: string, order_id: string, amount_fen: number, balance_after_fen: number): Promise<void> {
  const changes = (await (await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=0&limit=1000')).json()) as ChangesResponse;
  const credit_id = creditIdForOrder(order_id);
  expect(changes.changes).toContainEqual(expect.objectContaining({ kind: 'credit', credit_id, order_id, card_no, amount_fen, state: 'pending' }));
  const claim = {
    claim_id: `K${randomSuffix(8)}`,
    card_no,
    terminal_id: 'pos-01',
    amount_fen,
    credit_ids: [credit_id],
    card_terminal_id: '0000000000A1',
    balance_after_fen,
    online_serial_after: 2,
    committed_at_ms: Date.now(),
    proof: { kind: 'tac' as const, tac: '1A2B3C4D' },
  };
  const answer = (await (await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims: [claim] })).json()) as ClaimsResponse;
  expect(answer.results).toEqual([{ claim_id: claim.claim_id, status: 'accepted' }]);
}

describe('auto top-up', () => {
  it('sign → three reports below the threshold racing a cron run → one charge → credit at the hub → claimed', async () => {
    const holder = await card(0);
    await signed(holder);
    const now_ms = Date.now();
    await Promise.all([
      report(holder.card_no, 1_000, now_ms - 3),
      report(holder.card_no, 1_000, now_ms - 2),
      report(holder.card_no, 1_000, now_ms - 1),
      autoTopupCron(env, now_ms),
      startAutoTopups(env, school_id, [holder.card_no], now_ms),
    ]);
    const orders = await autoOrders(holder.card_no);
    expect(orders).toEqual([expect.objectContaining({ status: 'paid', amount_fen: 5_000 })]);
    const [{ n: slots }] = (await env.DB.prepare('SELECT COUNT(*) AS n FROM auto_charges WHERE school_id = ? AND card_no = ?').bind(school_id, holder.card_no).all<{ n: number }>()).results as [{ n: number }];
    expect(slots).toBe(1);
    // Alipay charged exactly once too.
    const { trade } = await sim<{ trade: { status: string; total_amount_fen: number } }>(`/sim/alipay/trades/${orders[0]!.id}`);
    expect(trade).toMatchObject({ status: 'TRADE_SUCCESS', total_amount_fen: 5_000 });

    // Money on its way counts: another report before the swipe starts nothing.
    await report(holder.card_no, 1_000);
    expect(await autoOrders(holder.card_no)).toHaveLength(1);

    await claimAtHub(holder.card_no, orders[0]!.id, 5_000, 6_000);
    const agreement = await agreementOf(holder);
    expect(agreement).toMatchObject({ state: 'active', charged_today_fen: 5_000, charges: [expect.objectContaining({ order_id: orders[0]!.id, status: 'paid' })] });
    const record = (await (await SELF.fetch(`${ORIGIN}/api/v1/recharges/${orders[0]!.id}`)).json()) as { status: string };
    expect(record.status).toBe('claimed');
  });

  it('stops at the daily cap; each charge is an SMS to the agreement\'s number', async () => {
    const holder = await card(1);
    const phone = '13912340001';
    await signed(holder, { threshold_fen: 2_000, amount_fen: 5_000, daily_cap_fen: 10_000, notify_phone: phone });
    await report(holder.card_no, 500);
    const [first] = await autoOrders(holder.card_no);
    await claimAtHub(holder.card_no, first!.id, 5_000, 5_500);
    // Spent again below the threshold: the second charge of the day fits the cap.
    await report(holder.card_no, 900);
    const orders = await autoOrders(holder.card_no);
    expect(orders.map((o) => o.status)).toEqual(['paid', 'paid']);
    await claimAtHub(holder.card_no, orders[1]!.id, 5_000, 5_900);
    // A third would pass 100.00 yuan today: none starts, however often the card reports.
    await report(holder.card_no, 100);
    expect(await startAutoTopups(env, school_id, [holder.card_no], Date.now())).toMatchObject({ charged: 0 });
    expect(await autoOrders(holder.card_no)).toHaveLength(2);
    expect(await agreementOf(holder)).toMatchObject({ state: 'active', charged_today_fen: 10_000 });
    // Two charges, each noticed (auto_charged) and then loaded (claimed), through the SMS queue.
    const templates = async () => {
      const response = await fetch(`${inject('smsOrigin')}/sim/messages?phone=${phone}`);
      return ((await response.json()) as { messages: { template_code: string }[] }).messages.map((m) => m.template_code).sort();
    };
    await expect.poll(templates, { timeout: 20_000, interval: 100 }).toEqual(['SMS_900002', 'SMS_900002', 'SMS_900004', 'SMS_900004']);
  }, 30_000);

  it('an unsign at Alipay stops it; a replayed sign cannot restart it', async () => {
    const holder = await card(2);
    const agreement_id = await signed(holder);
    const sign_again = await gatewayAgreementNotification(agreement_id, 'dut_user_sign');
    await sim(`/sim/alipay/agreements/${agreement_id}/unsign`, { body: {} });
    const unsign = await gatewayAgreementNotification(agreement_id, 'dut_user_unsign');
    expect(await (await postAgreementNotification(unsign.body)).text()).toBe('success');
    expect(await agreementOf(holder)).toMatchObject({ state: 'stopped', stop_reason: 'unsigned' });
    const replay = await postAgreementNotification(sign_again.body);
    expect(replay.status).toBe(409);
    expect(await replay.text()).toBe('fail');
    await report(holder.card_no, 100);
    expect(await autoOrders(holder.card_no)).toEqual([]);
    expect(await agreementOf(holder)).toMatchObject({ state: 'stopped', stop_reason: 'unsigned' });
  });

  it('a refused charge stops it, visibly to the holder and the card office', async () => {
    const holder = await card(3);
    const agreement_id = await signed(holder);
    await sim(`/sim/alipay/agreements/${agreement_id}/fail-next`, { body: { sub_code: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' } });
    await report(holder.card_no, 100);
    expect((await autoOrders(holder.card_no)).map((o) => o.status)).toEqual(['closed']);
    const agreement = await agreementOf(holder);
    expect(agreement).toMatchObject({ state: 'stopped', stop_reason: 'charge_failed', charged_today_fen: 0 });
    expect(agreement!.last_error).toContain('ACQ.BUYER_BALANCE_NOT_ENOUGH');
    expect(agreement!.charges[0]!.failure).toContain('ACQ.BUYER_BALANCE_NOT_ENOUGH');
    const listed = (await (await SELF.fetch(`${ORIGIN}/api/v1/admin/agreements?state=stopped&school_id=${school_id}`, { headers: ADMIN_AUTH })).json()) as AdminAgreementsResponse;
    expect(listed.agreements).toContainEqual(expect.objectContaining({ agreement_id, stop_reason: 'charge_failed' }));
    // Every listed agreement carries its own charges, read in one query for the page.
    const mine = listed.agreements.find((a) => a.agreement_id === agreement_id)!;
    expect(mine.charges.map((c) => [c.status, c.failure?.split(':')[0]])).toEqual([['closed', 'ACQ.BUYER_BALANCE_NOT_ENOUGH']]);
    const all = (await (await SELF.fetch(`${ORIGIN}/api/v1/admin/agreements?school_id=${school_id}`, { headers: ADMIN_AUTH })).json()) as AdminAgreementsResponse;
    const first = all.agreements.find((a) => a.card_no === 'M1')!;
    expect(first.charges).toEqual([expect.objectContaining({ status: 'paid', amount_fen: 5_000 })]);
    await report(holder.card_no, 50);
    expect(await autoOrders(holder.card_no)).toHaveLength(1);
  });

  it('a lost card stops it at the next cron run; a cancel in the PWA unsigns at Alipay', async () => {
    const lost = await card(4);
    const lost_agreement_id = await signed(lost);
    await env.DB.prepare(`UPDATE cards SET status = 'lost' WHERE school_id = ? AND card_no = ?`).bind(school_id, lost.card_no).run();
    expect(await autoTopupCron(env, Date.now())).toMatchObject({ charged: 0, stopped: 1 });
    expect(await agreementOf(lost)).toMatchObject({ state: 'stopped', stop_reason: 'card_not_active' });
    // Ended at Alipay too: nothing can charge the holder for a card they no longer have.
    expect((await sim<{ agreement: { status: string } }>(`/sim/alipay/agreements/${lost_agreement_id}`)).agreement.status).toBe('UNSIGN');
    expect(await autoOrders(lost.card_no)).toEqual([]);

    const holder = await card(5);
    const agreement_id = await signed(holder);
    const cancelled = await post(`/api/v1/auto-topup/agreements/${agreement_id}/cancel`, { card_token: holder.card_token });
    expect(cancelled.status).toBe(200);
    expect(((await cancelled.json()) as AutoTopupResponse).agreement).toMatchObject({ state: 'stopped', stop_reason: 'cancelled' });
    const { agreement } = await sim<{ agreement: { status: string } }>(`/sim/alipay/agreements/${agreement_id}`);
    expect(agreement.status).toBe('UNSIGN');
    // Alipay's dut_user_unsign for that cancel arrives after it: the reason stays the holder's.
    const unsign = await gatewayAgreementNotification(agreement_id, 'dut_user_unsign');
    expect(await (await postAgreementNotification(unsign.body)).text()).toBe('success');
    expect(await agreementOf(holder)).toMatchObject({ state: 'stopped', stop_reason: 'cancelled' });
    // Another card's token cannot cancel (or even see) this agreement.
    const other = await post(`/api/v1/auto-topup/agreements/${agreement_id}/cancel`, { card_token: lost.card_token });
    expect(other.status).toBe(404);
    await report(holder.card_no, 10);
    expect(await autoOrders(holder.card_no)).toEqual([]);
  });

  it('refuses forged, stale, replayed and malformed agreement notifications, changing nothing', async () => {
    const holder = await card(0);
    const row = await agreementOf(holder);
    const notification = await gatewayAgreementNotification(row!.agreement_id, 'dut_user_unsign');
    const params = notification.params;
    const forger = await generateRsaKeyPair();
    const { sign: _sign, sign_type: _type, ...unsigned } = params;
    const cases: [string, string, number][] = [
      ['forged', await signedForm(unsigned, forger.private_key), 401],
      ['tampered', notification.body.replace(/external_agreement_no=[^&]+/, `external_agreement_no=A${'1'.repeat(20)}`), 401],
      ['stale', await signedForm({ ...unsigned, notify_time: formatChinaTime(Date.now() - 72 * 3_600_000) }), 409],
      ['not ours', await signedForm({ ...unsigned, external_agreement_no: `A${'2'.repeat(20)}` }), 404],
      ['another agreement_no', await signedForm({ ...unsigned, agreement_no: '20260000000000000000' }), 409],
      ['wrong status', await signedForm({ ...unsigned, status: 'NORMAL' }), 400],
      ['unknown type', await signedForm({ ...unsigned, notify_type: 'trade_status_sync' }), 400],
      ['repeated field', `${notification.body}&status=UNSIGN`, 400],
    ];
    for (const [label, body, status] of cases) {
      const response = await postAgreementNotification(body);
      expect([label, response.status, await response.text()]).toEqual([label, status, 'fail']);
    }
    expect(await agreementOf(holder)).toMatchObject({ state: 'active' });
  });
});
