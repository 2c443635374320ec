// The hub's money logic (DESIGN section 6): which load a swipe gets, how commits, aborts and
// the card's own load counter resolve a reservation, and how the Worker's changes land.
// Every method is synchronous and must run inside GroupCommit.run, so its writes share the
// turn's transaction and its answer waits for the durable commit.
import { randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ErrorCode } from '../protocol/errors.ts';
import { CLAIM_CREDITS_MAX, type GreyRecord, type HubChange, type HubClaim } from '../protocol/hub.ts';
import type { ChipState, ClaimOutcome, SwipeRequest, SwipeResponse } from '../protocol/pos.ts';
import type { CardStatus } from '../protocol/card.ts';

export type Outcome<T> = { ok: true; value: T } | { ok: false; status: 400 | 403 | 404 | 409; code: ErrorCode; message: string };

interface OpenClaim {
  claim_id: string;
  card_no: string;
  terminal_id: string;
  amount_fen: number;
  credit_ids: string[];
  balance_after_fen: number;
  load_counter_after: number;
  reserved_at_ms: number;
}

interface ClaimRow {
  claim_id: string;
  card_no: string;
  terminal_id: string;
  amount_fen: number;
  credit_ids: string;
  balance_after_fen: number;
  load_counter_after: number;
  state: 'open' | 'committed' | 'aborted' | 'released';
  reserved_at_ms: number;
}

interface PendingCredit {
  credit_id: string;
  amount_fen: number;
  created_at_ms: number;
}

export interface LedgerOptions {
  write_window_ms: number;
  now_ms: () => number;
  /** Told of every new reservation (the sync client reports it if it turns grey). */
  on_reserved?: (reserved_at_ms: number) => void;
}

export interface VoidAnswerRow {
  credit_id: string;
  result: 'voided' | 'already_claimed';
  claim_id: string | null;
}

export interface CardReportRow {
  card_no: string;
  balance_fen: number;
  load_counter: number;
  seen_at_ms: number;
}

export interface LedgerCounts {
  cards: number;
  pending_credits: number;
  open_claims: number;
  outbox_depth: number;
}

function fail<T>(status: 400 | 403 | 404 | 409, code: ErrorCode, message: string): Outcome<T> {
  return { ok: false, status, code, message };
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`invariant: ${message}`);
}

// The chip's load counter is 32 bits (protocol/pos.ts chipState).
const LOAD_COUNTER_MAX = 0xffff_ffff;

export function newClaimId(): string {
  return `clm_${randomBytes(12).toString('hex')}`;
}

export class HubLedger {
  readonly #db: DatabaseSync;
  readonly #options: LedgerOptions;
  readonly #cards = new Map<string, CardStatus>();
  // Pending (offerable) credits per card, oldest first; reserved ones are not here.
  readonly #pending = new Map<string, PendingCredit[]>();
  readonly #openByCard = new Map<string, OpenClaim>();
  readonly #terminals = new Map<string, { key: Buffer; txn_seq_high: number }>();
  #cursor = 0;
  #outboxDepth = 0;
  readonly #s: Record<string, StatementSync>;

  constructor(db: DatabaseSync, options: LedgerOptions) {
    assert(options.write_window_ms > 0, 'write window is positive');
    this.#db = db;
    this.#options = options;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      terminal: p('SELECT key_hex, txn_seq_high FROM terminals WHERE terminal_id = ?'),
      setTxnSeq: p('UPDATE terminals SET txn_seq_high = ? WHERE terminal_id = ?'),
      upsertReport: p(
        `INSERT INTO card_reports (card_no, balance_fen, load_counter, seen_at_ms, dirty) VALUES (?, ?, ?, ?, 1)
         ON CONFLICT (card_no) DO UPDATE SET balance_fen = excluded.balance_fen, load_counter = excluded.load_counter,
         seen_at_ms = excluded.seen_at_ms, dirty = 1`,
      ),
      insertClaim: p(
        `INSERT INTO claims (claim_id, card_no, terminal_id, amount_fen, credit_ids, balance_before_fen, load_counter_before,
         balance_after_fen, load_counter_after, state, reserved_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)`,
      ),
      resolveClaim: p("UPDATE claims SET state = ?, resolved_at_ms = ?, resolved_by = ? WHERE claim_id = ? AND state = 'open'"),
      claim: p(
        `SELECT claim_id, card_no, terminal_id, amount_fen, credit_ids, balance_after_fen, load_counter_after, state, reserved_at_ms
         FROM claims WHERE claim_id = ?`,
      ),
      reserveCredit: p("UPDATE credits SET state = 'reserved', claim_id = ? WHERE credit_id = ? AND state = 'pending'"),
      claimCredit: p("UPDATE credits SET state = 'claimed' WHERE credit_id = ? AND state = 'reserved' AND claim_id = ?"),
      releaseCredit: p("UPDATE credits SET state = 'pending', claim_id = NULL WHERE credit_id = ? AND state = 'reserved' AND claim_id = ?"),
      voidCredit: p("UPDATE credits SET state = 'voided', void_requested = 0 WHERE credit_id = ? AND state = 'pending'"),
      markVoidRequested: p('UPDATE credits SET void_requested = 1 WHERE credit_id = ?'),
      credit: p('SELECT credit_id, card_no, amount_fen, state, claim_id, void_requested, created_at_ms FROM credits WHERE credit_id = ?'),
      insertCredit: p(
        `INSERT INTO credits (credit_id, order_id, card_no, amount_fen, state, claim_id, created_at_ms, received_seq)
         VALUES (?, ?, ?, ?, ?, NULL, ?, ?) ON CONFLICT (credit_id) DO NOTHING`,
      ),
      upsertCard: p(
        `INSERT INTO cards (card_no, status, kind, updated_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT (card_no) DO UPDATE SET status = excluded.status, kind = excluded.kind, updated_seq = excluded.updated_seq`,
      ),
      insertOutbox: p('INSERT INTO outbox (claim_id, body) VALUES (?, ?)'),
      outboxBatch: p('SELECT seq, body FROM outbox ORDER BY seq LIMIT ?'),
      deleteOutbox: p('DELETE FROM outbox WHERE claim_id = ?'),
      upsertVoidAnswer: p(
        `INSERT INTO void_answers (credit_id, result, claim_id, answered_at_ms, sent) VALUES (?, ?, ?, ?, 0)
         ON CONFLICT (credit_id) DO UPDATE SET result = excluded.result, claim_id = excluded.claim_id,
         answered_at_ms = excluded.answered_at_ms, sent = 0`,
      ),
      voidAnswersBatch: p('SELECT credit_id, result, claim_id FROM void_answers WHERE sent = 0 ORDER BY answered_at_ms LIMIT ?'),
      markVoidSent: p('UPDATE void_answers SET sent = 1 WHERE credit_id = ? AND result = ?'),
      reportsBatch: p('SELECT card_no, balance_fen, load_counter, seen_at_ms FROM card_reports WHERE dirty = 1 ORDER BY seen_at_ms LIMIT ?'),
      markReportSent: p('UPDATE card_reports SET dirty = 0 WHERE card_no = ? AND seen_at_ms = ?'),
      greyBatch: p(
        `SELECT * FROM (
           SELECT c.claim_id, c.card_no, c.terminal_id, c.amount_fen, c.credit_ids, c.load_counter_after, c.reserved_at_ms,
                  'open' AS status
             FROM claims c WHERE c.state = 'open' AND c.reserved_at_ms <= ?
              AND NOT EXISTS (SELECT 1 FROM grey_reported g WHERE g.claim_id = c.claim_id)
            ORDER BY c.reserved_at_ms LIMIT ?)
         UNION ALL
         SELECT * FROM (
           SELECT c.claim_id, c.card_no, c.terminal_id, c.amount_fen, c.credit_ids, c.load_counter_after, c.reserved_at_ms,
                  'resolved' AS status
             FROM grey_reported g JOIN claims c ON c.claim_id = g.claim_id
            WHERE g.status = 'open' AND c.state <> 'open' LIMIT ?)`,
      ),
      oldestUnreported: p(
        `SELECT min(c.reserved_at_ms) AS at_ms FROM claims c WHERE c.state = 'open'
           AND NOT EXISTS (SELECT 1 FROM grey_reported g WHERE g.claim_id = c.claim_id)`,
      ),
      markGreySent: p(
        'INSERT INTO grey_reported (claim_id, status) VALUES (?, ?) ON CONFLICT (claim_id) DO UPDATE SET status = excluded.status',
      ),
      insertGrey: p('INSERT INTO grey_records (claim_id, card_no, reason, detail, at_ms) VALUES (?, ?, ?, ?, ?)'),
    };
    this.#rebuild();
  }

  /** Memory from disk: the durable state is the only truth after a crash. */
  #rebuild(): void {
    const cursor = this.#db.prepare("SELECT value FROM meta WHERE key = 'cursor'").get() as { value: string } | undefined;
    this.#cursor = cursor === undefined ? 0 : Number(cursor.value);
    for (const row of this.#db.prepare('SELECT card_no, status FROM cards').iterate() as Iterable<{ card_no: string; status: CardStatus }>) {
      this.#cards.set(row.card_no, row.status);
    }
    const pending = this.#db
      .prepare("SELECT credit_id, card_no, amount_fen, created_at_ms FROM credits WHERE state = 'pending' ORDER BY created_at_ms, credit_id")
      .iterate() as Iterable<{ credit_id: string; card_no: string; amount_fen: number; created_at_ms: number }>;
    for (const row of pending) this.#addPending(row.card_no, row);
    const open = this.#db
      .prepare(
        `SELECT claim_id, card_no, terminal_id, amount_fen, credit_ids, balance_after_fen, load_counter_after, state, reserved_at_ms
         FROM claims WHERE state = 'open'`,
      )
      .iterate() as Iterable<ClaimRow>;
    for (const row of open) {
      assert(!this.#openByCard.has(row.card_no), `one open claim per card (${row.card_no})`);
      this.#openByCard.set(row.card_no, toOpenClaim(row));
    }
    const depth = this.#db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number };
    this.#outboxDepth = depth.n;
  }

  #addPending(card_no: string, credit: PendingCredit): void {
    let list = this.#pending.get(card_no);
    if (list === undefined) {
      list = [];
      this.#pending.set(card_no, list);
    }
    list.push({ credit_id: credit.credit_id, amount_fen: credit.amount_fen, created_at_ms: credit.created_at_ms });
  }

  // ---- terminals ----------------------------------------------------------------------

  /** The terminal's HMAC key; a miss re-reads the store, so `terminal add` needs no restart. */
  terminalKey(terminal_id: string, reload: boolean): Buffer | null {
    let entry = this.#terminals.get(terminal_id);
    if (entry === undefined || reload) {
      const row = this.#s.terminal!.get(terminal_id) as { key_hex: string; txn_seq_high: number } | undefined;
      if (row === undefined) return null;
      const high = Math.max(row.txn_seq_high, entry?.txn_seq_high ?? -1);
      entry = { key: Buffer.from(row.key_hex, 'hex'), txn_seq_high: high };
      this.#terminals.set(terminal_id, entry);
    }
    return entry.key;
  }

  // ---- POS ----------------------------------------------------------------------------

  swipe(request: SwipeRequest): Outcome<SwipeResponse> {
    const now_ms = this.#options.now_ms();
    const terminal = this.#terminals.get(request.terminal_id);
    assert(terminal !== undefined, 'swipe comes from an authenticated terminal');
    if (request.txn_seq <= terminal.txn_seq_high) {
      return fail(409, 'txn_seq_replayed', `txn_seq ${request.txn_seq} is not above ${terminal.txn_seq_high}`);
    }
    terminal.txn_seq_high = request.txn_seq;
    this.#s.setTxnSeq!.run(request.txn_seq, request.terminal_id);
    // Only cards of this school are reported: a terminal cannot fill the store with made-up ones.
    if (this.#cards.has(request.card_no)) {
      this.#s.upsertReport!.run(request.card_no, request.chip.balance_fen, request.chip.load_counter, now_ms);
    }

    // The chip decides any unfinished reservation first, whatever the card's status: it is
    // the truth about what was written.
    const open = this.#openByCard.get(request.card_no);
    if (open !== undefined) {
      if (request.chip.load_counter >= open.load_counter_after) {
        this.#resolveOpen(open, 'committed', `swipe:${request.terminal_id}`, now_ms);
      } else if (open.terminal_id === request.terminal_id || now_ms - open.reserved_at_ms >= this.#options.write_window_ms) {
        this.#resolveOpen(open, 'released', `swipe:${request.terminal_id}`, now_ms);
      } else {
        // Another terminal may be writing this card right now: offering again could load twice.
        return { ok: true, value: { card_status: this.#cards.get(request.card_no) ?? 'unknown', load: null } };
      }
    }

    const status = this.#cards.get(request.card_no);
    if (status !== 'active') return { ok: true, value: { card_status: status ?? 'unknown', load: null } };
    const pending = this.#pending.get(request.card_no);
    if (pending === undefined || pending.length === 0) return { ok: true, value: { card_status: status, load: null } };
    // A chip whose counter cannot rise any more cannot take a load; the card office must swap it.
    if (request.chip.load_counter >= LOAD_COUNTER_MAX) return { ok: true, value: { card_status: status, load: null } };

    const taken = pending.splice(0, CLAIM_CREDITS_MAX);
    if (pending.length === 0) this.#pending.delete(request.card_no);
    let amount_fen = 0;
    for (const credit of taken) amount_fen += credit.amount_fen;
    assert(amount_fen > 0 && Number.isSafeInteger(amount_fen), 'load amount is a positive safe integer');
    const claim: OpenClaim = {
      claim_id: newClaimId(),
      card_no: request.card_no,
      terminal_id: request.terminal_id,
      amount_fen,
      credit_ids: taken.map((credit) => credit.credit_id),
      balance_after_fen: request.chip.balance_fen + amount_fen,
      load_counter_after: request.chip.load_counter + 1,
      reserved_at_ms: now_ms,
    };
    assert(Number.isSafeInteger(claim.balance_after_fen), 'balance after load is a safe integer');
    this.#s.insertClaim!.run(
      claim.claim_id,
      claim.card_no,
      claim.terminal_id,
      claim.amount_fen,
      JSON.stringify(claim.credit_ids),
      request.chip.balance_fen,
      request.chip.load_counter,
      claim.balance_after_fen,
      claim.load_counter_after,
      now_ms,
    );
    for (const credit_id of claim.credit_ids) {
      const changed = this.#s.reserveCredit!.run(claim.claim_id, credit_id).changes;
      assert(changed === 1, `credit ${credit_id} was pending on disk as in memory`);
    }
    this.#openByCard.set(claim.card_no, claim);
    this.#options.on_reserved?.(now_ms);
    return {
      ok: true,
      value: {
        card_status: status,
        load: {
          claim_id: claim.claim_id,
          amount_fen: claim.amount_fen,
          balance_after_fen: claim.balance_after_fen,
          load_counter_after: claim.load_counter_after,
        },
      },
    };
  }

  commit(claim_id: string, terminal_id: string, chip: ChipState): Outcome<ClaimOutcome> {
    const now_ms = this.#options.now_ms();
    const row = this.#s.claim!.get(claim_id) as ClaimRow | undefined;
    if (row === undefined) return fail(404, 'claim_not_found', `no claim ${claim_id}`);
    if (row.terminal_id !== terminal_id) return fail(409, 'claim_conflict', `claim ${claim_id} belongs to another terminal`);
    this.#s.upsertReport!.run(row.card_no, chip.balance_fen, chip.load_counter, now_ms);
    if (row.state === 'committed') return { ok: true, value: { claim_id, status: 'committed' } };
    if (row.state === 'aborted') return fail(409, 'claim_conflict', `claim ${claim_id} was aborted`);
    if (row.state === 'released') {
      if (chip.load_counter >= row.load_counter_after) {
        // The card says it was written, but a later swipe's counter had said not: someone
        // must look at this card. Its credits may already be loaded again elsewhere.
        this.#s.insertGrey!.run(
          claim_id,
          row.card_no,
          'commit_after_release',
          JSON.stringify({ terminal_id, chip, load_counter_after: row.load_counter_after }),
          now_ms,
        );
      }
      return fail(409, 'claim_conflict', `claim ${claim_id} was released: the card's load counter said it was not written`);
    }
    if (chip.load_counter < row.load_counter_after) {
      return fail(409, 'claim_conflict', `chip load_counter ${chip.load_counter} is below ${row.load_counter_after}: not written`);
    }
    const open = this.#openByCard.get(row.card_no);
    assert(open !== undefined && open.claim_id === claim_id, 'an open claim on disk is the open claim in memory');
    this.#resolveOpen(open, 'committed', `commit:${terminal_id}`, now_ms);
    return { ok: true, value: { claim_id, status: 'committed' } };
  }

  abort(claim_id: string, terminal_id: string): Outcome<ClaimOutcome> {
    const now_ms = this.#options.now_ms();
    const row = this.#s.claim!.get(claim_id) as ClaimRow | undefined;
    if (row === undefined) return fail(404, 'claim_not_found', `no claim ${claim_id}`);
    if (row.terminal_id !== terminal_id) return fail(409, 'claim_conflict', `claim ${claim_id} belongs to another terminal`);
    if (row.state === 'committed') return fail(409, 'claim_conflict', `claim ${claim_id} is already committed`);
    if (row.state === 'aborted' || row.state === 'released') return { ok: true, value: { claim_id, status: 'aborted' } };
    const open = this.#openByCard.get(row.card_no);
    assert(open !== undefined && open.claim_id === claim_id, 'an open claim on disk is the open claim in memory');
    this.#resolveOpen(open, 'aborted', `abort:${terminal_id}`, now_ms);
    return { ok: true, value: { claim_id, status: 'aborted' } };
  }

  #resolveOpen(open: OpenClaim, state: 'committed' | 'aborted' | 'released', by: string, now_ms: number): void {
    const changed = this.#s.resolveClaim!.run(state, now_ms, by, open.claim_id).changes;
    assert(changed === 1, `claim ${open.claim_id} was open on disk`);
    this.#openByCard.delete(open.card_no);
    if (state === 'committed') {
      for (const credit_id of open.credit_ids) {
        const n = this.#s.claimCredit!.run(credit_id, open.claim_id).changes;
        assert(n === 1, `credit ${credit_id} was reserved by ${open.claim_id}`);
        this.#answerVoidIfRequested(credit_id, 'already_claimed', open.claim_id, now_ms);
      }
      const claim: HubClaim = {
        claim_id: open.claim_id,
        card_no: open.card_no,
        terminal_id: open.terminal_id,
        amount_fen: open.amount_fen,
        credit_ids: open.credit_ids,
        balance_after_fen: open.balance_after_fen,
        load_counter_after: open.load_counter_after,
        committed_at_ms: now_ms,
      };
      this.#s.insertOutbox!.run(open.claim_id, JSON.stringify(claim));
      this.#outboxDepth += 1;
      return;
    }
    // Released or aborted: the credits are offerable again, oldest first, unless a refund
    // was waiting for exactly this moment.
    const back: PendingCredit[] = [];
    for (const credit_id of open.credit_ids) {
      const n = this.#s.releaseCredit!.run(credit_id, open.claim_id).changes;
      assert(n === 1, `credit ${credit_id} was reserved by ${open.claim_id}`);
      const row = this.#s.credit!.get(credit_id) as { amount_fen: number; void_requested: number; created_at_ms: number };
      if (row.void_requested === 1) {
        this.#s.voidCredit!.run(credit_id);
        this.#s.upsertVoidAnswer!.run(credit_id, 'voided', null, now_ms);
      } else {
        back.push({ credit_id, amount_fen: row.amount_fen, created_at_ms: row.created_at_ms });
      }
    }
    if (back.length > 0) {
      const rest = this.#pending.get(open.card_no) ?? [];
      const merged = [...back, ...rest].sort((a, b) => a.created_at_ms - b.created_at_ms || (a.credit_id < b.credit_id ? -1 : 1));
      this.#pending.set(open.card_no, merged);
    }
  }

  #answerVoidIfRequested(credit_id: string, result: 'already_claimed', claim_id: string, now_ms: number): void {
    const row = this.#s.credit!.get(credit_id) as { void_requested: number };
    if (row.void_requested === 1) this.#s.upsertVoidAnswer!.run(credit_id, result, claim_id, now_ms);
  }

  // ---- sync ---------------------------------------------------------------------------

  get cursor(): number {
    return this.#cursor;
  }

  /** Applies one page of the changes feed and moves the cursor in the same transaction. */
  applyChanges(changes: readonly HubChange[], next_after: number): { applied: number } {
    const now_ms = this.#options.now_ms();
    assert(next_after >= this.#cursor, 'the cursor never moves back');
    let applied = 0;
    for (const change of changes) {
      if (change.seq <= this.#cursor) continue;
      applied += 1;
      if (change.kind === 'card') {
        this.#s.upsertCard!.run(change.card_no, change.status, change.card_kind, change.seq);
        this.#cards.set(change.card_no, change.status);
      } else if (change.kind === 'credit') {
        const known = this.#s.credit!.get(change.credit_id);
        // Once a credit is here, only the hub decides its fate; later states from the Worker
        // are echoes of the hub's own claims and voids.
        if (known !== undefined) continue;
        const state = change.state === 'pending' ? 'pending' : change.state === 'claimed' ? 'claimed' : 'voided';
        if (state === 'claimed') {
          // Claimed elsewhere before it reached this hub: recorded, never offered.
          this.#db
            .prepare(
              `INSERT INTO credits (credit_id, order_id, card_no, amount_fen, state, claim_id, created_at_ms, received_seq)
               VALUES (?, ?, ?, ?, 'claimed', 'worker', ?, ?)`,
            )
            .run(change.credit_id, change.order_id, change.card_no, change.amount_fen, change.created_at_ms, change.seq);
          continue;
        }
        this.#s.insertCredit!.run(change.credit_id, change.order_id, change.card_no, change.amount_fen, state, change.created_at_ms, change.seq);
        if (state === 'pending') this.#insertPendingSorted(change.card_no, change);
      } else {
        this.#applyVoid(change.credit_id, change.card_no, change.seq, now_ms);
      }
    }
    this.#cursor = Math.max(this.#cursor, next_after);
    this.#s.setMeta!.run('cursor', String(this.#cursor));
    return { applied };
  }

  #insertPendingSorted(card_no: string, credit: PendingCredit): void {
    const list = this.#pending.get(card_no);
    if (list === undefined) {
      this.#pending.set(card_no, [{ credit_id: credit.credit_id, amount_fen: credit.amount_fen, created_at_ms: credit.created_at_ms }]);
      return;
    }
    list.push({ credit_id: credit.credit_id, amount_fen: credit.amount_fen, created_at_ms: credit.created_at_ms });
    list.sort((a, b) => a.created_at_ms - b.created_at_ms || (a.credit_id < b.credit_id ? -1 : 1));
  }

  #applyVoid(credit_id: string, card_no: string, seq: number, now_ms: number): void {
    const row = this.#s.credit!.get(credit_id) as { state: string; claim_id: string | null } | undefined;
    if (row === undefined) {
      // The feed is ordered, so the credit would have come first; keep a tombstone so a late
      // copy of it is never offered.
      this.#db
        .prepare(
          `INSERT INTO credits (credit_id, order_id, card_no, amount_fen, state, claim_id, created_at_ms, received_seq)
           VALUES (?, '', ?, 1, 'voided', NULL, ?, ?)`,
        )
        .run(credit_id, card_no, now_ms, seq);
      this.#s.upsertVoidAnswer!.run(credit_id, 'voided', null, now_ms);
      return;
    }
    if (row.state === 'pending') {
      this.#s.voidCredit!.run(credit_id);
      const list = this.#pending.get(card_no);
      if (list !== undefined) {
        const index = list.findIndex((credit) => credit.credit_id === credit_id);
        if (index >= 0) list.splice(index, 1);
        if (list.length === 0) this.#pending.delete(card_no);
      }
      this.#s.upsertVoidAnswer!.run(credit_id, 'voided', null, now_ms);
    } else if (row.state === 'voided') {
      this.#s.upsertVoidAnswer!.run(credit_id, 'voided', null, now_ms);
    } else if (row.state === 'claimed') {
      this.#s.upsertVoidAnswer!.run(credit_id, 'already_claimed', row.claim_id, now_ms);
    } else {
      // Reserved: a terminal may be writing it now. The answer waits for the card to decide.
      this.#s.markVoidRequested!.run(credit_id);
    }
  }

  outboxBatch(limit: number): HubClaim[] {
    const rows = this.#s.outboxBatch!.all(limit) as { seq: number; body: string }[];
    return rows.map((row) => JSON.parse(row.body) as HubClaim);
  }

  /** Drops claims the Worker has (accepted or duplicate); rejected ones become grey records. */
  ackOutbox(results: readonly { claim_id: string; status: string; reason?: string }[], card_of: Map<string, string>): void {
    const now_ms = this.#options.now_ms();
    for (const result of results) {
      if (result.status === 'rejected') {
        this.#s.insertGrey!.run(result.claim_id, card_of.get(result.claim_id) ?? '', 'rejected_by_worker', result.reason ?? '', now_ms);
      }
      this.#outboxDepth -= Number(this.#s.deleteOutbox!.run(result.claim_id).changes);
    }
    assert(this.#outboxDepth >= 0, 'outbox depth is never negative');
  }

  get outboxDepth(): number {
    return this.#outboxDepth;
  }

  voidAnswersBatch(limit: number): VoidAnswerRow[] {
    return this.#s.voidAnswersBatch!.all(limit) as unknown as VoidAnswerRow[];
  }

  markVoidAnswersSent(answers: readonly VoidAnswerRow[]): void {
    for (const answer of answers) this.#s.markVoidSent!.run(answer.credit_id, answer.result);
  }

  cardReportsBatch(limit: number): CardReportRow[] {
    return this.#s.reportsBatch!.all(limit) as unknown as CardReportRow[];
  }

  /** Only clears a report not overwritten by a newer swipe since it was read. */
  markCardReportsSent(reports: readonly CardReportRow[]): void {
    for (const report of reports) this.#s.markReportSent!.run(report.card_no, report.seen_at_ms);
  }

  /**
   * Grey records for the Worker (sent with card reports): open reservations older than
   * `older_than_ms` not yet reported, and reported ones the card has since resolved.
   */
  greyBatch(older_than_ms: number, limit: number): GreyRecord[] {
    const cutoff_ms = this.#options.now_ms() - older_than_ms;
    const rows = this.#s.greyBatch!.all(cutoff_ms, limit, limit) as unknown as (ClaimRow & { status: 'open' | 'resolved' })[];
    return rows.map((row) => ({
      claim_id: row.claim_id,
      card_no: row.card_no,
      terminal_id: row.terminal_id,
      amount_fen: row.amount_fen,
      credit_ids: JSON.parse(row.credit_ids) as string[],
      load_counter_after: row.load_counter_after,
      reserved_at_ms: row.reserved_at_ms,
      status: row.status,
    }));
  }

  /** When the oldest open reservation not yet reported becomes grey (null: none open). */
  nextGreyDueAt(older_than_ms: number): number | null {
    const row = this.#s.oldestUnreported!.get() as { at_ms: number | null };
    return row.at_ms === null ? null : row.at_ms + older_than_ms;
  }

  markGreySent(records: readonly GreyRecord[]): void {
    for (const record of records) this.#s.markGreySent!.run(record.claim_id, record.status ?? 'open');
  }

  // ---- operations ---------------------------------------------------------------------

  counts(): LedgerCounts {
    let pending_credits = 0;
    for (const list of this.#pending.values()) pending_credits += list.length;
    return { cards: this.#cards.size, pending_credits, open_claims: this.#openByCard.size, outbox_depth: this.#outboxDepth };
  }

  /** Open reservations older than `older_than_ms` and conflicts: for the card office. */
  greyRecords(older_than_ms: number, limit: number): unknown[] {
    const cutoff_ms = this.#options.now_ms() - older_than_ms;
    const open = this.#db
      .prepare(
        `SELECT claim_id, card_no, terminal_id, amount_fen, credit_ids, load_counter_after, reserved_at_ms
         FROM claims WHERE state = 'open' AND reserved_at_ms <= ? ORDER BY reserved_at_ms LIMIT ?`,
      )
      .all(cutoff_ms, limit)
      .map((row) => ({ reason: 'unresolved_reservation', ...row, credit_ids: JSON.parse(String(row.credit_ids)) }));
    const conflicts = this.#db
      .prepare('SELECT claim_id, card_no, reason, detail, at_ms FROM grey_records ORDER BY id LIMIT ?')
      .all(limit)
      .map((row) => ({ ...row, detail: safeJson(String(row.detail)) }));
    return [...open, ...conflicts].slice(0, limit);
  }
}

function toOpenClaim(row: ClaimRow): OpenClaim {
  return {
    claim_id: row.claim_id,
    card_no: row.card_no,
    terminal_id: row.terminal_id,
    amount_fen: row.amount_fen,
    credit_ids: JSON.parse(row.credit_ids) as string[],
    balance_after_fen: row.balance_after_fen,
    load_counter_after: row.load_counter_after,
    reserved_at_ms: row.reserved_at_ms,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
