import { env, SELF } from 'cloudflare:test';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RechargeCreated } from '../../protocol/api.ts';
import { generateRsaKeyPair, importRsaPrivateKey } from '../../protocol/rsa.ts';
import { encryptResource, signBody, WECHATPAY_HEADER, type WechatTransaction } from '../../protocol/wechat.ts';
import { expireUnpaidOrders } from '../../worker/cron/expire.ts';
import { creditIdForOrder } from '../../worker/ledger/payment.ts';
import { wechatChannel } from '../../worker/pay/wechat.ts';
import type { OutgoingNotification } from '../../sim/gateway/types.ts';
import { gatewayOrigin, schoolWithCard, sim } from './helpers/gateway.ts';
import { seedDemoCampus } from './helpers/seed.ts';
import {
  countingD1,
  createWechatPlatform,
  failingWritesD1,
  paidTransaction,
  postNotification,
  signNotificationBody,
  wechatNotification,
  type WechatPlatform,
} from './helpers/wechat.ts';

let platform: WechatPlatform;
let sequence = 0;

beforeAll(async () => {
  platform = await createWechatPlatform();
});

function newOrderId(): string {
  sequence += 1;
  return `Y20261122WX${String(Date.now()).slice(-8)}${String(sequence).padStart(4, '0')}`;
}

async function insertOrder(amount_fen: number, options: { channel?: 'alipay' | 'wechat'; status?: string } = {}): Promise<string> {
  const order_id = newOrderId();
  const now_ms = Date.now();
  await env.DB.prepare(
    `INSERT INTO orders (id, school_id, card_no, amount_fen, channel, status, created_at_ms, expires_at_ms)
     VALUES (?, 'bjtu-weihai', '20230001', ?, ?, ?, ?, ?)`,
  )
    .bind(order_id, amount_fen, options.channel ?? 'wechat', options.status ?? 'unpaid', now_ms, now_ms + 900_000)
    .run();
  return order_id;
}

async function orderRow(order_id: string) {
  return env.DB.prepare('SELECT status, paid_at_ms, provider_trade_no, closed_at_ms FROM orders WHERE id = ?').bind(order_id).first();
}

async function creditsOf(order_id: string) {
  return (await env.DB.prepare('SELECT id, amount_fen, state, card_no FROM credits WHERE order_id = ?').bind(order_id).all()).results;
}

async function auditOf(order_id: string | null, since_id: number) {
  const rows = await env.DB.prepare('SELECT order_id, verdict, reason, headers, body FROM notifications WHERE id > ? AND channel = ? ORDER BY id')
    .bind(since_id, 'wechat')
    .all<{ order_id: string | null; verdict: string; reason: string | null; headers: string; body: string }>();
  return order_id === null ? rows.results : rows.results.filter((row) => row.order_id === order_id);
}

async function lastAuditId(): Promise<number> {
  const row = await env.DB.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM notifications').first<{ id: number }>();
  return row!.id;
}

describe('POST /api/v1/notify/wechat', () => {
  beforeEach(seedDemoCampus);

  it('a verified, decrypted TRANSACTION.SUCCESS marks the order paid and mints one credit, in at most 6 D1 queries', async () => {
    const order_id = await insertOrder(12_345);
    const success_at_ms = Date.now() - 30_000;
    const transaction = paidTransaction(platform, order_id, 12_345, success_at_ms);
    const notification = await wechatNotification(platform, transaction);
    const counted = countingD1(env.DB);
    const since = await lastAuditId();

    const response = await postNotification(platform, notification, { DB: counted.db });

    expect(response.status).toBe(204);
    expect(counted.count()).toBeGreaterThan(0);
    expect(counted.count()).toBeLessThanOrEqual(6);
    expect(await orderRow(order_id)).toMatchObject({
      status: 'paid',
      // WeChat Pay's success_time has whole seconds.
      paid_at_ms: Math.floor(success_at_ms / 1000) * 1000,
      provider_trade_no: transaction.transaction_id,
    });
    expect(await creditsOf(order_id)).toEqual([
      { id: creditIdForOrder(order_id), amount_fen: 12_345, state: 'pending', card_no: '20230001' },
    ]);
    const audit = await auditOf(order_id, since);
    expect(audit.map((row) => row.verdict)).toEqual(['applied']);
    expect(audit[0]!.body).toBe(notification.body);
    expect(JSON.parse(audit[0]!.headers)).toMatchObject({ [WECHATPAY_HEADER.serial]: platform.vars.WECHATPAY_PUBLIC_KEY_ID });
  });

  it('the same payment delivered three times (each a fresh WeChat retry) yields one credit and three 2xx answers', async () => {
    const order_id = await insertOrder(100);
    const transaction = paidTransaction(platform, order_id, 100, Date.now());
    const first = await wechatNotification(platform, transaction);
    const statuses: number[] = [];
    statuses.push((await postNotification(platform, first)).status);
    // A byte-identical redelivery and a re-encrypted, re-signed one.
    statuses.push((await postNotification(platform, first)).status);
    statuses.push((await postNotification(platform, await wechatNotification(platform, transaction))).status);
    expect(statuses).toEqual([204, 204, 204]);
    expect(await creditsOf(order_id)).toHaveLength(1);
    expect(await orderRow(order_id)).toMatchObject({ status: 'paid' });
    const verdicts = (await auditOf(order_id, 0)).map((row) => row.verdict);
    expect(verdicts).toEqual(['applied', 'duplicate', 'duplicate']);
  });

  it('three deliveries racing each other still yield one credit', async () => {
    const order_id = await insertOrder(4_321);
    const transaction = paidTransaction(platform, order_id, 4_321, Date.now());
    const deliveries = await Promise.all([0, 1, 2].map(() => wechatNotification(platform, transaction)));
    const responses = await Promise.all(deliveries.map((delivery) => postNotification(platform, delivery)));
    expect(responses.map((response) => response.status)).toEqual([204, 204, 204]);
    expect(await creditsOf(order_id)).toHaveLength(1);
    expect((await auditOf(order_id, 0)).map((row) => row.verdict).sort()).toEqual(['applied', 'duplicate', 'duplicate']);
  });

  it('a CLOSED trade closes an unpaid order, and never a paid one', async () => {
    const unpaid = await insertOrder(500);
    const closed: WechatTransaction = { ...paidTransaction(platform, unpaid, 500, Date.now()), trade_state: 'CLOSED' };
    delete closed.transaction_id;
    delete closed.success_time;
    expect((await postNotification(platform, await wechatNotification(platform, closed))).status).toBe(204);
    expect(await orderRow(unpaid)).toMatchObject({ status: 'closed' });

    const paid = await insertOrder(600);
    await postNotification(platform, await wechatNotification(platform, paidTransaction(platform, paid, 600, Date.now())));
    const late: WechatTransaction = { ...paidTransaction(platform, paid, 600, Date.now()), trade_state: 'CLOSED' };
    expect((await postNotification(platform, await wechatNotification(platform, late))).status).toBe(204);
    expect(await orderRow(paid)).toMatchObject({ status: 'paid' });
    expect(await creditsOf(paid)).toHaveLength(1);
  });

  it('a payment WeChat Pay confirms for an order already closed here still becomes paid (the money arrived)', async () => {
    const order_id = await insertOrder(700, { status: 'closed' });
    const response = await postNotification(platform, await wechatNotification(platform, paidTransaction(platform, order_id, 700, Date.now())));
    expect(response.status).toBe(204);
    expect(await orderRow(order_id)).toMatchObject({ status: 'paid' });
    expect(await creditsOf(order_id)).toHaveLength(1);
  });

  it('a refused notification also stays within the D1 query budget', async () => {
    const order_id = await insertOrder(300);
    const counted = countingD1(env.DB);
    const response = await postNotification(
      platform,
      await wechatNotification(platform, paidTransaction(platform, order_id, 301, Date.now())),
      { DB: counted.db },
    );
    expect(response.status).toBe(409);
    expect(counted.count()).toBeLessThanOrEqual(6);
  });

  describe('refuses, changes nothing, and keeps the notification as rejected', () => {
    const cases: {
      name: string;
      status: number;
      reason: RegExp;
      build: (order_id: string, amount_fen: number) => Promise<{ headers: Record<string, string>; body: string }>;
    }[] = [
      {
        name: 'a tampered ciphertext (re-signed, so only the AES-GCM tag can catch it)',
        status: 400,
        reason: /decrypt/,
        build: async (order_id, amount_fen) => {
          const good = await wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()));
          const envelope = JSON.parse(good.body);
          const bytes = atob(envelope.resource.ciphertext);
          const flipped = String.fromCharCode(bytes.charCodeAt(0) ^ 1) + bytes.slice(1);
          envelope.resource.ciphertext = btoa(flipped);
          return signNotificationBody(platform, JSON.stringify(envelope));
        },
      },
      {
        name: 'a body changed after signing',
        status: 401,
        reason: /does not verify/,
        build: async (order_id, amount_fen) => {
          const good = await wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()));
          return { headers: good.headers, body: good.body.replace('"支付成功"', '"支付成功 "') };
        },
      },
      {
        name: 'a signature by another key',
        status: 401,
        reason: /does not verify/,
        build: async (order_id, amount_fen) => {
          const good = await wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()));
          const intruder = await importRsaPrivateKey((await generateRsaKeyPair()).private_key);
          const forged = await signBody(intruder, platform.vars.WECHATPAY_PUBLIC_KEY_ID, good.body, Date.now());
          return { headers: { ...good.headers, ...forged }, body: good.body };
        },
      },
      {
        name: 'missing signature headers',
        status: 401,
        reason: /missing/,
        build: async (order_id, amount_fen) => {
          const good = await wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()));
          return { headers: { 'content-type': 'application/json' }, body: good.body };
        },
      },
      {
        // WeChat Pay sends such probes on purpose, to see that merchants really verify.
        name: 'a WECHATPAY/SIGNTEST/ probe signature',
        status: 401,
        reason: /does not verify/,
        build: async (order_id, amount_fen) => {
          const good = await wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()));
          return { headers: { ...good.headers, [WECHATPAY_HEADER.signature]: 'WECHATPAY/SIGNTEST/7b6f3a' }, body: good.body };
        },
      },
      {
        name: 'a wrong Wechatpay-Serial',
        status: 401,
        reason: /Serial/,
        build: async (order_id, amount_fen) => {
          const good = await wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()));
          const signed = await signBody(platform.platform_private_key, 'PUB_KEY_ID_SOMEONE_ELSE', good.body, Date.now());
          return { headers: { ...good.headers, ...signed }, body: good.body };
        },
      },
      {
        name: 'a stale timestamp (6 minutes old, correctly signed)',
        status: 401,
        reason: /5 minutes/,
        build: async (order_id, amount_fen) =>
          wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()), { now_ms: Date.now() - 360_000 }),
      },
      {
        name: 'a timestamp from the future (6 minutes ahead)',
        status: 401,
        reason: /5 minutes/,
        build: async (order_id, amount_fen) =>
          wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()), { now_ms: Date.now() + 360_000 }),
      },
      {
        name: 'another merchant (mchid)',
        status: 403,
        reason: /mchid/,
        build: async (order_id, amount_fen) =>
          wechatNotification(platform, { ...paidTransaction(platform, order_id, amount_fen, Date.now()), mchid: '1900000002' }),
      },
      {
        name: 'another app (appid)',
        status: 403,
        reason: /appid/,
        build: async (order_id, amount_fen) =>
          wechatNotification(platform, { ...paidTransaction(platform, order_id, amount_fen, Date.now()), appid: 'wx00000000000000ff' }),
      },
      {
        name: 'an amount that is not the order’s',
        status: 409,
        reason: /amount/,
        build: async (order_id, amount_fen) =>
          wechatNotification(platform, paidTransaction(platform, order_id, amount_fen - 1, Date.now())),
      },
      {
        name: 'an unknown out_trade_no',
        status: 404,
        reason: /out_trade_no/,
        build: async (_order_id, amount_fen) =>
          wechatNotification(platform, paidTransaction(platform, 'Y20261122WXNOSUCHORDER01', amount_fen, Date.now())),
      },
      {
        name: 'an out_trade_no of ours but not in our format',
        status: 404,
        reason: /out_trade_no/,
        build: async (_order_id, amount_fen) =>
          wechatNotification(platform, paidTransaction(platform, "x' OR 1=1 --", amount_fen, Date.now())),
      },
      {
        name: 'a resource encrypted with another API v3 key',
        status: 400,
        reason: /decrypt/,
        build: async (order_id, amount_fen) => {
          const other = await createWechatPlatform();
          const resource = await encryptResource(
            other.api_v3_key,
            JSON.stringify(paidTransaction(platform, order_id, amount_fen, Date.now())),
            'transaction',
            'transaction',
          );
          const body = JSON.stringify({
            id: crypto.randomUUID(),
            create_time: '2026-11-22T10:00:00+08:00',
            resource_type: 'encrypt-resource',
            event_type: 'TRANSACTION.SUCCESS',
            summary: '支付成功',
            resource,
          });
          return signNotificationBody(platform, body);
        },
      },
      {
        name: 'a signed body that is not JSON',
        status: 400,
        reason: /JSON/,
        build: async () => signNotificationBody(platform, 'code=SUCCESS'),
      },
      {
        name: 'a SUCCESS transaction under another event type',
        status: 400,
        reason: /event/,
        build: async (order_id, amount_fen) =>
          wechatNotification(platform, paidTransaction(platform, order_id, amount_fen, Date.now()), { event_type: 'REFUND.SUCCESS' }),
      },
    ];

    for (const testCase of cases) {
      it(testCase.name, async () => {
        const order_id = await insertOrder(2_000);
        const since = await lastAuditId();
        const notification = await testCase.build(order_id, 2_000);
        const response = await postNotification(platform, notification);
        expect(response.status).toBe(testCase.status);
        const answer = (await response.json()) as { code: string; message: string; error: { code: string; message: string } };
        expect(answer.code).toBe('FAIL');
        expect(answer.message).toMatch(testCase.reason);
        expect(typeof answer.error.code).toBe('string');
        expect(await orderRow(order_id)).toMatchObject({ status: 'unpaid', paid_at_ms: null, provider_trade_no: null });
        expect(await creditsOf(order_id)).toEqual([]);
        const audit = await auditOf(null, since);
        expect(audit).toHaveLength(1);
        expect(audit[0]).toMatchObject({ verdict: 'rejected', body: notification.body });
        expect(audit[0]!.reason).toMatch(testCase.reason);
      });
    }

    it('a payment notification for an Alipay order', async () => {
      const order_id = await insertOrder(2_000, { channel: 'alipay' });
      const response = await postNotification(
        platform,
        await wechatNotification(platform, paidTransaction(platform, order_id, 2_000, Date.now())),
      );
      expect(response.status).toBe(404);
      expect(await orderRow(order_id)).toMatchObject({ status: 'unpaid' });
      expect(await creditsOf(order_id)).toEqual([]);
    });

    it('a body over the size limit', async () => {
      const since = await lastAuditId();
      const response = await postNotification(platform, await signNotificationBody(platform, 'x'.repeat(20_000)));
      expect(response.status).toBe(413);
      expect(((await response.json()) as { code: string }).code).toBe('FAIL');
      expect((await auditOf(null, since)).map((row) => row.verdict)).toEqual(['rejected']);
    });
  });

  it('answers 5xx (so WeChat Pay retries) when D1 cannot write, and the retry then applies', async () => {
    const order_id = await insertOrder(800);
    const notification = await wechatNotification(platform, paidTransaction(platform, order_id, 800, Date.now()));
    const failed = await postNotification(platform, notification, { DB: failingWritesD1(env.DB) });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(((await failed.json()) as { code: string }).code).toBe('FAIL');
    expect(await orderRow(order_id)).toMatchObject({ status: 'unpaid' });
    expect(await creditsOf(order_id)).toEqual([]);

    const retried = await postNotification(platform, notification);
    expect(retried.status).toBe(204);
    expect(await creditsOf(order_id)).toHaveLength(1);
  });

  it('answers 503 when WeChat Pay is not configured, and changes nothing', async () => {
    const order_id = await insertOrder(900);
    const notification = await wechatNotification(platform, paidTransaction(platform, order_id, 900, Date.now()));
    const response = await postNotification(platform, notification, { WECHATPAY_API_V3_KEY: '' });
    expect(response.status).toBe(503);
    expect(await orderRow(order_id)).toMatchObject({ status: 'unpaid' });
  });
});

describe('top-up with WeChat Pay through the simulated gateway process', () => {
  let tag = 0;

  async function wechatTopUp(amount_fen: number): Promise<RechargeCreated> {
    const card = await schoolWithCard('威海海洋职业学院');
    const response = await SELF.fetch('http://yikatong.test/api/v1/recharges', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': `2001:db8::77:${(++tag).toString(16)}` },
      body: JSON.stringify({ school_id: card.school_id, name: card.holder_name, card_no: card.card_no, amount_fen, channel: 'wechat', agree_terms: true }),
    });
    const text = await response.text();
    expect(response.status, text).toBe(201);
    return JSON.parse(text) as RechargeCreated;
  }

  async function topupStatus(order_id: string): Promise<string> {
    return ((await (await SELF.fetch(`http://yikatong.test/api/v1/recharges/${order_id}`)).json()) as { status: string }).status;
  }

  it('create H5 order → cashier → pay → the gateway-signed notification → pending_claim, one credit', async () => {
    const order = await wechatTopUp(1_234);
    const pay_url = new URL(order.pay_url);
    expect(pay_url.origin).toBe(gatewayOrigin());
    expect(pay_url.pathname).toBe('/sim/wechat/h5');
    expect(pay_url.searchParams.get('redirect_url')).toMatch(new RegExp(`/orders/${order.order_id}$`));
    const cashier = await (await fetch(order.pay_url)).text();
    expect(cashier).toContain('¥12.34');
    expect(cashier).toContain('威海海洋职业学院 校园卡充值');

    const channel = wechatChannel(env);
    expect(await channel.queryTrade(order.order_id)).toEqual({ state: 'unpaid' });

    const { notification } = await sim<{ notification: OutgoingNotification }>(`/sim/wechat/trades/${order.order_id}/pay?send=0`, { body: {} });
    expect(notification.url).toBe('http://yikatong.test/api/v1/notify/wechat');
    for (let delivery = 0; delivery < 3; delivery++) {
      const response = await SELF.fetch(notification.url, { method: 'POST', headers: notification.headers, body: notification.body });
      expect(response.status).toBe(204);
    }
    expect(await topupStatus(order.order_id)).toBe('pending_claim');
    expect(await creditsOf(order.order_id)).toEqual([expect.objectContaining({ amount_fen: 1_234, state: 'pending' })]);

    const paid = await channel.queryTrade(order.order_id);
    expect(paid).toMatchObject({ state: 'paid', amount_fen: 1_234 });
    const row = await orderRow(order.order_id);
    expect(row).toMatchObject({ provider_trade_no: paid.state === 'paid' ? paid.provider_trade_no : 'x' });
  });

  it('the expiry cron finds a payment whose notification never came, and closes one never paid', async () => {
    const lost = await wechatTopUp(2_600);
    await sim(`/sim/wechat/trades/${lost.order_id}/pay?send=0`, { body: {} });
    const abandoned = await wechatTopUp(2_700);
    await env.DB.prepare('UPDATE orders SET expires_at_ms = ? WHERE id IN (?, ?)').bind(Date.now() - 1_000, lost.order_id, abandoned.order_id).run();

    const report = await expireUnpaidOrders(env, Date.now());

    expect(report).toMatchObject({ paid: 1, closed: 1, deferred: 0 });
    expect(await topupStatus(lost.order_id)).toBe('pending_claim');
    expect(await creditsOf(lost.order_id)).toEqual([expect.objectContaining({ amount_fen: 2_600, state: 'pending' })]);
    expect(await topupStatus(abandoned.order_id)).toBe('closed');
    // Closed at WeChat Pay too, so the payer can no longer pay an order we call closed.
    expect(await wechatChannel(env).queryTrade(abandoned.order_id)).toEqual({ state: 'closed' });
  });

  it('closes an unpaid trade at the gateway, which then reports it closed', async () => {
    const order = await wechatTopUp(500);
    const channel = wechatChannel(env);
    await channel.closeTrade(order.order_id);
    expect(await channel.queryTrade(order.order_id)).toEqual({ state: 'closed' });
    const pay = await fetch(`${gatewayOrigin()}/sim/wechat/trades/${order.order_id}/pay`, { method: 'POST' });
    expect(pay.status).toBe(400);
    expect(await topupStatus(order.order_id)).toBe('unpaid');
  });
});
