// The hot queries must find their rows through an index: a full-table SCAN of orders, credits,
// cards or notifications grows with every top-up ever made. The SQL is built by the same
// builders the routes run (`.toSQL()`), then EXPLAIN QUERY PLAN asks SQLite how it would run it.
import { env } from 'cloudflare:test';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { cardByNameQuery, cardByNumberQuery, pendingFenQuery } from '../../worker/cards/lookup.ts';
import { openDb } from '../../worker/db/client.ts';
import { orders } from '../../worker/db/schema.ts';
import {
  cardRecordsQuery,
  chinaMonthStartMs,
  closeUnstartedOrderQuery,
  monthTotalsQuery,
  notifiedOrderQuery,
  orderStatusQuery,
} from '../../worker/ledger/orders.ts';
import { dueOrders } from '../../worker/cron/expire.ts';
import { schoolSearchQuery } from '../../worker/routes/schools.ts';
import { FIXED_NOW_MS } from '../helpers/clock.ts';

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
const NOW_MS = FIXED_NOW_MS;

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
    ["a notification's order lookup (both channels)", () => notifiedOrderQuery(db(), 'Y20261122000000000ABCDEFGHIJ'), [/SEARCH orders USING INDEX sqlite_autoindex_orders_1/]],
    ["the expiry cron's selection of due orders", () => dueOrders(db(), NOW_MS), [/SEARCH orders USING INDEX orders_status_due/]],
  ];

  it.each(cases)('%s: no full scan of a growing table', async (_, build, expected) => {
    const details = await plan(build());
    expect(fullScans(details), details.join('\n')).toEqual([]);
    for (const pattern of expected) expect(details.some((d) => pattern.test(d)), `${pattern} in\n${details.join('\n')}`).toBe(true);
  });

  it('searches schools by scanning that small table, with every filter the picker sends', async () => {
    // Tens of schools, at most 200 answers: no index on schools, and none is wanted. Pinned as
    // the whole plan, so an index that stops matching or a join that sneaks in shows up here.
    const details = await plan(schoolSearchQuery(db(), { q: '海', city: '威海', initial: 'w' }));
    expect(details).toEqual(['SCAN schools', 'USE TEMP B-TREE FOR LAST TERM OF ORDER BY']);
    // Every filter is in the SQL the route runs, bound, not spliced in.
    const { sql: text, params } = schoolSearchQuery(db(), { q: '海', city: '威海', initial: 'w' }).toSQL();
    expect(text).toMatch(/like \? escape/i);
    expect(params).toEqual(expect.arrayContaining(['%海%', '威海', 'W', 200]));
  });

  it('would notice a full scan (the check itself can fail)', async () => {
    const details = await plan(db().select().from(orders).where(eq(orders.amount_fen, 100)));
    expect(fullScans(details)).toEqual(['SCAN orders']);
  });
});
