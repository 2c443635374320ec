// Card replacement (补卡, issue 10): the card office closes a card and issues a new number with a
// new chip. The old card's pending credits move to the new card through the ledger, never by
// editing a credit's card: each one ends `moved` and a new credit of the same order continues it
// (`moved_from_credit_id`), which reaches the hub like any new credit.
//
// DESIGN section 6, one owner per credit: a credit no hub was ever sent moves at once; one a hub
// may hold moves only when that hub answers the void request `voided` (exactly like a refund,
// worker/ledger/refunds.ts). `already_claimed` ends the move `refused`: the money is on the old
// card's chip, and the card office tells the holder so.
import { normaliseCardNo } from '../../protocol/card.ts';
import type { CardReplacementView, CreditMoveView } from '../../protocol/card-replace.ts';
import type { ErrorCode } from '../../protocol/errors.ts';
import { newOrderId } from './orders.ts';

// A card holds a handful of pending credits; this bounds one request's batch. A card with more
// moves the rest when the replacement is asked for again (same new number and asn).
export const REPLACE_CREDITS_MAX = 100;
// Long enough for an operator's name or id; the audit trail keeps the rest.
export const REPLACE_ACTOR_LENGTH_MAX = 128;
// A credit moved this often is a bug (a card replaced in a loop), not a card office's day.
const MOVE_GENERATION_MAX = 999;

export interface ReplaceCardInput {
  school_id: string;
  card_no: string;
  /** As typed: normalised like every card number (DESIGN section 4). */
  new_card_no: string;
  /** 16 upper-case hex digits (the request schema upper-cases it). */
  new_asn: string;
  /** Who decided: `admin` for the ADMIN_TOKEN, or the console operator's id. */
  actor: string;
}

export type ReplaceOutcome =
  | { kind: 'ok'; replacement: CardReplacementView; created: boolean; void_requested: boolean }
  | { kind: 'refused'; status: 400 | 404 | 409; code: ErrorCode; message: string };

/**
 * Whether a hub of the credit's school may already hold it (the same test as a refund's direct
 * void): a hub that has been sent the credit's change, or is being sent it in a batch that raised
 * its mark. A credit without a change row counts as sent, so an anomaly errs on the hub's side.
 */
const MAY_BE_AT_A_HUB = (credit: string) => `EXISTS (
      SELECT 1 FROM hubs h
       WHERE h.school_id = ${credit}.school_id
         AND COALESCE(h.sent_through_seq, 0) >=
             COALESCE((SELECT MIN(ch.seq) FROM changes ch WHERE ch.ref = ${credit}.id AND ch.kind = 'credit'), 0))`;

export const REPLACE_READ_SQL = {
  school: `SELECT id FROM schools WHERE id = ?1`,
  card: `SELECT school_id, card_no, status, asn FROM cards WHERE school_id = ?1 AND card_no = ?2`,
  asn_owner: `SELECT card_no FROM cards WHERE school_id = ?1 AND asn = ?2`,
  replacement_of: `SELECT * FROM card_replacements WHERE school_id = ?1 AND old_card_no = ?2`,
  // Pending credits free to move: no refund of them and no void or move asked for already. The
  // `+` keeps the order from the state index, which would walk every pending credit there is.
  movable: `SELECT cr.id, cr.order_id, cr.amount_fen FROM credits cr
     WHERE cr.school_id = ?1 AND cr.card_no = ?2 AND cr.state = 'pending' AND cr.void_requested_at_ms IS NULL
       AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.credit_id = cr.id)
       AND NOT EXISTS (SELECT 1 FROM credit_moves m WHERE m.credit_id = cr.id)
     ORDER BY +cr.created_at_ms, cr.id LIMIT ${REPLACE_CREDITS_MAX}`,
};

// ?1 id, ?2 school, ?3 old card, ?4 new card, ?5 new asn, ?6 actor, ?7 now. The conditions are
// the pre-read's checks again, inside the transaction: a concurrent import or replacement that
// took the number or the asn, or closed the card, makes this insert nothing, and then every
// later statement of the batch (all tied to this replacement's row) does nothing either.
export const REPLACEMENT_INSERT_SQL = `INSERT INTO card_replacements (id, school_id, old_card_no, new_card_no, new_asn, actor, created_at_ms)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
   WHERE EXISTS (SELECT 1 FROM cards WHERE school_id = ?2 AND card_no = ?3 AND status <> 'closed')
     AND NOT EXISTS (SELECT 1 FROM cards WHERE school_id = ?2 AND card_no = ?4)
     AND NOT EXISTS (SELECT 1 FROM cards WHERE school_id = ?2 AND asn = ?5)
  ON CONFLICT DO NOTHING`;

// The new card is the same holder and kind; its balance is unknown until a POS reports it.
export const NEW_CARD_INSERT_SQL = `INSERT INTO cards (school_id, card_no, holder_name, holder_name_key, kind, status, balance_fen,
                   balance_as_of_ms, online_serial, asn, updated_at_ms)
  SELECT c.school_id, r.new_card_no, c.holder_name, c.holder_name_key, c.kind, 'active', NULL, NULL, NULL, r.new_asn, ?2
    FROM card_replacements r JOIN cards c ON c.school_id = r.school_id AND c.card_no = r.old_card_no
   WHERE r.id = ?1
  ON CONFLICT DO NOTHING`;

export const OLD_CARD_CLOSE_SQL = `UPDATE cards SET status = 'closed', updated_at_ms = ?2
  WHERE (school_id, card_no) = (SELECT school_id, old_card_no FROM card_replacements WHERE id = ?1) AND status <> 'closed'`;

// ?1 replacement, ?2 JSON [{credit_id, new_credit_id}], ?3 now. The route is decided here, in
// the transaction that also asks the hub (below), so a credit on its way to a hub counts as sent.
export const MOVES_INSERT_SQL = `INSERT INTO credit_moves (credit_id, replacement_id, school_id, to_card_no, new_credit_id, state, route,
                          created_at_ms, updated_at_ms)
  SELECT cr.id, r.id, r.school_id, r.new_card_no, json_extract(j.value, '$.new_credit_id'), 'requested',
         CASE WHEN ${MAY_BE_AT_A_HUB('cr')} THEN 'hub' ELSE 'direct' END, ?3, ?3
    FROM json_each(?2) j
    JOIN credits cr ON cr.id = json_extract(j.value, '$.credit_id')
    JOIN card_replacements r ON r.id = ?1
   WHERE cr.school_id = r.school_id AND cr.card_no = r.old_card_no AND cr.state = 'pending' AND cr.void_requested_at_ms IS NULL
     AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.credit_id = cr.id)
  ON CONFLICT DO NOTHING`;

// The same three steps end a move whichever way it completes: the credit becomes `moved`, its
// successor is minted (copying amount and order from it, so they cannot disagree), the move is
// done. `moves` names the credit_moves rows a step acts on. The unary `+` on credit states keeps
// SQLite on the moves' own keys instead of walking every pending or moved credit by state.
function moveStatements(moves: string, credit_guard: string): { move: string; mint: string; done: string } {
  return {
    move: `UPDATE credits SET state = 'moved', moved_at_ms = ?2
      WHERE id IN (SELECT m.credit_id FROM credit_moves m WHERE ${moves}) AND +state = 'pending' AND ${credit_guard}`,
    mint: `INSERT INTO credits (id, order_id, school_id, card_no, amount_fen, state, claim_id, moved_from_credit_id, created_at_ms)
      SELECT m.new_credit_id, cr.order_id, cr.school_id, m.to_card_no, cr.amount_fen, 'pending', NULL, cr.id, ?2
        FROM credit_moves m JOIN credits cr ON cr.id = m.credit_id
       WHERE ${moves} AND +cr.state = 'moved'
      ON CONFLICT DO NOTHING`,
    done: `UPDATE credit_moves SET state = 'moved', updated_at_ms = ?2
      WHERE credit_id IN (SELECT m.credit_id FROM credit_moves m WHERE ${moves})
        AND EXISTS (SELECT 1 FROM credits c WHERE c.id = credit_moves.new_credit_id AND c.moved_from_credit_id = credit_moves.credit_id)`,
  };
}

// ?1 replacement, ?2 now: the moves no hub is involved in, done in the batch that starts them.
export const DIRECT_MOVE_SQL = moveStatements(
  `m.replacement_id = ?1 AND m.route = 'direct' AND m.state = 'requested'`,
  'void_requested_at_ms IS NULL',
);

// ?1 replacement, ?2 now: the void request the owning hub answers (the changes trigger writes it).
export const MOVE_VOID_REQUEST_SQL = `UPDATE credits SET void_requested_at_ms = ?2
  WHERE id IN (SELECT m.credit_id FROM credit_moves m WHERE m.replacement_id = ?1 AND m.route = 'hub' AND m.state = 'requested')
    AND +state = 'pending' AND void_requested_at_ms IS NULL`;

// ?1 JSON credit ids the hub answered `voided`, ?2 now (worker/ledger/refunds.ts, applyVoidAnswers).
export const HUB_MOVE_SQL = moveStatements(
  `m.credit_id IN (SELECT value FROM json_each(?1)) AND m.state = 'requested'`,
  'void_requested_at_ms IS NOT NULL',
);

// ?1 JSON credit ids the hub answered `already_claimed`, ?2 now.
export const HUB_MOVE_REFUSALS_SQL = `UPDATE credit_moves SET state = 'refused', updated_at_ms = ?2
  WHERE credit_id IN (SELECT value FROM json_each(?1)) AND state = 'requested'
    AND NOT EXISTS (SELECT 1 FROM credits cr WHERE cr.id = credit_moves.credit_id AND cr.state = 'moved')`;

/**
 * The id of the credit that continues `credit_id` on a new card: `C…` (an order's first credit)
 * becomes `M…-1`, `M…-n` becomes `M…-(n+1)`. Derived, not random, so asking twice can mint no
 * second successor, and an operator reads the generation off the id.
 */
export function successorCreditId(credit_id: string): string {
  const moved = /^M(.+)-([0-9]+)$/.exec(credit_id);
  if (moved !== null) {
    const generation = Number(moved[2]) + 1;
    if (generation > MOVE_GENERATION_MAX) throw new RangeError(`credit ${credit_id} moved ${generation} times`);
    return `M${moved[1]}-${generation}`;
  }
  if (!credit_id.startsWith('C') || credit_id.length < 2) throw new RangeError(`not a credit id: ${credit_id}`);
  return `M${credit_id.slice(1)}-1`;
}

function refused(status: 400 | 404 | 409, code: ErrorCode, message: string): ReplaceOutcome {
  return { kind: 'refused', status, code, message };
}

interface ReplacementRow {
  id: string;
  school_id: string;
  old_card_no: string;
  new_card_no: string;
  new_asn: string;
  actor: string;
  created_at_ms: number;
}

interface MoveRow {
  credit_id: string;
  new_credit_id: string;
  state: CreditMoveView['state'];
  route: CreditMoveView['route'];
  order_id: string;
  amount_fen: number;
  credit_state: string;
  new_credit_amount_fen: number | null;
  new_credit_order_id: string | null;
}

export const MOVES_READ_SQL = `SELECT m.credit_id, m.new_credit_id, m.state, m.route, cr.order_id, cr.amount_fen, cr.state AS credit_state,
        nc.amount_fen AS new_credit_amount_fen, nc.order_id AS new_credit_order_id
   FROM credit_moves m JOIN credits cr ON cr.id = m.credit_id LEFT JOIN credits nc ON nc.id = m.new_credit_id
  WHERE m.replacement_id = ?1 ORDER BY m.created_at_ms, m.credit_id`;

/** A replacement with where each of its credits stands; null when there is none. */
export async function readReplacement(d1: D1Database, replacement_id: string, school_id?: string): Promise<CardReplacementView | null> {
  const [head, moves] = await d1.batch([
    d1.prepare('SELECT * FROM card_replacements WHERE id = ?1').bind(replacement_id),
    d1.prepare(MOVES_READ_SQL).bind(replacement_id),
  ]);
  const row = (head?.results ?? [])[0] as ReplacementRow | undefined;
  if (row === undefined || (school_id !== undefined && row.school_id !== school_id)) return null;
  const credits: CreditMoveView[] = ((moves?.results ?? []) as MoveRow[]).map((move) => {
    // Postconditions of every way a move ends: a moved credit has its successor for the same
    // order and amount; a credit still waiting is still pending. Our bug otherwise, not input.
    if (move.state === 'moved') {
      if (move.credit_state !== 'moved' || move.new_credit_amount_fen !== move.amount_fen || move.new_credit_order_id !== move.order_id) {
        throw new Error(`move of ${move.credit_id} done without its successor ${move.new_credit_id}`);
      }
    } else if (move.state === 'requested' && move.credit_state !== 'pending') {
      throw new Error(`move of ${move.credit_id} waits while the credit is ${move.credit_state}`);
    }
    return {
      credit_id: move.credit_id,
      new_credit_id: move.state === 'moved' ? move.new_credit_id : null,
      order_id: move.order_id,
      amount_fen: move.amount_fen,
      state: move.state,
      route: move.route,
    };
  });
  const ids = (state: CreditMoveView['state']) => credits.filter((c) => c.state === state).map((c) => c.credit_id);
  return {
    replacement_id: row.id,
    school_id: row.school_id,
    old_card_no: row.old_card_no,
    new_card_no: row.new_card_no,
    new_asn: row.new_asn,
    actor: row.actor,
    created_at_ms: row.created_at_ms,
    moving: ids('requested'),
    moved: ids('moved'),
    refused: ids('refused'),
    credits,
  };
}

/** `P` + the time and randomness of an order id: sortable, unguessable, one per decision. */
function newReplacementId(now_ms: number): string {
  return `P${newOrderId(now_ms).slice(1)}`;
}

/**
 * Replaces card `card_no` of the school by `new_card_no` with chip `new_asn`: one D1 batch
 * records the decision, creates the new card (same holder and kind), closes the old one and
 * starts moving each pending credit. Asked again with the same new number and asn it changes
 * nothing but moving credits that became pending since (an order paid late), so a retry is safe.
 */
export async function replaceCard(
  d1: D1Database,
  input: ReplaceCardInput,
  now_ms: number,
  options: {
    /**
     * Run in the D1 batch that records the replacement, after it (the console's audit-trail
     * row): the decision and its record commit together or not at all.
     */
    with_batch?: (replacement_id: string) => D1PreparedStatement[];
  } = {},
): Promise<ReplaceOutcome> {
  if (!Number.isSafeInteger(now_ms) || now_ms <= 0) throw new RangeError(`now_ms ${now_ms}`);
  if (input.actor.length === 0 || input.actor.length > REPLACE_ACTOR_LENGTH_MAX) throw new RangeError('actor must name who decided');
  if (!/^[0-9A-F]{16}$/.test(input.new_asn)) return refused(400, 'invalid_body', 'new_asn is the chip serial, 16 hex digits');
  const new_card_no = normaliseCardNo(input.new_card_no);
  if (new_card_no === null) return refused(400, 'invalid_body', 'new_card_no is not a card number');

  const [school, card, taken, asn_owner, earlier] = await d1.batch([
    d1.prepare(REPLACE_READ_SQL.school).bind(input.school_id),
    d1.prepare(REPLACE_READ_SQL.card).bind(input.school_id, input.card_no),
    d1.prepare(REPLACE_READ_SQL.card).bind(input.school_id, new_card_no),
    d1.prepare(REPLACE_READ_SQL.asn_owner).bind(input.school_id, input.new_asn),
    d1.prepare(REPLACE_READ_SQL.replacement_of).bind(input.school_id, input.card_no),
  ]);
  if ((school?.results ?? []).length === 0) return refused(404, 'school_not_found', `no school ${input.school_id}`);
  const old = (card?.results ?? [])[0] as { status: string } | undefined;
  if (old === undefined) return refused(404, 'card_not_found', `no card ${input.card_no} at ${input.school_id}`);
  const previous = (earlier?.results ?? [])[0] as ReplacementRow | undefined;
  let replacement_id: string;
  let created: boolean;
  if (previous !== undefined) {
    if (previous.new_card_no !== new_card_no || previous.new_asn !== input.new_asn) {
      return refused(409, 'card_closed', `card ${input.card_no} was already replaced by ${previous.new_card_no}`);
    }
    replacement_id = previous.id;
    created = false;
  } else {
    if (old.status === 'closed') return refused(409, 'card_closed', `card ${input.card_no} is closed`);
    if ((taken?.results ?? []).length > 0) return refused(409, 'card_no_taken', `card number ${new_card_no} is already in the registry`);
    const owner = (asn_owner?.results ?? [])[0] as { card_no: string } | undefined;
    if (owner !== undefined) return refused(409, 'asn_taken', `asn ${input.new_asn} belongs to card ${owner.card_no}`);
    replacement_id = newReplacementId(now_ms);
    created = true;
  }

  const movable = await d1.prepare(REPLACE_READ_SQL.movable).bind(input.school_id, input.card_no).all<{ id: string; amount_fen: number }>();
  const pairs = movable.results.map((credit) => {
    if (!(Number.isSafeInteger(credit.amount_fen) && credit.amount_fen > 0)) throw new Error(`credit ${credit.id} of ${credit.amount_fen} fen`);
    return { credit_id: credit.id, new_credit_id: successorCreditId(credit.id) };
  });
  const statements: D1PreparedStatement[] = [];
  if (created) {
    statements.push(
      d1.prepare(REPLACEMENT_INSERT_SQL).bind(replacement_id, input.school_id, input.card_no, new_card_no, input.new_asn, input.actor, now_ms),
      d1.prepare(NEW_CARD_INSERT_SQL).bind(replacement_id, now_ms),
      d1.prepare(OLD_CARD_CLOSE_SQL).bind(replacement_id, now_ms),
    );
  }
  const recorded = created ? (options.with_batch?.(replacement_id) ?? []) : [];
  let void_requested = false;
  if (pairs.length > 0) {
    const first = statements.length;
    statements.push(
      d1.prepare(MOVES_INSERT_SQL).bind(replacement_id, JSON.stringify(pairs), now_ms),
      d1.prepare(DIRECT_MOVE_SQL.move).bind(replacement_id, now_ms),
      d1.prepare(DIRECT_MOVE_SQL.mint).bind(replacement_id, now_ms),
      d1.prepare(DIRECT_MOVE_SQL.done).bind(replacement_id, now_ms),
      d1.prepare(MOVE_VOID_REQUEST_SQL).bind(replacement_id, now_ms),
    );
    const results = await d1.batch([...statements, ...recorded]);
    void_requested = (results[first + 4]?.meta.changes ?? 0) > 0;
  } else if (statements.length > 0) {
    await d1.batch([...statements, ...recorded]);
  }

  const replacement = await readReplacement(d1, replacement_id);
  if (replacement === null) {
    // The insert's own guards refused: an import or another replacement took the number or the
    // asn, or closed the card, between our read and the batch. Nothing was written.
    return refused(409, 'conflict', 'the registry changed while replacing the card; look at it again');
  }
  return { kind: 'ok', replacement, created, void_requested };
}
