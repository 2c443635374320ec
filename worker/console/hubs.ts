// Hub health for the console (overview and hubs page): sync lag is the school's feed head minus
// the cursor the hub last confirmed; a hub not heard from within HUB_SILENT_MS is not healthy.
import type { ConsoleHub } from '../../protocol/console.ts';

export const HUB_SILENT_MS = 5 * 60 * 1000;
const HUBS_PER_SCHOOL_MAX = 50;

interface HubRow {
  id: string;
  school_id: string;
  created_at_ms: number;
  last_seen_at_ms: number | null;
  last_cursor: number | null;
  sent_through_seq: number | null;
  state: string | null;
  feed_head_seq: number;
  owned_pending: number | null;
}

/**
 * The school's hubs, oldest first. Credits go to the first hub that was sent them; without a
 * recorded owner per credit, the oldest hub is counted as the owner of the pending credits it
 * was sent, and the others show null.
 */
export async function schoolHubs(d1: D1Database, school_id: string, now_ms: number): Promise<ConsoleHub[]> {
  const rows = await d1
    .prepare(
      `SELECT h.*, NULL AS state,
              COALESCE((SELECT MAX(seq) FROM changes WHERE school_id = ?1), 0) AS feed_head_seq,
              CASE WHEN h.id = (SELECT id FROM hubs WHERE school_id = ?1 ORDER BY created_at_ms, id LIMIT 1)
                THEN (SELECT COUNT(*) FROM credits cr WHERE cr.school_id = ?1 AND cr.state = 'pending'
                        AND (SELECT MIN(ch.seq) FROM changes ch WHERE ch.ref = cr.id AND ch.kind = 'credit') <= COALESCE(h.sent_through_seq, 0))
              END AS owned_pending
         FROM hubs h WHERE h.school_id = ?1 ORDER BY h.created_at_ms, h.id LIMIT ${HUBS_PER_SCHOOL_MAX}`,
    )
    .bind(school_id)
    .all<HubRow>();
  return rows.results.map((row) => ({
    hub_id: row.id,
    school_id: row.school_id,
    state: row.state,
    last_seen_at_ms: row.last_seen_at_ms,
    last_cursor: row.last_cursor,
    sent_through_seq: row.sent_through_seq,
    feed_head_seq: row.feed_head_seq,
    sync_lag: Math.max(0, row.feed_head_seq - (row.last_cursor ?? 0)),
    pending_credits_owned: row.owned_pending,
    healthy: row.last_seen_at_ms !== null && now_ms - row.last_seen_at_ms <= HUB_SILENT_MS,
    created_at_ms: row.created_at_ms,
  }));
}
