// Paid orders and refunds of both channels through the real gateway process, for the refund
// follow-up and reconciliation tests: the payer pays at the simulated provider, and the test
// hands the provider's signed notification to the Worker (which has no port of its own).
import { env, SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import { creditIdForOrder } from '../../../worker/ledger/payment.ts';
import { openCashier, payAtGateway, gatewayNotification, postNotification, sim, topUp } from './gateway.ts';
import { ORIGIN } from './hub.ts';
import { ADMIN_AUTH } from './seed.ts';

export interface Paid {
  order_id: string;
  credit_id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
  channel: 'alipay' | 'wechat';
}

export interface SignedDelivery {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** An order the payer paid at the provider; `notify: false` loses the notification on the way. */
export async function paidAt(
  channel: 'alipay' | 'wechat',
  amount_fen: number,
  options: { notify?: boolean; school_name?: string } = {},
): Promise<Paid> {
  const { order_id, pay_url } = await topUp(amount_fen, channel, options.school_name);
  if (channel === 'alipay') {
    await openCashier(pay_url);
    await payAtGateway(order_id);
    if (options.notify !== false) {
      const answer = await postNotification((await gatewayNotification(order_id)).body);
      expect(await answer.text()).toBe('success');
    }
  } else {
    const paid = await sim<{ notification: SignedDelivery }>(`/sim/wechat/trades/${order_id}/pay?send=0`, { body: {} });
    if (options.notify !== false) expect((await postWechat(paid.notification)).status).toBe(204);
  }
  const order = await env.DB.prepare('SELECT school_id, card_no FROM orders WHERE id = ?').bind(order_id).first<{ school_id: string; card_no: string }>();
  return { order_id, credit_id: creditIdForOrder(order_id), school_id: order!.school_id, card_no: order!.card_no, amount_fen, channel };
}

export function postWechat(delivery: { headers: Record<string, string>; body: string }): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/notify/wechat`, { method: 'POST', headers: delivery.headers, body: delivery.body });
}

export function adminRefund(order_id: string): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/admin/orders/${order_id}/refund`, { method: 'POST', headers: ADMIN_AUTH });
}

export async function refundRow(order_id: string) {
  return env.DB.prepare('SELECT * FROM refunds WHERE order_id = ?').bind(order_id).first<Record<string, unknown>>();
}

export async function orderRow(order_id: string) {
  return env.DB.prepare('SELECT status, amount_fen, provider_trade_no, paid_at_ms FROM orders WHERE id = ?').bind(order_id).first<Record<string, unknown>>();
}

export async function creditState(credit_id: string): Promise<string | undefined> {
  return (await env.DB.prepare('SELECT state FROM credits WHERE id = ?').bind(credit_id).first<{ state: string }>())?.state;
}

/** Every row of the ledger's money tables, to show that something changed nothing. */
export async function ledgerSnapshot(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of ['orders', 'credits', 'refunds', 'changes', 'claims']) {
    out[table] = (await env.DB.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all()).results;
  }
  return out;
}
