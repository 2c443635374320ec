// The queue producer of SMS notices: outbox rows (written by the ledger triggers) go to the
// NOTICES queue in batches. A row moves pending → queued in the same statement that picks it,
// so two producers racing (a request's waitUntil and the cron) never enqueue one row twice;
// a row a lost message left behind is put back by recoverStaleNotices.
import type { NoticeMessage } from '../../protocol/notices.ts';
import type { Env } from '../env.ts';

// One sendBatch carries at most 100 messages; fewer keeps one producer run short.
export const NOTICE_FLUSH_BATCH_MAX = 50;
// Runs per flush: a backlog drains over a few cron runs rather than in one long invocation.
const NOTICE_FLUSH_ROUNDS_MAX = 4;
// Longer than any message can legitimately wait (back-off cap × retries, plus batching): a row
// still queued or sending after this lost its message (a crashed consumer, a failed send).
export const NOTICE_STALE_MS = 60 * 60_000;

/** Hands pending notices to the queue; returns how many. Without a queue binding rows wait. */
export async function flushNotices(env: Env, now_ms: number): Promise<number> {
  const queue = env.NOTICES;
  if (queue === undefined) return 0;
  let sent = 0;
  for (let round = 0; round < NOTICE_FLUSH_ROUNDS_MAX; round++) {
    const picked = await env.DB.prepare(
      `UPDATE notices SET state = 'queued', updated_at_ms = ?1
        WHERE id IN (SELECT id FROM notices WHERE state = 'pending' ORDER BY id LIMIT ?2)
        RETURNING id`,
    )
      .bind(now_ms, NOTICE_FLUSH_BATCH_MAX)
      .all<{ id: number }>();
    const ids = picked.results.map((row) => row.id);
    if (ids.length === 0) break;
    if (ids.length > NOTICE_FLUSH_BATCH_MAX) throw new Error(`picked ${ids.length} notices, more than the batch`);
    try {
      await queue.sendBatch(ids.map((notice_id) => ({ body: { notice_id } satisfies NoticeMessage, contentType: 'json' as const })));
    } catch (error) {
      // Not enqueued: back to the outbox for the next producer run.
      await env.DB.prepare(`UPDATE notices SET state = 'pending' WHERE state = 'queued' AND id IN (SELECT value FROM json_each(?1))`)
        .bind(JSON.stringify(ids))
        .run();
      throw error;
    }
    sent += ids.length;
    if (ids.length < NOTICE_FLUSH_BATCH_MAX) break;
  }
  return sent;
}

/** Puts rows whose message was lost back into the outbox (the cron's job). */
export async function recoverStaleNotices(env: Env, now_ms: number): Promise<number> {
  const result = await env.DB.prepare(
    `UPDATE notices SET state = 'pending', updated_at_ms = ?1 WHERE state IN ('queued', 'sending') AND updated_at_ms < ?2`,
  )
    .bind(now_ms, now_ms - NOTICE_STALE_MS)
    .run();
  return result.meta.changes;
}
