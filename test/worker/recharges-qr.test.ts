// PC top-up (DESIGN section 5): `scene: "qr"` gets the provider's QR code instead of a cashier
// URL — Alipay `alipay.trade.precreate` (qr_code) and WeChat Pay Native (code_url) — from the
// real gateway process, signed both ways; the phone that scans it pays, and the notification
// makes the order paid through the one payment path like any other.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { RechargeCreated } from '../../protocol/api.ts';
import { wechatChannel } from '../../worker/pay/wechat.ts';
import type { OutgoingNotification } from '../../sim/gateway/types.ts';
import { gatewayNotification, gatewayOrigin, postNotification, schoolWithCard, sim, topUpResponse } from './helpers/gateway.ts';
import { fetchWithConfig, uniqueIp } from './helpers/fixtures.ts';

function qrTopUp(amount_fen: number, channel: 'alipay' | 'wechat', extra: Record<string, unknown> = {}): Promise<Response> {
  return topUpResponse(amount_fen, channel, undefined, { scene: 'qr', ...extra });
}

async function created(response: Response): Promise<RechargeCreated> {
  const text = await response.text();
  expect(response.status, text).toBe(201);
  return JSON.parse(text) as RechargeCreated;
}

async function topupStatus(order_id: string): Promise<string> {
  return ((await (await SELF.fetch(`http://yikatong.test/api/v1/recharges/${order_id}`)).json()) as { status: string }).status;
}

describe('POST /api/v1/recharges with scene "qr"', () => {
  it('Alipay: precreate answers a qr_code; the scanning phone sees the cashier; paid by notification', async () => {
    const body = await created(await qrTopUp(4_321, 'alipay'));
    expect(body.status).toBe('unpaid');
    expect(body.qr_code).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/qr\/bax0[0-9a-f]{20}$/);
    expect(body.pay_url).toBe(body.qr_code);
    const { trade } = await sim<{ trade: { total_amount_fen: number; notify_url: string; status: string } }>(`/sim/alipay/trades/${body.order_id}`);
    expect(trade).toMatchObject({ total_amount_fen: 4_321, notify_url: 'http://yikatong.test/api/v1/notify/alipay', status: 'WAIT_BUYER_PAY' });

    const scanned = await fetch(body.qr_code!);
    const html = await scanned.text();
    expect(scanned.status).toBe(200);
    expect(html).toContain('43.21');
    expect(html).toContain(body.order_id);

    await sim(`/sim/alipay/trades/${body.order_id}/pay`, { body: {} });
    const built = await gatewayNotification(body.order_id);
    const answer = await postNotification(built.body);
    expect(await answer.text()).toBe('success');
    expect(await topupStatus(body.order_id)).toBe('pending_claim');
  });

  it('Alipay: a code that was never issued shows no cashier', async () => {
    const response = await fetch(`${gatewayOrigin()}/qr/bax0${'0'.repeat(20)}`);
    expect(response.status).toBe(404);
    await response.body?.cancel();
  });

  it('WeChat Pay: Native answers a weixin:// code_url; the scanning phone sees the cashier; paid by notification', async () => {
    const body = await created(await qrTopUp(2_468, 'wechat'));
    expect(body.qr_code).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=[0-9]{20}$/);
    expect(body.pay_url).toBe(body.qr_code);
    const trade = await sim<{ trade_type: string; trade_state: string; amount: { total: number } }>(`/sim/wechat/trades/${body.order_id}`);
    expect(trade).toMatchObject({ trade_type: 'NATIVE', trade_state: 'NOTPAY', amount: { total: 2_468 } });
    expect(await wechatChannel(env).queryTrade(body.order_id)).toEqual({ state: 'unpaid' });

    const pr = new URL(body.qr_code!.replace('weixin://', 'http://')).searchParams.get('pr')!;
    const scanned = await fetch(`${gatewayOrigin()}/sim/wechat/native?pr=${pr}`);
    const html = await scanned.text();
    expect(scanned.status).toBe(200);
    expect(html).toContain('24.68');
    expect(html).toContain(body.order_id);

    const { notification } = await sim<{ notification: OutgoingNotification }>(`/sim/wechat/trades/${body.order_id}/pay?send=0`, { body: {} });
    const answer = await SELF.fetch(notification.url, { method: 'POST', headers: notification.headers, body: notification.body });
    expect(answer.status).toBe(204);
    expect(await topupStatus(body.order_id)).toBe('pending_claim');
  });

  it('a precreate answer not signed by Alipay starts no payment and leaves the order closed', async () => {
    // The Worker trusts only Alipay's public key: with another one configured, the gateway's
    // genuine answer does not verify, exactly as a forged one would not.
    const card = await schoolWithCard();
    const response = await fetchWithConfig({ ALIPAY_PUBLIC_KEY: env.WECHATPAY_PUBLIC_KEY }, '/api/v1/recharges', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
      body: JSON.stringify({ school_id: card.school_id, name: card.holder_name, card_no: card.card_no, amount_fen: 100, channel: 'alipay', agree_terms: true, scene: 'qr' }),
    });
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('payment_provider_error');
    const rows = await env.DB.prepare('SELECT status FROM orders WHERE school_id = ?').bind(card.school_id).all<{ status: string }>();
    expect(rows.results).toEqual([{ status: 'closed' }]);
  });

  it('refuses an unknown scene with a clear code and creates no order', async () => {
    const before = await env.DB.prepare('SELECT COUNT(*) AS n FROM orders').first<{ n: number }>();
    const response = await qrTopUp(100, 'alipay', { scene: 'desktop' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_body');
    const after = await env.DB.prepare('SELECT COUNT(*) AS n FROM orders').first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });
});

