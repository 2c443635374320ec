// Cron: rejected payment notifications are kept for disputes for a retention period, then
// deleted, a bounded batch per run. Applied and duplicate ones are the ledger's evidence and
// stay.
import type { Env } from '../env.ts';

export const REJECTED_NOTIFICATION_RETENTION_MS = 90 * 86_400_000;
// One DELETE per run; at 12 runs an hour this clears 72,000 rows a day, far above what a
// provider or an attacker can make us reject without being rate-limited upstream.
export const PRUNE_BATCH_MAX = 500;

export const PRUNE_REJECTED_SQL = `DELETE FROM notifications WHERE id IN (
  SELECT id FROM notifications WHERE received_at_ms < ?1 AND verdict = 'rejected' ORDER BY received_at_ms LIMIT ?2)`;

export async function pruneRejectedNotifications(env: Pick<Env, 'DB'>, now_ms: number): Promise<number> {
  if (!Number.isSafeInteger(now_ms) || now_ms <= REJECTED_NOTIFICATION_RETENTION_MS) throw new RangeError(`now_ms ${now_ms}`);
  const result = await env.DB.prepare(PRUNE_REJECTED_SQL).bind(now_ms - REJECTED_NOTIFICATION_RETENTION_MS, PRUNE_BATCH_MAX).run();
  return result.meta.changes;
}
