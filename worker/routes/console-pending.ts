// `GET /api/v1/console/pending?school_id=`: how long money has waited in 待圈存. Pending credits
// in four age buckets (count and fen), then the oldest, a page at a time.
import { Hono } from 'hono';
import { consolePendingQuery, PENDING_BUCKETS, type ConsolePendingResponse, type PendingCredit } from '../../protocol/console.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { DAY_MS, pageLimit } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readQuery } from '../http/validate.ts';

const HOUR_MS = 60 * 60 * 1000;

function decodeCursor(text: string): { created_at_ms: number; credit_id: string } {
  const match = /^([0-9]{1,16}):(C[0-9A-Za-z]{10,31})$/.exec(text);
  if (match === null) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
  return { created_at_ms: Number(match[1]), credit_id: match[2]! };
}

export const PENDING_OLDEST_SQL = `SELECT id, order_id, card_no, amount_fen, created_at_ms, void_requested_at_ms FROM credits
  WHERE school_id = ?1 AND state = 'pending' AND (?2 IS NULL OR (created_at_ms, id) > (?2, ?3))
  ORDER BY created_at_ms, id LIMIT ?4`;

export const consolePendingRoutes = new Hono<ConsoleEnv>().get('/pending', async (c) => {
  const query = readQuery(c, consolePendingQuery);
  const school_id = scopedSchool(c.get('operator'), query.school_id);
  const limit = pageLimit(query.limit);
  const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
  const now_ms = Date.now();
  const d1 = c.env.DB;
  const [buckets, oldest] = await d1.batch([
    d1
      .prepare(
        `SELECT CASE WHEN created_at_ms > ?2 - ${HOUR_MS} THEN 0 WHEN created_at_ms > ?2 - ${DAY_MS} THEN 1
                     WHEN created_at_ms > ?2 - ${7 * DAY_MS} THEN 2 ELSE 3 END AS bucket,
                COUNT(*) AS count, SUM(amount_fen) AS amount_fen
           FROM credits WHERE school_id = ?1 AND state = 'pending' GROUP BY bucket`,
      )
      .bind(school_id, now_ms),
    d1
      .prepare(PENDING_OLDEST_SQL)
      .bind(school_id, after?.created_at_ms ?? null, after?.credit_id ?? '', limit + 1),
  ]);
  const by_bucket = new Map(((buckets?.results ?? []) as { bucket: number; count: number; amount_fen: number }[]).map((row) => [row.bucket, row]));
  const rows = (oldest?.results ?? []) as { id: string; order_id: string; card_no: string; amount_fen: number; created_at_ms: number; void_requested_at_ms: number | null }[];
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const body: ConsolePendingResponse = {
    buckets: PENDING_BUCKETS.map((bucket, i) => ({ bucket, count: by_bucket.get(i)?.count ?? 0, amount_fen: by_bucket.get(i)?.amount_fen ?? 0 })),
    oldest: page.map((row): PendingCredit => ({
      credit_id: row.id,
      order_id: row.order_id,
      card_no: row.card_no,
      amount_fen: row.amount_fen,
      created_at_ms: row.created_at_ms,
      age_ms: Math.max(0, now_ms - row.created_at_ms),
      void_requested: row.void_requested_at_ms !== null,
    })),
    next_cursor: rows.length > limit && last !== undefined ? `${last.created_at_ms}:${last.id}` : null,
  };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
