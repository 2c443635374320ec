// The one store under the hub's money logic: prepared statements over the SQLite file and the
// in-memory index (cards, offerable credits, open reservations, terminals) rebuilt from it at
// start. The concern modules beside this file (offers, loads, changes, outbox, reports) read
// and write only through it. Every write must run inside GroupCommit.run, so it shares the
// turn's transaction and its answer waits for the durable commit.
import { randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { CardKind, CardStatus } from '../../protocol/card.ts';
import type { ErrorCode } from '../../protocol/errors.ts';
import { readGate, type FleetGate } from './fleet.ts';

export type Outcome<T> = { ok: true; value: T } | { ok: false; status: 400 | 403 | 404 | 409; code: ErrorCode; message: string };

export function fail<T>(status: 400 | 403 | 404 | 409, code: ErrorCode, message: string): Outcome<T> {
  return { ok: false, status, code, message };
}

/** Our own bugs only: every bound a terminal or the Worker can reach is checked before. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`invariant: ${message}`);
}

export function newClaimId(): string {
  return `clm_${randomBytes(12).toString('hex')}`;
}

export interface CardEntry {
  status: CardStatus;
  kind: CardKind;
  /** Null when the registry has none: such a card is never offered a load. */
  asn: string | null;
  /** The online serial after the last load this hub committed (null: none yet). */
  last_online_serial: number | null;
  /** The card's verified serial ran ahead of last_online_serial: loads this hub forgot. */
  frozen: boolean;
}

export interface PendingCredit {
  credit_id: string;
  amount_fen: number;
  created_at_ms: number;
}

/** An open reservation: MAC2 has been released for it, the card has not yet told. */
export interface Reservation {
  claim_id: string;
  card_no: string;
  asn: string;
  key_version: number;
  terminal_id: string;
  card_terminal_id: string;
  amount_fen: number;
  credits: PendingCredit[];
  balance_before_fen: number;
  online_serial_before: number;
  balance_after_fen: number;
  random: string;
  terminal_time: string;
  mac2: string;
  reserved_at_ms: number;
}

export interface TerminalEntry {
  key: Buffer;
  card_terminal_id: string;
  txn_seq_high: number;
}

export interface ClaimRow {
  claim_id: string;
  card_no: string;
  asn: string;
  key_version: number;
  terminal_id: string;
  card_terminal_id: string;
  amount_fen: number;
  credit_ids: string;
  balance_before_fen: number;
  online_serial_before: number;
  balance_after_fen: number;
  random: string;
  terminal_time: string;
  mac2: string;
  state: 'open' | 'committed' | 'released';
  proof_kind: 'tac' | 'prove' | 'serial' | null;
  proof_value: string | null;
  reserved_at_ms: number;
}

export const CLAIM_COLUMNS = `claim_id, card_no, asn, key_version, terminal_id, card_terminal_id, amount_fen, credit_ids,
  balance_before_fen, online_serial_before, balance_after_fen, random, terminal_time, mac2, state, proof_kind, proof_value,
  reserved_at_ms`;

export function byAge(a: PendingCredit, b: PendingCredit): number {
  return a.created_at_ms - b.created_at_ms || (a.credit_id < b.credit_id ? -1 : a.credit_id > b.credit_id ? 1 : 0);
}

const STATEMENTS = {
  setMeta: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  terminal: 'SELECT key_hex, card_terminal_id, txn_seq_high FROM terminals WHERE terminal_id = ?',
  // max(): a swipe's txn_seq is written lazily and may land after a later load's.
  setTxnSeq: 'UPDATE terminals SET txn_seq_high = max(txn_seq_high, ?) WHERE terminal_id = ?',
  upsertReport: `INSERT INTO card_reports (card_no, balance_fen, online_serial, seen_at_ms, dirty) VALUES (?, ?, ?, ?, 1)
    ON CONFLICT (card_no) DO UPDATE SET balance_fen = excluded.balance_fen, online_serial = excluded.online_serial,
    seen_at_ms = excluded.seen_at_ms, dirty = 1 WHERE excluded.seen_at_ms >= card_reports.seen_at_ms`,
  insertClaim: `INSERT INTO claims (claim_id, card_no, asn, key_version, terminal_id, card_terminal_id, amount_fen, credit_ids,
    balance_before_fen, online_serial_before, balance_after_fen, random, terminal_time, mac2, state, reserved_at_ms)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)`,
  commitClaim: `UPDATE claims SET state = 'committed', proof_kind = ?, proof_value = ?, resolved_at_ms = ?, resolved_by = ?
    WHERE claim_id = ? AND state = 'open'`,
  releaseClaim: "UPDATE claims SET state = 'released', resolved_at_ms = ?, resolved_by = ? WHERE claim_id = ? AND state = 'open'",
  claim: `SELECT ${CLAIM_COLUMNS} FROM claims WHERE claim_id = ?`,
  session: 'SELECT claim_id FROM claims WHERE card_no = ? AND online_serial_before = ? AND random = ?',
  reserveCredit: "UPDATE credits SET state = 'reserved', claim_id = ? WHERE credit_id = ? AND state = 'pending'",
  claimCredit: "UPDATE credits SET state = 'claimed' WHERE credit_id = ? AND state = 'reserved' AND claim_id = ?",
  releaseCredit: "UPDATE credits SET state = 'pending', claim_id = NULL WHERE credit_id = ? AND state = 'reserved' AND claim_id = ?",
  voidCredit: "UPDATE credits SET state = 'voided', void_requested = 0 WHERE credit_id = ? AND state = 'pending'",
  markVoidRequested: 'UPDATE credits SET void_requested = 1 WHERE credit_id = ?',
  credit: 'SELECT credit_id, card_no, amount_fen, state, claim_id, void_requested, created_at_ms FROM credits WHERE credit_id = ?',
  insertCredit: `INSERT INTO credits (credit_id, order_id, card_no, amount_fen, state, claim_id, created_at_ms, received_seq)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (credit_id) DO NOTHING`,
  upsertCard: `INSERT INTO cards (card_no, status, kind, asn, updated_seq) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (card_no) DO UPDATE SET status = excluded.status, kind = excluded.kind, asn = excluded.asn,
    updated_seq = excluded.updated_seq,
    last_online_serial = CASE WHEN cards.asn IS excluded.asn THEN cards.last_online_serial END,
    frozen = CASE WHEN cards.asn IS excluded.asn THEN cards.frozen ELSE 0 END`,
  setCardSerial: 'UPDATE cards SET last_online_serial = ? WHERE card_no = ?',
  freezeCard: 'UPDATE cards SET frozen = 1 WHERE card_no = ?',
  unfreezeCard: 'UPDATE cards SET frozen = 0 WHERE card_no = ?',
  // A hold opens again only for a serial past the one it was opened (or settled) for.
  openHold: `INSERT INTO card_holds (card_no, online_serial_seen, online_serial_recorded, balance_fen, at_ms, status, sent)
    VALUES (?, ?, ?, ?, ?, 'open', 0)
    ON CONFLICT (card_no) DO UPDATE SET online_serial_seen = excluded.online_serial_seen,
      online_serial_recorded = excluded.online_serial_recorded, balance_fen = excluded.balance_fen, at_ms = excluded.at_ms,
      status = 'open', sent = 0
    WHERE card_holds.status <> 'open' OR excluded.online_serial_seen > card_holds.online_serial_seen`,
  hold: 'SELECT card_no, online_serial_seen, online_serial_recorded, balance_fen, at_ms, status FROM card_holds WHERE card_no = ?',
  closeHold: "UPDATE card_holds SET status = ?, sent = ? WHERE card_no = ? AND status = 'open'",
  resendHold: "UPDATE card_holds SET sent = 0 WHERE card_no = ? AND status = 'open'",
  holdsBatch: `SELECT card_no, online_serial_seen, online_serial_recorded, balance_fen, at_ms, status FROM card_holds
    WHERE sent = 0 ORDER BY at_ms LIMIT ?`,
  markHoldSent: 'UPDATE card_holds SET sent = 1 WHERE card_no = ? AND status = ? AND online_serial_seen = ? AND at_ms = ?',
  // A store from before card holds may have frozen cards without one: the newest chip report
  // (taken at the freezing load) stands in for the serial it showed.
  frozenCards: `SELECT c.card_no, coalesce(h.online_serial_seen, r.online_serial) AS online_serial_seen
    FROM cards c LEFT JOIN card_holds h ON h.card_no = c.card_no AND h.status = 'open'
    LEFT JOIN card_reports r ON r.card_no = c.card_no WHERE c.frozen = 1 LIMIT ?`,
  pendingVoidRequested: "SELECT credit_id FROM credits WHERE card_no = ? AND state = 'pending' AND void_requested = 1 LIMIT ?",
  report: 'SELECT online_serial FROM card_reports WHERE card_no = ?',
  frozenCount: 'SELECT count(*) AS n FROM cards WHERE frozen = 1',
  insertOutbox: 'INSERT INTO outbox (claim_id, body) VALUES (?, ?)',
  outboxBatch: 'SELECT seq, body FROM outbox ORDER BY seq LIMIT ?',
  deleteOutbox: 'DELETE FROM outbox WHERE claim_id = ?',
  upsertVoidAnswer: `INSERT INTO void_answers (credit_id, result, claim_id, answered_at_ms, sent) VALUES (?, ?, ?, ?, 0)
    ON CONFLICT (credit_id) DO UPDATE SET result = excluded.result, claim_id = excluded.claim_id,
    answered_at_ms = excluded.answered_at_ms, sent = 0`,
  voidAnswersBatch: 'SELECT credit_id, result, claim_id FROM void_answers WHERE sent = 0 ORDER BY answered_at_ms LIMIT ?',
  markVoidSent: 'UPDATE void_answers SET sent = 1 WHERE credit_id = ? AND result = ?',
  reportsBatch: 'SELECT card_no, balance_fen, online_serial, seen_at_ms FROM card_reports WHERE dirty = 1 ORDER BY seen_at_ms LIMIT ?',
  markReportSent: 'UPDATE card_reports SET dirty = 0 WHERE card_no = ? AND seen_at_ms = ?',
  greyBatch: `SELECT * FROM (
      SELECT c.claim_id, c.card_no, c.terminal_id, c.amount_fen, c.credit_ids, c.online_serial_before, c.reserved_at_ms,
             'open' AS status
        FROM claims c WHERE c.state = 'open' AND c.reserved_at_ms <= ?
         AND NOT EXISTS (SELECT 1 FROM grey_reported g WHERE g.claim_id = c.claim_id)
       ORDER BY c.reserved_at_ms LIMIT ?)
    UNION ALL
    SELECT * FROM (
      SELECT c.claim_id, c.card_no, c.terminal_id, c.amount_fen, c.credit_ids, c.online_serial_before, c.reserved_at_ms,
             'resolved' AS status
        FROM grey_reported g JOIN claims c ON c.claim_id = g.claim_id
       WHERE g.status = 'open' AND c.state <> 'open' LIMIT ?)`,
  oldestUnreported: `SELECT min(c.reserved_at_ms) AS at_ms FROM claims c WHERE c.state = 'open'
    AND NOT EXISTS (SELECT 1 FROM grey_reported g WHERE g.claim_id = c.claim_id)`,
  markGreySent: 'INSERT INTO grey_reported (claim_id, status) VALUES (?, ?) ON CONFLICT (claim_id) DO UPDATE SET status = excluded.status',
  insertGrey: 'INSERT INTO grey_records (claim_id, card_no, terminal_id, reason, detail, at_ms) VALUES (?, ?, ?, ?, ?, ?)',
  openGrey: `SELECT claim_id, card_no, terminal_id, amount_fen, credit_ids, online_serial_before, reserved_at_ms
    FROM claims WHERE state = 'open' AND reserved_at_ms <= ? ORDER BY reserved_at_ms LIMIT ?`,
  markResyncSeen: 'INSERT INTO resync_seen (credit_id) VALUES (?) ON CONFLICT DO NOTHING',
  // Only a pending credit is ever dropped: a reserved one has MAC2 out, a final one its history.
  deleteCredit: "DELETE FROM credits WHERE credit_id = ? AND state = 'pending'",
  claimFromWorker: "UPDATE credits SET state = 'claimed', claim_id = ? WHERE credit_id = ? AND state = 'pending'",
  outboxHas: 'SELECT 1 AS found FROM outbox WHERE claim_id = ?',
  voidAnswer: 'SELECT result, sent FROM void_answers WHERE credit_id = ?',
  voidAnswersUnsent: 'SELECT count(*) AS n FROM void_answers WHERE sent = 0',
  events: 'SELECT claim_id, card_no, terminal_id, reason, detail, at_ms FROM grey_records ORDER BY id DESC LIMIT ?',
} as const;

export type Statements = { [K in keyof typeof STATEMENTS]: StatementSync };

export class LedgerStore {
  readonly db: DatabaseSync;
  readonly s: Statements;
  readonly cards = new Map<string, CardEntry>();
  /** Offerable credits per card, oldest first; reserved ones are in their reservation. */
  readonly pending = new Map<string, PendingCredit[]>();
  /** At most one open reservation per card (claims_open is a unique index). */
  readonly open = new Map<string, Reservation>();
  readonly terminals = new Map<string, TerminalEntry>();
  cursor = 0;
  outbox_depth = 0;
  /** Whether loads may be offered (fleet.ts); its durable parts live in meta. */
  readonly gate: FleetGate;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.s = Object.fromEntries(Object.entries(STATEMENTS).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
    this.#rebuild();
    const meta = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.gate = readGate((key) => (meta.get(key) as { value: string } | undefined)?.value);
  }

  setMeta(key: string, value: string): void {
    this.s.setMeta.run(key, value);
  }

  /** Memory from disk: the durable state is the only truth after a crash. */
  #rebuild(): void {
    const cursor = this.db.prepare("SELECT value FROM meta WHERE key = 'cursor'").get() as { value: string } | undefined;
    this.cursor = cursor === undefined ? 0 : Number(cursor.value);
    // Rows as arrays: at a million cards, a named-column object per row doubles the start-up
    // (bench/suites/hub-scale.ts).
    const cards_query = this.db.prepare('SELECT card_no, status, kind, asn, last_online_serial, frozen FROM cards');
    cards_query.setReturnArrays(true);
    for (const row of cards_query.iterate() as Iterable<[string, CardStatus, CardKind, string | null, number | null, number]>) {
      this.cards.set(row[0], { status: row[1], kind: row[2], asn: row[3], last_online_serial: row[4], frozen: row[5] === 1 });
    }
    const pending_query = this.db.prepare("SELECT credit_id, card_no, amount_fen, created_at_ms FROM credits WHERE state = 'pending' ORDER BY created_at_ms, credit_id");
    pending_query.setReturnArrays(true);
    for (const row of pending_query.iterate() as Iterable<[string, string, number, number]>) {
      this.addPending(row[1], { credit_id: row[0], amount_fen: row[2], created_at_ms: row[3] });
    }
    const open = this.db.prepare(`SELECT ${CLAIM_COLUMNS} FROM claims WHERE state = 'open'`).iterate() as Iterable<ClaimRow>;
    for (const row of open) {
      assert(!this.open.has(row.card_no), `one open reservation per card (${row.card_no})`);
      this.open.set(row.card_no, this.#toReservation(row));
    }
    const depth = this.db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number };
    this.outbox_depth = depth.n;
  }

  #toReservation(row: ClaimRow): Reservation {
    const credits = (JSON.parse(row.credit_ids) as string[]).map((credit_id) => {
      const credit = this.s.credit.get(credit_id) as { amount_fen: number; created_at_ms: number } | undefined;
      assert(credit !== undefined, `credit ${credit_id} of ${row.claim_id} is stored`);
      return { credit_id, amount_fen: credit.amount_fen, created_at_ms: credit.created_at_ms };
    });
    return {
      claim_id: row.claim_id,
      card_no: row.card_no,
      asn: row.asn,
      key_version: row.key_version,
      terminal_id: row.terminal_id,
      card_terminal_id: row.card_terminal_id,
      amount_fen: row.amount_fen,
      credits,
      balance_before_fen: row.balance_before_fen,
      online_serial_before: row.online_serial_before,
      balance_after_fen: row.balance_after_fen,
      random: row.random,
      terminal_time: row.terminal_time,
      mac2: row.mac2,
      reserved_at_ms: row.reserved_at_ms,
    };
  }

  addPending(card_no: string, credit: PendingCredit): void {
    let list = this.pending.get(card_no);
    if (list === undefined) {
      list = [];
      this.pending.set(card_no, list);
    }
    const entry = { credit_id: credit.credit_id, amount_fen: credit.amount_fen, created_at_ms: credit.created_at_ms };
    // Almost always the newest: appended; otherwise put in its place.
    const last = list.at(-1);
    list.push(entry);
    if (last !== undefined && byAge(last, entry) > 0) list.sort(byAge);
  }

  removePending(card_no: string, credit_id: string): void {
    const list = this.pending.get(card_no);
    if (list === undefined) return;
    const index = list.findIndex((credit) => credit.credit_id === credit_id);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.pending.delete(card_no);
  }

  /** The terminal's HMAC key and card_terminal_id; a miss re-reads the store, so `terminal add` needs no restart. */
  terminal(terminal_id: string, reload: boolean): TerminalEntry | null {
    let entry = this.terminals.get(terminal_id);
    if (entry === undefined || reload) {
      const row = this.s.terminal.get(terminal_id) as { key_hex: string; card_terminal_id: string; txn_seq_high: number } | undefined;
      if (row === undefined) return null;
      const high = Math.max(row.txn_seq_high, entry?.txn_seq_high ?? -1);
      entry = { key: Buffer.from(row.key_hex, 'hex'), card_terminal_id: row.card_terminal_id, txn_seq_high: high };
      this.terminals.set(terminal_id, entry);
    }
    return entry;
  }

  /**
   * txn_seq rises with every request of a terminal (DESIGN section 6): a repeated or older one
   * is a replay. Memory moves at once, so two requests of one turn cannot both pass; the disk
   * follows in the caller's transaction.
   */
  takeTxnSeq(terminal_id: string, txn_seq: number): Outcome<null> {
    const terminal = this.terminals.get(terminal_id);
    assert(terminal !== undefined, 'the request comes from an authenticated terminal');
    if (txn_seq <= terminal.txn_seq_high) return fail(409, 'txn_seq_replayed', `txn_seq ${txn_seq} is not above ${terminal.txn_seq_high}`);
    terminal.txn_seq_high = txn_seq;
    return { ok: true, value: null };
  }

  persistTxnSeq(terminal_id: string, txn_seq: number): void {
    this.s.setTxnSeq.run(txn_seq, terminal_id);
  }

  claimRow(claim_id: string): ClaimRow | undefined {
    return this.s.claim.get(claim_id) as ClaimRow | undefined;
  }

  grey(event: { claim_id: string | null; card_no: string; terminal_id: string | null; reason: GreyReason; detail: unknown }, now_ms: number): void {
    this.s.insertGrey.run(event.claim_id, event.card_no, event.terminal_id, event.reason, JSON.stringify(event.detail), now_ms);
  }
}

/** Why the card office should look (hub/openapi.yaml GreyRecord.reason). */
export type GreyReason =
  | 'mac1_invalid'
  | 'asn_mismatch'
  | 'tac_invalid'
  | 'tac_after_release'
  | 'serial_ahead'
  | 'serial_behind'
  | 'rejected_by_worker'
  | 'void_rejected_by_worker'
  | 'forgotten_load'
  | 'snapshot_conflict'
  | 'hold_conflict';
