// The simulated Alipay gateway as a real process on a free port, driven over HTTP the way a
// merchant and a payer would: signed OpenAPI requests, the cashier, notifications with retries
// and faults delivered to a real local receiver, and the daily bill.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  alipaySign,
  alipaySignContent,
  alipayVerify,
  extractResponseNode,
  formatChinaTime,
  chinaDate,
  parseChinaTime,
  parseTimeoutExpress,
} from '../../protocol/alipay.ts';
import { importRsaPrivateKey, importRsaPublicKey, rsaVerify } from '../../protocol/rsa.ts';
import { spawnGateway, type GatewayProcess } from '../../sim/gateway/process.ts';
import { generateSandboxKeys, type SandboxKeys } from '../../sim/keys.ts';
import { unreachableOrigin } from '../helpers/ports.ts';
import { until } from '../helpers/wait.ts';

const SCHEDULE_MS = [0, 150, 400, 800];

let keys: SandboxKeys;
let gateway: GatewayProcess;
let config_dir: string;
let merchantKey: CryptoKey;
let alipayPublic: CryptoKey;

// A merchant's notify endpoint: records every POST and answers from a script.
interface Received {
  at_ms: number;
  body: string;
  params: Record<string, string>;
  content_type: string;
}
let receiver: Server;
let receiver_url: string;
let received: Received[] = [];
let answers: string[] = [];

beforeAll(async () => {
  keys = await generateSandboxKeys();
  config_dir = mkdtempSync(path.join(tmpdir(), 'gateway-alipay-test-'));
  const config_path = path.join(config_dir, 'gateway.json');
  writeFileSync(config_path, JSON.stringify({ keys, notify_retry_schedule_ms: SCHEDULE_MS }));
  gateway = await spawnGateway({ config_path });
  merchantKey = await importRsaPrivateKey(keys.alipay.merchant_private_key);
  alipayPublic = await importRsaPublicKey(keys.alipay.alipay_public_key);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({
        at_ms: Date.now(),
        body,
        params: Object.fromEntries(new URLSearchParams(body)),
        content_type: req.headers['content-type'] ?? '',
      });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(answers.shift() ?? 'success');
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  receiver_url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify`;
});

afterAll(async () => {
  await gateway?.stop();
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  if (config_dir) rmSync(config_dir, { recursive: true, force: true });
});

beforeEach(async () => {
  received = [];
  answers = [];
  await control('/sim/faults', { method: 'DELETE' });
  await control('/sim/retry-schedule', { method: 'PUT', body: { schedule_ms: SCHEDULE_MS } });
});

async function control<T = Record<string, unknown>>(p: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${gateway.origin}${p}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    ...(init.body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

let seq = 0;
function orderId(): string {
  return `Y${Date.now().toString(36).toUpperCase()}T${(++seq).toString().padStart(4, '0')}`;
}

async function signedRequest(method: string, biz: Record<string, string>, extra: Record<string, string> = {}, key = merchantKey) {
  const params: Record<string, string> = {
    app_id: keys.alipay.app_id,
    method,
    format: 'JSON',
    charset: 'utf-8',
    sign_type: 'RSA2',
    timestamp: formatChinaTime(Date.now()),
    version: '1.0',
    biz_content: JSON.stringify(biz),
    ...extra,
  };
  params.sign = await alipaySign(key, params, 'request');
  return params;
}

/** An OpenAPI call as a merchant's SDK makes it; returns the verified response node. */
async function openapi(method: string, biz: Record<string, string>, extra: Record<string, string> = {}, key = merchantKey) {
  const params = await signedRequest(method, biz, extra, key);
  const response = await fetch(`${gateway.origin}/gateway.do`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
    body: new URLSearchParams(params).toString(),
  });
  expect(response.status).toBe(200);
  const raw = await response.text();
  const response_key = `${method.replace(/\./g, '_')}_response`;
  const node_text = extractResponseNode(raw, response_key);
  expect(node_text, raw).not.toBeNull();
  const sign = (JSON.parse(raw) as { sign: string }).sign;
  expect(await rsaVerify(alipayPublic, node_text!, sign)).toBe(true);
  return { raw, node: JSON.parse(node_text!) as Record<string, string>, node_text: node_text!, sign };
}

async function wapPayUrl(order_id: string, amount: string, options: { subject?: string; biz?: Record<string, string>; notify_url?: string } = {}) {
  const params = await signedRequest(
    'alipay.trade.wap.pay',
    { out_trade_no: order_id, total_amount: amount, subject: options.subject ?? '北京交通大学威海校区 校园卡充值', product_code: 'QUICK_WAP_WAY', ...options.biz },
    { notify_url: options.notify_url ?? receiver_url, return_url: 'http://merchant.test/orders/back?from=alipay' },
  );
  return `${gateway.origin}/gateway.do?${new URLSearchParams(params)}`;
}

async function openTrade(order_id: string, amount = '100.00', options: Parameters<typeof wapPayUrl>[2] = {}): Promise<string> {
  const response = await fetch(await wapPayUrl(order_id, amount, options));
  const html = await response.text();
  expect(response.status, html).toBe(200);
  return html;
}

interface DeliveryView {
  id: number;
  state: string;
  faults: string[];
  attempts: { at_ms: number; status: number | null; acknowledged: boolean; response: string }[];
  notification: { body: string; url: string };
}
async function deliveries(order_id: string): Promise<DeliveryView[]> {
  return (await control<{ deliveries: DeliveryView[] }>(`/sim/deliveries?out_trade_no=${order_id}`)).body.deliveries;
}

const settled = (d: DeliveryView) => d.state !== 'scheduled';

describe('signatures, both ways', () => {
  it('accepts a merchant-signed request and signs its answer with Alipay’s key', async () => {
    const { node, node_text, sign } = await openapi('alipay.trade.query', { out_trade_no: orderId() });
    expect(node).toEqual({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' });
    // One changed byte of the node and the signature no longer holds.
    expect(await rsaVerify(alipayPublic, node_text.replace('40004', '10000'), sign)).toBe(false);
  });

  it('refuses a wrong key, a wrong app_id, and a signature that left out sign_type', async () => {
    const impostor = await importRsaPrivateKey(keys.alipay.alipay_private_key);
    expect((await openapi('alipay.trade.query', { out_trade_no: orderId() }, {}, impostor)).node).toMatchObject({
      code: '40002',
      sub_code: 'isv.invalid-signature',
    });
    expect((await openapi('alipay.trade.query', { out_trade_no: orderId() }, { app_id: '2021000000009999' })).node).toMatchObject({
      code: '40002',
      sub_code: 'isv.invalid-app-id',
    });
    const params = await signedRequest('alipay.trade.query', { out_trade_no: orderId() });
    const { sign: _sign, ...rest } = params;
    const { sign_type: _type, ...without_type } = rest;
    params.sign = await alipaySign(merchantKey, without_type, 'request');
    const response = await fetch(`${gateway.origin}/gateway.do?${new URLSearchParams(params)}`);
    expect(await response.text()).toContain('isv.invalid-signature');
  });

  it('answers an unknown method with a signed error_response', async () => {
    const response = await fetch(`${gateway.origin}/gateway.do?method=alipay.trade.nonsense`);
    const raw = await response.text();
    const node = extractResponseNode(raw, 'error_response');
    expect(JSON.parse(node!)).toMatchObject({ code: '40002', sub_code: 'isv.invalid-method' });
    expect(await rsaVerify(alipayPublic, node!, (JSON.parse(raw) as { sign: string }).sign)).toBe(true);
  });
});

describe('cashier', () => {
  it('shows amount and subject; pay → TRADE_SUCCESS, signed notification, redirect with signed return params', async () => {
    const order_id = orderId();
    const html = await openTrade(order_id, '123.45', { subject: '测试<学校> 校园卡充值' });
    expect(html).toContain('¥123.45');
    expect(html).toContain('测试&#60;学校&#62; 校园卡充值');
    expect(html).toContain('确认付款');
    expect(html).toContain('取消');
    const pay = await fetch(`${gateway.origin}/cashier/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ out_trade_no: order_id }).toString(),
      redirect: 'manual',
    });
    expect(pay.status).toBe(302);
    const back = new URL(pay.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe('http://merchant.test/orders/back');
    const sync = Object.fromEntries(back.searchParams);
    expect(sync).toMatchObject({ from: 'alipay', out_trade_no: order_id, total_amount: '123.45', method: 'alipay.trade.wap.pay.return' });
    const { from: _from, ...signed_sync } = sync;
    expect(await alipayVerify(alipayPublic, signed_sync, 'notification')).toBe(true);

    const note = await until('notification', () => received.find((r) => r.params.out_trade_no === order_id));
    expect(note.content_type).toMatch(/^application\/x-www-form-urlencoded/);
    expect(await alipayVerify(alipayPublic, note.params, 'notification')).toBe(true);
    expect(note.params).toMatchObject({
      notify_type: 'trade_status_sync',
      app_id: keys.alipay.app_id,
      seller_id: keys.alipay.seller_id,
      charset: 'utf-8',
      version: '1.0',
      sign_type: 'RSA2',
      trade_status: 'TRADE_SUCCESS',
      total_amount: '123.45',
      receipt_amount: '123.45',
      buyer_pay_amount: '123.45',
      subject: '测试<学校> 校园卡充值',
    });
    for (const field of ['notify_time', 'notify_id', 'trade_no', 'buyer_id', 'buyer_logon_id', 'gmt_create', 'gmt_payment']) {
      expect(note.params[field], field).toBeTruthy();
    }
    expect(parseChinaTime(note.params.gmt_payment!)).not.toBeNull();
    const { body } = await control<{ trade: { status: string; trade_no: string } }>(`/sim/alipay/trades/${order_id}`);
    expect(body.trade).toMatchObject({ status: 'TRADE_SUCCESS', trade_no: note.params.trade_no });
    // Opening the paid order again shows it as paid, not a second cashier.
    expect(await (await fetch(await wapPayUrl(order_id, '123.45', { subject: '测试<学校> 校园卡充值' }))).text()).toContain('订单已支付');
  });

  it('cancel leaves the trade unpaid and sends nothing; it can still be paid later', async () => {
    const order_id = orderId();
    await openTrade(order_id, '5.00');
    const cancel = await fetch(`${gateway.origin}/cashier/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `out_trade_no=${order_id}`,
    });
    expect(await cancel.text()).toContain('已取消支付');
    expect((await openapi('alipay.trade.query', { out_trade_no: order_id })).node).toMatchObject({ code: '10000', trade_status: 'WAIT_BUYER_PAY' });
    expect((await control(`/sim/alipay/trades/${order_id}/pay`, { body: {} })).status).toBe(200);
    // The payment's notification comes after anything the cancel would have sent: it is the only one.
    await until('notification', () => received.find((r) => r.params.out_trade_no === order_id));
    expect(received.filter((r) => r.params.out_trade_no === order_id).map((r) => r.params.trade_status)).toEqual(['TRADE_SUCCESS']);
    expect(await deliveries(order_id)).toHaveLength(1);
  });

  it('takes the wap-pay request as an auto-submitted POST form too, as SDKs send it', async () => {
    const order_id = orderId();
    const url = new URL(await wapPayUrl(order_id, '6.60'));
    const response = await fetch(`${gateway.origin}/gateway.do?charset=utf-8`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: url.searchParams.toString(),
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('¥6.60');
  });

  it('refuses a changed amount for the same out_trade_no, and a tampered pay URL', async () => {
    const order_id = orderId();
    await openTrade(order_id, '10.00');
    const again = await fetch(await wapPayUrl(order_id, '0.01'));
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('ACQ.CONTEXT_INCONSISTENT');
    const url = new URL(await wapPayUrl(orderId(), '10.00'));
    url.searchParams.set('notify_url', 'http://attacker.test/');
    expect((await fetch(url)).status).toBe(400);
  });

  it('respects time_expire: an expired trade cannot be paid, and Alipay notifies TRADE_CLOSED', async () => {
    const order_id = orderId();
    const expire_at_ms = Date.now() + 1_500;
    await openTrade(order_id, '3.00', { biz: { time_expire: formatChinaTime(expire_at_ms) } });
    // Nobody asks about the trade: Alipay's own clock closes it and notifies.
    const note = await until('closed notification', () => received.find((r) => r.params.out_trade_no === order_id));
    expect(note.at_ms).toBeGreaterThanOrEqual(Math.floor(expire_at_ms / 1000) * 1000);
    expect(note.params.trade_status).toBe('TRADE_CLOSED');
    expect(note.params.gmt_payment).toBeUndefined();
    expect(await alipayVerify(alipayPublic, note.params, 'notification')).toBe(true);
    const late = await control(`/sim/alipay/trades/${order_id}/pay`, { body: {} });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ error: { code: 'trade_closed' } });
  });

  it('accepts timeout_express and refuses a malformed one', async () => {
    const order_id = orderId();
    await openTrade(order_id, '1.00', { biz: { timeout_express: '90m' } });
    const { body } = await control<{ trade: { expire_at_ms: number; created_at_ms: number } }>(`/sim/alipay/trades/${order_id}`);
    expect(body.trade.expire_at_ms - body.trade.created_at_ms).toBe(90 * 60_000);
    expect((await fetch(await wapPayUrl(orderId(), '1.00', { biz: { timeout_express: '90x' } }))).status).toBe(400);
  });
});

describe('notification delivery', () => {
  async function paid(order_id = orderId(), amount = '8.88'): Promise<string> {
    await openTrade(order_id, amount);
    expect((await control(`/sim/alipay/trades/${order_id}/pay`, { body: {} })).status).toBe(200);
    return order_id;
  }

  it('retries on the schedule until the answer is exactly `success`', async () => {
    answers = ['fail', 'SUCCESS', 'success\n', ' success'];
    const order_id = await paid();
    const [delivery] = await until('delivered', async () => {
      const list = await deliveries(order_id);
      return list.every(settled) && list.length > 0 ? list : undefined;
    });
    expect(delivery!.state).toBe('failed');
    // Four attempts on a four-slot schedule, none acknowledged: 'SUCCESS', 'success\n' and ' success' are not `success`.
    expect(delivery!.attempts.map((a) => a.acknowledged)).toEqual([false, false, false, false]);
    const offsets = delivery!.attempts.map((a) => a.at_ms - delivery!.attempts[0]!.at_ms);
    for (let i = 0; i < SCHEDULE_MS.length; i++) expect(offsets[i]!).toBeGreaterThanOrEqual(SCHEDULE_MS[i]! - 5);
    expect(received.filter((r) => r.params.out_trade_no === order_id)).toHaveLength(4);
  });

  it('stops retrying at the first `success`', async () => {
    answers = ['fail', 'fail', 'success'];
    const order_id = await paid();
    const [delivery] = await until('delivered', async () => {
      const list = await deliveries(order_id);
      return list[0]?.state === 'delivered' ? list : undefined;
    });
    expect(delivery!.attempts.map((a) => a.acknowledged)).toEqual([false, false, true]);
    // A notification paid now runs the whole schedule, never acknowledged: by its last attempt
    // the first one's fourth slot (800 ms after its first attempt) has long passed.
    answers = ['fail', 'fail', 'fail', 'fail'];
    const marker = await paid();
    await until('the later notification settled', async () => {
      const list = await deliveries(marker);
      return list.length > 0 && list.every(settled);
    });
    expect(received.filter((r) => r.params.out_trade_no === order_id)).toHaveLength(3);
    expect(received.filter((r) => r.params.out_trade_no === marker)).toHaveLength(4);
  });

  it('retries an unreachable notify_url and gives up after the schedule', async () => {
    await control('/sim/retry-schedule', { method: 'PUT', body: { schedule_ms: [0, 50] } });
    const order_id = orderId();
    await openTrade(order_id, '1.00', { notify_url: `${await unreachableOrigin()}/notify` });
    await control(`/sim/alipay/trades/${order_id}/pay`, { body: {} });
    const [delivery] = await until('failed', async () => {
      const list = await deliveries(order_id);
      return list[0]?.state === 'failed' ? list : undefined;
    });
    expect(delivery!.attempts).toHaveLength(2);
    expect(delivery!.attempts[0]!.status).toBeNull();
  });

  it('drop: the notification never arrives', async () => {
    const order_id = orderId();
    expect((await control('/sim/faults', { body: { action: 'drop', out_trade_no: order_id } })).status).toBe(201);
    await paid(order_id);
    // A notification paid after it arrives: the dropped one, due first, would have by then.
    const marker = await paid();
    await until('a later notification', () => received.find((r) => r.params.out_trade_no === marker));
    expect(received.filter((r) => r.params.out_trade_no === order_id)).toHaveLength(0);
    expect((await deliveries(order_id)).map((d) => d.state)).toEqual(['dropped']);
  });

  it('duplicate: the same notification arrives 1 + N times', async () => {
    const order_id = orderId();
    await control('/sim/faults', { body: { action: 'duplicate', out_trade_no: order_id, copies: 2 } });
    await paid(order_id);
    const copies = await until('3 copies', () => {
      const list = received.filter((r) => r.params.out_trade_no === order_id);
      return list.length === 3 ? list : undefined;
    });
    expect(new Set(copies.map((c) => c.body)).size).toBe(1);
  });

  it('delay: the first attempt waits', async () => {
    const order_id = orderId();
    await control('/sim/faults', { body: { action: 'delay', delay_ms: 500 } });
    const paid_at = Date.now();
    await paid(order_id);
    const note = await until('delayed', () => received.find((r) => r.params.out_trade_no === order_id));
    expect(note.at_ms - paid_at).toBeGreaterThanOrEqual(450);
  });

  it('hold + release in reverse: later notifications arrive first', async () => {
    const first = orderId();
    const second = orderId();
    await control('/sim/faults', { body: { action: 'hold', count: 2 } });
    await paid(first);
    await paid(second);
    // The rule was for two notifications only: the next one goes straight out, and once it has
    // arrived the two held ones, due before it, would have too.
    const third = await paid();
    await until('unheld', () => received.find((r) => r.params.out_trade_no === third));
    expect(received.filter((r) => r.params.out_trade_no === first || r.params.out_trade_no === second)).toHaveLength(0);
    const { body } = await control<{ released: number[] }>('/sim/faults/release', { body: { order: 'reverse' } });
    expect(body.released).toHaveLength(2);
    const arrivals = received.filter((r) => r.params.out_trade_no === first || r.params.out_trade_no === second);
    expect(arrivals.map((r) => r.params.out_trade_no)).toEqual([second, first]);
  });

  it('builds a signed notification on request without sending it', async () => {
    const order_id = await paid();
    await until('first', () => received.find((r) => r.params.out_trade_no === order_id));
    const { body } = await control<{ params: Record<string, string>; body: string }>(`/sim/alipay/trades/${order_id}/notification`, {
      body: { trade_status: 'TRADE_FINISHED' },
    });
    expect(body.params.trade_status).toBe('TRADE_FINISHED');
    expect(await alipayVerify(alipayPublic, Object.fromEntries(new URLSearchParams(body.body)), 'notification')).toBe(true);
    // Had it been sent, it would have arrived before a notification paid after it.
    const marker = await paid();
    await until('a later notification', () => received.find((r) => r.params.out_trade_no === marker));
    expect(received.filter((r) => r.params.out_trade_no === order_id)).toHaveLength(1);
  });
});

describe('query, close, refund', () => {
  it('query, close and refund answer in Alipay’s shapes', async () => {
    const unpaid = orderId();
    await openTrade(unpaid, '2.00');
    const queried = await openapi('alipay.trade.query', { out_trade_no: unpaid });
    expect(queried.raw.startsWith('{"alipay_trade_query_response":')).toBe(true);
    expect(queried.node).toMatchObject({ code: '10000', msg: 'Success', out_trade_no: unpaid, trade_status: 'WAIT_BUYER_PAY', total_amount: '2.00' });
    expect((await openapi('alipay.trade.close', { out_trade_no: unpaid })).node).toMatchObject({ code: '10000', out_trade_no: unpaid });
    expect((await openapi('alipay.trade.query', { out_trade_no: unpaid })).node).toMatchObject({ trade_status: 'TRADE_CLOSED' });
    expect((await openapi('alipay.trade.close', { out_trade_no: orderId() })).node).toMatchObject({ code: '40004', sub_code: 'ACQ.TRADE_NOT_EXIST' });
    // A close the merchant asked for is notified only to a notify_url given with the close itself.
    const notified = orderId();
    await openTrade(notified, '2.00', { notify_url: `${await unreachableOrigin()}/payment-notify` });
    expect((await openapi('alipay.trade.close', { out_trade_no: notified }, { notify_url: receiver_url })).node).toMatchObject({ code: '10000' });
    const close_note = await until('close notification', () => received.find((r) => r.params.out_trade_no === notified));
    // The first close, earlier, would have arrived before this one.
    expect(received.filter((r) => r.params.out_trade_no === unpaid)).toHaveLength(0);
    expect(close_note.params).toMatchObject({ trade_status: 'TRADE_CLOSED' });
    expect(close_note.params.gmt_close).toBeTruthy();

    const order_id = orderId();
    await openTrade(order_id, '10.00');
    await control(`/sim/alipay/trades/${order_id}/pay`, { body: {} });
    await until('paid notification', () => received.find((r) => r.params.out_trade_no === order_id));
    const paid = (await openapi('alipay.trade.query', { out_trade_no: order_id })).node;
    expect(paid).toMatchObject({ code: '10000', trade_status: 'TRADE_SUCCESS', total_amount: '10.00', receipt_amount: '10.00' });
    expect(parseChinaTime(paid.send_pay_date!)).not.toBeNull();
    expect((await openapi('alipay.trade.close', { out_trade_no: order_id })).node).toMatchObject({ code: '40004', sub_code: 'ACQ.TRADE_STATUS_ERROR' });

    const partial = (await openapi('alipay.trade.refund', { out_trade_no: order_id, refund_amount: '4.00', out_request_no: 'R1' })).node;
    expect(partial).toMatchObject({ code: '10000', fund_change: 'Y', refund_fee: '4.00', out_trade_no: order_id });
    const again = (await openapi('alipay.trade.refund', { out_trade_no: order_id, refund_amount: '4.00', out_request_no: 'R1' })).node;
    expect(again).toMatchObject({ code: '10000', fund_change: 'N', refund_fee: '4.00' });
    expect((await openapi('alipay.trade.refund', { out_trade_no: order_id, refund_amount: '7.00', out_request_no: 'R2' })).node).toMatchObject({
      code: '40004',
      sub_code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL',
    });
    const rest = (await openapi('alipay.trade.refund', { out_trade_no: order_id, refund_amount: '6.00', out_request_no: 'R3' })).node;
    expect(rest).toMatchObject({ code: '10000', fund_change: 'Y', refund_fee: '10.00' });
    // Partial refund: TRADE_SUCCESS with refund_fee; full refund: TRADE_CLOSED.
    const notes = await until('refund notifications', () => {
      const list = received.filter((r) => r.params.out_trade_no === order_id);
      return list.length === 3 ? list : undefined;
    });
    expect(notes.map((n) => [n.params.trade_status, n.params.refund_fee ?? null])).toEqual([
      ['TRADE_SUCCESS', null],
      ['TRADE_SUCCESS', '4.00'],
      ['TRADE_CLOSED', '10.00'],
    ]);
    expect(notes[2]!.params.out_biz_no).toBe('R3');
    expect((await openapi('alipay.trade.query', { out_trade_no: order_id })).node).toMatchObject({ trade_status: 'TRADE_CLOSED' });
  });

  it('refuses a refund of an unpaid trade and a malformed biz_content', async () => {
    const order_id = orderId();
    await openTrade(order_id, '1.00');
    expect((await openapi('alipay.trade.refund', { out_trade_no: order_id, refund_amount: '1.00' })).node).toMatchObject({
      code: '40004',
      sub_code: 'ACQ.TRADE_STATUS_ERROR',
    });
    const { node } = await openapi('alipay.trade.query', {}, { biz_content: '{not json' });
    expect(node).toMatchObject({ code: '40002', sub_code: 'isv.invalid-biz-content' });
  });
});

describe('daily bill', () => {
  it('serves a zip of GBK CSV files with Alipay’s comment lines, detail rows and summary', async () => {
    const a = orderId();
    const b = orderId();
    await openTrade(a, '100.00', { subject: '北京交通大学威海校区 校园卡充值' });
    await openTrade(b, '0.50', { subject: '威海海洋职业学院 校园卡充值' });
    await control(`/sim/alipay/trades/${a}/pay`, { body: {} });
    await control(`/sim/alipay/trades/${b}/pay`, { body: {} });
    await openapi('alipay.trade.refund', { out_trade_no: a, refund_amount: '30.00', out_request_no: `RF${a}` });
    const today = chinaDate(Date.now());
    const { node } = await openapi('alipay.data.dataservice.bill.downloadurl.query', { bill_type: 'trade', bill_date: today });
    expect(node.code).toBe('10000');
    const download = await fetch(node.bill_download_url!);
    expect(download.status).toBe(200);
    const files = unzipSync(new Uint8Array(await download.arrayBuffer()));
    const names = Object.keys(files);
    const day = today.replace(/-/g, '');
    expect(names.sort()).toEqual([`${keys.alipay.seller_id}_${day}_业务明细(汇总).csv`, `${keys.alipay.seller_id}_${day}_业务明细.csv`].sort());
    const detail = iconv.decode(Buffer.from(files[`${keys.alipay.seller_id}_${day}_业务明细.csv`]!), 'gbk');
    // GBK, not UTF-8: the bytes of 支付宝 differ.
    expect(Buffer.from(files[`${keys.alipay.seller_id}_${day}_业务明细.csv`]!).includes(Buffer.from('支付宝', 'utf8'))).toBe(false);
    const lines = detail.split('\r\n').filter((l) => l.length > 0);
    expect(lines[0]).toBe('#支付宝业务明细查询');
    expect(lines.at(-1)).toMatch(/^#导出时间：\[\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}:\d{2}\]$/);
    const header = lines.find((l) => !l.startsWith('#'))!;
    expect(header.split(',').slice(0, 3)).toEqual(['支付宝交易号', '商户订单号', '业务类型']);
    const rows = lines.filter((l) => !l.startsWith('#')).slice(1).map((l) => l.split(',').map((f) => f.trim()));
    const mine = rows.filter((r) => r[1] === a || r[1] === b);
    expect(mine.map((r) => [r[1], r[2], r[11], r[12], r[21]])).toEqual([
      [a, '交易', '100.00', '100.00', ''],
      [b, '交易', '0.50', '0.50', ''],
      [a, '退款', '-30.00', '-30.00', `RF${a}`],
    ]);
    expect(mine[0]![3]).toBe('北京交通大学威海校区 校园卡充值');
    expect(mine[0]![22]).toBe('-0.60');
    // The footer totals agree with the rows.
    const payments = rows.filter((r) => r[2] === '交易');
    const total_fen = payments.reduce((sum, r) => sum + Math.round(Number(r[12]) * 100), 0);
    const footer = lines.find((l) => l.startsWith('#交易合计'))!;
    expect(footer).toContain(`${payments.length}笔`);
    expect(footer).toContain(`商家实收共${(total_fen / 100).toFixed(2)}元`);

    const summary = iconv.decode(Buffer.from(files[`${keys.alipay.seller_id}_${day}_业务明细(汇总).csv`]!), 'gbk');
    const summary_rows = summary.split('\r\n').filter((l) => l.length > 0 && !l.startsWith('#'));
    expect(summary_rows[0]!.split(',')[2]).toBe('交易订单总笔数');
    const totals = summary_rows.find((l) => l.startsWith('合计'))!.split(',');
    expect(Number(totals[2])).toBe(payments.length);
    expect(Number(totals[3])).toBe(rows.filter((r) => r[2] === '退款').length);
  });

  it('has no bill for a day that has not begun, and refuses other bill types', async () => {
    const tomorrow = chinaDate(Date.now() + 86_400_000);
    expect((await openapi('alipay.data.dataservice.bill.downloadurl.query', { bill_type: 'trade', bill_date: tomorrow })).node).toMatchObject({
      code: '40004',
      sub_code: 'isp.bill_not_exist',
    });
    expect((await openapi('alipay.data.dataservice.bill.downloadurl.query', { bill_type: 'signcustomer', bill_date: '2026-01-01' })).node.code).toBe(
      '40002',
    );
    expect((await fetch(`${gateway.origin}/bill/download?token=nope`)).status).toBe(404);
  });
});

describe('control API and process', () => {
  it('answers bad control input with 4xx JSON errors', async () => {
    expect((await control('/sim/faults', { body: { action: 'explode' } })).status).toBe(400);
    expect((await control('/sim/faults', { body: { action: 'delay', delay_ms: 99_999_999 } })).status).toBe(400);
    expect((await control('/sim/retry-schedule', { method: 'PUT', body: { schedule_ms: [5, 1] } })).status).toBe(400);
    expect((await control('/sim/alipay/trades/none/pay', { body: {} })).status).toBe(404);
    const bad_json = await fetch(`${gateway.origin}/sim/faults`, { method: 'POST', body: '{' });
    expect(bad_json.status).toBe(400);
    expect(await bad_json.json()).toMatchObject({ error: { code: 'invalid_json' } });
    expect((await control<{ schedule_ms: number[] }>('/sim/retry-schedule')).body.schedule_ms).toEqual(SCHEDULE_MS);
  });

  it('refuses an oversized body', async () => {
    const response = await fetch(`${gateway.origin}/gateway.do`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `x=${'a'.repeat(100 * 1024)}`,
    });
    expect(response.status).toBe(413);
  });

  it('a second gateway starts on its own port and exits on SIGTERM', async () => {
    const other = await spawnGateway({ config_path: path.join(config_dir, 'gateway.json') });
    try {
      expect(other.origin).not.toBe(gateway.origin);
      expect((await fetch(`${other.origin}/sim/health`)).status).toBe(200);
    } finally {
      await other.stop();
    }
    expect(() => process.kill(other.pid, 0)).toThrow();
  });
});

describe('protocol/alipay: the canonical string and its helpers', () => {
  it('sorts by key, skips empty values, and leaves out sign (and sign_type for notifications)', () => {
    const params = { b: '2', a: 'x+y %2B 中', sign: 'S', sign_type: 'RSA2', empty: '', Z: 'upper' };
    expect(alipaySignContent(params, 'request')).toBe('Z=upper&a=x+y %2B 中&b=2&sign_type=RSA2');
    expect(alipaySignContent(params, 'notification')).toBe('Z=upper&a=x+y %2B 中&b=2');
  });

  it('cuts the exact response node out of the raw body, braces and quotes in strings included', () => {
    const node = '{"code":"10000","msg":"a } \\" { b","nested":{"x":[1,{"y":"}"}]}}';
    const raw = `{"alipay_trade_query_response" : ${node},"sign":"abc"}`;
    expect(extractResponseNode(raw, 'alipay_trade_query_response')).toBe(node);
    expect(extractResponseNode('{"alipay_trade_query_response":{"code":"1"', 'alipay_trade_query_response')).toBeNull();
    expect(extractResponseNode('{"other_response":{}}', 'alipay_trade_query_response')).toBeNull();
  });

  it('reads and writes China time, refusing impossible dates', () => {
    expect(formatChinaTime(Date.UTC(2026, 10, 21, 16, 30, 5))).toBe('2026-11-22 00:30:05');
    expect(parseChinaTime('2026-11-22 00:30:05')).toBe(Date.UTC(2026, 10, 21, 16, 30, 5));
    for (const bad of ['2026-02-30 00:00:00', '2026-11-22 24:00:00', '2026-11-22T00:30:05', '2026-11-22']) {
      expect(parseChinaTime(bad), bad).toBeNull();
    }
    const now_ms = Date.UTC(2026, 10, 21, 16, 30, 0);
    expect(parseTimeoutExpress('15m', now_ms)).toBe(now_ms + 15 * 60_000);
    expect(parseTimeoutExpress('1c', now_ms)).toBe(Date.UTC(2026, 10, 22, 16, 0, 0));
    expect(parseTimeoutExpress('16d', now_ms)).toBeNull();
    expect(parseTimeoutExpress('0m', now_ms)).toBeNull();
  });
});
