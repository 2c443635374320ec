// Reconciliation and settlement (DESIGN sections 7 and 10) against the real gateway process:
// today's bills (the sandbox serves the day so far) of both channels, Alipay's a zip of GBK CSV,
// WeChat Pay's a backtick CSV whose SHA-1 the signed answer gives. Each scenario has a school
// of its own, so its day row is exactly its own; rows the bill has that no order of ours
// explains (other test files share the gateway) sit in the merchant row (school_id null).
import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { chinaDate } from '../../protocol/alipay.ts';
import type { ChangesResponse } from '../../protocol/hub.ts';
import { RECONCILE_CRON } from '../../worker/cron/reconcile.ts';
import { openDb } from '../../worker/db/client.ts';
import worker from '../../worker/index.ts';
import { formatViolation } from '../../worker/ledger/audit.ts';
import { newOrderId } from '../../worker/ledger/orders.ts';
import { applyClosed, applyPaid } from '../../worker/ledger/payment.ts';
import { alipayChannelWith, alipayConfig } from '../../worker/pay/alipay.ts';
import type { ReconciliationDay } from '../../worker/recon/reconcile.ts';
import { auditTestLedger } from './helpers/audit.ts';
import { freshSchool, insertOrder } from './helpers/fixtures.ts';
import { openCashier, payAtGateway, sim, topUp } from './helpers/gateway.ts';
import { hubFetch, ORIGIN, registerHub } from './helpers/hub.ts';
import { adminRefund, creditState, ledgerSnapshot, orderRow, paidAt, refundRow } from './helpers/money.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';

const fee = (amount_fen: number) => Math.round((amount_fen * 6) / 1000);

async function reconcile(date: string): Promise<ReconciliationDay[]> {
  const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/reconciliations/${date}`, { method: 'POST', headers: ADMIN_AUTH });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return (JSON.parse(text) as { days: ReconciliationDay[] }).days;
}

async function stored(date: string): Promise<ReconciliationDay[]> {
  const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/reconciliations/${date}`, { headers: ADMIN_AUTH });
  expect(response.status).toBe(200);
  return ((await response.json()) as { days: ReconciliationDay[] }).days;
}

function dayOf(days: ReconciliationDay[], school_id: string | null, channel: 'alipay' | 'wechat'): ReconciliationDay | undefined {
  return days.find((d) => d.school_id === school_id && d.channel === channel);
}

async function schoolOf(order_id: string): Promise<string> {
  return (await env.DB.prepare('SELECT school_id FROM orders WHERE id = ?').bind(order_id).first<{ school_id: string }>())!.school_id;
}

/** An order paid at Alipay whose notification is lost, after our side closed it (its query said not paid yet). */
async function closedThenPaidLate(amount_fen: number): Promise<string> {
  const { order_id, pay_url } = await topUp(amount_fen, 'alipay');
  await openCashier(pay_url);
  await applyClosed(openDb(env.DB), { channel: 'alipay', order_id }, null, Date.now());
  expect(await orderRow(order_id)).toMatchObject({ status: 'closed' });
  await payAtGateway(order_id);
  return order_id;
}

describe('reconciliation of a day', () => {
  it('repairs what is safe, flags the rest, settles each school exactly, and changes nothing the second time', async () => {
    const date = chinaDate(Date.now());
    // Alipay: a payment whose notification never came.
    const lost = await paidAt('alipay', 1_234, { notify: false });
    // Alipay: a closed order paid late.
    const late_id = await closedThenPaidLate(2_000);
    // Alipay: paid at the provider for 30.00, our order says 29.99.
    const { order_id: mismatch_id, pay_url: mismatch_url } = await topUp(3_000, 'alipay');
    await openCashier(mismatch_url);
    await payAtGateway(mismatch_id);
    await env.DB.prepare('UPDATE orders SET amount_fen = 2999 WHERE id = ?').bind(mismatch_id).run();
    // Ours paid (the ledger's own path), never seen by the provider.
    const missing_school = await freshSchool();
    const missing_id = newOrderId(Date.now());
    await insertOrder({ order_id: missing_id, school_id: missing_school, card_no: '20230001', amount_fen: 500, status: 'unpaid', created_at_ms: Date.now() });
    await applyPaid(openDb(env.DB), { channel: 'alipay', order_id: missing_id, amount_fen: 500, provider_trade_no: '2026000000000000000000000000', paid_at_ms: Date.now() }, null, Date.now());
    // A trade at our Alipay merchant for an order id we never made, with a Chinese subject.
    const stranger_id = newOrderId(Date.now());
    const stranger = await alipayChannelWith(alipayConfig(env)).createPayment(
      { order_id: stranger_id, amount_fen: 777, subject: '哈尔滨工业大学（威海） 校园卡充值', expires_at_ms: Date.now() + 900_000 },
      { notify_url: 'https://nowhere.invalid/notify', return_url: 'https://nowhere.invalid/' },
    );
    await openCashier(stranger.pay_url);
    await payAtGateway(stranger_id);
    // Alipay refund done at once, and one the provider finished without our follow-up asking.
    const refunded = await paidAt('alipay', 1_500);
    expect((await adminRefund(refunded.order_id)).status).toBe(200);
    const slow = await paidAt('alipay', 1_600);
    await sim(`/sim/alipay/trades/${slow.order_id}/refund-mode`, { body: { mode: 'processing' } });
    const slow_refund = (await (await adminRefund(slow.order_id)).json()) as { refund_id: string };
    await sim(`/sim/alipay/trades/${slow.order_id}/refunds/${slow_refund.refund_id}/settle`, { body: {} });
    // WeChat Pay: a lost notification, and a refund.
    const wx_lost = await paidAt('wechat', 2_100, { notify: false });
    const wx_refunded = await paidAt('wechat', 1_800);
    expect((await adminRefund(wx_refunded.order_id)).status).toBe(200);

    const first = await reconcile(date);

    // The lost payment is paid now, through the one payment path, and its credit reaches the hub.
    expect(dayOf(first, lost.school_id, 'alipay')).toEqual({
      school_id: lost.school_id, channel: 'alipay', status: 'balanced',
      bill_total_fen: 1_234, ours_total_fen: 1_234, fee_fen: fee(1_234), net_fen: 1_234 - fee(1_234),
      repaired: [{ kind: 'paid', order_id: lost.order_id, provider_trade_no: expect.any(String), amount_fen: 1_234 }],
      discrepancies: [],
    });
    expect(await orderRow(lost.order_id)).toMatchObject({ status: 'paid' });
    expect(await creditState(lost.credit_id)).toBe('pending');
    const hub = await registerHub(lost.school_id);
    const pulled = await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=0&limit=100');
    const feed = ((await pulled.json()) as ChangesResponse).changes;
    expect(feed).toContainEqual(expect.objectContaining({ kind: 'credit', credit_id: lost.credit_id, amount_fen: 1_234 }));

    const late_school = await schoolOf(late_id);
    expect(dayOf(first, late_school, 'alipay')).toMatchObject({ status: 'balanced', bill_total_fen: 2_000, ours_total_fen: 2_000, repaired: [{ kind: 'paid', order_id: late_id }] });
    expect(await orderRow(late_id)).toMatchObject({ status: 'paid' });

    expect(dayOf(first, await schoolOf(mismatch_id), 'alipay')).toEqual({
      school_id: await schoolOf(mismatch_id), channel: 'alipay', status: 'discrepancies',
      bill_total_fen: 3_000, ours_total_fen: 0, fee_fen: fee(3_000), net_fen: 3_000 - fee(3_000), repaired: [],
      discrepancies: [{ kind: 'amount_mismatch', order_id: mismatch_id, provider_trade_no: expect.any(String), detail: 'bill says paid 30.00 yuan, the order is for 29.99 yuan' }],
    });
    expect(await orderRow(mismatch_id)).toMatchObject({ status: 'unpaid' });

    expect(dayOf(first, missing_school, 'alipay')).toEqual({
      school_id: missing_school, channel: 'alipay', status: 'discrepancies',
      bill_total_fen: 0, ours_total_fen: 500, fee_fen: 0, net_fen: 0, repaired: [],
      discrepancies: [{ kind: 'missing_from_bill', order_id: missing_id, provider_trade_no: '2026000000000000000000000000', detail: 'paid 5.00 yuan here, not in the alipay bill' }],
    });

    // The stranger's row, its Chinese subject read through GBK.
    const merchant = dayOf(first, null, 'alipay')!;
    expect(merchant.status).toBe('discrepancies');
    expect(merchant.discrepancies).toContainEqual({
      kind: 'unknown_order', order_id: stranger_id, provider_trade_no: expect.any(String),
      detail: `paid 7.77 yuan for ${stranger_id} (哈尔滨工业大学（威海） 校园卡充值): no alipay order of ours`,
    });

    // Refunds: paid and refunded the same day nets to nothing, fee returned with it.
    expect(dayOf(first, refunded.school_id, 'alipay')).toEqual({
      school_id: refunded.school_id, channel: 'alipay', status: 'balanced',
      bill_total_fen: 0, ours_total_fen: 0, fee_fen: 0, net_fen: 0, repaired: [], discrepancies: [],
    });
    expect(dayOf(first, slow.school_id, 'alipay')).toMatchObject({
      status: 'balanced', bill_total_fen: 0, ours_total_fen: 0,
      repaired: [{ kind: 'refunded', order_id: slow.order_id, refund_id: slow_refund.refund_id, amount_fen: 1_600 }],
    });
    expect(await refundRow(slow.order_id)).toMatchObject({ state: 'refunded' });
    expect(await orderRow(slow.order_id)).toMatchObject({ status: 'refunded' });

    expect(dayOf(first, wx_lost.school_id, 'wechat')).toEqual({
      school_id: wx_lost.school_id, channel: 'wechat', status: 'balanced',
      bill_total_fen: 2_100, ours_total_fen: 2_100, fee_fen: fee(2_100), net_fen: 2_100 - fee(2_100),
      repaired: [{ kind: 'paid', order_id: wx_lost.order_id, provider_trade_no: expect.any(String), amount_fen: 2_100 }],
      discrepancies: [],
    });
    expect(dayOf(first, wx_refunded.school_id, 'wechat')).toEqual({
      school_id: wx_refunded.school_id, channel: 'wechat', status: 'balanced',
      bill_total_fen: 0, ours_total_fen: 0, fee_fen: 0, net_fen: 0, repaired: [], discrepancies: [],
    });

    // The same day again: the same answer for every school of ours, and not one ledger row changed.
    const ours = [lost.school_id, late_school, await schoolOf(mismatch_id), missing_school, refunded.school_id, slow.school_id, wx_lost.school_id, wx_refunded.school_id];
    const mine = (days: ReconciliationDay[]) => days.filter((d) => d.school_id !== null && ours.includes(d.school_id));
    const before = await ledgerSnapshot();
    const second = await reconcile(date);
    expect(mine(second)).toEqual(mine(first));
    expect(dayOf(second, null, 'alipay')!.discrepancies).toContainEqual(expect.objectContaining({ kind: 'unknown_order', order_id: stranger_id }));
    expect(await ledgerSnapshot()).toEqual(before);
    expect(mine(await stored(date))).toEqual(mine(first));

    // Invariant 4 in the audit: a balanced day whose ledger is changed afterwards is named.
    await env.DB.prepare('UPDATE orders SET paid_at_ms = paid_at_ms - 3 * 86400000 WHERE id = ?').bind(lost.order_id).run();
    const corrupted = (await auditTestLedger()).violations.map(formatViolation);
    expect(corrupted).toContainEqual(expect.stringMatching(new RegExp(`^invariant 4 reconciled_day_differs_from_ledger: ${date} alipay ${lost.school_id}: bill 1234 fen, ledger 0 fen`)));
    await env.DB.prepare('UPDATE orders SET paid_at_ms = paid_at_ms + 3 * 86400000 WHERE id = ?').bind(lost.order_id).run();
    expect((await auditTestLedger()).violations).toEqual([]);
  });

  it('refuses a WeChat Pay bill whose SHA-1 does not match: nothing of it is believed, and the next good bill repairs', async () => {
    const date = chinaDate(Date.now());
    const lost = await paidAt('wechat', 900, { notify: false });
    await sim(`/sim/wechat/bills/${date}/tamper`, { body: {} });
    const refused = await reconcile(date);
    expect(await orderRow(lost.order_id)).toMatchObject({ status: 'unpaid' });
    expect(dayOf(refused, lost.school_id, 'wechat')).toBeUndefined();
    const wechat_days = refused.filter((d) => d.channel === 'wechat');
    expect(wechat_days.length).toBeGreaterThan(0);
    for (const day of wechat_days) expect(day.error).toMatch(/^bill_hash_mismatch: bill SHA-1 [0-9a-f]{40} is not the [0-9a-f]{40} WeChat Pay signed/);
    // Alipay's bill of the same day was read as usual.
    expect(refused.filter((d) => d.channel === 'alipay').every((d) => d.error === undefined)).toBe(true);

    const good = await reconcile(date);
    expect(dayOf(good, lost.school_id, 'wechat')).toMatchObject({ status: 'balanced', bill_total_fen: 900, repaired: [{ kind: 'paid', order_id: lost.order_id }] });
    expect(good.filter((d) => d.channel === 'wechat').every((d) => d.error === undefined)).toBe(true);
    expect(await orderRow(lost.order_id)).toMatchObject({ status: 'paid' });
  });

  it('GET of a day never reconciled answers no days; the daily cron reconciles yesterday', async () => {
    const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/reconciliations/2020-01-01`, { headers: ADMIN_AUTH });
    expect(await response.json()).toEqual({ days: [] });
    const yesterday = chinaDate(Date.now() - 86_400_000);
    // A payment our ledger dates yesterday (the gateway, started for this run, has none then):
    // the cron's answer for that date must name it as missing from yesterday's bill.
    const school_id = await freshSchool();
    const order_id = newOrderId(Date.now());
    const paid_at_ms = Date.now() - 86_400_000;
    await insertOrder({ order_id, school_id, card_no: '20230001', amount_fen: 4_200, status: 'unpaid', created_at_ms: paid_at_ms });
    await applyPaid(openDb(env.DB), { channel: 'alipay', order_id, amount_fen: 4_200, provider_trade_no: '2026000000000000000000000001', paid_at_ms }, null, Date.now());
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: RECONCILE_CRON, scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(dayOf(await stored(yesterday), school_id, 'alipay')).toEqual({
      school_id, channel: 'alipay', status: 'discrepancies', bill_total_fen: 0, ours_total_fen: 4_200, fee_fen: 0, net_fen: 0, repaired: [],
      discrepancies: [{ kind: 'missing_from_bill', order_id, provider_trade_no: '2026000000000000000000000001', detail: 'paid 42.00 yuan here, not in the alipay bill' }],
    });
  });
});
