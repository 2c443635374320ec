import { env, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { ORDER_ID_PATTERN, type CardLookupResponse, type RechargeCreated, type RechargeRecord, type RechargeRecordsResponse } from '../../protocol/api.ts';
import { alipayVerify } from '../../protocol/alipay.ts';
import { generateRsaKeyPair, importRsaPublicKey } from '../../protocol/rsa.ts';
import { verifyCardToken } from '../../worker/auth/card-token.ts';
import { newOrderId, topupStatus } from '../../worker/ledger/orders.ts';
import type { Env } from '../../worker/env.ts';
import { api } from './helpers/seed.ts';
import { chinaMonthBeginMs, chinaMonthLabel, MINUTE_MS } from '../helpers/clock.ts';
import { schoolWithCard, sim, unreachableOrigin } from './helpers/gateway.ts';
import {
  fetchWithConfig,
  freshSchool,
  insertCredit,
  insertOrder,
  ledgerCounts,
  postFrom,
  testOrderId,
  uniqueIp,
  type LedgerOrder,
} from './helpers/fixtures.ts';

const GATEWAY = 'https://alipay-sandbox.test/gateway.do';
let alipayEnv: Partial<Env>;
let alipayPublicKey: string;

beforeAll(async () => {
  // One RSA pair plays both sides: creating a wap payment only signs, it never calls Alipay.
  const pair = await generateRsaKeyPair();
  alipayPublicKey = pair.public_key;
  alipayEnv = {
    ALIPAY_APP_ID: '2021000000000001',
    ALIPAY_SELLER_ID: '2088000000000001',
    ALIPAY_PRIVATE_KEY: pair.private_key,
    ALIPAY_PUBLIC_KEY: pair.public_key,
    ALIPAY_GATEWAY: GATEWAY,
  };
});

function topup(overrides: Partial<Env>, body: unknown, ip = uniqueIp()): Promise<Response> {
  return fetchWithConfig(overrides, '/api/v1/recharges', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip },
    body: JSON.stringify(body),
  });
}

async function orderRow(order_id: string) {
  return env.DB.prepare('SELECT * FROM orders WHERE id = ?').bind(order_id).first();
}

describe('POST /api/v1/recharges', () => {
  it('creates an unpaid order and a signed Alipay wap-pay URL that comes back to the PWA', async () => {
    const school_id = await freshSchool({ name: '北京交通大学威海校区' });
    const before_ms = Date.now();
    const res = await topup(alipayEnv, {
      school_id,
      name: '张三',
      card_no: '２０２３０００１',
      amount_fen: 10_000,
      channel: 'alipay',
      notify_phone: '13800138000',
      agree_terms: true,
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as RechargeCreated;
    expect(body).toMatchObject({ amount_fen: 10_000, status: 'unpaid' });
    expect(body.order_id).toMatch(ORDER_ID_PATTERN);
    const url = new URL(body.pay_url);
    expect(`${url.origin}${url.pathname}`).toBe(GATEWAY);
    const params = Object.fromEntries(url.searchParams);
    expect(params).toMatchObject({
      app_id: '2021000000000001',
      method: 'alipay.trade.wap.pay',
      notify_url: 'http://yikatong.test/api/v1/notify/alipay',
      return_url: `http://yikatong.test/orders/${body.order_id}`,
    });
    expect(JSON.parse(params.biz_content!)).toMatchObject({
      out_trade_no: body.order_id,
      total_amount: '100.00',
      subject: '北京交通大学威海校区 校园卡充值',
    });
    expect(await alipayVerify(await importRsaPublicKey(alipayPublicKey), params, 'request')).toBe(true);
    // The card token names the card as the registry knows it.
    const claims = await verifyCardToken(env.CARD_TOKEN_SECRET, body.card_token, Date.now());
    expect(claims).toMatchObject({ school_id, card_no: '20230001' });
    const row = await orderRow(body.order_id);
    expect(row).toMatchObject({ school_id, card_no: '20230001', amount_fen: 10_000, channel: 'alipay', status: 'unpaid', notify_phone: '13800138000' });
    const created_at_ms = row!.created_at_ms as number;
    expect(created_at_ms).toBeGreaterThanOrEqual(before_ms);
    expect(row!.expires_at_ms).toBe(created_at_ms + 15 * 60_000);
  });

  it('works with the Worker as configured for the test pool (the simulated gateway), through SELF', async () => {
    const school_id = await freshSchool();
    const res = await postFrom(uniqueIp(), '/api/v1/recharges', { school_id, name: '张三', card_no: '20230001', amount_fen: 10_000, channel: 'alipay', agree_terms: true });
    expect(res.status).toBe(201);
    const body = (await res.json()) as RechargeCreated;
    expect(body.pay_url.startsWith(env.ALIPAY_GATEWAY!)).toBe(true);
    expect(new URL(body.pay_url).searchParams.get('notify_url')).toBe('http://yikatong.test/api/v1/notify/alipay');
    expect(await (await api(`/api/v1/recharges/${body.order_id}`)).json()).toMatchObject({ order_id: body.order_id, status: 'unpaid', amount_fen: 10_000 });
  });

  it('takes a card token instead of name and number, and honours PUBLIC_BASE_URL and ORDER_EXPIRY_MINUTES', async () => {
    const school_id = await freshSchool();
    const found = (await (await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '访客', card_no: 'SN：000999' })).json()) as CardLookupResponse;
    const config = { ...alipayEnv, PUBLIC_BASE_URL: 'https://pay.example.edu.cn/', ORDER_EXPIRY_MINUTES: '5' };
    const res = await topup(config, { card_token: found.card_token, amount_fen: 1, channel: 'alipay', agree_terms: true });
    expect(res.status).toBe(201);
    const body = (await res.json()) as RechargeCreated;
    const params = new URL(body.pay_url).searchParams;
    expect(params.get('notify_url')).toBe('https://pay.example.edu.cn/api/v1/notify/alipay');
    const row = await orderRow(body.order_id);
    expect(row).toMatchObject({ card_no: '999', amount_fen: 1 });
    expect((row!.expires_at_ms as number) - (row!.created_at_ms as number)).toBe(5 * 60_000);
  });

  it('allows exactly 0.01 yuan up to the school maximum and refuses outside with amount_out_of_range', async () => {
    const school_id = await freshSchool({ max_amount_fen: 50_000 });
    const card = { school_id, name: '张三', card_no: '20230001', channel: 'alipay', agree_terms: true };
    expect((await topup(alipayEnv, { ...card, amount_fen: 50_000 })).status).toBe(201);
    const counts = await ledgerCounts();
    for (const amount_fen of [0, -100, 50_001, 100_000, 10_000_000]) {
      const res = await topup(alipayEnv, { ...card, amount_fen });
      expect(res.status, String(amount_fen)).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'amount_out_of_range' } });
    }
    for (const amount_fen of [1.5, 1e300, '100', null]) {
      const res = await topup(alipayEnv, { ...card, amount_fen });
      expect(res.status, String(amount_fen)).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'invalid_body' } });
    }
    expect(await ledgerCounts()).toEqual(counts);
  });

  it('refuses each bad request with its own code and creates no order', async () => {
    const school_id = await freshSchool();
    const good = { school_id, name: '张三', card_no: '20230001', amount_fen: 100, channel: 'alipay', agree_terms: true };
    const counts = await ledgerCounts();
    const cases: [unknown, number, string][] = [
      [{ ...good, agree_terms: false }, 400, 'terms_not_agreed'],
      [{ ...good, name: '李四' }, 404, 'card_not_found'],
      [{ ...good, card_no: '404404' }, 404, 'card_not_found'],
      [{ ...good, school_id: 'nowhere' }, 404, 'card_not_found'],
      [{ ...good, name: '陈挂失', card_no: '20230003' }, 403, 'card_not_active'],
      [{ ...good, notify_phone: '12345' }, 400, 'invalid_body'],
      [{ ...good, notify_phone: '1380013800a' }, 400, 'invalid_body'],
      [{ ...good, channel: 'paypal' }, 400, 'invalid_body'],
      [{ ...good, card_token: 'x.y' }, 400, 'invalid_body'],
      [{ card_token: 'not-a-token', amount_fen: 100, channel: 'alipay', agree_terms: true }, 401, 'card_token_invalid'],
    ];
    for (const [body, status, code] of cases) {
      const res = await topup(alipayEnv, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(await res.json(), JSON.stringify(body)).toMatchObject({ error: { code } });
    }
    expect(await ledgerCounts()).toEqual(counts);
  });

  it('refuses a frozen or closed card reached through a card token saved while it was active', async () => {
    const school_id = await freshSchool();
    const found = (await (await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '李小红', card_no: '20230002' })).json()) as CardLookupResponse;
    for (const status of ['frozen', 'closed']) {
      await env.DB.prepare("UPDATE cards SET status = ? WHERE school_id = ? AND card_no = '20230002'").bind(status, school_id).run();
      const res = await topup(alipayEnv, { card_token: found.card_token, amount_fen: 100, channel: 'alipay', agree_terms: true });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: 'card_not_active' } });
    }
    // A card since removed from the registry is simply not found.
    await env.DB.prepare("DELETE FROM cards WHERE school_id = ? AND card_no = '20230002'").bind(school_id).run();
    const gone = await topup(alipayEnv, { card_token: found.card_token, amount_fen: 100, channel: 'alipay', agree_terms: true });
    expect(gone.status).toBe(404);
  });

  it('answers channel_unavailable for an unconfigured channel and leaves no payable order', async () => {
    const school_id = await freshSchool();
    const res = await topup(
      { ALIPAY_PRIVATE_KEY: undefined, ALIPAY_APP_ID: undefined },
      { school_id, name: '张三', card_no: '20230001', amount_fen: 100, channel: 'alipay', agree_terms: true },
    );
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'channel_unavailable' } });
    const open = await env.DB.prepare("SELECT count(*) AS n FROM orders WHERE school_id = ? AND status = 'unpaid'").bind(school_id).first();
    expect(open).toMatchObject({ n: 0 });
  });

  it('refuses with not_configured, creating no order, when the Worker is misconfigured', async () => {
    const school_id = await freshSchool();
    const body = { school_id, name: '张三', card_no: '20230001', amount_fen: 100, channel: 'alipay', agree_terms: true };
    const configs: Partial<Env>[] = [
      { ORDER_EXPIRY_MINUTES: 'fifteen' },
      { ORDER_EXPIRY_MINUTES: '0' },
      { PUBLIC_BASE_URL: 'pay.example.edu.cn' },
      { CARD_TOKEN_SECRET: undefined },
    ];
    for (const config of configs) {
      const res = await topup({ ...alipayEnv, ...config }, body);
      expect(res.status, JSON.stringify(config)).toBe(503);
      expect(await res.json()).toMatchObject({ error: { code: 'not_configured' } });
    }
    const orders = await env.DB.prepare('SELECT count(*) AS n FROM orders WHERE school_id = ?').bind(school_id).first();
    expect(orders).toMatchObject({ n: 0 });
  });

  it("tells WeChat Pay the payer's own address, which H5 payment is bound to", async () => {
    const card = await schoolWithCard();
    const response = await SELF.fetch('http://yikatong.test/api/v1/recharges', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': '198.51.100.23' },
      body: JSON.stringify({ school_id: card.school_id, name: card.holder_name, card_no: card.card_no, amount_fen: 700, channel: 'wechat', agree_terms: true }),
    });
    expect(response.status).toBe(201);
    const { order_id } = (await response.json()) as { order_id: string };
    const trade = await sim<{ scene_info: { payer_client_ip: string } }>(`/sim/wechat/trades/${order_id}`);
    expect(trade.scene_info.payer_client_ip).toBe('198.51.100.23');
  });

  it('answers payment_provider_error when WeChat Pay cannot be reached, and closes the order', async () => {
    const school_id = await freshSchool();
    const pair = await generateRsaKeyPair();
    const wechat: Partial<Env> = {
      WECHATPAY_MCH_ID: '1900000001',
      WECHATPAY_APP_ID: 'wx0000000000000001',
      WECHATPAY_API_V3_KEY: '0123456789abcdef0123456789abcdef',
      WECHATPAY_PRIVATE_KEY: pair.private_key,
      WECHATPAY_PUBLIC_KEY: pair.public_key,
      WECHATPAY_PUBLIC_KEY_ID: 'PUB_KEY_ID_0000000001',
      WECHATPAY_SERIAL_NO: '0000000000000000000000000000000000000001',
      // Nothing listens there: a port bound and closed by the global setup.
      WECHATPAY_GATEWAY: unreachableOrigin(),
    };
    const res = await topup(wechat, { school_id, name: '张三', card_no: '20230001', amount_fen: 100, channel: 'wechat', agree_terms: true });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'payment_provider_error' } });
    const rows = await env.DB.prepare('SELECT status, closed_at_ms FROM orders WHERE school_id = ?').bind(school_id).all();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]).toMatchObject({ status: 'closed' });
    expect(rows.results[0]!.closed_at_ms).toEqual(expect.any(Number));
  });
});

describe('GET /api/v1/recharges/{order_id}', () => {
  it('follows an order from unpaid to paid, pending claim, and claimed at a terminal', async () => {
    const school_id = await freshSchool();
    const res = await topup(alipayEnv, { school_id, name: '张三', card_no: '20230001', amount_fen: 2_500, channel: 'alipay', agree_terms: true });
    const { order_id } = (await res.json()) as RechargeCreated;
    const status = async () => (await (await api(`/api/v1/recharges/${order_id}`)).json()) as RechargeRecord;
    const unpaid = await status();
    expect(unpaid).toMatchObject({ order_id, status: 'unpaid', amount_fen: 2_500, channel: 'alipay' });
    expect(unpaid.paid_at).toBeUndefined();

    const paid_at_ms = Date.now();
    await env.DB.prepare("UPDATE orders SET status = 'paid', paid_at_ms = ? WHERE id = ?").bind(paid_at_ms, order_id).run();
    const order: LedgerOrder = { order_id, school_id, card_no: '20230001', amount_fen: 2_500, status: 'paid', created_at_ms: unpaid.created_at, paid_at_ms };
    await insertCredit(order, { state: 'pending' });
    expect(await status()).toMatchObject({ status: 'pending_claim', paid_at: paid_at_ms });

    await env.DB.prepare('DELETE FROM credits WHERE order_id = ?').bind(order_id).run();
    await insertCredit(order, { state: 'claimed', claimed_at_ms: paid_at_ms + 5_000, terminal_id: 'CANTEEN-2' });
    expect(await status()).toMatchObject({ status: 'claimed', paid_at: paid_at_ms, claimed_at: paid_at_ms + 5_000, terminal_id: 'CANTEEN-2' });
  });

  it('shows closed and refunded orders with their times', async () => {
    const school_id = await freshSchool();
    const now_ms = Date.now();
    const closed: LedgerOrder = { order_id: testOrderId(now_ms), school_id, card_no: '20230001', amount_fen: 100, status: 'closed', created_at_ms: now_ms, closed_at_ms: now_ms + 900_000 };
    const refunded: LedgerOrder = { order_id: testOrderId(now_ms), school_id, card_no: '20230001', amount_fen: 200, status: 'refunded', created_at_ms: now_ms, paid_at_ms: now_ms + 1, refunded_at_ms: now_ms + 2 };
    await insertOrder(closed);
    await insertOrder(refunded);
    await insertCredit(refunded, { state: 'voided', voided_at_ms: now_ms + 2 });
    expect(await (await api(`/api/v1/recharges/${closed.order_id}`)).json()).toMatchObject({ status: 'closed', closed_at: now_ms + 900_000 });
    expect(await (await api(`/api/v1/recharges/${refunded.order_id}`)).json()).toMatchObject({ status: 'refunded', refunded_at: now_ms + 2 });
  });

  it('answers an unknown order 404 order_not_found and a malformed id 400', async () => {
    const unknown = await api('/api/v1/recharges/Y20260101000000000ABCDEFGHIJ');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'order_not_found' } });
    for (const bad of ['nope', 'Y1', "Y2026'--", 'Z20260101000000000ABCDEFGHIJ', `Y${'1'.repeat(40)}`]) {
      const res = await api(`/api/v1/recharges/${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'invalid_query' } });
    }
  });
});

describe('GET /api/v1/recharges?card_token=', () => {
  it('lists a card’s records newest first with paid money per China-time month', async () => {
    const school_id = await freshSchool({ extra: [{ card_no: '8001', holder_name: '孙月' }] });
    const now_ms = Date.now();
    // Half an hour either side of the China-time midnight that began the month before last:
    // one hour apart, two months, and always inside the 12-month window, whatever today is.
    const boundary_ms = chinaMonthBeginMs(now_ms, 2);
    const MARCH_LATE_MS = boundary_ms - 30 * MINUTE_MS;
    const APRIL_EARLY_MS = boundary_ms + 30 * MINUTE_MS;
    const make = (at_ms: number, amount_fen: number, status: LedgerOrder['status'], extra: Partial<LedgerOrder> = {}): LedgerOrder => ({
      order_id: testOrderId(at_ms),
      school_id,
      card_no: '8001',
      amount_fen,
      status,
      created_at_ms: at_ms,
      ...extra,
    });
    const march = make(MARCH_LATE_MS, 1_000, 'paid', { paid_at_ms: MARCH_LATE_MS + 60_000 });
    const april = make(APRIL_EARLY_MS, 2_000, 'paid', { paid_at_ms: APRIL_EARLY_MS + 60_000 });
    const aprilClaimed = make(APRIL_EARLY_MS + 3_600_000, 3_000, 'paid', { paid_at_ms: APRIL_EARLY_MS + 3_660_000 });
    const aprilClosed = make(APRIL_EARLY_MS + 7_200_000, 9_000, 'closed', { closed_at_ms: APRIL_EARLY_MS + 8_100_000 });
    const aprilRefunded = make(APRIL_EARLY_MS + 9_000_000, 4_000, 'refunded', { paid_at_ms: APRIL_EARLY_MS + 9_000_001, refunded_at_ms: APRIL_EARLY_MS + 9_500_000 });
    // Paid, its credit voided by the hub, the provider's refund not yet confirmed.
    const aprilRefunding = make(APRIL_EARLY_MS + 10_000_000, 6_000, 'paid', { paid_at_ms: APRIL_EARLY_MS + 10_000_001 });
    const current = make(now_ms - 1_000, 500, 'unpaid');
    const ancient = make(now_ms - 400 * 86_400_000, 7_777, 'paid', { paid_at_ms: now_ms - 400 * 86_400_000 });
    for (const order of [march, april, aprilClaimed, aprilClosed, aprilRefunded, aprilRefunding, current, ancient]) await insertOrder(order);
    await insertCredit(aprilRefunding, { state: 'voided', voided_at_ms: APRIL_EARLY_MS + 10_500_000 });
    await insertCredit(march, { state: 'pending' });
    await insertCredit(april, { state: 'pending' });
    await insertCredit(aprilClaimed, { state: 'claimed', claimed_at_ms: APRIL_EARLY_MS + 3_700_000, terminal_id: 'SHOP-1' });
    await insertCredit(aprilRefunded, { state: 'voided', voided_at_ms: APRIL_EARLY_MS + 9_500_000 });
    await insertCredit(ancient, { state: 'claimed', claimed_at_ms: now_ms - 399 * 86_400_000 });
    // Another card's money never shows.
    const otherCard = { ...make(APRIL_EARLY_MS, 99_999, 'paid', { paid_at_ms: APRIL_EARLY_MS }), card_no: '20230001' };
    await insertOrder(otherCard);
    await insertCredit(otherCard, { state: 'pending' });

    const found = (await (await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '孙月', card_no: '8001' })).json()) as CardLookupResponse;
    const res = await api(`/api/v1/recharges?card_token=${encodeURIComponent(found.card_token)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as RechargeRecordsResponse;
    // The one older than 12 months is left out.
    const expectedOrders = [current, aprilRefunding, aprilRefunded, aprilClosed, aprilClaimed, april, march];
    expect(body.records.map((r) => r.order_id)).toEqual(expectedOrders.map((o) => o.order_id));
    expect(body.records.map((r) => r.status)).toEqual(['unpaid', 'refunded', 'refunded', 'closed', 'claimed', 'pending_claim', 'pending_claim']);
    expect(body.records[1]).toMatchObject({ refunded_at: APRIL_EARLY_MS + 10_500_000 });
    expect(body.records[4]).toMatchObject({ terminal_id: 'SHOP-1', claimed_at: APRIL_EARLY_MS + 3_700_000 });
    // Paid money per China-time month: refunded (or refunding), unpaid and closed orders count nothing.
    expect(body.month_totals).toEqual([
      { month: chinaMonthLabel(APRIL_EARLY_MS), amount_fen: 5_000, count: 2 },
      { month: chinaMonthLabel(MARCH_LATE_MS), amount_fen: 1_000, count: 1 },
    ]);
    expect(chinaMonthLabel(APRIL_EARLY_MS)).not.toBe(chinaMonthLabel(MARCH_LATE_MS));
  });

  it("carries the card's last reported balance and pending amount, so a saved card follows the POS", async () => {
    const school_id = await freshSchool({ extra: [{ card_no: '8002', holder_name: '钱多' }] });
    const found = (await (await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '钱多', card_no: '8002' })).json()) as CardLookupResponse;
    const records = async () =>
      (await (await api(`/api/v1/recharges?card_token=${encodeURIComponent(found.card_token)}`)).json()) as RechargeRecordsResponse;
    expect((await records()).card).toMatchObject({ balance_fen: null, balance_as_of: null, pending_fen: 0, status: 'active' });

    const order = { order_id: testOrderId(Date.now()), school_id, card_no: '8002', amount_fen: 1_500, status: 'paid' as const, created_at_ms: Date.now(), paid_at_ms: Date.now() };
    await insertOrder(order);
    await insertCredit(order, { state: 'pending' });
    const reported_at_ms = Date.now();
    await env.DB.prepare('UPDATE cards SET balance_fen = 12282, balance_as_of_ms = ? WHERE school_id = ? AND card_no = ?')
      .bind(reported_at_ms, school_id, '8002')
      .run();
    expect((await records()).card).toEqual({ kind: 'student', status: 'active', balance_fen: 12_282, balance_as_of: reported_at_ms, pending_fen: 1_500 });
  });

  it('refuses a missing or extra query parameter with invalid_query', async () => {
    for (const query of ['', '?card_token=', '?card_token=a&x=1', `?card_token=${'a'.repeat(600)}`]) {
      const res = await api(`/api/v1/recharges${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'invalid_query' } });
    }
  });
});

describe('order ids and public statuses', () => {
  it('makes order ids that sort by creation, read as China time, never repeat, and fit WeChat’s 32 characters', () => {
    const at_ms = Date.UTC(2026, 10, 21, 16, 30, 0, 5); // 2026-11-22 00:30:00.005 in China
    const id = newOrderId(at_ms);
    expect(id).toMatch(ORDER_ID_PATTERN);
    expect(id.startsWith('Y20261122003000005')).toBe(true);
    expect(id.length).toBeLessThanOrEqual(32);
    const ids = Array.from({ length: 2_000 }, (_, i) => newOrderId(at_ms + i));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('folds order status and credit state into what the payer sees', () => {
    expect(topupStatus('unpaid', null)).toBe('unpaid');
    expect(topupStatus('closed', null)).toBe('closed');
    expect(topupStatus('paid', 'pending')).toBe('pending_claim');
    expect(topupStatus('paid', 'claimed')).toBe('claimed');
    expect(topupStatus('paid', 'voided')).toBe('refunded');
    expect(topupStatus('refunded', 'voided')).toBe('refunded');
    // A paid order whose credit is missing (the audit flags it) still tells the payer the money waits.
    expect(topupStatus('paid', null)).toBe('pending_claim');
  });
});
