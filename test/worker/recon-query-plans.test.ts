// The reconciliation, refund follow-up and pruning SQL must find its rows by key: a full SCAN
// of a growing table would make every daily run slower with every top-up ever made. The
// statements are the very constants the modules run.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { PRUNE_REJECTED_SQL } from '../../worker/cron/prune.ts';
import { REFUND_SUCCEEDED_ORDER_SQL, REFUND_SUCCEEDED_SQL } from '../../worker/ledger/refunds.ts';
import { OURS_PAID_SQL, OURS_REFUNDED_SQL, RECON_ORDERS_SQL, RECON_REFUNDS_SQL } from '../../worker/recon/reconcile.ts';
import { FIXED_NOW_MS } from '../helpers/clock.ts';

const GROWING = ['orders', 'credits', 'refunds', 'notifications', 'changes'];

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const rows = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
  return rows.results.map((row) => row.detail);
}

const DAY = [FIXED_NOW_MS - 86_400_000, FIXED_NOW_MS];
const IDS = JSON.stringify(['Y20261122000000000ABCDEFGHIJ', 'R20261122000000000ABCDEFGHIJ']);

describe('query plans of reconciliation and refund follow-up', () => {
  const cases: [string, string, unknown[], RegExp][] = [
    ['bill rows to their orders', RECON_ORDERS_SQL, [IDS], /SEARCH orders USING INDEX sqlite_autoindex_orders_1/],
    ['bill rows to their refunds', RECON_REFUNDS_SQL, [IDS], /SEARCH r USING INDEX sqlite_autoindex_refunds_1/],
    ["a channel's payments of the day", OURS_PAID_SQL, ['alipay', ...DAY, 50_001], /SEARCH orders USING INDEX orders_channel_paid/],
    ["a channel's refunds of the day", OURS_REFUNDED_SQL, ['alipay', ...DAY, 50_001], /SEARCH r USING INDEX refunds_bill_at/],
    ['a finished refund refunds its order', REFUND_SUCCEEDED_ORDER_SQL, ['R1', FIXED_NOW_MS], /SEARCH orders USING INDEX sqlite_autoindex_orders_1/],
    ['a finished refund', REFUND_SUCCEEDED_SQL, ['R1', FIXED_NOW_MS, null, null], /SEARCH refunds USING INDEX sqlite_autoindex_refunds_1/],
    ['pruning old rejected notifications', PRUNE_REJECTED_SQL, [FIXED_NOW_MS, 500], /SEARCH notifications USING INDEX notifications_received/],
  ];

  it.each(cases)('%s: no full scan of a growing table', async (_, sql, params, expected) => {
    const details = await plan(sql, params);
    const scans = details.filter((d) => GROWING.some((table) => new RegExp(`^SCAN (${table}|r|o)\\b`).test(d)));
    expect(scans, details.join('\n')).toEqual([]);
    expect(details.some((d) => expected.test(d)), `${expected} in\n${details.join('\n')}`).toBe(true);
  });
});
