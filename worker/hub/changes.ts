// The school's changes feed (DESIGN section 6): triggers append a row for every new credit,
// void request and card change; a hub pulls them in sequence order after its durable cursor,
// each joined to the current state of its credit or card.
import type { ChangesResponse, HubChange } from '../../protocol/hub.ts';
import { CARD_KINDS, CARD_STATUSES } from '../../protocol/card.ts';
import type { HubIdentity } from './auth.ts';

export const SENT_MARK_SQL = `UPDATE hubs SET
    sent_through_seq = MAX(COALESCE(sent_through_seq, 0), COALESCE(
      (SELECT MAX(seq) FROM (SELECT seq FROM changes WHERE school_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3)), 0)),
    last_cursor = ?2,
    last_seen_at_ms = ?4
  WHERE id = ?5`;

export const CHANGES_PAGE_SQL = `SELECT ch.seq, ch.kind, ch.ref,
        cr.id AS credit_id, cr.order_id, cr.card_no AS credit_card_no, cr.amount_fen, cr.state,
        cr.created_at_ms AS credit_created_at_ms,
        cd.status AS card_status, cd.kind AS card_kind, cd.asn AS card_asn
   FROM changes ch
   LEFT JOIN credits cr ON ch.kind IN ('credit', 'void') AND cr.id = ch.ref AND cr.school_id = ch.school_id
   LEFT JOIN cards cd ON ch.kind = 'card' AND cd.school_id = ch.school_id AND cd.card_no = ch.ref
  WHERE ch.school_id = ?1 AND ch.seq > ?2
  ORDER BY ch.seq
  LIMIT ?3`;

interface ChangeRow {
  seq: number;
  kind: 'credit' | 'void' | 'card';
  ref: string;
  credit_id: string | null;
  order_id: string | null;
  credit_card_no: string | null;
  amount_fen: number | null;
  state: 'pending' | 'claimed' | 'voided' | 'moved' | null;
  credit_created_at_ms: number | null;
  card_status: string | null;
  card_kind: string | null;
  card_asn: string | null;
}

function toHubChange(row: ChangeRow): HubChange | null {
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
 * transaction) raises the hub's `sent_through_seq` over exactly the rows it returns, so a
 * refund that checks that mark can never miss a credit that is on its way to the hub.
 */
export async function readChanges(
  d1: D1Database,
  hub: HubIdentity,
  query: { after: number; limit: number },
  now_ms: number,
): Promise<ChangesResponse> {
  if (!(Number.isSafeInteger(query.after) && query.after >= 0)) throw new RangeError(`bad cursor ${query.after}`);
  if (!(Number.isSafeInteger(query.limit) && query.limit >= 1)) throw new RangeError(`bad limit ${query.limit}`);
  const [, read] = await d1.batch([
    d1.prepare(SENT_MARK_SQL).bind(hub.school_id, query.after, query.limit, now_ms, hub.hub_id),
    // One row more than asked tells whether there is more without a count.
    d1.prepare(CHANGES_PAGE_SQL).bind(hub.school_id, query.after, query.limit + 1),
  ]);
  const rows = (read?.results ?? []) as ChangeRow[];
  const page = rows.slice(0, query.limit);
  const changes: HubChange[] = [];
  for (const row of page) {
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
  return { changes, next_after: last === undefined ? query.after : last.seq, has_more: rows.length > query.limit };
}

/** The newest change of a school (0 when none): what the push channel announces. */
export async function latestSeq(d1: D1Database, school_id: string): Promise<number> {
  const row = await d1
    .prepare('SELECT MAX(seq) AS seq FROM changes WHERE school_id = ?')
    .bind(school_id)
    .first<{ seq: number | null }>();
  return row?.seq ?? 0;
}
