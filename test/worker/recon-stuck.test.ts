// No stuck order (DESIGN section 7): a cap on a card's unpaid orders, so one card cannot grow
// the expiry cron's backlog without end; rejected notifications kept bounded in bytes and pruned
// after their retention period. (The expiry cron's back-off is in cron-expire.test.ts.)
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { REJECTED_NOTIFICATION_RETENTION_MS, pruneRejectedNotifications } from '../../worker/cron/prune.ts';
import { OPEN_ORDERS_PER_CARD_MAX } from '../../worker/ledger/orders.ts';
import { REJECTED_BODY_BYTES_MAX, truncateUtf8 } from '../../worker/ledger/payment.ts';
import { freshSchool, postFrom, uniqueIp } from './helpers/fixtures.ts';
import { postNotification } from './helpers/gateway.ts';
import { paidAt } from './helpers/money.ts';

function topUp(school_id: string): Promise<Response> {
  return postFrom(uniqueIp(), '/api/v1/recharges', { school_id, name: '张三', card_no: '20230001', amount_fen: 100, channel: 'alipay', agree_terms: true });
}

async function unpaidCount(school_id: string): Promise<number> {
  const row = await env.DB.prepare(`SELECT count(*) AS n FROM orders WHERE school_id = ? AND status = 'unpaid'`).bind(school_id).first<{ n: number }>();
  return row!.n;
}

describe('open unpaid orders per card', () => {
  it(`refuses the card's order past ${OPEN_ORDERS_PER_CARD_MAX} unpaid ones with 409 too_many_open_orders, and allows one again once one closes`, async () => {
    const school_id = await freshSchool();
    for (let i = 0; i < OPEN_ORDERS_PER_CARD_MAX; i++) expect((await topUp(school_id)).status).toBe(201);
    const refused = await topUp(school_id);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ error: { code: 'too_many_open_orders', message: expect.any(String) } });
    expect(await unpaidCount(school_id)).toBe(OPEN_ORDERS_PER_CARD_MAX);
    // Another card of the same school is not affected... (freshSchool has one card; a new school stands in.)
    expect((await topUp(await freshSchool())).status).toBe(201);
    // One of them closes: the card may open one again.
    await env.DB.prepare(`UPDATE orders SET status = 'closed', closed_at_ms = ? WHERE id = (SELECT id FROM orders WHERE school_id = ? AND status = 'unpaid' LIMIT 1)`)
      .bind(Date.now(), school_id)
      .run();
    expect((await topUp(school_id)).status).toBe(201);
  });

  it('holds under concurrent requests: the cap is part of the insert', async () => {
    const school_id = await freshSchool();
    const answers = await Promise.all(Array.from({ length: OPEN_ORDERS_PER_CARD_MAX + 3 }, () => topUp(school_id)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(OPEN_ORDERS_PER_CARD_MAX);
    expect(statuses.filter((s) => s === 409)).toHaveLength(3);
    expect(await unpaidCount(school_id)).toBe(OPEN_ORDERS_PER_CARD_MAX);
  });
});

describe('rejected notifications', () => {
  it('are stored cut to a byte bound on a character boundary', async () => {
    const before_ms = Date.now();
    const body = `out_trade_no=Y20260101000000000ZZZZZZ&subject=${encodeURIComponent('校园卡充值'.repeat(200))}&sign=AAAA`;
    expect(new TextEncoder().encode(body).length).toBeGreaterThan(REJECTED_BODY_BYTES_MAX);
    const answer = await postNotification(body);
    expect(await answer.text()).toBe('fail');
    const row = await env.DB.prepare(`SELECT body FROM notifications WHERE verdict = 'rejected' AND received_at_ms >= ? ORDER BY id DESC LIMIT 1`)
      .bind(before_ms)
      .first<{ body: string }>();
    expect(new TextEncoder().encode(row!.body).length).toBeLessThanOrEqual(REJECTED_BODY_BYTES_MAX);
    expect(row!.body.startsWith('out_trade_no=Y20260101000000000ZZZZZZ&subject=')).toBe(true);
    // Multi-byte text is never cut in the middle of a character.
    const cut = truncateUtf8('张'.repeat(100), 64);
    expect(cut).not.toContain('\uFFFD');
    expect(new TextEncoder().encode(cut).length).toBeLessThanOrEqual(64);
  });

  it('are pruned after the retention period, a bounded batch a run; applied ones stay', async () => {
    const before_ms = Date.now();
    await postNotification('out_trade_no=Y20260101000000000ZZZZZZ&sign=AAAA');
    const paid = await paidAt('alipay', 300);
    const count = async (verdict: string) =>
      (await env.DB.prepare('SELECT count(*) AS n FROM notifications WHERE verdict = ? AND received_at_ms >= ?').bind(verdict, before_ms).first<{ n: number }>())!.n;
    expect(await count('rejected')).toBeGreaterThanOrEqual(1);
    // Within the retention period nothing goes.
    expect(await pruneRejectedNotifications(env, Date.now() + REJECTED_NOTIFICATION_RETENTION_MS - 60_000)).toBe(0);
    expect(await count('rejected')).toBeGreaterThanOrEqual(1);
    // Past it, the rejected ones go and the payment's evidence stays.
    await pruneRejectedNotifications(env, Date.now() + REJECTED_NOTIFICATION_RETENTION_MS + 60_000);
    expect(await count('rejected')).toBe(0);
    const applied = await env.DB.prepare(`SELECT count(*) AS n FROM notifications WHERE order_id = ? AND verdict = 'applied'`).bind(paid.order_id).first<{ n: number }>();
    expect(applied!.n).toBe(1);
  });
});
