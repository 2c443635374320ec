// The school's changes feed (DESIGN section 6): triggers append a row for every new credit,
// void request and card change, and for a card hold the card office settled (for its hub only); a hub pulls them in sequence order after its durable cursor,
// each joined to the current state of its credit or card.
import { HOLD_CREDITS_MAX, type ChangesResponse, type HubChange, type HubState } from '../../protocol/hub.ts';
import { CARD_KINDS, CARD_STATUSES } from '../../protocol/card.ts';
import { ApiError } from '../http/errors.ts';
import type { HubIdentity } from './auth.ts';

// Raises the hub's durable cursor to `after` only when `after` is not below it: a hub that pulls
// from below what it already confirmed durable lost state, and nothing here may move for it.
export const CURSOR_MARK_SQL = `UPDATE hubs SET
    sent_through_seq = MAX(COALESCE(sent_through_seq, 0), COALESCE(
      (SELECT MAX(seq) FROM (SELECT seq FROM changes WHERE school_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3)), 0)),
    last_cursor = ?2,
    durable_cursor = ?2,
    last_seen_at_ms = ?4
  WHERE id = ?5 AND COALESCE(durable_cursor, 0) <= ?2`;

// The page makes the hub the owner of every still-unowned pending credit it carries, in the
// same transaction that reads the page (DESIGN section 6, "One owner per credit"), and only for
// an active hub whose cursor mark above went through (durable_cursor now equals `after`).
export const OWNER_MARK_SQL = `UPDATE credits SET owner_hub_id = ?5
  WHERE owner_hub_id IS NULL AND +state = 'pending' AND +school_id = ?1
    AND id IN (SELECT ref FROM (SELECT kind, ref FROM changes WHERE school_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3)
                WHERE kind = 'credit')
    AND EXISTS (SELECT 1 FROM hubs h WHERE h.id = ?5 AND h.state = 'active' AND h.durable_cursor = ?2)`;

export const HUB_STATE_SQL = 'SELECT state FROM hubs WHERE id = ?';

export const CHANGES_PAGE_SQL = `SELECT ch.seq, ch.kind, ch.ref,
        cr.id AS credit_id, cr.order_id, cr.card_no AS credit_card_no, cr.amount_fen, cr.state,
        cr.created_at_ms AS credit_created_at_ms, cr.owner_hub_id,
        cd.status AS card_status, cd.kind AS card_kind, cd.asn AS card_asn,
        hd.status AS hold_status, hd.online_serial_settled AS hold_serial_settled, hd.settled_credit_ids AS hold_credit_ids
   FROM changes ch
   LEFT JOIN credits cr ON ch.kind IN ('credit', 'void') AND cr.id = ch.ref AND cr.school_id = ch.school_id
   LEFT JOIN cards cd ON ch.kind = 'card' AND cd.school_id = ch.school_id AND cd.card_no = ch.ref
   LEFT JOIN card_holds hd ON ch.kind = 'hold' AND hd.hub_id = ?4 AND hd.card_no = ch.ref
  WHERE ch.school_id = ?1 AND ch.seq > ?2
  ORDER BY ch.seq
  LIMIT ?3`;

interface ChangeRow {
  seq: number;
  kind: 'credit' | 'void' | 'card' | 'hold';
  ref: string;
  credit_id: string | null;
  order_id: string | null;
  credit_card_no: string | null;
  amount_fen: number | null;
  state: 'pending' | 'claimed' | 'voided' | 'moved' | null;
  credit_created_at_ms: number | null;
  owner_hub_id: string | null;
  card_status: string | null;
  card_kind: string | null;
  card_asn: string | null;
  hold_status: string | null;
  hold_serial_settled: number | null;
  hold_credit_ids: string | null;
}

/** A settled hold as its hub hears of it; null when the row is not a settled hold of this hub. */
function toHoldChange(row: ChangeRow): HubChange | null {
  if (row.hold_status !== 'settled' || row.hold_serial_settled === null || row.hold_credit_ids === null) return null;
  const serial = row.hold_serial_settled;
  let credit_ids: unknown;
  try {
    credit_ids = JSON.parse(row.hold_credit_ids);
  } catch {
    credit_ids = null;
  }
  // Written by the settle route from validated input: anything else is a ledger bug.
  if (!Array.isArray(credit_ids) || credit_ids.length > HOLD_CREDITS_MAX || !credit_ids.every((c) => typeof c === 'string')) return null;
  if (!(Number.isSafeInteger(serial) && serial >= 0 && serial <= 0xffff)) return null;
  return { seq: row.seq, kind: 'hold', card_no: row.ref, online_serial_settled: serial, credit_ids: credit_ids as string[] };
}

function toHubChange(row: ChangeRow): HubChange | null {
  if (row.kind === 'hold') return toHoldChange(row);
  if (row.kind === 'credit' || row.kind === 'void') {
    if (row.credit_id === null || row.credit_card_no === null) return null;
    if (row.kind === 'void') return { seq: row.seq, kind: 'void', credit_id: row.credit_id, card_no: row.credit_card_no };
    if (row.order_id === null || row.amount_fen === null || row.state === null || row.credit_created_at_ms === null) return null;
    return {
      seq: row.seq,
      kind: 'credit',
      credit_id: row.credit_id,
      order_id: row.order_id,
      card_no: row.credit_card_no,
      amount_fen: row.amount_fen,
      // A moved credit's money went on as another credit (of the replacement card): to a hub it
      // is as final as a voided one, never to be offered.
      state: row.state === 'moved' ? 'voided' : row.state,
      created_at_ms: row.credit_created_at_ms,
    };
  }
  const status = CARD_STATUSES.find((s) => s === row.card_status);
  const card_kind = CARD_KINDS.find((k) => k === row.card_kind);
  if (status === undefined || card_kind === undefined) return null;
  // The registry import only stores asns of this form; anything else is withheld, so the hub
  // never derives keys from a value that is not a chip's serial.
  const asn = row.card_asn !== null && /^[0-9A-F]{16}$/.test(row.card_asn) ? row.card_asn : null;
  return { seq: row.seq, kind: 'card', card_no: row.ref, status, card_kind, asn };
}

/**
 * Reads up to `limit` changes after `after` for the hub's school. The same D1 batch (one
 * transaction) checks `after` against the hub's durable cursor (409 hub_state_regressed when
 * below it, and then nothing changed), makes an active hub the owner of the unowned pending
 * credits the page carries, and reads the page. Credit and void changes go only to the credit's
 * owner: a standby, or any other hub, gets the school's card changes alone.
 */
export async function readChanges(
  d1: D1Database,
  hub: HubIdentity,
  query: { after: number; limit: number },
  now_ms: number,
): Promise<ChangesResponse> {
  if (!(Number.isSafeInteger(query.after) && query.after >= 0)) throw new RangeError(`bad cursor ${query.after}`);
  if (!(Number.isSafeInteger(query.limit) && query.limit >= 1)) throw new RangeError(`bad limit ${query.limit}`);
  const [marked, , read, state] = await d1.batch([
    d1.prepare(CURSOR_MARK_SQL).bind(hub.school_id, query.after, query.limit, now_ms, hub.hub_id),
    d1.prepare(OWNER_MARK_SQL).bind(hub.school_id, query.after, query.limit, now_ms, hub.hub_id),
    // One row more than asked tells whether there is more without a count.
    d1.prepare(CHANGES_PAGE_SQL).bind(hub.school_id, query.after, query.limit + 1, hub.hub_id),
    d1.prepare(HUB_STATE_SQL).bind(hub.hub_id),
  ]);
  if ((marked?.meta.changes ?? 0) !== 1) {
    throw new ApiError(
      409,
      'hub_state_regressed',
      `after=${query.after} is below the cursor this hub already confirmed durable: it lost state; re-sync with GET /api/v1/hub/snapshot before offering any load`,
    );
  }
  const hub_state = ((state?.results ?? [])[0] as { state: HubState } | undefined)?.state;
  if (hub_state === undefined) throw new Error(`hub ${hub.hub_id} vanished while pulling`);
  const rows = (read?.results ?? []) as ChangeRow[];
  const page = rows.slice(0, query.limit);
  const changes: HubChange[] = [];
  for (const row of page) {
    if ((row.kind === 'credit' || row.kind === 'void') && row.credit_id !== null && row.owner_hub_id !== hub.hub_id) continue;
    // Another hub's hold, or this hub's opened again since it was settled: nothing for it.
    if (row.kind === 'hold' && row.hold_status !== 'settled') continue;
    const change = toHubChange(row);
    // Triggers write a change in the same transaction as its row and rows are never deleted,
    // so this is a ledger bug; skipping it keeps the rest of the school's feed flowing.
    if (change === null) {
      console.error(JSON.stringify({ level: 'error', msg: 'change without its row', seq: row.seq, kind: row.kind, ref: row.ref }));
      continue;
    }
    changes.push(change);
  }
  const last = page.at(-1);
  return { hub_state, changes, next_after: last === undefined ? query.after : last.seq, has_more: rows.length > query.limit };
}

/** The newest change of a school (0 when none): what the push channel announces. */
export async function latestSeq(d1: D1Database, school_id: string): Promise<number> {
  const row = await d1
    .prepare('SELECT MAX(seq) AS seq FROM changes WHERE school_id = ?')
    .bind(school_id)
    .first<{ seq: number | null }>();
  return row?.seq ?? 0;
}
