// The card office settles a hub's card hold (protocol/hub.ts, "Card holds"; hub/README.md,
// "Backup and restore"): the hub froze the card because its verified serial ran ahead of the
// hub's record, so the card had loads the hub's store forgot, and their claims may be lost with
// it. The office reads the card in a reader (its load log: each load's serial and amount), names
// the pending credits those loads took (the hub loads exact prefixes, oldest first) and the
// serial the card shows. One D1 batch claims them with proof `office` (the same statements as a
// dead hub's settlement, worker/ledger/settle.ts), refuses the refunds that waited on them, and
// settles the hold; a trigger tells the hub through the feed. Guarded, so a refused or repeated
// settlement changes nothing.
import type { AdminCardHoldSettleResponse, CardHoldView } from '../../protocol/hub.ts';
import { HOLD_CREDITS_MAX } from '../../protocol/hub.ts';
import { ApiError } from '../http/errors.ts';
import { officeClaimId, officeClaimStatements } from './settle.ts';

// The pending credits a hold's view lists, oldest first: what a card may have loaded.
export const HOLD_VIEW_CREDITS_MAX = 100;

// A card_holds row as D1 returns it: the view's columns, its lists still JSON text.
type HoldRow = Omit<CardHoldView, 'settled_credit_ids' | 'pending_credits' | 'claims'> & {
  settled_credit_ids: string | null;
  pending_credits?: string;
  claims?: string;
};

const HOLD_COLUMNS = `h.hub_id, h.card_no, h.school_id, h.status, h.online_serial_seen, h.online_serial_recorded, h.balance_fen,
  h.seen_at_ms, h.created_at_ms, h.reported_at_ms, h.online_serial_settled, h.settled_credit_ids, h.evidence, h.actor,
  h.settled_at_ms, h.resolved_at_ms`;
// The card's pending credits owned by the hub, oldest first (the order the hub offers them in).
const PENDING_OF_HOLD = `(SELECT json_group_array(json_object('credit_id', p.id, 'amount_fen', p.amount_fen, 'created_at_ms', p.created_at_ms))
    FROM (SELECT cr.id, cr.amount_fen, cr.created_at_ms FROM credits cr
           WHERE cr.school_id = h.school_id AND cr.card_no = h.card_no AND cr.state = 'pending' AND cr.owner_hub_id = h.hub_id
           ORDER BY cr.created_at_ms, cr.id LIMIT ${HOLD_VIEW_CREDITS_MAX}) p)`;

// The card's claims the Worker holds past the hub's record (any hub): loads already accounted
// for, which the office must not count again. Bounded like the pending list.
const CLAIMS_OF_HOLD = `(SELECT json_group_array(json_object('claim_id', q.id, 'online_serial_after', q.online_serial_after, 'amount_fen', q.amount_fen, 'hub_id', q.hub_id))
    FROM (SELECT cl.id, cl.online_serial_after, cl.amount_fen, cl.hub_id FROM claims cl
           WHERE cl.school_id = h.school_id AND cl.card_no = h.card_no AND cl.online_serial_after > h.online_serial_recorded
           ORDER BY cl.online_serial_after LIMIT ${HOLD_VIEW_CREDITS_MAX}) q)`;

function parseJsonArray<T>(text: string | null | undefined): T[] {
  if (text === null || text === undefined) return [];
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
}

function toView(row: HoldRow): CardHoldView {
  const { pending_credits, settled_credit_ids, claims, ...rest } = row;
  return { ...rest, settled_credit_ids: parseJsonArray<string>(settled_credit_ids), pending_credits: parseJsonArray(pending_credits), claims: parseJsonArray(claims) };
}

export async function listHolds(
  d1: D1Database,
  query: { school_id?: string | undefined; status: 'open' | 'settled' | 'resolved' | 'all'; limit: number },
): Promise<CardHoldView[]> {
  if (!(Number.isSafeInteger(query.limit) && query.limit >= 1 && query.limit <= 200)) throw new RangeError(`bad limit ${query.limit}`);
  // Only the filters asked for go into the SQL, so each runs on its index.
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.school_id !== undefined) {
    params.push(query.school_id);
    where.push(`h.school_id = ?${params.length}`);
  }
  if (query.status !== 'all') {
    params.push(query.status);
    where.push(`h.status = ?${params.length}`);
  }
  params.push(query.limit);
  const rows = await d1
    .prepare(
      `SELECT ${HOLD_COLUMNS}, ${PENDING_OF_HOLD} AS pending_credits, ${CLAIMS_OF_HOLD} AS claims FROM card_holds h
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY h.created_at_ms, h.hub_id, h.card_no LIMIT ?${params.length}`,
    )
    .bind(...params)
    .all<HoldRow>();
  return rows.results.map(toView);
}

export async function readHold(d1: D1Database, hub_id: string, card_no: string): Promise<CardHoldView | null> {
  const row = await d1
    .prepare(`SELECT ${HOLD_COLUMNS}, ${PENDING_OF_HOLD} AS pending_credits, ${CLAIMS_OF_HOLD} AS claims FROM card_holds h WHERE h.hub_id = ?1 AND h.card_no = ?2`)
    .bind(hub_id, card_no)
    .first<HoldRow>();
  return row === null ? null : toView(row);
}

/**
 * Settles an open hold. `with_batch` joins the batch (the console's audit row); it must guard
 * itself on the hold being settled at `now_ms`, so a refused settlement leaves nothing.
 */
export async function settleHold(
  d1: D1Database,
  key: { hub_id: string; card_no: string },
  input: { loaded_credit_ids: readonly string[]; online_serial: number; evidence: string; actor: string },
  now_ms: number,
  with_batch: readonly D1PreparedStatement[] = [],
): Promise<AdminCardHoldSettleResponse> {
  const ids = input.loaded_credit_ids;
  if (ids.length > HOLD_CREDITS_MAX) throw new ApiError(400, 'invalid_body', `loaded_credit_ids: at most ${HOLD_CREDITS_MAX}`);
  if (new Set(ids).size !== ids.length) throw new ApiError(400, 'invalid_body', 'loaded_credit_ids: a credit is named twice');
  if (!(Number.isSafeInteger(input.online_serial) && input.online_serial >= 0 && input.online_serial <= 0xffff)) {
    throw new ApiError(400, 'invalid_body', 'online_serial: 0 to 65535 (0xFFFF), as the card shows it');
  }
  const hold = await d1.prepare(`SELECT ${HOLD_COLUMNS} FROM card_holds h WHERE h.hub_id = ?1 AND h.card_no = ?2`).bind(key.hub_id, key.card_no).first<HoldRow>();
  if (hold === null) throw new ApiError(404, 'not_found', 'no hold of this card at this hub');
  if (hold.status !== 'open') throw new ApiError(409, 'conflict', `the hold is ${hold.status}: nothing to settle`);
  // The hub's record only rises; and the card showed at least online_serial_seen, so a lower
  // serial is not the card's now: the hub would freeze it again at its next load.
  if (input.online_serial < hold.online_serial_recorded) {
    throw new ApiError(409, 'conflict', `online_serial ${input.online_serial} is below the hub's record ${hold.online_serial_recorded}`);
  }
  if (input.online_serial < hold.online_serial_seen) {
    throw new ApiError(409, 'conflict', `online_serial ${input.online_serial} is below the serial ${hold.online_serial_seen} the card showed at the hub: read the card again`);
  }
  const ids_json = JSON.stringify(ids);
  if (ids.length > 0) {
    const credits = await d1
      .prepare(
        `SELECT cr.id, cr.state, cr.owner_hub_id, cr.card_no, cr.school_id,
                EXISTS (SELECT 1 FROM credit_settlements s WHERE s.credit_id = cr.id) AS settled_before
           FROM credits cr WHERE cr.id IN (SELECT value FROM json_each(?1))`,
      )
      .bind(ids_json)
      .all<{ id: string; state: string; owner_hub_id: string | null; card_no: string; school_id: string; settled_before: number }>();
    const found = new Map(credits.results.map((row) => [row.id, row]));
    for (const credit_id of ids) {
      const credit = found.get(credit_id);
      if (credit === undefined || credit.school_id !== hold.school_id) throw new ApiError(409, 'conflict', `no credit ${credit_id} of this school`);
      if (credit.card_no !== hold.card_no) throw new ApiError(409, 'conflict', `credit ${credit_id} is another card's`);
      if (credit.state !== 'pending') throw new ApiError(409, 'conflict', `credit ${credit_id} is ${credit.state}: only a pending credit can have been loaded unrecorded`);
      if (credit.owner_hub_id !== hold.hub_id) throw new ApiError(409, 'conflict', `credit ${credit_id} is not owned by ${hold.hub_id}: that hub cannot have loaded it`);
      if (credit.settled_before === 1) throw new ApiError(409, 'conflict', `credit ${credit_id} was settled by the card office before: settle it by hand`);
    }
  }
  // Everything the checks above read, checked again inside the batch: a claim, a refund or a
  // second settlement in between leaves the hold open and changes nothing.
  const settle = d1
    .prepare(
      `UPDATE card_holds SET status = 'settled', online_serial_settled = ?3, settled_credit_ids = ?4, evidence = ?5, actor = ?6,
              settled_at_ms = ?7
        WHERE hub_id = ?1 AND card_no = ?2 AND status = 'open' AND online_serial_recorded <= ?3 AND online_serial_seen <= ?3
          AND (SELECT count(*) FROM credits cr WHERE cr.id IN (SELECT value FROM json_each(?4)) AND cr.state = 'pending'
                 AND cr.owner_hub_id = ?1 AND cr.card_no = ?2 AND cr.school_id = card_holds.school_id) = json_array_length(?4)
          AND NOT EXISTS (SELECT 1 FROM credit_settlements s WHERE s.credit_id IN (SELECT value FROM json_each(?4)))
        RETURNING hub_id`,
    )
    .bind(key.hub_id, key.card_no, input.online_serial, ids_json, input.evidence, input.actor, now_ms);
  const claims =
    ids.length === 0
      ? []
      : officeClaimStatements(
          d1,
          { credit_ids: ids, school_id: hold.school_id, hub_id: hold.hub_id, card_no: hold.card_no, evidence: input.evidence, actor: input.actor, now_ms },
          "EXISTS (SELECT 1 FROM card_holds hd WHERE hd.hub_id = ?3 AND hd.card_no = ?4 AND hd.status = 'settled' AND hd.settled_at_ms = ?5)",
        );
  const [settled, ...rest] = await d1.batch([settle, ...claims, ...with_batch]);
  // RETURNING, not meta.changes: the row's trigger (the feed's `hold` change) counts there too.
  if ((settled?.results ?? []).length !== 1) throw new ApiError(409, 'conflict', 'the hold or its credits changed meanwhile; look at them again');
  const refunds_refused = ids.length === 0 ? 0 : (rest[3]?.meta.changes ?? 0);
  // The batch settled the hold and claimed every listed credit, or did nothing at all.
  if (ids.length > 0) {
    const after = await d1
      .prepare(`SELECT count(*) AS n FROM credits WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'claimed' AND claim_id = 'office-' || id`)
      .bind(ids_json)
      .first<{ n: number }>();
    if (after?.n !== ids.length) throw new Error(`hold ${key.hub_id}/${key.card_no} settled with ${after?.n ?? 0} of ${ids.length} credits claimed`);
  }
  return {
    hub_id: hold.hub_id,
    card_no: hold.card_no,
    status: 'settled',
    online_serial_settled: input.online_serial,
    claimed_credit_ids: [...ids],
    claim_ids: ids.map(officeClaimId),
    refunds_refused,
  };
}
