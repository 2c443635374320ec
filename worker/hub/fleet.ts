// A school's hubs and who owns which credit (DESIGN section 6, "One owner per credit"): the card
// office's state changes, a retiring hub's "drained", and handing a hub's pending credits back to
// the school (re-emitted into the feed, where the active hub becomes their owner). The rules are
// written down in protocol/hub.ts ("Hub fleet contract").
import type { HubState } from '../../protocol/hub.ts';
import { ApiError } from '../http/errors.ts';

/** Which state a hub may move to from which. Anything else is 409 hub_transition_not_allowed. */
export const HUB_TRANSITIONS: Readonly<Record<HubState, readonly HubState[]>> = {
  standby: ['active', 'retired', 'dead'],
  active: ['retiring', 'dead'],
  retiring: ['retired', 'dead'],
  // Its store was recovered: it syncs what it has, drains and confirms like any retiring hub.
  dead: ['retiring'],
  retired: [],
};

export function transitionAllowed(from: HubState, to: HubState): boolean {
  return HUB_TRANSITIONS[from].includes(to);
}

// Every pending credit of the school that no hub owns gets a fresh change row, so the active hub
// receives it even though its cursor is past the credit's first change, and becomes its owner in
// that page's batch. One statement: the school's unowned pending credits, however many.
export const REEMIT_UNOWNED_SQL = `INSERT INTO changes (school_id, kind, ref, created_at_ms)
  SELECT cr.school_id, 'credit', cr.id, ?2 FROM credits cr
   WHERE cr.school_id = ?1 AND cr.state = 'pending' AND cr.owner_hub_id IS NULL
     AND EXISTS (SELECT 1 FROM hubs h WHERE h.school_id = ?1 AND h.state = 'active')
   ORDER BY cr.created_at_ms, cr.id`;

export interface HubRowState {
  id: string;
  school_id: string;
  state: HubState;
  drained_at_ms: number | null;
}

/**
 * The card office moves a hub to `to`. One D1 batch: the change (guarded by the state read, so
 * two racing changes cannot both pass), its audit-trail row, and on activation the re-emitted
 * unowned credits. `with_batch` joins that batch (the console's audit row), guarded by its own
 * SQL so it records only a change that happened. Throws 409 when the rules refuse it.
 */
export async function changeHubState(
  d1: D1Database,
  hub_id: string,
  to: HubState,
  reason: string,
  now_ms: number,
  with_batch: readonly D1PreparedStatement[] = [],
): Promise<HubRowState> {
  const hub = await d1
    .prepare('SELECT id, school_id, state, drained_at_ms FROM hubs WHERE id = ?')
    .bind(hub_id)
    .first<HubRowState>();
  if (hub === null) throw new ApiError(404, 'hub_not_found', 'no such hub');
  const refuse = (why: string) => new ApiError(409, 'hub_transition_not_allowed', `${hub.state} → ${to}: ${why}`);
  if (!transitionAllowed(hub.state, to)) {
    const allowed = HUB_TRANSITIONS[hub.state];
    throw refuse(allowed.length === 0 ? 'a retired hub stays retired' : `from ${hub.state} only ${allowed.join(', ')}`);
  }
  if (hub.state === 'retiring' && to === 'retired' && hub.drained_at_ms === null) {
    throw refuse('the hub has not confirmed it is drained (POST /api/v1/hub/retire-confirm)');
  }
  if (to === 'active') {
    const other = await d1
      .prepare("SELECT id FROM hubs WHERE school_id = ? AND state = 'active' AND id <> ?")
      .bind(hub.school_id, hub_id)
      .first<{ id: string }>();
    if (other !== null) throw refuse(`hub ${other.id} is the school's active hub; retire it or mark it dead first`);
  }
  const [changed] = await d1.batch([
    d1
      .prepare(
        `UPDATE hubs SET state = ?2, state_reason = ?3, state_changed_at_ms = ?4, updated_at_ms = ?4,
                drained_at_ms = CASE WHEN ?2 = 'retiring' THEN NULL ELSE drained_at_ms END
          WHERE id = ?1 AND state = ?5
            AND (?2 <> 'retired' OR ?5 <> 'retiring' OR drained_at_ms IS NOT NULL)
            AND (?2 <> 'active' OR NOT EXISTS (SELECT 1 FROM hubs h WHERE h.school_id = hubs.school_id AND h.state = 'active'))`,
      )
      .bind(hub_id, to, reason, now_ms, hub.state),
    d1
      .prepare(
        `INSERT INTO hub_state_events (hub_id, school_id, from_state, to_state, reason, at_ms)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE changes() = 1`,
      )
      .bind(hub_id, hub.school_id, hub.state, to, reason, now_ms),
    // Harmless for any other transition: without an active hub it inserts nothing, and with one
    // the rows only repeat what the feed already says.
    ...(to === 'active' ? [d1.prepare(REEMIT_UNOWNED_SQL).bind(hub.school_id, now_ms)] : []),
    ...with_batch,
  ]);
  if ((changed?.meta.changes ?? 0) !== 1) throw refuse('the hub changed meanwhile; look at it again');
  return { ...hub, state: to, drained_at_ms: to === 'retiring' ? null : hub.drained_at_ms };
}

/**
 * Statements that hand a hub's pending credits back to its school (all of them, or those in
 * `credit_ids`), each guarded by `guard_sql` (a condition on the hub row `h`, e.g. its state),
 * so a batch run after the hub changed does nothing. A credit with a refund waiting is voided at
 * once (it now has no owner, and the old one will never load it); the rest are re-emitted into
 * the feed for the active hub. Every credit moved leaves a credit_handovers row. Parameters:
 * ?1 hub id, ?2 school id, ?3 now, ?4 JSON array of credit ids or null, ?5 move reason.
 */
export function releaseStatements(
  d1: D1Database,
  input: { hub_id: string; school_id: string; now_ms: number; credit_ids: readonly string[] | null; reason: 'retired' | 'released' },
  guard_sql: string,
): D1PreparedStatement[] {
  const ids = input.credit_ids === null ? null : JSON.stringify(input.credit_ids);
  const mine = `cr.owner_hub_id = ?1 AND cr.school_id = ?2 AND cr.state = 'pending'
      AND (?4 IS NULL OR cr.id IN (SELECT value FROM json_each(?4)))
      AND EXISTS (SELECT 1 FROM hubs h WHERE h.id = ?1 AND ${guard_sql})`;
  const params = [input.hub_id, input.school_id, input.now_ms, ids, input.reason];
  // D1 wants exactly as many values as the highest ?N a statement names.
  const bind = (sql: string) => {
    const highest = Math.max(...[...sql.matchAll(/\?([0-9])/g)].map((m) => Number(m[1])));
    return d1.prepare(sql).bind(...params.slice(0, highest));
  };
  return [
    bind(`INSERT INTO credit_handovers (credit_id, school_id, from_hub_id, reason, moved_at_ms)
          SELECT cr.id, cr.school_id, ?1, ?5, ?3 FROM credits cr WHERE ${mine}`),
    bind(`UPDATE credits SET state = 'voided', voided_at_ms = ?3, owner_hub_id = NULL
           WHERE id IN (SELECT cr.id FROM credits cr WHERE ${mine} AND cr.void_requested_at_ms IS NOT NULL)`),
    bind(`UPDATE refunds SET state = 'provider_pending', route = 'direct', voided_at_ms = ?3, updated_at_ms = ?3
           WHERE +state = 'requested' AND +school_id = ?2
             AND credit_id IN (SELECT cm.credit_id FROM credit_handovers cm WHERE cm.from_hub_id = ?1 AND cm.moved_at_ms = ?3)
             AND EXISTS (SELECT 1 FROM credits c WHERE c.id = refunds.credit_id AND c.state = 'voided' AND c.owner_hub_id IS NULL)`),
    bind(`UPDATE credits SET owner_hub_id = NULL WHERE id IN (SELECT cr.id FROM credits cr WHERE ${mine})`),
    bind(`INSERT INTO changes (school_id, kind, ref, created_at_ms)
          SELECT ?2, 'credit', cm.credit_id, ?3 FROM credit_handovers cm JOIN credits c ON c.id = cm.credit_id
           WHERE cm.from_hub_id = ?1 AND cm.moved_at_ms = ?3 AND c.state = 'pending' AND c.owner_hub_id IS NULL
             AND (?4 IS NULL OR cm.credit_id IN (SELECT value FROM json_each(?4)))
           ORDER BY c.created_at_ms, c.id`),
  ];
}

/** Refunds the release voided, which now go to the provider. */
export async function releasedRefunds(d1: D1Database, hub_id: string, moved_at_ms: number): Promise<string[]> {
  const rows = await d1
    .prepare(
      `SELECT r.id FROM credit_handovers cm JOIN refunds r ON r.credit_id = cm.credit_id
        WHERE cm.from_hub_id = ? AND cm.moved_at_ms = ? AND r.state = 'provider_pending'`,
    )
    .bind(hub_id, moved_at_ms)
    .all<{ id: string }>();
  return rows.results.map((row) => row.id);
}

/**
 * A retiring hub says it is drained: its outbox is sent and no reservation is open. Its pending
 * credits are released in the same batch that records the confirmation.
 */
export async function confirmRetire(
  d1: D1Database,
  hub: { hub_id: string; school_id: string },
  now_ms: number,
): Promise<{ hub_state: HubState; released_credits: number; voided_credits: number; refund_ids: string[] }> {
  const [marked, moved, voided] = await d1.batch([
    d1
      .prepare("UPDATE hubs SET drained_at_ms = ?2, updated_at_ms = ?2 WHERE id = ?1 AND state = 'retiring'")
      .bind(hub.hub_id, now_ms),
    ...releaseStatements(
      d1,
      { hub_id: hub.hub_id, school_id: hub.school_id, now_ms, credit_ids: null, reason: 'retired' },
      "h.state = 'retiring' AND h.drained_at_ms = ?3",
    ),
  ]);
  if ((marked?.meta.changes ?? 0) !== 1) {
    const row = await d1.prepare('SELECT state FROM hubs WHERE id = ?').bind(hub.hub_id).first<{ state: HubState }>();
    throw new ApiError(409, 'hub_transition_not_allowed', `the hub is ${row?.state ?? 'unknown'}, not retiring: only a retiring hub confirms it is drained`);
  }
  const released_credits = moved?.meta.changes ?? 0;
  const voided_credits = voided?.meta.changes ?? 0;
  // Every credit voided here was one of those released.
  if (voided_credits > released_credits) throw new Error(`retire of ${hub.hub_id}: ${voided_credits} voided of ${released_credits} released`);
  return {
    hub_state: 'retiring',
    released_credits,
    voided_credits,
    refund_ids: await releasedRefunds(d1, hub.hub_id, now_ms),
  };
}
