// `GET /api/v1/console/overview?school_id=`: the card office's first page. Today's top-ups (China
// day), money waiting in 待圈存 and for how long, hub health, yesterday's reconciliation, and
// the counts of what needs a person (grey records, failed refunds, dead notices).
import { Hono } from 'hono';
import { schoolQuery, type ConsoleOverview } from '../../protocol/console.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { schoolHubs } from '../console/hubs.ts';
import { chinaDateOf, chinaDayStartMs, DAY_MS } from '../console/views.ts';
import { readQuery } from '../http/validate.ts';

export const consoleOverviewRoutes = new Hono<ConsoleEnv>().get('/overview', async (c) => {
  const query = readQuery(c, schoolQuery);
  const school_id = scopedSchool(c.get('operator'), query.school_id);
  const now_ms = Date.now();
  const today_start_ms = chinaDayStartMs(now_ms);
  const yesterday = chinaDateOf(today_start_ms - DAY_MS);
  const d1 = c.env.DB;
  const [paid, pending, recon, counts] = await d1.batch([
    d1
      .prepare(
        `SELECT COUNT(*) AS n, COALESCE(SUM(amount_fen), 0) AS fen FROM orders
          WHERE school_id = ?1 AND status IN ('paid', 'refunded') AND paid_at_ms >= ?2`,
      )
      .bind(school_id, today_start_ms),
    d1
      .prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(amount_fen), 0) AS fen, MIN(created_at_ms) AS oldest FROM credits WHERE school_id = ?1 AND state = 'pending'`)
      .bind(school_id),
    d1.prepare('SELECT channel, status, discrepancy_count FROM reconciliations WHERE bill_date = ?1 AND school_id = ?2 ORDER BY channel').bind(yesterday, school_id),
    d1
      .prepare(
        `SELECT (SELECT COUNT(*) FROM grey_records WHERE school_id = ?1 AND status = 'open') AS grey,
                (SELECT COUNT(*) FROM refunds WHERE school_id = ?1 AND state = 'failed') AS failed_refunds,
                (SELECT COUNT(*) FROM notices WHERE school_id = ?1 AND state = 'dead') AS dead_notices`,
      )
      .bind(school_id),
  ]);
  const paid_row = paid?.results[0] as { n: number; fen: number };
  const pending_row = pending?.results[0] as { n: number; fen: number; oldest: number | null };
  const count_row = counts?.results[0] as { grey: number; failed_refunds: number; dead_notices: number };
  const body: ConsoleOverview = {
    school_id,
    today: chinaDateOf(now_ms),
    today_paid_count: paid_row.n,
    today_paid_fen: paid_row.fen,
    pending_count: pending_row.n,
    pending_fen: pending_row.fen,
    oldest_pending_at_ms: pending_row.oldest,
    oldest_pending_age_ms: pending_row.oldest === null ? null : Math.max(0, now_ms - pending_row.oldest),
    hubs: (await schoolHubs(d1, school_id, now_ms)).map(({ hub_id, state, last_seen_at_ms, sync_lag, pending_credits_owned, healthy }) => ({
      hub_id, state, last_seen_at_ms, sync_lag, pending_credits_owned, healthy,
    })),
    yesterday,
    yesterday_reconciliation: (recon?.results ?? []) as ConsoleOverview['yesterday_reconciliation'],
    open_grey_records: count_row.grey,
    failed_refunds: count_row.failed_refunds,
    dead_notices: count_row.dead_notices,
  };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
