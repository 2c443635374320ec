// `GET /api/v1/console/charts?school_id=&days=`: top-ups per hour, how long paid money waited to
// be loaded onto the card (paid → claimed), and the amounts paid. Everything is grouped in SQL,
// so the answer is bounded by the buckets (24 × days hours at most), never by the orders.
import { Hono } from 'hono';
import { AMOUNT_BOUNDS_FEN, CHARTS_DAYS_MAX, CLAIM_DELAY_BOUNDS_MS, consoleChartsQuery, type ConsoleChartsResponse } from '../../protocol/console.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { chinaDayStartMs, DAY_MS } from '../console/views.ts';
import { readQuery } from '../http/validate.ts';

const HOUR_MS = 60 * 60 * 1000;
const CHARTS_DAYS_DEFAULT = 7;

/** `CASE WHEN x <= b0 THEN 0 WHEN x <= b1 THEN 1 … ELSE n END` over fixed integer bounds. */
function bucketCase(expression: string, bounds: readonly number[]): string {
  return `CASE ${bounds.map((bound, i) => `WHEN ${expression} <= ${bound} THEN ${i}`).join(' ')} ELSE ${bounds.length} END`;
}

export const consoleChartRoutes = new Hono<ConsoleEnv>().get('/charts', async (c) => {
  const query = readQuery(c, consoleChartsQuery);
  const school_id = scopedSchool(c.get('operator'), query.school_id);
  const days = query.days ?? CHARTS_DAYS_DEFAULT;
  if (days > CHARTS_DAYS_MAX) throw new RangeError(`days ${days}`);
  const now_ms = Date.now();
  const to_ms = chinaDayStartMs(now_ms) + DAY_MS;
  const from_ms = to_ms - days * DAY_MS;
  const d1 = c.env.DB;
  const [hours, delays, amounts] = await d1.batch([
    // China time is UTC+8 whole hours, so UTC hour boundaries are China hour boundaries.
    d1
      .prepare(
        `SELECT (paid_at_ms / ${HOUR_MS}) * ${HOUR_MS} AS hour_start_ms, COUNT(*) AS count, SUM(amount_fen) AS amount_fen
           FROM orders WHERE school_id = ?1 AND status IN ('paid', 'refunded') AND paid_at_ms >= ?2 AND paid_at_ms < ?3
          GROUP BY hour_start_ms ORDER BY hour_start_ms LIMIT ${24 * CHARTS_DAYS_MAX}`,
      )
      .bind(school_id, from_ms, to_ms),
    d1
      .prepare(
        `SELECT ${bucketCase('(cr.claimed_at_ms - o.paid_at_ms)', CLAIM_DELAY_BOUNDS_MS)} AS bucket, COUNT(*) AS count
           FROM credits cr JOIN orders o ON o.id = cr.order_id
          WHERE cr.school_id = ?1 AND cr.state = 'claimed' AND cr.claimed_at_ms >= ?2 AND cr.claimed_at_ms < ?3 AND o.paid_at_ms IS NOT NULL
          GROUP BY bucket`,
      )
      .bind(school_id, from_ms, to_ms),
    d1
      .prepare(
        `SELECT ${bucketCase('amount_fen', AMOUNT_BOUNDS_FEN)} AS bucket, COUNT(*) AS count
           FROM orders WHERE school_id = ?1 AND status IN ('paid', 'refunded') AND paid_at_ms >= ?2 AND paid_at_ms < ?3
          GROUP BY bucket`,
      )
      .bind(school_id, from_ms, to_ms),
  ]);
  const counts = (rows: unknown[] | undefined): Map<number, number> =>
    new Map(((rows ?? []) as { bucket: number; count: number }[]).map((row) => [row.bucket, row.count]));
  const delay_counts = counts(delays?.results);
  const amount_counts = counts(amounts?.results);
  const body: ConsoleChartsResponse = {
    from_ms,
    to_ms,
    topups_per_hour: (hours?.results ?? []) as ConsoleChartsResponse['topups_per_hour'],
    claim_delay: [...CLAIM_DELAY_BOUNDS_MS, null].map((le_ms, i) => ({ le_ms, count: delay_counts.get(i) ?? 0 })),
    amounts: [...AMOUNT_BOUNDS_FEN, null].map((le_fen, i) => ({ le_fen, count: amount_counts.get(i) ?? 0 })),
  };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
