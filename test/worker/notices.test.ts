// SMS notices end to end in workerd with real local D1 and queues: a payment notification
// makes the order paid, the ledger trigger writes the outbox row, the producer queues it, the
// consumer sends it through the real simulated Aliyun SMS process (which verifies the
// signature), and the row says sent. With the provider down the queue retries until the
// dead-letter queue, and the card office sees the dead letter.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, inject, it } from 'vitest';
import type { AdminNoticesResponse } from '../../protocol/notices.ts';
import { gatewayNotification, openCashier, postNotification, schoolWithCard, sim } from './helpers/gateway.ts';
import { uniqueIp } from './helpers/fixtures.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';
import { ORIGIN, hubFetch, randomSuffix, registerHub } from './helpers/hub.ts';
import { creditIdForOrder } from '../../worker/ledger/payment.ts';
import { TEST_SMS_SIGN_NAME } from './setup/sms.ts';

// The consumer batches for up to a second and the dead-letter path takes five deliveries.
const DELIVERY_TIMEOUT_MS = 20_000;

interface SimMessage {
  phone: string;
  sign_name: string;
  template_code: string;
  template_param: Record<string, string>;
  out_id: string | null;
}

function randomPhone(): string {
  const digits = crypto.getRandomValues(new Uint32Array(2));
  return `15${String(digits[0]! % 1e5).padStart(5, '0')}${String(digits[1]! % 1e4).padStart(4, '0')}`;
}

async function smsTo(phone: string): Promise<SimMessage[]> {
  const response = await fetch(`${inject('smsOrigin')}/sim/messages?phone=${phone}`);
  return ((await response.json()) as { messages: SimMessage[] }).messages;
}

async function setDown(phone: string, down: boolean): Promise<void> {
  const response = await fetch(`${inject('smsOrigin')}/sim/down`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ down, phones: [phone] }),
  });
  expect(response.status).toBe(200);
  await response.body?.cancel();
}

async function noticesOf(order_id: string) {
  return (await env.DB.prepare('SELECT id, kind, state, attempts, last_error, phone FROM notices WHERE order_id = ?').bind(order_id).all<{
    id: number;
    kind: string;
    state: string;
    attempts: number;
    last_error: string | null;
    phone: string;
  }>()).results;
}

/** A top-up with an SMS number, paid at the gateway, its notification delivered to the Worker. */
async function paidWithPhone(amount_fen: number, phone: string, card?: { school_id: string; card_no: string; holder_name: string }): Promise<string> {
  card ??= await schoolWithCard('威海海洋职业学院');
  const response = await SELF.fetch('http://yikatong.test/api/v1/recharges', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
    body: JSON.stringify({ school_id: card.school_id, name: card.holder_name, card_no: card.card_no, amount_fen, channel: 'alipay', notify_phone: phone, agree_terms: true }),
  });
  expect(response.status).toBe(201);
  const { order_id, pay_url } = (await response.json()) as { order_id: string; pay_url: string };
  // Nothing is noticed before the money arrives.
  expect(await noticesOf(order_id)).toEqual([]);
  await openCashier(pay_url);
  await sim(`/sim/alipay/trades/${order_id}/pay`, { body: {} });
  const built = await gatewayNotification(order_id);
  expect(await (await postNotification(built.body)).text()).toBe('success');
  return order_id;
}

describe('SMS notices', () => {
  it('a paid order with a phone number gets one SMS through the queue, signed as Aliyun requires', async () => {
    const phone = randomPhone();
    const order_id = await paidWithPhone(12_345, phone);
    await expect.poll(() => smsTo(phone), { timeout: DELIVERY_TIMEOUT_MS, interval: 100 }).toHaveLength(1);
    const [message] = await smsTo(phone);
    expect(message).toMatchObject({
      sign_name: TEST_SMS_SIGN_NAME,
      template_code: 'SMS_900001',
      template_param: { school: '威海海洋职业学院', card: '****0001', amount: '123.45' },
    });
    await expect.poll(async () => (await noticesOf(order_id)).map((n) => n.state), { timeout: DELIVERY_TIMEOUT_MS }).toEqual(['sent']);
    const [notice] = await noticesOf(order_id);
    expect(message!.out_id).toBe(String(notice!.id));

    // The same notification again is a duplicate for the ledger, and so for the outbox.
    const again = await gatewayNotification(order_id);
    expect(await (await postNotification(again.body)).text()).toBe('success');
    const listed = (await (await SELF.fetch(`http://yikatong.test/api/v1/admin/notices?state=sent&limit=200`, { headers: ADMIN_AUTH })).json()) as AdminNoticesResponse;
    const mine = listed.notices.filter((n) => n.order_id === order_id);
    expect(mine).toEqual([expect.objectContaining({ kind: 'paid', state: 'sent', attempts: 1, phone_masked: `${phone.slice(0, 3)}****${phone.slice(-4)}` })]);
    expect(JSON.stringify(listed)).not.toContain(phone);
    expect(await smsTo(phone)).toHaveLength(1);
  }, 30_000);

  it('with the provider down the queue retries with back-off, then the dead letter is listed', async () => {
    const phone = randomPhone();
    await setDown(phone, true);
    try {
      const order_id = await paidWithPhone(600, phone);
      await expect.poll(async () => (await noticesOf(order_id)).map((n) => n.state), { timeout: DELIVERY_TIMEOUT_MS, interval: 200 }).toEqual(['dead']);
      const [notice] = await noticesOf(order_id);
      // The first delivery and wrangler.toml's max_retries of 4.
      expect(notice).toMatchObject({ attempts: 5 });
      expect(notice!.last_error).toContain('ServiceUnavailable');
      expect(notice!.last_error).toContain('retries exhausted');
      const dead = (await (await SELF.fetch('http://yikatong.test/api/v1/admin/notices?state=dead&limit=200', { headers: ADMIN_AUTH })).json()) as AdminNoticesResponse;
      expect(dead.notices.filter((n) => n.order_id === order_id)).toEqual([expect.objectContaining({ kind: 'paid', state: 'dead', attempts: 5 })]);
      expect(await smsTo(phone)).toEqual([]);
    } finally {
      await setDown(phone, false);
    }
  }, 30_000);

  it('a load at the POS and a refund each send their own notice, once', async () => {
    const phone = randomPhone();
    const card = await schoolWithCard('哈尔滨理工大学(荣成)');
    const loaded = await paidWithPhone(2_000, phone, card);
    const refunded = await paidWithPhone(3_000, phone, card);

    // The hub pulls the first credit and loads it onto the card (the refund goes first, so the
    // second credit is voided directly while no hub holds it).
    const refund = await SELF.fetch(`${ORIGIN}/api/v1/admin/orders/${refunded}/refund`, { method: 'POST', headers: ADMIN_AUTH });
    expect(refund.status, await refund.text()).toBeLessThan(300);
    const hub = await registerHub(card.school_id);
    expect((await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=0&limit=100')).status).toBe(200);
    const claim = {
      claim_id: `K${randomSuffix(8)}`,
      card_no: card.card_no,
      terminal_id: 'pos-01',
      amount_fen: 2_000,
      credit_ids: [creditIdForOrder(loaded)],
      card_terminal_id: '0000000000A1',
      balance_after_fen: 2_500,
      online_serial_after: 1,
      committed_at_ms: Date.now(),
      proof: { kind: 'tac' as const, tac: '1A2B3C4D' },
    };
    const claimed = await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims: [claim] });
    expect(claimed.status).toBe(200);
    // The hub retries the batch: the ledger calls it a duplicate, and no second notice comes.
    expect((await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims: [claim] })).status).toBe(200);

    const templates = async () => (await smsTo(phone)).map((m) => m.template_code).sort();
    await expect.poll(templates, { timeout: DELIVERY_TIMEOUT_MS, interval: 100 }).toEqual(['SMS_900001', 'SMS_900001', 'SMS_900002', 'SMS_900003']);
    expect((await noticesOf(loaded)).map((n) => `${n.kind}:${n.state}`).sort()).toEqual(['claimed:sent', 'paid:sent']);
    await expect.poll(async () => (await noticesOf(refunded)).map((n) => `${n.kind}:${n.state}`).sort(), { timeout: DELIVERY_TIMEOUT_MS }).toEqual([
      'paid:sent',
      'refunded:sent',
    ]);
  }, 30_000);
});
