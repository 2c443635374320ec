// The simulated WeChat Pay API v3 on the real gateway server (node:http on 127.0.0.1), spoken to
// with real signatures; and the Worker's WeChat channel (worker/pay/wechat.ts, plain WebCrypto and
// fetch) driven against it from Node.
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRsaKeyPair, importRsaPrivateKey, importRsaPublicKey } from '../../protocol/rsa.ts';
import {
  decryptResource,
  encryptResource,
  formatWechatTime,
  importApiV3Key,
  parseAuthorization,
  parseWechatTime,
  readSignatureHeaders,
  signBody,
  signRequest,
  timestampWithin,
  verifyRequest,
  verifySignedBody,
  wechatNotification,
  WECHATPAY_HEADER,
} from '../../protocol/wechat.ts';
import { startGateway, type RunningGateway } from '../../sim/gateway/server.ts';
import type { OutgoingNotification } from '../../sim/gateway/types.ts';
import { generateSandboxKeys, workerVars, type SandboxKeys } from '../../sim/keys.ts';
import { ProviderError } from '../../worker/pay/channel.ts';
import { wechatChannel } from '../../worker/pay/wechat.ts';
import { unreachableOrigin } from '../helpers/ports.ts';
import { until } from '../helpers/wait.ts';

let keys: SandboxKeys;
let gateway: RunningGateway;
let merchantKey: CryptoKey;
let platformPublicKey: CryptoKey;
let sequence = 0;

function newOrderId(): string {
  sequence += 1;
  return `Y20261122SIM${String(Date.now()).slice(-8)}${String(sequence).padStart(4, '0')}`;
}

beforeAll(async () => {
  keys = await generateSandboxKeys();
  // Retries compressed so a notification nobody acknowledges gives up within the test.
  gateway = await startGateway({ config: { keys, notify_retry_schedule_ms: [0, 200] }, port: 0 });
  merchantKey = await importRsaPrivateKey(keys.wechat.merchant_private_key);
  platformPublicKey = await importRsaPublicKey(keys.wechat.platform_public_key);
});

afterAll(async () => {
  await gateway?.close();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function signedCall(
  method: 'GET' | 'POST',
  path_and_query: string,
  payload: object | null,
  options: { key?: CryptoKey; serial_no?: string; mchid?: string; now_ms?: number; tamper?: (body: string) => string } = {},
): Promise<Answer> {
  const body = payload === null ? '' : JSON.stringify(payload);
  const authorization = await signRequest(
    options.key ?? merchantKey,
    { mchid: options.mchid ?? keys.wechat.mch_id, serial_no: options.serial_no ?? keys.wechat.merchant_serial_no },
    { method, path_and_query, body },
    options.now_ms ?? Date.now(),
  );
  const sent = options.tamper ? options.tamper(body) : body;
  const response = await fetch(`${gateway.origin}${path_and_query}`, {
    method,
    headers: { authorization, accept: 'application/json', ...(payload === null ? {} : { 'content-type': 'application/json' }) },
    body: payload === null ? undefined : sent,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text.length > 0 ? JSON.parse(text) : undefined };
}

function h5Order(order_id: string, amount_fen: number, overrides: Record<string, unknown> = {}) {
  return {
    appid: keys.wechat.app_id,
    mchid: keys.wechat.mch_id,
    description: '北京交通大学威海校区 校园卡充值',
    out_trade_no: order_id,
    time_expire: '2099-01-01T00:00:00+08:00',
    notify_url: 'https://yikatong.example/api/v1/notify/wechat',
    amount: { total: amount_fen, currency: 'CNY' },
    scene_info: { payer_client_ip: '203.0.113.7', h5_info: { type: 'Wap' } },
    ...overrides,
  };
}

async function expectSignedByPlatform(answer: Answer): Promise<void> {
  expect(answer.headers.get(WECHATPAY_HEADER.serial)).toBe(keys.wechat.platform_public_key_id);
  const verdict = await verifySignedBody(
    platformPublicKey,
    keys.wechat.platform_public_key_id,
    readSignatureHeaders((name) => answer.headers.get(name)),
    answer.text,
    Date.now(),
  );
  expect(verdict).toEqual({ ok: true });
}

async function payWithoutSending(order_id: string): Promise<OutgoingNotification> {
  const response = await fetch(`${gateway.origin}/sim/wechat/trades/${order_id}/pay?send=0`, { method: 'POST' });
  expect(response.status).toBe(200);
  return ((await response.json()) as { notification: OutgoingNotification }).notification;
}

describe('simulated WeChat Pay: request signatures', () => {
  it('accepts a request signed by the merchant key', async () => {
    const answer = await signedCall('POST', '/v3/pay/transactions/h5', h5Order(newOrderId(), 100));
    expect(answer.status).toBe(200);
    await expectSignedByPlatform(answer);
  });

  const refusals: [string, Parameters<typeof signedCall>[3]][] = [
    ['another key', {}],
    ['a body changed after signing', { tamper: (body) => body.replace('"total":100', '"total":1') }],
    ['an unknown certificate serial', { serial_no: 'ABCDEF0123456789' }],
    ['another merchant id', { mchid: '1900000099' }],
    ['a timestamp 10 minutes old', { now_ms: Date.now() - 600_000 }],
  ];
  for (const [name, options] of refusals) {
    it(`refuses ${name} with 401 SIGN_ERROR`, async () => {
      const effective = name === 'another key'
        ? { ...options, key: await importRsaPrivateKey((await generateRsaKeyPair()).private_key) }
        : options;
      const order_id = newOrderId();
      const answer = await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 100), effective);
      expect(answer.status).toBe(401);
      expect(answer.json.code).toBe('SIGN_ERROR');
      // Nothing was created: the trade is unknown afterwards.
      const query = await signedCall('GET', `/v3/pay/transactions/out-trade-no/${order_id}?mchid=${keys.wechat.mch_id}`, null);
      expect(query.status).toBe(404);
    });
  }

  it('refuses a request without an Authorization header', async () => {
    const response = await fetch(`${gateway.origin}/v3/pay/transactions/out-trade-no/Y0000000000001?mchid=${keys.wechat.mch_id}`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { code: string }).code).toBe('SIGN_ERROR');
  });
});

describe('simulated WeChat Pay: orders, query, close, refund', () => {
  it('creates an H5 order whose h5_url is a Chinese cashier page on the gateway', async () => {
    const order_id = newOrderId();
    const answer = await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 12_345));
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.json)).toEqual(['h5_url']);
    expect(answer.json.h5_url.startsWith(`${gateway.origin}/sim/wechat/h5?prepay_id=wx`)).toBe(true);
    const page = await fetch(answer.json.h5_url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('确认支付');
    expect(html).toContain('取消支付');
    expect(html).toContain('¥123.45');
    expect(html).toContain('北京交通大学威海校区');
  });

  it('creates a JSAPI order answering {prepay_id}', async () => {
    const order = h5Order(newOrderId(), 100, { payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' } });
    delete (order as { scene_info?: unknown }).scene_info;
    const answer = await signedCall('POST', '/v3/pay/transactions/jsapi', order);
    expect(answer.status).toBe(200);
    expect(answer.json.prepay_id).toMatch(/^wx[0-9]{34}$/);
  });

  it('validates the order body as WeChat Pay does', async () => {
    const noScene = h5Order(newOrderId(), 100);
    delete (noScene as { scene_info?: unknown }).scene_info;
    const cases: [object, number, string][] = [
      [noScene, 400, 'PARAM_ERROR'],
      [h5Order(newOrderId(), 0), 400, 'PARAM_ERROR'],
      [h5Order(newOrderId(), 100, { amount: { total: 100, currency: 'USD' } }), 400, 'PARAM_ERROR'],
      [h5Order(newOrderId(), 100, { appid: 'wx9999999999999999' }), 400, 'APPID_MCHID_NOT_MATCH'],
      [h5Order(newOrderId(), 100, { mchid: '1900000099' }), 400, 'MCH_NOT_EXISTS'],
      [h5Order(newOrderId(), 100, { time_expire: 'tomorrow' }), 400, 'PARAM_ERROR'],
      [h5Order(newOrderId(), 100, { notify_url: 'ftp://x' }), 400, 'PARAM_ERROR'],
    ];
    for (const [body, status, code] of cases) {
      const answer = await signedCall('POST', '/v3/pay/transactions/h5', body);
      expect({ status: answer.status, code: answer.json.code }).toEqual({ status, code });
      await expectSignedByPlatform(answer);
    }
  });

  it('answers a repeated order with the same content alike, and a different one with INVALID_REQUEST', async () => {
    const order_id = newOrderId();
    const first = await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 500));
    const again = await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 500));
    expect(again.json).toEqual(first.json);
    const changed = await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 600));
    expect(changed.status).toBe(400);
    expect(changed.json.code).toBe('INVALID_REQUEST');
  });

  it('queries NOTPAY, then SUCCESS with transaction_id and an RFC 3339 +08:00 success_time; unknown is ORDER_NOT_EXIST', async () => {
    const order_id = newOrderId();
    await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 2_500));
    const path = `/v3/pay/transactions/out-trade-no/${order_id}?mchid=${keys.wechat.mch_id}`;
    const unpaid = await signedCall('GET', path, null);
    expect(unpaid.status).toBe(200);
    expect(unpaid.json).toMatchObject({ out_trade_no: order_id, trade_state: 'NOTPAY', amount: { total: 2_500 } });
    expect(unpaid.json.transaction_id).toBeUndefined();
    await expectSignedByPlatform(unpaid);

    const before_ms = Date.now();
    await payWithoutSending(order_id);
    const paid = await signedCall('GET', path, null);
    expect(paid.json).toMatchObject({
      appid: keys.wechat.app_id,
      mchid: keys.wechat.mch_id,
      trade_state: 'SUCCESS',
      trade_type: 'MWEB',
      amount: { total: 2_500, payer_total: 2_500, currency: 'CNY' },
    });
    expect(paid.json.transaction_id).toMatch(/^4200[0-9]{24}$/);
    expect(paid.json.success_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
    expect(parseWechatTime(paid.json.success_time)! - Math.floor(before_ms / 1000) * 1000).toBeGreaterThanOrEqual(0);

    const unknown = await signedCall('GET', `/v3/pay/transactions/out-trade-no/Y00000000000NOPE?mchid=${keys.wechat.mch_id}`, null);
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe('ORDER_NOT_EXIST');
    await expectSignedByPlatform(unknown);
  });

  it('closes an unpaid trade with a signed 204, which then cannot be paid; a paid trade cannot be closed', async () => {
    const order_id = newOrderId();
    const created = await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 100));
    const closed = await signedCall('POST', `/v3/pay/transactions/out-trade-no/${order_id}/close`, { mchid: keys.wechat.mch_id });
    expect(closed.status).toBe(204);
    expect(closed.text).toBe('');
    await expectSignedByPlatform(closed);
    const query = await signedCall('GET', `/v3/pay/transactions/out-trade-no/${order_id}?mchid=${keys.wechat.mch_id}`, null);
    expect(query.json.trade_state).toBe('CLOSED');
    const pay = await fetch(`${gateway.origin}/sim/wechat/trades/${order_id}/pay`, { method: 'POST' });
    expect(pay.status).toBe(400);
    // The cashier page no longer offers to pay.
    const page = await (await fetch(created.json.h5_url)).text();
    expect(page).toContain('订单已关闭');
    expect(page).not.toContain('<form');

    const paid_id = newOrderId();
    await signedCall('POST', '/v3/pay/transactions/h5', h5Order(paid_id, 100));
    await payWithoutSending(paid_id);
    const refused = await signedCall('POST', `/v3/pay/transactions/out-trade-no/${paid_id}/close`, { mchid: keys.wechat.mch_id });
    expect(refused.status).toBe(400);
    expect(refused.json.code).toBe('ORDERPAID');
  });

  it('refunds a paid trade once per out_refund_no and never more than was paid', async () => {
    const order_id = newOrderId();
    await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 1_000));
    const early = await signedCall('POST', '/v3/refund/domestic/refunds', {
      out_trade_no: order_id, out_refund_no: 'R1', amount: { refund: 1_000, total: 1_000, currency: 'CNY' },
    });
    expect(early.status).toBe(400);
    await payWithoutSending(order_id);
    const refund = { out_trade_no: order_id, out_refund_no: `R${order_id}`, amount: { refund: 600, total: 1_000, currency: 'CNY' } };
    const first = await signedCall('POST', '/v3/refund/domestic/refunds', refund);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ out_refund_no: refund.out_refund_no, status: 'SUCCESS', amount: { refund: 600, total: 1_000 } });
    const again = await signedCall('POST', '/v3/refund/domestic/refunds', refund);
    expect(again.json.refund_id).toBe(first.json.refund_id);
    const tooMuch = await signedCall('POST', '/v3/refund/domestic/refunds', { ...refund, out_refund_no: 'R2', amount: { refund: 401, total: 1_000, currency: 'CNY' } });
    expect(tooMuch.status).toBe(400);
    const query = await signedCall('GET', `/v3/pay/transactions/out-trade-no/${order_id}?mchid=${keys.wechat.mch_id}`, null);
    expect(query.json.trade_state).toBe('REFUND');
  });
});

describe('simulated WeChat Pay: notifications', () => {
  it('the notification verifies with the platform public key and its resource decrypts with the API v3 key', async () => {
    const order_id = newOrderId();
    await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 7_700));
    const notification = await payWithoutSending(order_id);
    expect(notification).toMatchObject({ channel: 'wechat', out_trade_no: order_id, url: 'https://yikatong.example/api/v1/notify/wechat' });
    const lower = (name: string) =>
      Object.entries(notification.headers).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
    const verdict = await verifySignedBody(
      platformPublicKey,
      keys.wechat.platform_public_key_id,
      readSignatureHeaders(lower),
      notification.body,
      Date.now(),
    );
    expect(verdict).toEqual({ ok: true });

    const envelope = wechatNotification.parse(JSON.parse(notification.body));
    expect(envelope).toMatchObject({
      event_type: 'TRANSACTION.SUCCESS',
      resource_type: 'encrypt-resource',
      resource: { original_type: 'transaction', algorithm: 'AEAD_AES_256_GCM', associated_data: 'transaction' },
    });
    const apiV3Key = await importApiV3Key(keys.wechat.api_v3_key);
    const plaintext = await decryptResource(apiV3Key, envelope.resource);
    expect(JSON.parse(plaintext!)).toMatchObject({
      out_trade_no: order_id,
      mchid: keys.wechat.mch_id,
      appid: keys.wechat.app_id,
      trade_state: 'SUCCESS',
      amount: { total: 7_700 },
    });
    // Another key, or one flipped bit, and nothing decrypts.
    expect(await decryptResource(await importApiV3Key('0'.repeat(32)), envelope.resource)).toBeNull();
    const flipped = Buffer.from(envelope.resource.ciphertext, 'base64');
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    expect(await decryptResource(apiV3Key, { ...envelope.resource, ciphertext: flipped.toString('base64') })).toBeNull();
    // Tampering with the body breaks the signature.
    const tampered = await verifySignedBody(
      platformPublicKey,
      keys.wechat.platform_public_key_id,
      readSignatureHeaders(lower),
      notification.body.replace('支付成功', '支付失败'),
      Date.now(),
    );
    expect(tampered).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('paying at the cashier sends the notification to notify_url and returns the payer to redirect_url', async () => {
    const received: { headers: IncomingMessage['headers']; body: string }[] = [];
    const merchant: Server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => merchant.listen(0, '127.0.0.1', resolve));
    try {
      const port = (merchant.address() as AddressInfo).port;
      const order_id = newOrderId();
      const created = await signedCall(
        'POST',
        '/v3/pay/transactions/h5',
        h5Order(order_id, 300, { notify_url: `http://127.0.0.1:${port}/api/v1/notify/wechat` }),
      );
      const prepay_id = new URL(created.json.h5_url).searchParams.get('prepay_id');
      expect(prepay_id).not.toBeNull();
      const pay = await fetch(`${gateway.origin}/sim/wechat/trades/${order_id}/pay`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ redirect_url: 'https://yikatong.example/orders/x' }).toString(),
        redirect: 'manual',
      });
      expect(pay.status).toBe(303);
      expect(pay.headers.get('location')).toBe('https://yikatong.example/orders/x');
      await until('the notification', () => received.length > 0);
      expect(received).toHaveLength(1);
      const verdict = await verifySignedBody(
        platformPublicKey,
        keys.wechat.platform_public_key_id,
        readSignatureHeaders((name) => received[0]!.headers[name] as string | undefined),
        received[0]!.body,
        Date.now(),
      );
      expect(verdict).toEqual({ ok: true });
      expect(JSON.parse(received[0]!.body).event_type).toBe('TRANSACTION.SUCCESS');
    } finally {
      await new Promise<void>((resolve) => merchant.close(() => resolve()));
    }
  });

  it('signs every retry afresh, so a retry hours later still passes the five-minute window', async () => {
    const received: { headers: IncomingMessage['headers']; body: string }[] = [];
    const merchant: Server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        // The first delivery meets a merchant that is down; the retry is acknowledged.
        res.writeHead(received.length === 1 ? 503 : 204).end();
      });
    });
    await new Promise<void>((resolve) => merchant.listen(0, '127.0.0.1', resolve));
    try {
      const port = (merchant.address() as AddressInfo).port;
      const order_id = newOrderId();
      await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 300, { notify_url: `http://127.0.0.1:${port}/n` }));
      await fetch(`${gateway.origin}/sim/wechat/trades/${order_id}/pay`, { method: 'POST' });
      await until('the retry', () => received.length >= 2);
      expect(received).toHaveLength(2);
      const nonces = received.map((r) => r.headers['wechatpay-nonce']);
      expect(nonces[0]).not.toBe(nonces[1]);
      for (const delivery of received) {
        const verdict = await verifySignedBody(
          platformPublicKey,
          keys.wechat.platform_public_key_id,
          readSignatureHeaders((name) => delivery.headers[name] as string | undefined),
          delivery.body,
          Date.now(),
        );
        expect(verdict).toEqual({ ok: true });
      }
    } finally {
      await new Promise<void>((resolve) => merchant.close(() => resolve()));
    }
  });

  it('cancelling at the cashier closes the trade without a notification', async () => {
    const order_id = newOrderId();
    await signedCall('POST', '/v3/pay/transactions/h5', h5Order(order_id, 100));
    const cancel = await fetch(`${gateway.origin}/sim/wechat/trades/${order_id}/cancel`, { method: 'POST' });
    expect(((await cancel.json()) as { trade_state: string }).trade_state).toBe('CLOSED');
    const notification = await fetch(`${gateway.origin}/sim/wechat/trades/${order_id}/notification`);
    expect(notification.status).toBe(404);
  });
});

describe("the Worker's WeChat channel against the simulated gateway", () => {
  const vars = () => workerVars(keys, gateway.origin);

  it('creates an H5 order (pay_url = h5_url + redirect_url), queries it unpaid, paid, and refunds it', async () => {
    const channel = wechatChannel(vars());
    const order_id = newOrderId();
    const { pay_url } = await channel.createPayment(
      { order_id, amount_fen: 4_200, subject: '威海海洋职业学院 校园卡充值', expires_at_ms: Date.now() + 900_000 },
      { notify_url: 'https://yikatong.example/api/v1/notify/wechat', return_url: `https://yikatong.example/orders/${order_id}` },
    );
    const url = new URL(pay_url);
    expect(url.origin).toBe(gateway.origin);
    expect(url.searchParams.get('redirect_url')).toBe(`https://yikatong.example/orders/${order_id}`);
    expect(await (await fetch(pay_url)).text()).toContain('¥42.00');
    expect(await channel.queryTrade(order_id)).toEqual({ state: 'unpaid' });
    await payWithoutSending(order_id);
    const paid = await channel.queryTrade(order_id);
    expect(paid).toMatchObject({ state: 'paid', amount_fen: 4_200 });
    await channel.refund({ order_id, refund_id: `R${order_id}`, amount_fen: 4_200, total_fen: 4_200 });
    // Refunded trades were paid: the money arrived, and the refund path owns the rest.
    expect((await channel.queryTrade(order_id)).state).toBe('paid');
  });

  it('closes an unpaid trade, and treats a trade WeChat Pay never saw as closed and not found', async () => {
    const channel = wechatChannel(vars());
    const order_id = newOrderId();
    await channel.createPayment(
      { order_id, amount_fen: 100, subject: '校园卡充值', expires_at_ms: Date.now() + 900_000 },
      { notify_url: 'https://yikatong.example/api/v1/notify/wechat', return_url: 'https://yikatong.example/' },
    );
    await channel.closeTrade(order_id);
    expect(await channel.queryTrade(order_id)).toEqual({ state: 'closed' });
    const never = newOrderId();
    expect(await channel.queryTrade(never)).toEqual({ state: 'not_found' });
    await expect(channel.closeTrade(never)).resolves.toBeUndefined();
  });

  it('reports the provider refusal of a repeated order with other content', async () => {
    const channel = wechatChannel(vars());
    const order_id = newOrderId();
    const urls = { notify_url: 'https://yikatong.example/api/v1/notify/wechat', return_url: 'https://yikatong.example/' };
    const expires_at_ms = Date.now() + 900_000;
    await channel.createPayment({ order_id, amount_fen: 100, subject: '校园卡充值', expires_at_ms }, urls);
    const error = await channel.createPayment({ order_id, amount_fen: 200, subject: '校园卡充值', expires_at_ms }, urls).catch((e) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ provider_code: 'INVALID_REQUEST', transient: false });
  });

  it('refuses to believe an answer not signed by the WeChat Pay platform key', async () => {
    const intruder = await importRsaPrivateKey((await generateRsaKeyPair()).private_key);
    const order_id = newOrderId();
    // Says "paid", signed by someone else under the right serial: a forged query answer.
    const forged = JSON.stringify({
      appid: keys.wechat.app_id, mchid: keys.wechat.mch_id, out_trade_no: order_id, transaction_id: '4200000000000000000000000001',
      trade_state: 'SUCCESS', success_time: '2026-11-22T10:00:00+08:00', amount: { total: 100_000, currency: 'CNY' },
    });
    const impostor: Server = createServer(async (_req, res) => {
      const headers = await signBody(intruder, keys.wechat.platform_public_key_id, forged, Date.now());
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(forged);
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
      const error = await wechatChannel(workerVars(keys, origin)).queryTrade(order_id).catch((e) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ provider_code: 'response_signature_invalid', transient: true });
    } finally {
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
    }
  });

  it('believes neither a stale nor a foreign-serial answer, nor an unsigned "order does not exist"', async () => {
    const platformPrivate = await importRsaPrivateKey(keys.wechat.platform_private_key);
    const order_id = newOrderId();
    const notExist = JSON.stringify({ code: 'ORDER_NOT_EXIST', message: '订单不存在' });
    const answers: { name: string; status: number; headers: () => Promise<Record<string, string>> }[] = [
      {
        name: 'signed 10 minutes ago',
        status: 404,
        headers: () => signBody(platformPrivate, keys.wechat.platform_public_key_id, notExist, Date.now() - 600_000),
      },
      { name: 'another key id', status: 404, headers: () => signBody(platformPrivate, 'PUB_KEY_ID_OTHER', notExist, Date.now()) },
      { name: 'unsigned', status: 404, headers: async () => ({}) },
    ];
    for (const answer of answers) {
      const impostor: Server = createServer(async (_req, res) => {
        res.writeHead(answer.status, { ...(await answer.headers()), 'content-type': 'application/json' }).end(notExist);
      });
      await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
      try {
        const origin = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
        // "not_found" would let the expiry cron close the order; only WeChat Pay may say so.
        const error = await wechatChannel(workerVars(keys, origin)).queryTrade(order_id).catch((e) => e);
        expect(error, answer.name).toBeInstanceOf(ProviderError);
        expect(error, answer.name).toMatchObject({ provider_code: 'response_signature_invalid', transient: true });
      } finally {
        await new Promise<void>((resolve) => impostor.close(() => resolve()));
      }
    }
  });

  it('is not configured without its keys, and says so without calling anyone', async () => {
    const { WECHATPAY_PRIVATE_KEY: _dropped, ...rest } = vars();
    const error = await wechatChannel(rest).queryTrade(newOrderId()).catch((e) => e);
    expect(error).toMatchObject({ provider_code: 'not_configured', transient: false });
  });

  it('reports an unreachable gateway as a transient failure', async () => {
    const error = await wechatChannel(workerVars(keys, await unreachableOrigin())).queryTrade(newOrderId()).catch((e) => e);
    expect(error).toMatchObject({ provider_code: 'network', transient: true });
  });
});

// The formats checked against an independent implementation (OpenSSL through node:crypto), so
// a mistake shared by our signer and our verifier cannot hide.
describe('protocol/wechat against node:crypto', () => {
  it('AES-256-GCM resource: tag appended to the ciphertext, nonce and associated data as UTF-8, both ways', async () => {
    const key_text = 'abcdefghijklmnopqrstuvwxyz012345';
    const key = await importApiV3Key(key_text);
    const plaintext = JSON.stringify({ out_trade_no: 'Y1', trade_state: 'SUCCESS', note: '支付成功' });

    const ours = await encryptResource(key, plaintext, 'transaction', 'transaction', 'fdasflkja484');
    const sealed = Buffer.from(ours.ciphertext, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key_text, 'utf8'), Buffer.from('fdasflkja484', 'utf8'));
    decipher.setAAD(Buffer.from('transaction', 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const opened = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString('utf8');
    expect(opened).toBe(plaintext);

    const cipher = createCipheriv('aes-256-gcm', Buffer.from(key_text, 'utf8'), Buffer.from('0123456789ab', 'utf8'));
    cipher.setAAD(Buffer.from('certificate', 'utf8'));
    const theirs = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64');
    const resource = { original_type: 'transaction', algorithm: 'AEAD_AES_256_GCM', ciphertext: theirs, associated_data: 'certificate', nonce: '0123456789ab' };
    expect(await decryptResource(key, resource)).toBe(plaintext);
    expect(await decryptResource(key, { ...resource, associated_data: 'transaction' })).toBeNull();
    expect(await decryptResource(key, { ...resource, nonce: '0123456789ac' })).toBeNull();
    expect(await decryptResource(key, { ...resource, algorithm: 'AEAD_AES_128_GCM' })).toBeNull();
    expect(await decryptResource(key, { ...resource, ciphertext: 'not base64!' })).toBeNull();
  });

  it('refuses an API v3 key that is not 32 ASCII characters', () => {
    expect(() => importApiV3Key('short')).toThrow(RangeError);
    expect(() => importApiV3Key('密'.repeat(32))).toThrow(RangeError);
  });

  it('request signature: RSA-SHA256 over METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n', async () => {
    const body = JSON.stringify({ mchid: '1900000001' });
    const path_and_query = '/v3/pay/transactions/out-trade-no/Y1/close';
    const header = await signRequest(merchantKey, { mchid: '1900000001', serial_no: 'SERIAL1' }, { method: 'POST', path_and_query, body }, 1_700_000_000_123, 'NONCE123');
    const parsed = parseAuthorization(header)!;
    expect(parsed).toMatchObject({ mchid: '1900000001', nonce_str: 'NONCE123', timestamp: '1700000000', serial_no: 'SERIAL1' });
    const message = `POST\n${path_and_query}\n1700000000\nNONCE123\n${body}\n`;
    const merchantPublic = createPublicKey({ key: Buffer.from(keys.wechat.merchant_public_key, 'base64'), format: 'der', type: 'spki' });
    expect(nodeVerify('sha256', Buffer.from(message), merchantPublic, Buffer.from(parsed.signature, 'base64'))).toBe(true);

    // And one OpenSSL made verifies with ours.
    const nodeSignature = nodeSign('sha256', Buffer.from(message), createPrivateKey(keys.wechat.merchant_private_key)).toString('base64');
    const merchantPublicKey = await importRsaPublicKey(keys.wechat.merchant_public_key);
    const theirs = { ...parsed, signature: nodeSignature };
    expect(await verifyRequest(merchantPublicKey, theirs, { method: 'POST', path_and_query, body })).toBe(true);
    expect(await verifyRequest(merchantPublicKey, theirs, { method: 'POST', path_and_query, body: `${body} ` })).toBe(false);
  });

  it('response signature: RSA-SHA256 over TIMESTAMP\\nNONCE\\nBODY\\n, signed by OpenSSL, verified by us', async () => {
    const body = '{"h5_url":"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"}';
    const now_ms = Date.now();
    const timestamp = String(Math.floor(now_ms / 1000));
    const signature = nodeSign('sha256', Buffer.from(`${timestamp}\nNONCE\n${body}\n`), createPrivateKey(keys.wechat.platform_private_key)).toString('base64');
    const headers = { timestamp, nonce: 'NONCE', signature, serial: keys.wechat.platform_public_key_id };
    expect(await verifySignedBody(platformPublicKey, keys.wechat.platform_public_key_id, headers, body, now_ms)).toEqual({ ok: true });
    expect(await verifySignedBody(platformPublicKey, keys.wechat.platform_public_key_id, { ...headers, signature: 'AAAA' }, body, now_ms)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(await verifySignedBody(platformPublicKey, keys.wechat.platform_public_key_id, { ...headers, signature: '%%%' }, body, now_ms)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('parses only well-formed Authorization headers', () => {
    const good = 'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="N",signature="S",timestamp="1",serial_no="X"';
    expect(parseAuthorization(good)).toEqual({ mchid: '1', nonce_str: 'N', signature: 'S', timestamp: '1', serial_no: 'X' });
    // Field order and spaces after commas do not matter.
    expect(parseAuthorization('WECHATPAY2-SHA256-RSA2048 serial_no="X", timestamp="1", signature="S", nonce_str="N", mchid="1"')).not.toBeNull();
    for (const bad of [
      '',
      good.replace('WECHATPAY2-SHA256-RSA2048', 'Bearer'),
      good.replace(',serial_no="X"', ''),
      `${good},mchid="2"`,
      good.replace('nonce_str="N"', 'nonce_str=""'),
      good.replace(',timestamp', ' junk,timestamp'),
      `${good}${' '.repeat(3000)}`,
    ]) {
      expect(parseAuthorization(bad), bad).toBeNull();
    }
  });

  it('writes times as RFC 3339 in China time and reads any offset', () => {
    expect(formatWechatTime(Date.UTC(2026, 10, 21, 16, 30, 5, 999))).toBe('2026-11-22T00:30:05+08:00');
    expect(parseWechatTime('2026-11-22T00:30:05+08:00')).toBe(Date.UTC(2026, 10, 21, 16, 30, 5));
    expect(parseWechatTime('2026-11-21T16:30:05Z')).toBe(Date.UTC(2026, 10, 21, 16, 30, 5));
    expect(parseWechatTime('2026-11-22 00:30:05')).toBeNull();
    expect(parseWechatTime('2026-11-22T00:30:05')).toBeNull();
    expect(timestampWithin('1700000000', 1_700_000_299_000, 300)).toBe(true);
    expect(timestampWithin('1700000000', 1_700_000_301_000, 300)).toBe(false);
    expect(timestampWithin('1700000000', 1_699_999_699_000, 300)).toBe(false);
    expect(timestampWithin('17e8', 1_700_000_000_000, 300)).toBe(false);
  });
});
