// The re-sync of a hub that lost state (DESIGN section 6, "A hub that lost state"): every credit
// it owns with its current state, the credits it once owned that moved away, and the card
// changes after its restored cursor, paged. `resume_after` is the hub's durable cursor when the
// snapshot began, carried in the cursor, so whatever came after it (while the hub paged, or
// before, unowned) is in the feed after it: a complete snapshot plus the feed from resume_after
// is what the feed alone would have given the hub. The contract is in protocol/hub.ts.
import type { CardChange, HubState, SnapshotCredit, SnapshotResponse } from '../../protocol/hub.ts';
import { CARD_KINDS, CARD_STATUSES } from '../../protocol/card.ts';
import { ApiError } from '../http/errors.ts';
import type { HubIdentity } from './auth.ts';

type Phase = 'o' | 'm' | 'k';
interface Position {
  phase: Phase;
  through: number;
  since: number;
  key: string;
}

// "phase.through.since.key": o = owned credits after credit id `key`, m = moved credits after
// `key`, k = card changes after seq `key`.
const CURSOR_PATTERN = /^([omk])\.([0-9]{1,16})\.([0-9]{1,16})\.([A-Za-z0-9_-]{0,64})$/;

function encode(position: Position): string {
  return `${position.phase}.${position.through}.${position.since}.${position.key}`;
}

function decode(text: string): Position {
  const match = CURSOR_PATTERN.exec(text);
  const bad = () => new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
  if (match === null) throw bad();
  const position = { phase: match[1] as Phase, through: Number(match[2]), since: Number(match[3]), key: match[4]! };
  if (!Number.isSafeInteger(position.through) || !Number.isSafeInteger(position.since)) throw bad();
  if (position.phase === 'k' && position.key !== '' && !/^[0-9]{1,16}$/.test(position.key)) throw bad();
  return position;
}

interface CreditRow {
  id: string;
  order_id: string;
  card_no: string;
  amount_fen: number;
  state: 'pending' | 'claimed' | 'voided';
  created_at_ms: number;
  claim_id: string | null;
  void_requested_at_ms: number | null;
  returned?: number;
  online_serial_claimed: number | null;
  online_serial_reported: number | null;
}

interface CardRow {
  seq: number;
  ref: string;
  status: string | null;
  kind: string | null;
  asn: string | null;
}

// The card's serial as the Worker accounts for it: its claims' (any hub: a card loaded at a
// standby since has that serial too), or a hold of this hub (?1) the card office settled at a
// serial, whichever is higher; read per credit by the claims_card and card_holds_card indexes.
const SERIAL_CLAIMED = (credit: string) =>
  `nullif(max(
     coalesce((SELECT max(cl.online_serial_after) FROM claims cl WHERE cl.school_id = ${credit}.school_id AND cl.card_no = ${credit}.card_no), -1),
     coalesce((SELECT max(hd.online_serial_settled) FROM card_holds hd
                WHERE hd.school_id = ${credit}.school_id AND hd.card_no = ${credit}.card_no AND hd.hub_id = ?1 AND hd.status = 'settled'), -1)), -1)`;

// The serial the card last showed a terminal of the school (card reports, newest wins).
const SERIAL_REPORTED = (credit: string) =>
  `(SELECT cd.online_serial FROM cards cd WHERE cd.school_id = ${credit}.school_id AND cd.card_no = ${credit}.card_no)`;

export const SNAPSHOT_OWNED_SQL = `SELECT id, order_id, card_no, amount_fen, state, created_at_ms, claim_id, void_requested_at_ms,
        ${SERIAL_CLAIMED('credits')} AS online_serial_claimed, ${SERIAL_REPORTED('credits')} AS online_serial_reported
   FROM credits WHERE owner_hub_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3`;
// A credit that moved away and came back to this hub is in the owned phase; `returned` marks it.
export const SNAPSHOT_MOVED_SQL = `SELECT cr.id, cr.order_id, cr.card_no, cr.amount_fen, cr.state, cr.created_at_ms, cr.claim_id,
        cr.void_requested_at_ms, cr.owner_hub_id IS ?1 AS returned, ${SERIAL_CLAIMED('cr')} AS online_serial_claimed,
        ${SERIAL_REPORTED('cr')} AS online_serial_reported
   FROM (SELECT DISTINCT credit_id FROM credit_handovers WHERE from_hub_id = ?1 AND credit_id > ?2 ORDER BY credit_id LIMIT ?3) cm
   JOIN credits cr ON cr.id = cm.credit_id
  ORDER BY cr.id`;
export const SNAPSHOT_CARDS_SQL = `SELECT ch.seq, ch.ref, cd.status, cd.kind, cd.asn
   FROM changes ch LEFT JOIN cards cd ON cd.school_id = ch.school_id AND cd.card_no = ch.ref
  WHERE ch.school_id = ?1 AND ch.seq > ?2 AND ch.seq <= ?3 AND ch.kind = 'card'
  ORDER BY ch.seq LIMIT ?4`;

function toCredit(row: CreditRow, moved: boolean): SnapshotCredit {
  return {
    credit_id: row.id,
    order_id: row.order_id,
    card_no: row.card_no,
    amount_fen: row.amount_fen,
    state: moved ? 'moved' : row.state,
    created_at_ms: row.created_at_ms,
    claim_id: moved ? null : row.claim_id,
    void_requested: !moved && row.state === 'pending' && row.void_requested_at_ms !== null,
    // Claims carry a 2-byte serial; anything else is withheld, so the hub never raises its
    // record from a value that is not a chip's.
    online_serial_claimed:
      Number.isSafeInteger(row.online_serial_claimed) && row.online_serial_claimed! >= 1 && row.online_serial_claimed! <= 0xffff ? row.online_serial_claimed : null,
    online_serial_reported:
      Number.isSafeInteger(row.online_serial_reported) && row.online_serial_reported! >= 0 && row.online_serial_reported! <= 0xffff ? row.online_serial_reported : null,
  };
}

function toCard(row: CardRow): CardChange | null {
  const status = CARD_STATUSES.find((s) => s === row.status);
  const card_kind = CARD_KINDS.find((k) => k === row.kind);
  if (status === undefined || card_kind === undefined) return null;
  const asn = row.asn !== null && /^[0-9A-F]{16}$/.test(row.asn) ? row.asn : null;
  return { seq: row.seq, kind: 'card', card_no: row.ref, status, card_kind, asn };
}

export async function readSnapshot(
  d1: D1Database,
  hub: HubIdentity,
  query: { since?: number | undefined; cursor?: string | undefined; limit: number },
): Promise<SnapshotResponse> {
  if (!(Number.isSafeInteger(query.limit) && query.limit >= 1)) throw new RangeError(`bad limit ${query.limit}`);
  let position: Position;
  if (query.cursor !== undefined) {
    if (query.since !== undefined) throw new ApiError(400, 'invalid_query', 'since goes with the first page only; later pages send cursor');
    position = decode(query.cursor);
  } else {
    // The feed resumes after the hub's durable cursor, not after the school's newest change: a
    // credit paid since then that no hub owns yet is in no snapshot (it lists owned credits),
    // so only the feed can hand it over. Everything at or below the durable cursor reached the
    // hub once, and the pages that carried it made the hub owner of its credits, so the
    // snapshot has them; a credit past it that the hub already owns comes twice, harmlessly.
    const durable = await d1.prepare('SELECT durable_cursor FROM hubs WHERE id = ?').bind(hub.hub_id).first<{ durable_cursor: number | null }>();
    position = { phase: 'o', through: durable?.durable_cursor ?? 0, since: query.since ?? 0, key: '' };
  }
  const state_row = await d1.prepare('SELECT state FROM hubs WHERE id = ?').bind(hub.hub_id).first<{ state: HubState }>();
  if (state_row === null) throw new Error(`hub ${hub.hub_id} vanished`);
  const page: SnapshotResponse = {
    hub_state: state_row.state,
    credits: [],
    cards: [],
    next_cursor: null,
    resume_after: position.through,
  };
  // One more row than asked says whether this phase goes on.
  if (position.phase === 'o' || position.phase === 'm') {
    const moved = position.phase === 'm';
    const rows = (
      await d1
        .prepare(moved ? SNAPSHOT_MOVED_SQL : SNAPSHOT_OWNED_SQL)
        .bind(hub.hub_id, position.key, query.limit + 1)
        .all<CreditRow>()
    ).results;
    const window = rows.slice(0, query.limit);
    page.credits = window.filter((row) => row.returned !== 1).map((row) => toCredit(row, moved));
    const last = window.at(-1)?.id;
    const more = rows.length > query.limit;
    page.next_cursor = encode(
      more && last !== undefined
        ? { ...position, key: last }
        : { ...position, phase: moved ? 'k' : 'm', key: '' },
    );
    return page;
  }
  const after_seq = Math.max(position.since, position.key === '' ? 0 : Number(position.key));
  const rows = (await d1.prepare(SNAPSHOT_CARDS_SQL).bind(hub.school_id, after_seq, position.through, query.limit + 1).all<CardRow>()).results;
  const window = rows.slice(0, query.limit);
  for (const row of window) {
    const card = toCard(row);
    if (card !== null) page.cards.push(card);
  }
  const last = window.at(-1);
  page.next_cursor = rows.length > query.limit && last !== undefined ? encode({ ...position, key: String(last.seq) }) : null;
  return page;
}
