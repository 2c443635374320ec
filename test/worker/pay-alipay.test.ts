// The Worker's Alipay channel against the real gateway process: the signed wap-pay URL, and
// query / close / refund whose signed answers it verifies.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { alipayVerify, parseChinaTime } from '../../protocol/alipay.ts';
import { importRsaPublicKey } from '../../protocol/rsa.ts';
import { alipayChannel } from '../../worker/pay/alipay.ts';
import { ProviderError } from '../../worker/pay/channel.ts';
import { gatewayOrigin, openCashier, payAtGateway, sandboxKeys, sim } from './helpers/gateway.ts';

let seq = 0;
function orderId(): string {
  return `YPAY${Date.now().toString(36).toUpperCase()}${(++seq).toString().padStart(4, '0')}`;
}

const urls = { notify_url: 'http://yikatong.test/api/v1/notify/alipay', return_url: 'http://yikatong.test/orders/x' };

async function created(amount_fen: number, subject = '北京交通大学威海校区 校园卡充值') {
  const order_id = orderId();
  const expires_at_ms = Date.now() + 15 * 60_000;
  const { pay_url } = await alipayChannel(env).createPayment({ order_id, amount_fen, subject, expires_at_ms }, urls);
  return { order_id, pay_url, expires_at_ms };
}

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError');
}

describe('alipay channel', () => {
  it('builds a wap-pay URL signed over all parameters but sign, with the documented fields', async () => {
    const { order_id, pay_url, expires_at_ms } = await created(12_345);
    const url = new URL(pay_url);
    expect(`${url.origin}${url.pathname}`).toBe(`${gatewayOrigin()}/gateway.do`);
    const params = Object.fromEntries(url.searchParams);
    expect(params).toMatchObject({
      app_id: sandboxKeys().alipay.app_id,
      method: 'alipay.trade.wap.pay',
      charset: 'utf-8',
      sign_type: 'RSA2',
      version: '1.0',
      notify_url: urls.notify_url,
      return_url: urls.return_url,
    });
    expect(Math.abs(parseChinaTime(params.timestamp!)! - Date.now())).toBeLessThan(60_000);
    expect(JSON.parse(params.biz_content!)).toMatchObject({
      out_trade_no: order_id,
      total_amount: '123.45',
      product_code: 'QUICK_WAP_WAY',
      subject: '北京交通大学威海校区 校园卡充值',
    });
    expect(parseChinaTime(JSON.parse(params.biz_content!).time_expire)).toBe(Math.floor(expires_at_ms / 1000) * 1000);
    const merchant = await importRsaPublicKey(sandboxKeys().alipay.merchant_public_key);
    expect(await alipayVerify(merchant, params, 'request')).toBe(true);
    // sign_type is part of a request's signed string.
    expect(await alipayVerify(merchant, { ...params, sign_type: 'RSA' }, 'request')).toBe(false);
  });

  it('the gateway refuses a pay URL whose amount was changed after signing', async () => {
    const { pay_url } = await created(10_000);
    const url = new URL(pay_url);
    url.searchParams.set('biz_content', url.searchParams.get('biz_content')!.replace('"100.00"', '"0.01"'));
    const response = await fetch(url);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('isv.invalid-signature');
  });

  it('queries a trade through its life: not_found, unpaid, paid; closes an unpaid one', async () => {
    const channel = alipayChannel(env);
    const first = await created(4_321);
    expect(await channel.queryTrade(first.order_id)).toEqual({ state: 'not_found' });
    await openCashier(first.pay_url);
    expect(await channel.queryTrade(first.order_id)).toEqual({ state: 'unpaid' });
    await payAtGateway(first.order_id);
    const paid = await channel.queryTrade(first.order_id);
    const { trade } = await sim<{ trade: { trade_no: string } }>(`/sim/alipay/trades/${first.order_id}`);
    expect(paid).toMatchObject({ state: 'paid', amount_fen: 4_321, provider_trade_no: trade.trade_no });
    // A paid trade cannot be closed.
    expect((await providerError(channel.closeTrade(first.order_id))).provider_code).toBe('ACQ.TRADE_STATUS_ERROR');

    const second = await created(100);
    await openCashier(second.pay_url);
    await channel.closeTrade(second.order_id);
    expect(await channel.queryTrade(second.order_id)).toEqual({ state: 'closed' });
    // Closing a trade Alipay never saw succeeds: there is nothing left to pay.
    await channel.closeTrade(orderId());
  });

  it('refunds once per refund id, and never more than was paid', async () => {
    const channel = alipayChannel(env);
    const { order_id, pay_url } = await created(10_000);
    await openCashier(pay_url);
    await payAtGateway(order_id);
    const refund_id = `R${order_id.slice(1)}`;
    await channel.refund({ order_id, refund_id, amount_fen: 3_000, total_fen: 10_000 });
    await channel.refund({ order_id, refund_id, amount_fen: 3_000, total_fen: 10_000 });
    const { trade } = await sim<{ trade: { refunded_fen: number } }>(`/sim/alipay/trades/${order_id}`);
    expect(trade.refunded_fen).toBe(3_000);
    const error = await providerError(channel.refund({ order_id, refund_id: `${refund_id}2`, amount_fen: 8_000, total_fen: 10_000 }));
    expect(error.provider_code).toBe('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL');
    expect(error.transient).toBe(false);
  });

  it('believes no answer it cannot verify, and says when it is not configured', async () => {
    const { order_id } = await created(100);
    const wrong = alipayChannel({ ...env, ALIPAY_PUBLIC_KEY: sandboxKeys().alipay.merchant_public_key });
    const error = await providerError(wrong.queryTrade(order_id));
    expect(error).toMatchObject({ provider_code: 'bad_signature', transient: true });
    const unconfigured = alipayChannel({ ...env, ALIPAY_PRIVATE_KEY: undefined });
    expect(await providerError(unconfigured.queryTrade(order_id))).toMatchObject({ provider_code: 'not_configured', transient: false });
    const bad_key = alipayChannel({ ...env, ALIPAY_PRIVATE_KEY: 'not a key' });
    expect(await providerError(bad_key.queryTrade(order_id))).toMatchObject({ provider_code: 'not_configured' });
  });

  it('the gateway refuses a request signed with the wrong key, and the channel reports it', async () => {
    const { order_id } = await created(100);
    // Alipay's own private key is not the merchant's: the gateway answers isv.invalid-signature.
    const keys = sandboxKeys();
    const impostor = alipayChannel({ ...env, ALIPAY_PRIVATE_KEY: keys.alipay.alipay_private_key });
    expect((await providerError(impostor.queryTrade(order_id))).provider_code).toBe('isv.invalid-signature');
  });
});
