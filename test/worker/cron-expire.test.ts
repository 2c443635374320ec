// The expiry cron against the real gateway process: an expired order is asked about at
// Alipay, then closed there and here — or, when Alipay says it was paid, paid here.
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../worker/index.ts';
import { dueOrders, EXPIRY_BATCH_MAX, EXPIRY_RETRY_BASE_MS, EXPIRY_RETRY_MAX_MS, expireUnpaidOrders, expiryRetryDelayMs } from '../../worker/cron/expire.ts';
import { openDb } from '../../worker/db/client.ts';
import { alipayTopUp, gatewayOrigin, openCashier, payAtGateway, sandboxKeys, topUp, unreachableOrigin } from './helpers/gateway.ts';

async function expire(order_id: string): Promise<void> {
  await env.DB.prepare('UPDATE orders SET expires_at_ms = ? WHERE id = ?').bind(Date.now() - 1_000, order_id).run();
}

async function order(order_id: string) {
  return env.DB.prepare('SELECT status, expiry_attempts, next_query_at_ms, provider_trade_no, closed_at_ms FROM orders WHERE id = ?').bind(order_id).first();
}

async function creditsOf(order_id: string) {
  return (await env.DB.prepare('SELECT amount_fen, state FROM credits WHERE order_id = ?').bind(order_id).all()).results;
}

async function gatewayTrade(order_id: string): Promise<{ status: number; trade?: { status: string; trade_no: string } }> {
  const response = await fetch(`${gatewayOrigin()}/sim/alipay/trades/${order_id}`);
  const body = (await response.json()) as { trade?: { status: string; trade_no: string } };
  return { status: response.status, ...body };
}

describe('cron: expiry of unpaid orders', () => {
  it('an expired order the payer never opened is closed (Alipay never saw the trade)', async () => {
    const { order_id } = await alipayTopUp(1_000);
    await expire(order_id);
    await expireUnpaidOrders(env, Date.now());
    expect(await order(order_id)).toMatchObject({ status: 'closed', expiry_attempts: 0 });
    expect((await gatewayTrade(order_id)).status).toBe(404);
    expect(await creditsOf(order_id)).toHaveLength(0);
  });

  it('an expired order opened but not paid is closed at Alipay first, so it can no longer be paid', async () => {
    const { order_id, pay_url } = await alipayTopUp(1_500);
    await openCashier(pay_url);
    await expire(order_id);
    await expireUnpaidOrders(env, Date.now());
    expect(await order(order_id)).toMatchObject({ status: 'closed' });
    expect((await gatewayTrade(order_id)).trade).toMatchObject({ status: 'TRADE_CLOSED' });
    const late = await fetch(`${gatewayOrigin()}/sim/alipay/trades/${order_id}/pay`, { method: 'POST', body: '{}' });
    expect(late.status).toBe(409);
  });

  it('an order paid at Alipay whose notification never arrived becomes paid, with its one credit', async () => {
    const { order_id, pay_url } = await alipayTopUp(2_345);
    await openCashier(pay_url);
    await payAtGateway(order_id);
    await expire(order_id);
    await expireUnpaidOrders(env, Date.now());
    const trade = (await gatewayTrade(order_id)).trade!;
    expect(await order(order_id)).toMatchObject({ status: 'paid', provider_trade_no: trade.trade_no });
    expect(await creditsOf(order_id)).toEqual([{ amount_fen: 2_345, state: 'pending' }]);
    // A second run finds nothing left to do for it.
    await expireUnpaidOrders(env, Date.now());
    expect(await creditsOf(order_id)).toHaveLength(1);
  });

  it('leaves an order that has not expired alone', async () => {
    const { order_id, pay_url } = await alipayTopUp(900);
    await openCashier(pay_url);
    await expireUnpaidOrders(env, Date.now());
    expect(await order(order_id)).toMatchObject({ status: 'unpaid', expiry_attempts: 0 });
    expect((await gatewayTrade(order_id)).trade).toMatchObject({ status: 'WAIT_BUYER_PAY' });
  });

  it('an unreachable provider defers the order with exponential back-off, and it is never dropped', async () => {
    const { order_id, pay_url } = await alipayTopUp(1_100);
    await openCashier(pay_url);
    await payAtGateway(order_id);
    await expire(order_id);
    const unreachable = { ...env, ALIPAY_GATEWAY: `${unreachableOrigin()}/gateway.do` };
    let now_ms = Date.now();
    const report = await expireUnpaidOrders(unreachable, now_ms);
    expect(report.deferred).toBeGreaterThanOrEqual(1);
    expect(await order(order_id)).toMatchObject({ status: 'unpaid', expiry_attempts: 1, next_query_at_ms: now_ms + EXPIRY_RETRY_BASE_MS });
    // Not due before its time: a batch run just before it does not include it.
    const early = await dueOrders(openDb(env.DB), now_ms + EXPIRY_RETRY_BASE_MS - 1);
    expect(early.map((o) => o.id)).not.toContain(order_id);
    // Many more failures: the wait doubles up to its bound, the order stays in the cron.
    for (let attempt = 2; attempt <= 12; attempt++) {
      now_ms += expiryRetryDelayMs(attempt - 1);
      expect((await dueOrders(openDb(env.DB), now_ms)).map((o) => o.id)).toContain(order_id);
      await expireUnpaidOrders(unreachable, now_ms);
      expect(await order(order_id)).toMatchObject({ status: 'unpaid', expiry_attempts: attempt, next_query_at_ms: now_ms + expiryRetryDelayMs(attempt) });
    }
    expect(expiryRetryDelayMs(12)).toBe(EXPIRY_RETRY_MAX_MS);
    // Past the twelve attempts that used to be the end, the provider answers and the payment is found.
    await expireUnpaidOrders(env, now_ms + EXPIRY_RETRY_MAX_MS);
    expect(await order(order_id)).toMatchObject({ status: 'paid' });
    expect(await creditsOf(order_id)).toEqual([{ amount_fen: 1_100, state: 'pending' }]);
  });

  it('a response Alipay did not sign is not believed: the paid order is deferred, not closed', async () => {
    const { order_id, pay_url } = await alipayTopUp(1_200);
    await openCashier(pay_url);
    await payAtGateway(order_id);
    await expire(order_id);
    // The merchant's own public key in place of Alipay's: no gateway answer verifies.
    const wrong_key = { ...env, ALIPAY_PUBLIC_KEY: sandboxKeys().alipay.merchant_public_key };
    await expireUnpaidOrders(wrong_key, Date.now());
    expect(await order(order_id)).toMatchObject({ status: 'unpaid', expiry_attempts: 1 });
    await expireUnpaidOrders(env, Date.now() + EXPIRY_RETRY_BASE_MS);
    expect(await order(order_id)).toMatchObject({ status: 'paid' });
  });

  it('finds due orders through the orders_status_due index, a bounded batch, oldest first', async () => {
    const query = dueOrders(openDb(env.DB), Date.now()).toSQL();
    const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).bind(...query.params).all<{ detail: string }>();
    const details = plan.results.map((row) => row.detail).join(' | ');
    expect(details).toMatch(/USING INDEX orders_status_due/);
    expect(details).not.toMatch(/SCAN orders(?! USING)/);
    expect(details).not.toMatch(/TEMP B-TREE/);

    const ids: string[] = [];
    for (let i = 0; i < EXPIRY_BATCH_MAX + 3; i++) ids.push((await alipayTopUp(100 + i)).order_id);
    for (const [i, id] of ids.entries()) {
      await env.DB.prepare('UPDATE orders SET expires_at_ms = ? WHERE id = ?').bind(1_000 + i, id).run();
    }
    const first = await expireUnpaidOrders(env, Date.now());
    expect(first.examined).toBe(EXPIRY_BATCH_MAX);
    const statuses = await Promise.all(ids.map(async (id) => (await order(id))!.status));
    expect(statuses.slice(0, EXPIRY_BATCH_MAX).every((s) => s === 'closed')).toBe(true);
    expect(statuses.slice(EXPIRY_BATCH_MAX)).toEqual(['unpaid', 'unpaid', 'unpaid']);
    await expireUnpaidOrders(env, Date.now());
    expect((await Promise.all(ids.map(async (id) => (await order(id))!.status))).every((s) => s === 'closed')).toBe(true);
  });

  it('is generic over channels: an expired WeChat Pay order is closed through its own channel', async () => {
    const { order_id } = await topUp(1_400, 'wechat');
    await expire(order_id);
    await expireUnpaidOrders(env, Date.now());
    expect(await order(order_id)).toMatchObject({ status: 'closed', expiry_attempts: 0 });
  });

  it('runs from the Worker’s scheduled handler', async () => {
    const { order_id } = await alipayTopUp(1_300);
    await expire(order_id);
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: '*/5 * * * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await order(order_id)).toMatchObject({ status: 'closed' });
  });
});
