// Refunds (DESIGN sections 6 and 7) against the real simulated Alipay gateway: only unclaimed
// credits; voided directly while no hub can hold the credit, otherwise through the hub's void;
// the order is refunded only after the provider took the refund.
import { SELF, createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ChangesResponse, ClaimsResponse, RefundView, VoidsResponse } from '../../protocol/hub.ts';
import { app } from '../../worker/app.ts';
import worker from '../../worker/index.ts';
import { creditIdForOrder } from '../../worker/ledger/payment.ts';
import type { Env } from '../../worker/env.ts';
import { REFUND_PROVIDER_ATTEMPTS_AUTO_MAX, REFUND_RETRY_BATCH_MAX, retryPendingRefunds } from '../../worker/ledger/refunds.ts';
import { alipayTopUp, gatewayNotification, openCashier, payAtGateway, postNotification, sim, unreachableOrigin } from './helpers/gateway.ts';
import { ORIGIN, creditRow, hubFetch, orderStatus, randomSuffix, registerHub, signedHeaders, type TestHub } from './helpers/hub.ts';
import { ADMIN_AUTH } from './helpers/seed.ts';
import { beforeFirstBatch, freshSchool, insertCredit, insertOrder, testOrderId, type LedgerOrder } from './helpers/fixtures.ts';
import { DAY_MS, MINUTE_MS } from '../helpers/clock.ts';

interface PaidOrder {
  order_id: string;
  credit_id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
}

/** A top-up made, paid at the gateway and notified, as a payer's phone and Alipay would. */
async function paidOrder(amount_fen: number): Promise<PaidOrder> {
  const { order_id, pay_url } = await alipayTopUp(amount_fen);
  await openCashier(pay_url);
  await payAtGateway(order_id);
  const notification = await gatewayNotification(order_id);
  const answer = await postNotification(notification.body);
  expect(await answer.text()).toBe('success');
  const order = await env.DB.prepare('SELECT school_id, card_no FROM orders WHERE id = ?').bind(order_id).first<{ school_id: string; card_no: string }>();
  const credit_id = creditIdForOrder(order_id);
  expect(await creditRow(credit_id)).toMatchObject({ state: 'pending' });
  return { order_id, credit_id, school_id: order!.school_id, card_no: order!.card_no, amount_fen };
}

function refund(order_id: string, headers: Record<string, string> = ADMIN_AUTH): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/admin/orders/${order_id}/refund`, { method: 'POST', headers });
}

async function gatewayRefunded(order_id: string): Promise<number> {
  const { trade } = await sim<{ trade: { refunded_fen: number } }>(`/sim/alipay/trades/${order_id}`);
  return trade.refunded_fen;
}

async function pullAll(hub: TestHub): Promise<ChangesResponse['changes']> {
  const response = await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=0&limit=1000');
  expect(response.status).toBe(200);
  return ((await response.json()) as ChangesResponse).changes;
}

async function answerVoid(hub: TestHub, credit_id: string, result: 'voided' | 'already_claimed'): Promise<VoidsResponse> {
  const response = await hubFetch(hub, 'POST', '/api/v1/hub/voids', { answers: [{ credit_id, result }] });
  expect(response.status).toBe(200);
  return (await response.json()) as VoidsResponse;
}

async function sendClaim(hub: TestHub, paid: PaidOrder): Promise<ClaimsResponse> {
  const claim = {
    claim_id: `K${randomSuffix(8)}`,
    card_no: paid.card_no,
    terminal_id: 'pos-01',
    amount_fen: paid.amount_fen,
    credit_ids: [paid.credit_id],
    card_terminal_id: '0000000000A1',
    balance_after_fen: paid.amount_fen,
    online_serial_after: 1,
    committed_at_ms: Date.now(),
    proof: { kind: 'tac', tac: '0A0B0C0D' },
  };
  const response = await hubFetch(hub, 'POST', '/api/v1/hub/claims', { claims: [claim] });
  expect(response.status).toBe(200);
  return (await response.json()) as ClaimsResponse;
}

describe('POST /api/v1/admin/orders/{order_id}/refund', () => {
  it('voids directly and refunds when the school has no hub', async () => {
    const paid = await paidOrder(1_234);
    const response = await refund(paid.order_id);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ order_id: paid.order_id, state: 'refunded', route: 'direct', amount_fen: 1_234 });
    expect(await orderStatus(paid.order_id)).toBe('refunded');
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'voided', void_requested_at_ms: null });
    expect(await gatewayRefunded(paid.order_id)).toBe(1_234);
    // Asking again changes nothing and refunds nothing twice.
    const again = await refund(paid.order_id);
    expect(again.status).toBe(200);
    expect(await gatewayRefunded(paid.order_id)).toBe(1_234);
  });

  it('voids directly when the school’s hub has not been sent the credit yet', async () => {
    const paid = await paidOrder(500);
    const hub = await registerHub(paid.school_id);
    const response = await refund(paid.order_id);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ state: 'refunded', route: 'direct' });
    // No hub ever owned it: when the hub does pull, the voided credit is not handed to it at all,
    // so it can never offer it, and it does not become its owner.
    const credit = (await pullAll(hub)).find((change) => change.kind === 'credit' && change.credit_id === paid.credit_id);
    expect(credit).toBeUndefined();
    expect(await env.DB.prepare('SELECT owner_hub_id FROM credits WHERE id = ?').bind(paid.credit_id).first()).toEqual({ owner_hub_id: null });
  });

  it('asks the hub once it holds the credit, and refunds when the hub answers voided', async () => {
    const paid = await paidOrder(2_000);
    const hub = await registerHub(paid.school_id);
    await pullAll(hub);

    const response = await refund(paid.order_id);
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ state: 'requested', route: 'hub' });
    expect(await orderStatus(paid.order_id)).toBe('paid');
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'pending', void_requested_at_ms: expect.any(Number) });
    expect(await gatewayRefunded(paid.order_id)).toBe(0);
    const changes = await pullAll(hub);
    expect(changes.filter((change) => change.kind === 'void')).toEqual([
      expect.objectContaining({ kind: 'void', credit_id: paid.credit_id, card_no: paid.card_no }),
    ]);

    expect(await answerVoid(hub, paid.credit_id, 'voided')).toEqual({ results: [{ credit_id: paid.credit_id, status: 'accepted' }] });
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'voided' });
    expect(await orderStatus(paid.order_id)).toBe('refunded');
    expect(await gatewayRefunded(paid.order_id)).toBe(2_000);
    // The hub resending its answer is harmless.
    expect((await answerVoid(hub, paid.credit_id, 'voided')).results[0]!.status).toBe('duplicate');
    const final = await refund(paid.order_id);
    expect(final.status).toBe(200);
    expect(await final.json()).toMatchObject({ state: 'refunded', route: 'hub' });
    expect(await gatewayRefunded(paid.order_id)).toBe(2_000);
  });

  it('voids directly when the hub has pulled the feed only up to before the credit', async () => {
    const paid = await paidOrder(300);
    const hub = await registerHub(paid.school_id);
    const first = await hubFetch(hub, 'GET', '/api/v1/hub/changes?after=0&limit=1');
    const page = (await first.json()) as ChangesResponse;
    expect(page.changes.map((change) => change.kind)).toEqual(['card']);
    expect(page.has_more).toBe(true);
    const response = await refund(paid.order_id);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ state: 'refunded', route: 'direct' });
    const rest = await hubFetch(hub, 'GET', `/api/v1/hub/changes?after=${page.next_after}&limit=10`);
    const changes = ((await rest.json()) as ChangesResponse).changes;
    expect(changes.filter((change) => change.kind !== 'card')).toEqual([]);
  });

  it('keeps a hub-voided refund retryable when the provider fails, and the cron completes it', async () => {
    const paid = await paidOrder(1_100);
    const hub = await registerHub(paid.school_id);
    await pullAll(hub);
    expect((await refund(paid.order_id)).status).toBe(202);
    const body = JSON.stringify({ answers: [{ credit_id: paid.credit_id, result: 'voided' }] });
    const broken = { ...env, ALIPAY_GATEWAY: `${unreachableOrigin()}/gateway.do` };
    const answered = await app.fetch(
      new Request(`${ORIGIN}/api/v1/hub/voids`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(await signedHeaders(hub, 'POST', '/api/v1/hub/voids', body)) },
        body,
      }),
      broken,
      createExecutionContext(),
    );
    // The hub's part is done whatever the provider says: it must not resend its answer.
    expect(answered.status).toBe(200);
    expect(await answered.json()).toEqual({ results: [{ credit_id: paid.credit_id, status: 'accepted' }] });
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'voided' });
    expect(await orderStatus(paid.order_id)).toBe('paid');
    const pending = await env.DB.prepare('SELECT state, route, provider_attempts FROM refunds WHERE order_id = ?').bind(paid.order_id).first();
    expect(pending).toEqual({ state: 'provider_pending', route: 'hub', provider_attempts: 1 });

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '*/5 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await orderStatus(paid.order_id)).toBe('refunded');
    expect(await gatewayRefunded(paid.order_id)).toBe(1_100);
  });

  it('refuses once the credit is claimed', async () => {
    const paid = await paidOrder(800);
    const hub = await registerHub(paid.school_id);
    await pullAll(hub);
    expect((await sendClaim(hub, paid)).results[0]!.status).toBe('accepted');
    const response = await refund(paid.order_id);
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { code: 'refund_not_allowed' } });
    expect(await orderStatus(paid.order_id)).toBe('paid');
    expect(await gatewayRefunded(paid.order_id)).toBe(0);
  });

  it('ends as refused when the hub answers already_claimed, and the claim still lands', async () => {
    const paid = await paidOrder(900);
    const hub = await registerHub(paid.school_id);
    await pullAll(hub);
    expect((await refund(paid.order_id)).status).toBe(202);

    expect(await answerVoid(hub, paid.credit_id, 'already_claimed')).toEqual({
      results: [{ credit_id: paid.credit_id, status: 'accepted' }],
    });
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'pending' });
    const refused = await refund(paid.order_id);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ error: { code: 'refund_not_allowed' } });

    expect((await sendClaim(hub, paid)).results[0]!.status).toBe('accepted');
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'claimed' });
    expect(await orderStatus(paid.order_id)).toBe('paid');
    expect(await gatewayRefunded(paid.order_id)).toBe(0);
  });

  it('refuses the refund when the claim arrives before the hub’s void answer', async () => {
    const paid = await paidOrder(650);
    const hub = await registerHub(paid.school_id);
    await pullAll(hub);
    expect((await refund(paid.order_id)).status).toBe(202);
    expect((await sendClaim(hub, paid)).results[0]!.status).toBe('accepted');
    const row = await env.DB.prepare('SELECT state FROM refunds WHERE order_id = ?').bind(paid.order_id).first();
    expect(row).toEqual({ state: 'refused' });
    // A confused hub saying "voided" now is refused: the credit is on the card.
    expect((await answerVoid(hub, paid.credit_id, 'voided')).results[0]).toMatchObject({ status: 'rejected' });
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'claimed' });
    expect(await orderStatus(paid.order_id)).toBe('paid');
  });

  it('leaves a retryable refund when the provider fails, and completes it on retry', async () => {
    const paid = await paidOrder(1_500);
    const broken = { ...env, ALIPAY_GATEWAY: `${unreachableOrigin()}/gateway.do` };
    const ctx = createExecutionContext();
    const failed = await app.fetch(
      new Request(`${ORIGIN}/api/v1/admin/orders/${paid.order_id}/refund`, { method: 'POST', headers: ADMIN_AUTH }),
      broken,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(failed.status).toBe(202);
    const pending = (await failed.json()) as RefundView;
    expect(pending).toMatchObject({ state: 'provider_pending', route: 'direct', provider_attempts: 1 });
    expect(pending.last_error).toBeTruthy();
    expect(await orderStatus(paid.order_id)).toBe('paid');
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'voided' });
    expect(await gatewayRefunded(paid.order_id)).toBe(0);

    const retried = await refund(paid.order_id);
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ state: 'refunded', provider_attempts: 2 });
    expect(await orderStatus(paid.order_id)).toBe('refunded');
    expect(await gatewayRefunded(paid.order_id)).toBe(1_500);
  });

  it('retries a failed provider refund from the cron until the money is back', async () => {
    const paid = await paidOrder(2_200);
    const broken = { ...env, ALIPAY_GATEWAY: `${unreachableOrigin()}/gateway.do` };
    const failed = await app.fetch(
      new Request(`${ORIGIN}/api/v1/admin/orders/${paid.order_id}/refund`, { method: 'POST', headers: ADMIN_AUTH }),
      broken,
      createExecutionContext(),
    );
    expect(failed.status).toBe(202);
    expect(await orderStatus(paid.order_id)).toBe('paid');

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '*/5 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await orderStatus(paid.order_id)).toBe('refunded');
    expect(await gatewayRefunded(paid.order_id)).toBe(2_200);
    const row = await env.DB.prepare('SELECT state, provider_attempts, last_error FROM refunds WHERE order_id = ?').bind(paid.order_id).first();
    expect(row).toEqual({ state: 'refunded', provider_attempts: 2, last_error: null });
  });

  it('stops retrying automatically after the attempt bound, but an administrator can still retry', async () => {
    const paid = await paidOrder(990);
    const broken = { ...env, ALIPAY_GATEWAY: `${unreachableOrigin()}/gateway.do` };
    const failed = await app.fetch(
      new Request(`${ORIGIN}/api/v1/admin/orders/${paid.order_id}/refund`, { method: 'POST', headers: ADMIN_AUTH }),
      broken,
      createExecutionContext(),
    );
    expect(failed.status).toBe(202);
    await env.DB.prepare('UPDATE refunds SET provider_attempts = ? WHERE order_id = ?')
      .bind(REFUND_PROVIDER_ATTEMPTS_AUTO_MAX, paid.order_id)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '*/5 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await orderStatus(paid.order_id)).toBe('paid');
    expect(await gatewayRefunded(paid.order_id)).toBe(0);

    const by_hand = await refund(paid.order_id);
    expect(by_hand.status).toBe(200);
    expect(await orderStatus(paid.order_id)).toBe('refunded');
    expect(await gatewayRefunded(paid.order_id)).toBe(990);
  });

  it('refuses unknown, unpaid and malformed orders, and callers without the admin token', async () => {
    const unknown = await refund('Y00000000000000000000');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'order_not_found' } });
    const malformed = await refund('not-an-order');
    expect(malformed.status).toBe(404);

    const { order_id } = await alipayTopUp(300);
    const unpaid = await refund(order_id);
    expect(unpaid.status).toBe(409);
    expect(await unpaid.json()).toMatchObject({ error: { code: 'refund_not_allowed' } });

    const paid = await paidOrder(100);
    const anonymous = await refund(paid.order_id, {});
    expect(anonymous.status).toBe(401);
    expect(await orderStatus(paid.order_id)).toBe('paid');
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'pending' });
  });

  it('judges each void answer of a batch on its own', async () => {
    const first = await paidOrder(210);
    const hub = await registerHub(first.school_id);
    await pullAll(hub);
    expect((await refund(first.order_id)).status).toBe(202);
    const response = await hubFetch(hub, 'POST', '/api/v1/hub/voids', {
      answers: [
        { credit_id: 'C-no-such-credit', result: 'voided' },
        { credit_id: first.credit_id, result: 'voided' },
        { credit_id: first.credit_id, result: 'already_claimed' },
      ],
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as VoidsResponse;
    expect(body.results.map((r) => r.status)).toEqual(['rejected', 'accepted', 'rejected']);
    expect(await orderStatus(first.order_id)).toBe('refunded');
    expect(await gatewayRefunded(first.order_id)).toBe(210);
  });

  it('rejects void answers for credits nobody asked to void, or of another school', async () => {
    const paid = await paidOrder(400);
    const hub = await registerHub(paid.school_id);
    expect((await answerVoid(hub, paid.credit_id, 'voided')).results[0]).toMatchObject({ status: 'rejected' });
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'pending' });

    const elsewhere = await paidOrder(400);
    await registerHub(elsewhere.school_id).then(pullAll);
    expect((await refund(elsewhere.order_id)).status).toBe(202);
    expect((await answerVoid(hub, elsewhere.credit_id, 'voided')).results[0]).toMatchObject({ status: 'rejected', reason: 'unknown credit' });
    expect(await creditRow(elsewhere.credit_id)).toMatchObject({ state: 'pending' });
  });
});

describe('refund races and bounds', () => {
  async function refundWith(overrides: Partial<Env>, order_id: string): Promise<Response> {
    return app.fetch(
      new Request(`${ORIGIN}/api/v1/admin/orders/${order_id}/refund`, { method: 'POST', headers: ADMIN_AUTH }),
      { ...env, ...overrides },
      createExecutionContext(),
    );
  }

  async function refundRows(order_id: string): Promise<number> {
    return (await env.DB.prepare('SELECT COUNT(*) AS n FROM refunds WHERE order_id = ?').bind(order_id).first<{ n: number }>())!.n;
  }

  it('refuses, changing nothing, when the card loads the credit between the refund’s read and its write', async () => {
    const paid = await paidOrder(800);
    const hub = await registerHub(paid.school_id);
    await pullAll(hub);
    let claimed_meanwhile = false;
    const racing = beforeFirstBatch(env.DB, async () => {
      // The refund has read the order paid and its credit pending; the hub's claim lands now.
      expect((await sendClaim(hub, paid)).results[0]).toMatchObject({ status: 'accepted' });
      claimed_meanwhile = true;
    });
    const response = await refundWith({ DB: racing }, paid.order_id);
    expect(claimed_meanwhile).toBe(true);
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { code: 'refund_not_allowed', message: 'the order changed while refunding; look at it again' } });
    // The card has the money: no refund, no void, nothing back at the provider.
    expect(await refundRows(paid.order_id)).toBe(0);
    expect(await creditRow(paid.credit_id)).toMatchObject({ state: 'claimed', void_requested_at_ms: null });
    expect(await orderStatus(paid.order_id)).toBe('paid');
    expect(await gatewayRefunded(paid.order_id)).toBe(0);
    expect((await pullAll(hub)).filter((change) => change.kind === 'void')).toEqual([]);
    // Looked at again, the order says why.
    const again = await refund(paid.order_id);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { message: 'the top-up is already loaded onto the card' } });
  });

  it('refuses a paid order that has no credit, and sends no money back', async () => {
    const school_id = await freshSchool();
    const now_ms = Date.now();
    const orphan: LedgerOrder = { order_id: testOrderId(now_ms), school_id, card_no: '20230001', amount_fen: 4_200, status: 'paid', created_at_ms: now_ms, paid_at_ms: now_ms };
    await insertOrder(orphan);
    try {
      const response = await refund(orphan.order_id);
      expect(response.status).toBe(409);
      expect(await response.json()).toMatchObject({ error: { code: 'refund_not_allowed', message: 'the order has no credit' } });
      expect(await refundRows(orphan.order_id)).toBe(0);
      expect(await orderStatus(orphan.order_id)).toBe('paid');
    } finally {
      // Such an order breaks invariant 1 on purpose; the file's closing audit must not see it.
      await env.DB.prepare('DELETE FROM orders WHERE id = ?').bind(orphan.order_id).run();
    }
  });

  it('retries at most a batch of waiting provider refunds per cron run, oldest first', async () => {
    // Voided credits whose refunds wait for the provider, older than anything else in this file,
    // one more than a batch. The gateway has never seen these trades, so every try fails and
    // counts an attempt: the attempts say which refunds a run tried.
    const school_id = await freshSchool();
    const long_ago_ms = Date.now() - 365 * DAY_MS;
    const waiting: LedgerOrder[] = [];
    for (let i = 0; i <= REFUND_RETRY_BATCH_MAX; i++) {
      const at_ms = long_ago_ms + i * MINUTE_MS;
      const order: LedgerOrder = { order_id: testOrderId(at_ms), school_id, card_no: '20230001', amount_fen: 100 + i, status: 'paid', created_at_ms: at_ms, paid_at_ms: at_ms };
      await insertOrder(order);
      await insertCredit(order, { state: 'voided', voided_at_ms: at_ms });
      waiting.push(order);
    }
    const attempts = async () => {
      const rows = await env.DB.prepare(`SELECT order_id, provider_attempts FROM refunds WHERE order_id IN (SELECT value FROM json_each(?))`)
        .bind(JSON.stringify(waiting.map((order) => order.order_id)))
        .all<{ order_id: string; provider_attempts: number }>();
      const by_order = new Map(rows.results.map((row) => [row.order_id, row.provider_attempts]));
      return waiting.map((order) => by_order.get(order.order_id));
    };
    expect(await attempts()).toEqual(Array(REFUND_RETRY_BATCH_MAX + 1).fill(0));
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '*/5 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await attempts()).toEqual([...Array(REFUND_RETRY_BATCH_MAX).fill(1), 0]);
    // Asked for more than a batch, the retry still takes a batch.
    expect(await retryPendingRefunds(env, Date.now(), 10 * REFUND_RETRY_BATCH_MAX)).toBe(0);
    const second = await attempts();
    // The one left out the first time, now the oldest, went first; a batch at most in all.
    expect(second.at(-1)).toBe(1);
    expect(second.reduce((sum, n) => sum! + n!, 0)).toBeLessThanOrEqual(2 * REFUND_RETRY_BATCH_MAX);
    for (const order of waiting) expect(await orderStatus(order.order_id)).toBe('paid');
  });
});
