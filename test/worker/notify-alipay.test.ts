// POST /api/v1/notify/alipay against real signatures from the simulated gateway process and a
// real local D1: what Alipay sends moves the ledger exactly once, and nothing else moves it.
import { createExecutionContext, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../worker/app.ts';
import {
  alipayTopUp,
  gatewayNotification,
  openCashier,
  payAtGateway,
  postNotification,
  sandboxKeys,
  signedForm,
  sim,
} from './helpers/gateway.ts';
import { importRsaPrivateKey } from '../../protocol/rsa.ts';
import { alipaySign } from '../../protocol/alipay.ts';

async function status(order_id: string): Promise<string> {
  const response = await SELF.fetch(`http://yikatong.test/api/v1/recharges/${order_id}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { status: string }).status;
}

async function creditsOf(order_id: string) {
  return (await env.DB.prepare('SELECT id, amount_fen, state FROM credits WHERE order_id = ?').bind(order_id).all()).results;
}

async function auditOf(order_id: string | null, body_contains?: string) {
  const rows =
    order_id === null
      ? (await env.DB.prepare("SELECT verdict, reason, body FROM notifications WHERE channel = 'alipay' AND order_id IS NULL ORDER BY id").all()).results
      : (await env.DB.prepare('SELECT verdict, reason, body FROM notifications WHERE order_id = ? ORDER BY id').bind(order_id).all()).results;
  return body_contains === undefined ? rows : rows.filter((r) => String(r.body).includes(body_contains));
}

/** An order the payer opened at the cashier and paid; returns the notification params the gateway signed. */
async function paidAtGateway(amount_fen: number, school_name?: string) {
  const order = await alipayTopUp(amount_fen, school_name);
  await openCashier(order.pay_url);
  await payAtGateway(order.order_id);
  const built = await gatewayNotification(order.order_id);
  return { ...order, built };
}

async function expectSuccess(response: Response): Promise<void> {
  expect(await response.text()).toBe('success');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
}

async function expectRefused(response: Response): Promise<void> {
  expect(await response.text()).toBe('fail');
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(response.status).toBeLessThan(500);
}

describe('alipay notification: the happy path', () => {
  it('top-up, pay at the gateway, the notification it sent → pending_claim with one credit', async () => {
    const order = await alipayTopUp(12_345);
    expect(await status(order.order_id)).toBe('unpaid');
    const cashier = await openCashier(order.pay_url);
    expect(cashier).toContain('123.45');
    expect(cashier).toContain('校园卡充值');
    await payAtGateway(order.order_id);
    // The very body the gateway POSTed to notify_url (which, in workerd, it cannot reach).
    const { deliveries } = await sim<{ deliveries: { notification: { url: string; body: string } }[] }>(
      `/sim/deliveries?out_trade_no=${order.order_id}`,
    );
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]!.notification.url).toBe('http://yikatong.test/api/v1/notify/alipay');
    await expectSuccess(await postNotification(deliveries[0]!.notification.body));
    expect(await status(order.order_id)).toBe('pending_claim');
    expect(await creditsOf(order.order_id)).toEqual([expect.objectContaining({ amount_fen: 12_345, state: 'pending' })]);
    const row = await env.DB.prepare('SELECT status, provider_trade_no, paid_at_ms FROM orders WHERE id = ?').bind(order.order_id).first();
    const { trade } = await sim<{ trade: { trade_no: string; paid_at_ms: number } }>(`/sim/alipay/trades/${order.order_id}`);
    expect(row).toMatchObject({ status: 'paid', provider_trade_no: trade.trade_no });
    // gmt_payment has second precision in China time.
    expect(Math.abs(Number(row!.paid_at_ms) - trade.paid_at_ms)).toBeLessThan(1_000);
    expect((await auditOf(order.order_id)).map((r) => r.verdict)).toEqual(['applied']);
  });

  it('three deliveries and out-of-order CLOSED / FINISHED still make exactly one credit', async () => {
    const { order_id, built } = await paidAtGateway(5_000);
    // A TRADE_CLOSED overtaking the payment closes the still-unpaid order…
    const closed = await gatewayNotification(order_id, 'TRADE_CLOSED');
    await expectSuccess(await postNotification(closed.body));
    expect(await status(order_id)).toBe('closed');
    // …and the payment, delivered three times, reopens it once: the money arrived.
    for (let i = 0; i < 3; i++) await expectSuccess(await postNotification(built.body));
    const finished = await gatewayNotification(order_id, 'TRADE_FINISHED');
    await expectSuccess(await postNotification(finished.body));
    await expectSuccess(await postNotification(closed.body));
    expect(await status(order_id)).toBe('pending_claim');
    expect(await creditsOf(order_id)).toHaveLength(1);
    expect((await auditOf(order_id)).map((r) => r.verdict)).toEqual(['applied', 'applied', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
  });

  it('five deliveries racing each other still make one credit', async () => {
    const { order_id, built } = await paidAtGateway(9_900);
    const answers = await Promise.all(Array.from({ length: 5 }, () => postNotification(built.body)));
    for (const response of answers) await expectSuccess(response);
    expect(await creditsOf(order_id)).toHaveLength(1);
    const verdicts = (await auditOf(order_id)).map((r) => r.verdict).sort();
    expect(verdicts).toEqual(['applied', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
  });

  it('TRADE_CLOSED from the gateway closes an unpaid order; WAIT_BUYER_PAY changes nothing', async () => {
    const order = await alipayTopUp(800);
    await openCashier(order.pay_url);
    await sim(`/sim/alipay/trades/${order.order_id}/cancel`, { body: {} });
    const waiting = await gatewayNotification(order.order_id, 'WAIT_BUYER_PAY');
    await expectSuccess(await postNotification(waiting.body));
    expect(await status(order.order_id)).toBe('unpaid');
    // The trade times out at Alipay, which notifies TRADE_CLOSED.
    await sim(`/sim/alipay/trades/${order.order_id}/expire`, { body: {} });
    const { deliveries } = await sim<{ deliveries: { notification: { body: string } }[] }>(`/sim/deliveries?out_trade_no=${order.order_id}`);
    expect(deliveries).toHaveLength(1);
    expect(new URLSearchParams(deliveries[0]!.notification.body).get('trade_status')).toBe('TRADE_CLOSED');
    await expectSuccess(await postNotification(deliveries[0]!.notification.body));
    expect(await status(order.order_id)).toBe('closed');
    expect(await creditsOf(order.order_id)).toHaveLength(0);
    expect((await auditOf(order.order_id)).map((r) => r.verdict)).toEqual(['duplicate', 'applied']);
  });

  it('values with +, % and Chinese text verify: the body is decoded exactly once', async () => {
    const { order_id, built } = await paidAtGateway(1, '测试+学校 100%学院&附中=');
    expect(built.params.subject).toBe('测试+学校 100%学院&附中= 校园卡充值');
    // The wire form escapes them; a second decode would turn %2B back into a space-eating '+'.
    expect(built.body).toContain('%2B');
    expect(built.body).toContain('%25');
    await expectSuccess(await postNotification(built.body));
    expect(await status(order_id)).toBe('pending_claim');
  });

  it('a body field with %20, + and 中文, signed by Alipay, verifies too', async () => {
    const order = await alipayTopUp(2_50);
    await openCashier(order.pay_url);
    await payAtGateway(order.order_id);
    const { params } = await gatewayNotification(order.order_id);
    const { sign: _sign, sign_type: _type, ...rest } = params;
    const body = await signedForm({ ...rest, body: 'a+b%20c 100% 充值 & more=yes' });
    await expectSuccess(await postNotification(body));
    expect(await status(order.order_id)).toBe('pending_claim');
  });
});

describe('alipay notification: refusals change nothing and are kept', () => {
  async function refusedCase(mutate: (params: Record<string, string>) => Promise<string>, order_in_audit: boolean) {
    const order = await alipayTopUp(3_000);
    await openCashier(order.pay_url);
    await payAtGateway(order.order_id);
    const { params } = await gatewayNotification(order.order_id);
    const body = await mutate({ ...params });
    await expectRefused(await postNotification(body));
    expect(await status(order.order_id)).toBe('unpaid');
    expect(await creditsOf(order.order_id)).toHaveLength(0);
    const audit = await auditOf(order_in_audit ? order.order_id : null, body.slice(-40));
    expect(audit).toEqual([expect.objectContaining({ verdict: 'rejected', body })]);
    // The genuine notification still works afterwards: a refusal poisons nothing.
    const genuine = await gatewayNotification(order.order_id);
    await expectSuccess(await postNotification(genuine.body));
    expect(await creditsOf(order.order_id)).toHaveLength(1);
    return audit[0]!;
  }

  const resign = async (params: Record<string, string>) => {
    const { sign: _sign, sign_type: _type, ...rest } = params;
    return signedForm(rest);
  };

  it('a tampered amount (signature no longer matches)', async () => {
    const row = await refusedCase(async (params) => new URLSearchParams({ ...params, total_amount: '0.01' }).toString(), false);
    expect(row.reason).toMatch(/signature/);
  });

  it('a notification signed with another key (the merchant’s own)', async () => {
    const row = await refusedCase(async (params) => {
      const { sign: _sign, ...rest } = params;
      const key = await importRsaPrivateKey(sandboxKeys().alipay.merchant_private_key);
      return new URLSearchParams({ ...rest, sign: await alipaySign(key, rest, 'notification') }).toString();
    }, false);
    expect(row.reason).toMatch(/signature/);
  });

  it('a wrong app_id, correctly signed', async () => {
    const row = await refusedCase((params) => resign({ ...params, app_id: '2021000000009999' }), false);
    expect(row.reason).toMatch(/app_id/);
  });

  it('a wrong seller_id, correctly signed', async () => {
    const row = await refusedCase((params) => resign({ ...params, seller_id: '2088000000009999' }), false);
    expect(row.reason).toMatch(/seller_id/);
  });

  it('an amount that is not the order’s, correctly signed', async () => {
    const row = await refusedCase((params) => resign({ ...params, total_amount: '30.01' }), true);
    expect(row.reason).toMatch(/total_amount/);
  });

  it('an out_trade_no that is not ours, correctly signed', async () => {
    const row = await refusedCase((params) => resign({ ...params, out_trade_no: 'Y20990101000000ZZZZ99' }), false);
    expect(row.reason).toMatch(/out_trade_no/);
  });

  it('an order of the other channel, correctly signed', async () => {
    const order_id = `Y${Date.now().toString(36).toUpperCase()}WECHAT01`;
    const now_ms = Date.now();
    await env.DB.prepare(
      `INSERT INTO orders (id, school_id, card_no, amount_fen, channel, status, created_at_ms, expires_at_ms)
       VALUES (?, 'bjtu-weihai', '20230001', 3000, 'wechat', 'unpaid', ?, ?)`,
    ).bind(order_id, now_ms, now_ms + 900_000).run();
    const row = await refusedCase((params) => resign({ ...params, out_trade_no: order_id }), false);
    expect(row.reason).toMatch(/Alipay orders/);
    expect(await env.DB.prepare('SELECT status FROM orders WHERE id = ?').bind(order_id).first()).toMatchObject({ status: 'unpaid' });
  });

  it('a body that is not a form, or repeats a field, is refused and kept', async () => {
    const order = await alipayTopUp(3_000);
    await openCashier(order.pay_url);
    await payAtGateway(order.order_id);
    const { body } = await gatewayNotification(order.order_id);
    const json = JSON.stringify({ note: order.order_id });
    const as_json = await postNotification(json, 'application/json');
    expect(as_json.status).toBe(415);
    expect(await as_json.text()).toBe('fail');
    await expectRefused(await postNotification(`${body}&trade_status=TRADE_SUCCESS`));
    expect(await status(order.order_id)).toBe('unpaid');
    const rows = (await env.DB.prepare("SELECT verdict, body FROM notifications WHERE verdict = 'rejected' AND body LIKE ?").bind(`%${order.order_id}%`).all()).results;
    expect(rows).toHaveLength(2);
  });
});

/** D1 with a count of what the route asks of it. */
function countingD1(db: D1Database, options: { failBatch?: boolean } = {}) {
  const counts = { prepared: 0, batches: 0, batched_statements: 0 };
  const proxy = new Proxy(db, {
    get(target, property) {
      if (property === 'prepare') {
        return (query: string) => {
          counts.prepared++;
          return target.prepare(query);
        };
      }
      if (property === 'batch') {
        return async (statements: D1PreparedStatement[]) => {
          counts.batches++;
          counts.batched_statements += statements.length;
          if (options.failBatch) throw new Error('D1_ERROR: simulated outage');
          return target.batch(statements);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: proxy, counts };
}

async function direct(body: string, DB: D1Database): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await app.fetch(
    new Request('http://yikatong.test/api/v1/notify/alipay', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
    }),
    { ...env, DB },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

describe('alipay notification: budget and transient failures', () => {
  it('uses at most 6 D1 statements per notification, first delivery or duplicate', async () => {
    const { order_id, built } = await paidAtGateway(4_200);
    for (const round of ['first', 'duplicate']) {
      const { db, counts } = countingD1(env.DB);
      await expectSuccess(await direct(built.body, db));
      // Every statement is prepared once, whether it runs alone or inside a batch.
      expect(counts.prepared, `${round}: ${JSON.stringify(counts)}`).toBeLessThanOrEqual(6);
      expect(counts.batches).toBeLessThanOrEqual(1);
      expect(counts.prepared).toBeGreaterThan(0);
    }
    expect(await creditsOf(order_id)).toHaveLength(1);
    const forged = new URLSearchParams({ ...built.params, total_amount: '1.00' }).toString();
    const { db, counts } = countingD1(env.DB);
    await expectRefused(await direct(forged, db));
    expect(counts.prepared).toBeLessThanOrEqual(6);
  });

  it('a database failure answers 5xx (not success) and changes nothing; the retry then succeeds', async () => {
    const { order_id, built } = await paidAtGateway(6_600);
    const { db } = countingD1(env.DB, { failBatch: true });
    const response = await direct(built.body, db);
    expect(response.status).toBeGreaterThanOrEqual(500);
    expect(await response.text()).not.toBe('success');
    expect(await status(order_id)).toBe('unpaid');
    expect(await creditsOf(order_id)).toHaveLength(0);
    await expectSuccess(await direct(built.body, env.DB));
    expect(await status(order_id)).toBe('pending_claim');
  });

  it('without Alipay configuration the notification is kept and answered 503 so Alipay retries', async () => {
    const { order_id, built } = await paidAtGateway(700);
    const ctx = createExecutionContext();
    const response = await app.fetch(
      new Request('http://yikatong.test/api/v1/notify/alipay', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: built.body,
      }),
      { ...env, ALIPAY_PUBLIC_KEY: undefined },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('fail');
    expect(await status(order_id)).toBe('unpaid');
    expect(await auditOf(null, built.body.slice(-40))).toEqual([expect.objectContaining({ verdict: 'rejected' })]);
  });
});
