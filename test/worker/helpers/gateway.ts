// The simulated Alipay gateway from inside workerd: the global setup started it as a process;
// tests act as the payer through its control API and hand its signed notifications to the
// Worker via SELF (the Worker under test has no port the gateway could post to).
import { env, SELF } from 'cloudflare:test';
import { expect, inject } from 'vitest';
import { alipaySign } from '../../../protocol/alipay.ts';
import { holderNameKey } from '../../../protocol/card.ts';
import { importRsaPrivateKey } from '../../../protocol/rsa.ts';

export const gatewayOrigin = (): string => inject('gatewayOrigin');
export const sandboxKeys = () => inject('sandboxKeys');
/** A provider nobody answers for: a port bound and closed by the global setup. */
export const unreachableOrigin = (): string => inject('unreachableOrigin');

export async function sim<T = Record<string, unknown>>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(`${gatewayOrigin()}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    ...(init.body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  expect(response.status, `${path}: ${text}`).toBeLessThan(300);
  return JSON.parse(text) as T;
}

let tag = 0;

/** A school of its own (rate-limit buckets are per card and outlive a test) with one active card. */
export async function schoolWithCard(name = '北京交通大学威海校区'): Promise<{ school_id: string; card_no: string; holder_name: string }> {
  const school_id = `ali-${Date.now().toString(36)}-${(++tag).toString(36)}`;
  const now_ms = Date.now();
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO schools (id, name, city, initial, max_amount_fen, created_at_ms, updated_at_ms) VALUES (?, ?, '威海', 'B', 100000, ?, ?)`,
    ).bind(school_id, name, now_ms, now_ms),
    env.DB.prepare(
      `INSERT INTO cards (school_id, card_no, holder_name, holder_name_key, kind, status, updated_at_ms)
       VALUES (?, '20230001', '张三', ?, 'student', 'active', ?)`,
    ).bind(school_id, holderNameKey('张三'), now_ms),
  ]);
  return { school_id, card_no: '20230001', holder_name: '张三' };
}

/** A top-up through the public API, as the PWA makes it: an unpaid order and its signed pay_url. */
export async function alipayTopUp(amount_fen: number, school_name?: string): Promise<{ order_id: string; pay_url: string }> {
  return topUp(amount_fen, 'alipay', school_name);
}

export async function topUp(
  amount_fen: number,
  channel: 'alipay' | 'wechat',
  school_name?: string,
  extra: Record<string, unknown> = {},
): Promise<{ order_id: string; pay_url: string }> {
  const response = await topUpResponse(amount_fen, channel, school_name, extra);
  const text = await response.text();
  expect(response.status, text).toBe(201);
  const body = JSON.parse(text) as { order_id: string; pay_url: string };
  return { order_id: body.order_id, pay_url: body.pay_url };
}

/** The answer to a top-up of a fresh card, with `extra` fields (scene, notify_phone) in the body. */
export async function topUpResponse(amount_fen: number, channel: 'alipay' | 'wechat', school_name?: string, extra: Record<string, unknown> = {}): Promise<Response> {
  const card = await schoolWithCard(school_name);
  return SELF.fetch('http://yikatong.test/api/v1/recharges', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': `2001:db8::a:${(++tag).toString(16)}` },
    body: JSON.stringify({
      school_id: card.school_id,
      name: card.holder_name,
      card_no: card.card_no,
      amount_fen,
      channel,
      agree_terms: true,
      ...extra,
    }),
  });
}

/** The payer's browser opens the pay_url: the gateway checks the signature and shows its cashier. */
export async function openCashier(pay_url: string): Promise<string> {
  const response = await fetch(pay_url);
  const html = await response.text();
  expect(response.status, html).toBe(200);
  return html;
}

export async function payAtGateway(order_id: string): Promise<void> {
  await sim(`/sim/alipay/trades/${order_id}/pay`, { body: {} });
}

export interface BuiltNotification {
  url: string;
  body: string;
  params: Record<string, string>;
}

/** The signed notification the gateway would send for the trade (its state, or `trade_status`). */
export function gatewayNotification(order_id: string, trade_status?: string): Promise<BuiltNotification> {
  return sim<BuiltNotification>(`/sim/alipay/trades/${order_id}/notification`, {
    body: trade_status === undefined ? {} : { trade_status },
  });
}

/** Signs `params` as Alipay does, with Alipay's sandbox key (or `private_key`), into a form body. */
export async function signedForm(params: Record<string, string>, private_key = sandboxKeys().alipay.alipay_private_key): Promise<string> {
  const key = await importRsaPrivateKey(private_key);
  const signed = { ...params, sign_type: 'RSA2' };
  const sign = await alipaySign(key, signed, 'notification');
  return new URLSearchParams({ ...signed, sign }).toString();
}

export function postNotification(body: string, content_type = 'application/x-www-form-urlencoded; charset=utf-8'): Promise<Response> {
  return SELF.fetch('http://yikatong.test/api/v1/notify/alipay', {
    method: 'POST',
    headers: { 'content-type': content_type },
    body,
  });
}
