// How the admin API and the console read a hub: the row itself with the pending credits it owns
// (frozen while it is dead), counted and summed from credits.owner_hub_id. One query, two callers.
import type { AdminHub } from '../../protocol/hub.ts';
import type { hubs } from '../db/schema.ts';

// Read with raw SQL (`SELECT *`), so the row is the table's own shape.
export type HubRow = typeof hubs.$inferSelect & { owned_pending_count?: number; owned_pending_fen?: number };

/** Every hub with what it owns that is still pending; callers append WHERE / ORDER / LIMIT on `h`. */
export const HUB_SELECT_SQL = `SELECT h.*,
    (SELECT COUNT(*) FROM credits cr WHERE cr.owner_hub_id = h.id AND cr.state = 'pending') AS owned_pending_count,
    (SELECT COALESCE(SUM(cr.amount_fen), 0) FROM credits cr WHERE cr.owner_hub_id = h.id AND cr.state = 'pending') AS owned_pending_fen
   FROM hubs h`;

export function toAdminHub(row: HubRow): AdminHub {
  return {
    hub_id: row.id,
    school_id: row.school_id,
    public_key: row.public_key,
    created_at_ms: row.created_at_ms,
    updated_at_ms: row.updated_at_ms,
    last_seen_at_ms: row.last_seen_at_ms,
    last_cursor: row.last_cursor,
    sent_through_seq: row.sent_through_seq,
    state: row.state,
    durable_cursor: row.durable_cursor,
    drained_at_ms: row.drained_at_ms,
    state_changed_at_ms: row.state_changed_at_ms,
    state_reason: row.state_reason,
    owned_pending_count: row.owned_pending_count ?? 0,
    owned_pending_fen: row.owned_pending_fen ?? 0,
  };
}
