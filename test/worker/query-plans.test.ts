// The hot queries must find their rows through an index: a full-table SCAN of orders, credits,
// cards or notifications grows with every top-up ever made. The SQL is built by the same
// builders the routes run (`.toSQL()`), then EXPLAIN QUERY PLAN asks SQLite how it would run it.
import { env } from 'cloudflare:test';
import { and, asc, eq, lt, lte, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { cardByNameQuery, cardByNumberQuery, pendingFenQuery } from '../../worker/cards/lookup.ts';
import { openDb } from '../../worker/db/client.ts';
import { notifications, orders, schools } from '../../worker/db/schema.ts';
import { cardRecordsQuery, chinaMonthStartMs, closeUnstartedOrderQuery, monthTotalsQuery, orderStatusQuery } from '../../worker/ledger/orders.ts';
import { EXPIRY_ATTEMPTS_MAX, EXPIRY_BATCH_MAX } from '../../worker/cron/expire.ts';

// Tables that grow with use; a small table (schools) may be scanned.
const GROWING = ['orders', 'credits', 'cards', 'notifications', 'claims', 'changes'];

interface PlanRow {
  id: number;
  parent: number;
  detail: string;
}

async function plan(query: { toSQL(): { sql: string; params: unknown[] } }): Promise<string[]> {
  const { sql: text, params } = query.toSQL();
  const rows = await env.DB.prepare(`EXPLAIN QUERY PLAN ${text}`)
    .bind(...params)
    .all<PlanRow>();
  return rows.results.map((row) => row.detail);
}

function fullScans(details: string[]): string[] {
  // "SCAN t", "SCAN t USING INDEX i" and "SCAN t USING COVERING INDEX i" all read every row;
  // only SEARCH narrows by key.
  return details.filter((detail) => GROWING.some((table) => new RegExp(`^SCAN ${table}\\b`).test(detail)));
}

const db = () => openDb(env.DB);
const NOW_MS = Date.UTC(2026, 10, 22);

describe('query plans of the hot queries', () => {
  const cases: [string, () => { toSQL(): { sql: string; params: unknown[] } }, RegExp[]][] = [
    ['card lookup by school, number and name', () => cardByNameQuery(db(), 'bjtu-weihai', '20230001', '张三'), [/SEARCH cards USING PRIMARY KEY|SEARCH cards USING INDEX/]],
    ['card by token (top-up with a saved card)', () => cardByNumberQuery(db(), 'bjtu-weihai', '20230001'), [/SEARCH cards/]],
    ['pending money of a card', () => pendingFenQuery(db(), 'bjtu-weihai', '20230001'), [/SEARCH credits USING (COVERING )?INDEX credits_card_state/]],
    ['order status with credit and claim', () => orderStatusQuery(db(), 'Y20261122000000000ABCDEFGHIJ'), [/SEARCH orders/, /SEARCH credits USING (COVERING )?INDEX credits_order/, /SEARCH claims/]],
    [
      'records of a card',
      () => cardRecordsQuery(db(), 'bjtu-weihai', '20230001', chinaMonthStartMs(NOW_MS, 11), 200),
      [/SEARCH orders USING INDEX orders_card_created/],
    ],
    [
      'month totals of a card',
      () => monthTotalsQuery(db(), 'bjtu-weihai', '20230001', chinaMonthStartMs(NOW_MS, 11)),
      [/SEARCH orders USING INDEX orders_card_created/],
    ],
    ['closing an order whose payment could not start', () => closeUnstartedOrderQuery(db(), 'Y20261122000000000ABCDEFGHIJ', NOW_MS), [/SEARCH orders/]],
    // The two below are written inline in worker/routes/notify-*.ts and worker/cron/expire.ts;
    // they are rebuilt here column for column. If those modules export builders, use them.
    [
      "a notification's order lookup",
      () => db().select({ id: orders.id, channel: orders.channel, amount_fen: orders.amount_fen }).from(orders).where(eq(orders.id, 'Y20261122000000000ABCDEFGHIJ')).limit(1),
      [/SEARCH orders USING INDEX sqlite_autoindex_orders_1/],
    ],
    [
      "the expiry cron's selection of due orders",
      () =>
        db()
          .select({ id: orders.id, channel: orders.channel, amount_fen: orders.amount_fen })
          .from(orders)
          .where(and(eq(orders.status, 'unpaid'), lte(orders.expires_at_ms, NOW_MS), lt(orders.expiry_attempts, EXPIRY_ATTEMPTS_MAX)))
          .orderBy(asc(orders.expires_at_ms))
          .limit(EXPIRY_BATCH_MAX),
      [/SEARCH orders USING INDEX orders_status_expires/],
    ],
    [
      'notifications kept for one order (audit)',
      () => db().select().from(notifications).where(eq(notifications.order_id, 'Y20261122000000000ABCDEFGHIJ')),
      [/SEARCH notifications USING INDEX notifications_order/],
    ],
    [
      'schools search by name, city and initial',
      () =>
        db()
          .select({ id: schools.id })
          .from(schools)
          .where(and(sql`${schools.name} LIKE ${'%海%'} ESCAPE '\\'`, eq(schools.city, '威海'), eq(schools.initial, 'W')))
          .limit(200),
      [/schools/],
    ],
  ];

  it.each(cases)('%s: no full scan of a growing table', async (_, build, expected) => {
    const details = await plan(build());
    expect(fullScans(details), details.join('\n')).toEqual([]);
    for (const pattern of expected) expect(details.some((d) => pattern.test(d)), `${pattern} in\n${details.join('\n')}`).toBe(true);
  });

  it('would notice a full scan (the check itself can fail)', async () => {
    const details = await plan(db().select().from(orders).where(eq(orders.amount_fen, 100)));
    expect(fullScans(details)).toEqual(['SCAN orders']);
  });
});
