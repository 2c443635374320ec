// Hub health for the console (overview and hubs page): the hub row as the admin API reads it
// (worker/hub/fleet-view.ts), plus sync lag (the school's feed head minus the cursor the hub
// last pulled with) and, for a dead hub, the credits frozen with it. A hub not heard from within
// HUB_SILENT_MS is not healthy.
import { CONSOLE_FROZEN_CREDITS_MAX, type ConsoleFrozenCredit, type ConsoleHub } from '../../protocol/console.ts';
import { HUB_TRANSITIONS } from '../hub/fleet.ts';
import { HUB_SELECT_SQL, toAdminHub, type HubRow } from '../hub/fleet-view.ts';

export const HUB_SILENT_MS = 5 * 60 * 1000;
const HUBS_PER_SCHOOL_MAX = 50;

/** ?1 school, ?2 one hub or null. */
export const SCHOOL_HUBS_SQL = `${HUB_SELECT_SQL} WHERE h.school_id = ?1 AND (?2 IS NULL OR h.id = ?2) ORDER BY h.created_at_ms, h.id LIMIT ${HUBS_PER_SCHOOL_MAX}`;

/**
 * Per dead hub of school ?1 (or hub ?2), its oldest frozen credits: window-limited, so one hub's
 * backlog has a bound. CROSS JOIN keeps the school's hubs outermost; otherwise SQLite walks
 * every pending credit of every school by state.
 */
export const FROZEN_CREDITS_SQL = `SELECT owner_hub_id, credit_id, card_no, amount_fen, created_at_ms, void_requested FROM (
    SELECT cr.owner_hub_id, cr.id AS credit_id, cr.card_no, cr.amount_fen, cr.created_at_ms,
           cr.void_requested_at_ms IS NOT NULL AS void_requested,
           ROW_NUMBER() OVER (PARTITION BY cr.owner_hub_id ORDER BY cr.created_at_ms, cr.id) AS n
      FROM hubs h CROSS JOIN credits cr
     WHERE cr.owner_hub_id = h.id AND cr.state = 'pending' AND h.school_id = ?1 AND h.state = 'dead' AND (?2 IS NULL OR h.id = ?2))
   WHERE n <= ${CONSOLE_FROZEN_CREDITS_MAX} ORDER BY owner_hub_id, created_at_ms, credit_id`;

interface FrozenRow {
  owner_hub_id: string;
  credit_id: string;
  card_no: string;
  amount_fen: number;
  created_at_ms: number;
  void_requested: number;
}

function toConsoleHub(row: HubRow, feed_head_seq: number, frozen: ConsoleFrozenCredit[], now_ms: number): ConsoleHub {
  const hub = toAdminHub(row);
  return {
    hub_id: hub.hub_id,
    school_id: hub.school_id,
    state: hub.state,
    last_seen_at_ms: hub.last_seen_at_ms,
    last_cursor: hub.last_cursor,
    durable_cursor: hub.durable_cursor,
    sent_through_seq: hub.sent_through_seq,
    feed_head_seq,
    sync_lag: Math.max(0, feed_head_seq - (hub.last_cursor ?? 0)),
    pending_credits_owned: hub.owned_pending_count,
    pending_owned_fen: hub.owned_pending_fen,
    drained_at_ms: hub.drained_at_ms,
    state_changed_at_ms: hub.state_changed_at_ms,
    state_reason: hub.state_reason,
    transitions: [...HUB_TRANSITIONS[hub.state]],
    frozen_credits: frozen,
    healthy: hub.last_seen_at_ms !== null && now_ms - hub.last_seen_at_ms <= HUB_SILENT_MS,
    created_at_ms: hub.created_at_ms,
  };
}

/** The school's hubs, oldest first; `hub_id` narrows it to that one hub. */
export async function schoolHubs(d1: D1Database, school_id: string, now_ms: number, hub_id: string | null = null): Promise<ConsoleHub[]> {
  const [hubs, head, frozen] = await d1.batch([
    d1.prepare(SCHOOL_HUBS_SQL).bind(school_id, hub_id),
    d1.prepare('SELECT COALESCE(MAX(seq), 0) AS feed_head_seq FROM changes WHERE school_id = ?').bind(school_id),
    d1.prepare(FROZEN_CREDITS_SQL).bind(school_id, hub_id),
  ]);
  const feed_head_seq = (head?.results[0] as { feed_head_seq: number } | undefined)?.feed_head_seq ?? 0;
  const by_hub = new Map<string, ConsoleFrozenCredit[]>();
  for (const row of (frozen?.results ?? []) as FrozenRow[]) {
    const list = by_hub.get(row.owner_hub_id) ?? [];
    list.push({ credit_id: row.credit_id, card_no: row.card_no, amount_fen: row.amount_fen, created_at_ms: row.created_at_ms, void_requested: row.void_requested === 1 });
    by_hub.set(row.owner_hub_id, list);
  }
  return ((hubs?.results ?? []) as HubRow[]).map((row) => toConsoleHub(row, feed_head_seq, by_hub.get(row.id) ?? [], now_ms));
}
