// Refunds that finish only when the provider says so (DESIGN section 7), against the real
// gateway process: WeChat Pay's PROCESSING waits, its REFUND.SUCCESS / ABNORMAL / CLOSED
// notifications (verified like payment notifications) or the refund query end it; Alipay's
// fund_change N waits for alipay.trade.fastpay.refund.query. A failed refund keeps its credit
// void and its order paid: the card office sees it, and the money is still owed.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { formatWechatTime, encryptResource, importApiV3Key, signBody } from '../../protocol/wechat.ts';
import { importRsaPrivateKey } from '../../protocol/rsa.ts';
import { retryPendingRefunds } from '../../worker/ledger/refunds.ts';
import { sandboxKeys, sim } from './helpers/gateway.ts';
import { ORIGIN } from './helpers/hub.ts';
import { adminRefund, creditState, ledgerSnapshot, orderRow, paidAt, postWechat, refundRow, type SignedDelivery } from './helpers/money.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';

async function finish(refund_id: string, status: 'SUCCESS' | 'ABNORMAL' | 'CLOSED'): Promise<SignedDelivery> {
  const finished = await sim<{ notification: SignedDelivery }>(`/sim/wechat/refunds/${refund_id}/finish?send=0`, { body: { status } });
  return finished.notification;
}

async function processingWechatRefund(amount_fen: number) {
  const paid = await paidAt('wechat', amount_fen);
  await sim(`/sim/wechat/trades/${paid.order_id}/refund-mode`, { body: { status: 'PROCESSING' } });
  const response = await adminRefund(paid.order_id);
  expect(response.status).toBe(202);
  const refund = (await response.json()) as { refund_id: string; state: string; provider_status?: string };
  expect(refund).toMatchObject({ state: 'provider_pending', provider_status: 'PROCESSING' });
  // Voided, not refunded: the payer has not got the money back yet.
  expect(await orderRow(paid.order_id)).toMatchObject({ status: 'paid' });
  expect(await creditState(paid.credit_id)).toBe('voided');
  return { paid, refund_id: refund.refund_id };
}

async function failedRefunds(): Promise<{ refund_id: string; state: string; provider_status?: string; reason?: string }[]> {
  const response = await SELF.fetch(`${ORIGIN}/api/v1/admin/refunds?state=failed&limit=200`, { headers: ADMIN_AUTH });
  expect(response.status).toBe(200);
  return ((await response.json()) as { refunds: { refund_id: string; state: string }[] }).refunds;
}

/** A refund notification signed with the gateway's platform key, about a plaintext of our choosing. */
async function forgedNotice(plaintext: object, options: { event_type: string; now_ms?: number }): Promise<SignedDelivery> {
  const keys = sandboxKeys().wechat;
  const now_ms = options.now_ms ?? Date.now();
  const resource = await encryptResource(await importApiV3Key(keys.api_v3_key), JSON.stringify(plaintext), 'refund', 'refund');
  const body = JSON.stringify({ id: crypto.randomUUID(), create_time: formatWechatTime(now_ms), resource_type: 'encrypt-resource', event_type: options.event_type, summary: '退款成功', resource });
  const signed = await signBody(await importRsaPrivateKey(keys.platform_private_key), keys.platform_public_key_id, body, now_ms);
  return { url: '', headers: { 'content-type': 'application/json', ...signed }, body };
}

describe('WeChat Pay refunds wait for the provider', () => {
  it('PROCESSING → SUCCESS: the REFUND.SUCCESS notification refunds the order, once', async () => {
    const { paid, refund_id } = await processingWechatRefund(1_800);
    // The cron asks, WeChat Pay still says PROCESSING: nothing moves.
    await retryPendingRefunds(env, Date.now());
    expect(await refundRow(paid.order_id)).toMatchObject({ state: 'provider_pending', provider_status: 'PROCESSING' });

    const notification = await finish(refund_id, 'SUCCESS');
    expect((await postWechat(notification)).status).toBe(204);
    expect(await refundRow(paid.order_id)).toMatchObject({ state: 'refunded', provider_status: 'SUCCESS' });
    expect(await orderRow(paid.order_id)).toMatchObject({ status: 'refunded' });

    // The same notification again (WeChat Pay retries) and a fresh delivery change nothing.
    const before = await ledgerSnapshot();
    expect((await postWechat(notification)).status).toBe(204);
    const again = await sim<SignedDelivery>(`/sim/wechat/refunds/${refund_id}/notification`);
    expect((await postWechat(again)).status).toBe(204);
    expect(await ledgerSnapshot()).toEqual(before);
  });

  it('PROCESSING → ABNORMAL found by the follow-up query: a failed refund the card office sees, money owed', async () => {
    const { paid, refund_id } = await processingWechatRefund(2_200);
    const late_notice = await finish(refund_id, 'ABNORMAL');
    await retryPendingRefunds(env, Date.now());
    expect(await refundRow(paid.order_id)).toMatchObject({ state: 'failed', provider_status: 'ABNORMAL', failed_at_ms: expect.any(Number) });
    expect(await orderRow(paid.order_id)).toMatchObject({ status: 'paid' });
    expect(await creditState(paid.credit_id)).toBe('voided');
    expect(await failedRefunds()).toContainEqual(expect.objectContaining({ refund_id, state: 'failed', provider_status: 'ABNORMAL' }));
    // Asking to refund again does not pretend: the card office settles it with the payer.
    const again = await adminRefund(paid.order_id);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('refund_not_allowed');
    // The notification arriving after the query is a duplicate.
    const before = await ledgerSnapshot();
    expect((await postWechat(late_notice)).status).toBe(204);
    expect(await ledgerSnapshot()).toEqual(before);
  });

  it('PROCESSING → CLOSED by notification fails the refund', async () => {
    const { paid, refund_id } = await processingWechatRefund(700);
    expect((await postWechat(await finish(refund_id, 'CLOSED'))).status).toBe(204);
    expect(await refundRow(paid.order_id)).toMatchObject({ state: 'failed', provider_status: 'CLOSED' });
    expect(await orderRow(paid.order_id)).toMatchObject({ status: 'paid' });
    expect(await failedRefunds()).toContainEqual(expect.objectContaining({ refund_id, provider_status: 'CLOSED' }));
  });

  it('forged, stale, replayed-elsewhere and malformed refund notifications are refused and change nothing', async () => {
    const { paid, refund_id } = await processingWechatRefund(1_100);
    const genuine = await finish(refund_id, 'SUCCESS');
    const wechat = sandboxKeys().wechat;
    const plaintext = {
      mchid: wechat.mch_id, out_trade_no: paid.order_id, transaction_id: '4200000000000000000000000001', out_refund_no: refund_id,
      refund_id: '50000000000000000000000000001', refund_status: 'SUCCESS', success_time: formatWechatTime(Date.now()),
      amount: { total: 1_100, refund: 1_100, payer_total: 1_100, payer_refund: 1_100 },
    };
    const before = await ledgerSnapshot();
    const started_ms = Date.now();
    const cases: [string, SignedDelivery, number, string][] = [
      ['body altered after signing', { ...genuine, body: genuine.body.replace('"REFUND.SUCCESS"', '"REFUND.CLOSED"') }, 401, 'signature_invalid'],
      ['signed ten minutes ago', await forgedNotice(plaintext, { event_type: 'REFUND.SUCCESS', now_ms: Date.now() - 600_000 }), 401, 'timestamp_out_of_window'],
      ['another amount', await forgedNotice({ ...plaintext, amount: { ...plaintext.amount, refund: 1 } }, { event_type: 'REFUND.SUCCESS' }), 409, 'conflict'],
      ['aimed at another order', await forgedNotice({ ...plaintext, out_trade_no: 'Y20260101000000000ZZZZZZ' }, { event_type: 'REFUND.SUCCESS' }), 404, 'not_found'],
      ['an unknown refund', await forgedNotice({ ...plaintext, out_refund_no: 'R20260101000000000ZZZZZZ' }, { event_type: 'REFUND.SUCCESS' }), 404, 'not_found'],
      ['another merchant', await forgedNotice({ ...plaintext, mchid: '1900000999' }, { event_type: 'REFUND.SUCCESS' }), 403, 'forbidden'],
      ['event disagrees with status', await forgedNotice(plaintext, { event_type: 'REFUND.ABNORMAL' }), 400, 'invalid_body'],
      ['PROCESSING is no notification', await forgedNotice({ ...plaintext, refund_status: 'PROCESSING' }, { event_type: 'REFUND.PROCESSING' }), 400, 'invalid_body'],
      ['not a refund', await forgedNotice({ hello: 'world' }, { event_type: 'REFUND.SUCCESS' }), 400, 'invalid_body'],
    ];
    for (const [label, delivery, status, code] of cases) {
      const response = await postWechat(delivery);
      const text = await response.text();
      expect(response.status, `${label}: ${text}`).toBe(status);
      expect((JSON.parse(text) as { error: { code: string } }).error.code, label).toBe(code);
    }
    expect(await ledgerSnapshot()).toEqual(before);
    // Kept for audit, bounded.
    const kept = await env.DB.prepare(`SELECT count(*) AS n FROM notifications WHERE verdict = 'rejected' AND received_at_ms >= ?`).bind(started_ms).first<{ n: number }>();
    expect(kept!.n).toBeGreaterThanOrEqual(cases.length);
    // The genuine one still works afterwards.
    expect((await postWechat(genuine)).status).toBe(204);
    expect(await refundRow(paid.order_id)).toMatchObject({ state: 'refunded' });
  });
});

describe('Alipay refunds wait for the refund query', () => {
  it('fund_change N stays pending until alipay.trade.fastpay.refund.query says REFUND_SUCCESS', async () => {
    const paid = await paidAt('alipay', 1_300);
    await sim(`/sim/alipay/trades/${paid.order_id}/refund-mode`, { body: { mode: 'processing' } });
    const response = await adminRefund(paid.order_id);
    expect(response.status).toBe(202);
    const refund = (await response.json()) as { refund_id: string };
    expect(await refundRow(paid.order_id)).toMatchObject({ state: 'provider_pending', provider_status: 'PROCESSING' });
    await retryPendingRefunds(env, Date.now());
    expect(await refundRow(paid.order_id)).toMatchObject({ state: 'provider_pending' });
    expect(await orderRow(paid.order_id)).toMatchObject({ status: 'paid' });

    await sim(`/sim/alipay/trades/${paid.order_id}/refunds/${refund.refund_id}/settle`, { body: {} });
    await retryPendingRefunds(env, Date.now());
    expect(await refundRow(paid.order_id)).toMatchObject({ state: 'refunded', provider_status: 'SUCCESS', provider_bill_at_ms: expect.any(Number) });
    expect(await orderRow(paid.order_id)).toMatchObject({ status: 'refunded' });
    const { trade } = await sim<{ trade: { refunded_fen: number } }>(`/sim/alipay/trades/${paid.order_id}`);
    expect(trade.refunded_fen).toBe(1_300);
  });
});
