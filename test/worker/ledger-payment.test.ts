import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { openDb } from '../../worker/db/client.ts';
import { applyClosed, applyPaid, creditIdForOrder } from '../../worker/ledger/payment.ts';
import { seedDemoCampus } from './helpers/seed.ts';

const db = () => openDb(env.DB);

async function insertOrder(order_id: string, amount_fen: number, status = 'unpaid'): Promise<void> {
  const now_ms = Date.now();
  await env.DB.prepare(
    `INSERT INTO orders (id, school_id, card_no, amount_fen, channel, status, created_at_ms, expires_at_ms)
     VALUES (?, 'bjtu-weihai', '20230001', ?, 'alipay', ?, ?, ?)`,
  )
    .bind(order_id, amount_fen, status, now_ms, now_ms + 900_000)
    .run();
}

async function creditsOf(order_id: string) {
  return (await env.DB.prepare('SELECT * FROM credits WHERE order_id = ?').bind(order_id).all()).results;
}

describe('ledger: applyPaid', () => {
  beforeEach(seedDemoCampus);

  it('mints exactly one credit however often the payment is applied, and feeds the hub once', async () => {
    const order_id = 'Y20261122000000AAAA01';
    await insertOrder(order_id, 12_345);
    const evidence = { channel: 'alipay' as const, order_id, amount_fen: 12_345, provider_trade_no: 'T1', paid_at_ms: 1 };
    const audit = { channel: 'alipay' as const, headers: null, body: 'x=1' };
    const verdicts = [];
    for (let i = 0; i < 3; i++) verdicts.push(await applyPaid(db(), evidence, audit, Date.now()));
    expect(verdicts).toEqual(['applied', 'duplicate', 'duplicate']);
    const rows = await creditsOf(order_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: creditIdForOrder(order_id), amount_fen: 12_345, state: 'pending', card_no: '20230001' });
    const feed = await env.DB.prepare("SELECT * FROM changes WHERE kind = 'credit' AND ref = ?").bind(rows[0]!.id).all();
    expect(feed.results).toHaveLength(1);
    const audits = await env.DB.prepare('SELECT verdict FROM notifications WHERE order_id = ? ORDER BY id').bind(order_id).all();
    expect(audits.results.map((r) => r.verdict)).toEqual(['applied', 'duplicate', 'duplicate']);
  });

  it('refuses in SQL an amount that differs from the order', async () => {
    const order_id = 'Y20261122000000AAAA02';
    await insertOrder(order_id, 10_000);
    const verdict = await applyPaid(
      db(),
      { channel: 'alipay', order_id, amount_fen: 1, provider_trade_no: 'T2', paid_at_ms: 1 },
      null,
      Date.now(),
    );
    expect(verdict).toBe('duplicate');
    expect(await creditsOf(order_id)).toHaveLength(0);
    const order = await env.DB.prepare('SELECT status FROM orders WHERE id = ?').bind(order_id).first();
    expect(order).toMatchObject({ status: 'unpaid' });
  });

  it('keeps a paid order paid when a close arrives after it', async () => {
    const order_id = 'Y20261122000000AAAA03';
    await insertOrder(order_id, 500);
    await applyPaid(db(), { channel: 'alipay', order_id, amount_fen: 500, provider_trade_no: 'T3', paid_at_ms: 1 }, null, 2);
    expect(await applyClosed(db(), { channel: 'alipay', order_id }, null, 3)).toBe('duplicate');
    const order = await env.DB.prepare('SELECT status FROM orders WHERE id = ?').bind(order_id).first();
    expect(order).toMatchObject({ status: 'paid' });
  });
});
