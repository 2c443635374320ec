// The hub's re-sync after the Worker refused a pull as regressed (hub/ledger/resync.ts), on a
// real SQLite store through the hub's own ledger: each way the Worker's state can meet what the
// restored store holds, what becomes of the credit and what the card office is shown; nothing is
// offered until the last page, also across a restart; the cursor resumes where the snapshot
// stood. The end-to-end runs against the real Worker are fleet-restore and fleet-guards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { HubLedger } from '../../hub/ledger/index.ts';
import { GroupCommit } from '../../hub/store/group-commit.ts';
import { openDatabase } from '../../hub/store/schema.ts';
import type { HubChange, SnapshotCredit, SnapshotResponse } from '../../protocol/hub.ts';
import { PURSE_LIMIT_FEN_DEFAULT } from '../../protocol/pos.ts';
import { asnOf } from './helpers/hub.ts';

const PURSE = { student: PURSE_LIMIT_FEN_DEFAULT, staff: PURSE_LIMIT_FEN_DEFAULT, visitor: PURSE_LIMIT_FEN_DEFAULT };
let dir: string;
let db: DatabaseSync;
let ledger: HubLedger;
let group: GroupCommit;
let txn_seq = 0;

function open(): void {
  db = openDatabase({ path: path.join(dir, 'hub.db'), busy_timeout_ms: 1_000 });
  ledger = new HubLedger(db, { write_window_ms: 1_000, purse_limit_fen: PURSE, now_ms: Date.now });
  group = new GroupCommit(db, { ops_per_batch_max: 1 });
  ledger.terminal('till-1', true);
}

function write<T>(op: () => T): T {
  let result: T | undefined;
  void group.run(() => (result = op()));
  group.flush();
  return result as T;
}

function offer(card_no: string): number {
  txn_seq += 1;
  const answer = ledger.swipe({ terminal_id: 'till-1', txn_seq, card_no, chip: { balance_fen: 0, online_serial: 3 } });
  if (!answer.ok) throw new Error(answer.message);
  return answer.value.offer_fen;
}

const credit = (seq: number, card_no: string, amount_fen: number): HubChange => ({
  seq,
  kind: 'credit',
  credit_id: `cr_${seq}`,
  order_id: `ord_${seq}`,
  card_no,
  amount_fen,
  state: 'pending',
  created_at_ms: 1_000 + seq,
});

function worker(seq: number, card_no: string, amount_fen: number, state: SnapshotCredit['state'], extra: Partial<SnapshotCredit> = {}): SnapshotCredit {
  return { credit_id: `cr_${seq}`, order_id: `ord_${seq}`, card_no, amount_fen, state, created_at_ms: 1_000 + seq, claim_id: state === 'claimed' ? `clm_w${seq}` : null, void_requested: false, ...extra };
}

function page(credits: SnapshotCredit[], next_cursor: string | null, resume_after = 90): SnapshotResponse {
  return { hub_state: 'active', credits, cards: [], next_cursor, resume_after };
}

function grey(): { reason: string; card_no: string; detail?: { credit_id?: string } }[] {
  return ledger.greyRecords(0, 100) as { reason: string; card_no: string; detail?: { credit_id?: string } }[];
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'yikatong-resync-'));
  open();
  db.prepare("INSERT INTO terminals (terminal_id, key_hex, card_terminal_id, created_at_ms) VALUES ('till-1', ?, '000000000001', 0)").run('ab'.repeat(32));
  ledger.terminal('till-1', true);
  const cards: HubChange[] = ['A', 'B', 'C', 'D', 'E'].map((card_no, i) => ({ seq: i + 1, kind: 'card', card_no, status: 'active', card_kind: 'student', asn: asnOf(card_no) }));
  write(() => ledger.applyChanges([...cards, credit(10, 'A', 100), credit(11, 'B', 200), credit(12, 'C', 300), credit(13, 'D', 400), credit(14, 'E', 500)], 14));
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

it("the Worker's claimed and voided become so; a forgotten load is a grey record; nothing is offered until the last page", async () => {
  expect(offer('A')).toBe(100);
  write(() => ledger.beginResync());
  expect(ledger.fleet()).toMatchObject({ resyncing: true, not_offering: 'resyncing' });
  expect(offer('C')).toBe(0);
  // Page 1: A was loaded (the store forgot), B refunded, C pending with a refund waiting.
  write(() => ledger.applySnapshotPage(page([worker(10, 'A', 100, 'claimed'), worker(11, 'B', 200, 'voided'), worker(12, 'C', 300, 'pending', { void_requested: true })], 'o.90.14.cr_12')));
  expect(offer('D')).toBe(0);
  // Page 2: D moved to another hub; E is not named at all; F never reached this store.
  const tally = write(() => ledger.applySnapshotPage(page([worker(13, 'D', 400, 'moved'), worker(20, 'E', 50, 'pending')], null)));
  expect(tally).toMatchObject({ credits: 2, dropped: 2 });
  expect(ledger.fleet()).toMatchObject({ resyncing: false, not_offering: null });
  expect(ledger.cursor).toBe(90);
  expect(offer('A')).toBe(0);
  expect(offer('B')).toBe(0);
  expect(offer('C')).toBe(0);
  expect(offer('D')).toBe(0);
  // E: its own credit cr_14 was not the Worker's for this hub any more; cr_20 is.
  expect(offer('E')).toBe(50);
  const states = db.prepare('SELECT credit_id, state, claim_id FROM credits ORDER BY credit_id').all();
  expect(states).toEqual([
    { credit_id: 'cr_10', state: 'claimed', claim_id: 'clm_w10' },
    { credit_id: 'cr_11', state: 'voided', claim_id: null },
    { credit_id: 'cr_12', state: 'voided', claim_id: null },
    { credit_id: 'cr_20', state: 'pending', claim_id: null },
  ]);
  expect(ledger.voidAnswersBatch(10)).toEqual([{ credit_id: 'cr_12', result: 'voided', claim_id: null }]);
  expect(grey().filter((record) => record.reason === 'forgotten_load')).toEqual([expect.objectContaining({ card_no: 'A', detail: { credit_id: 'cr_10', amount_fen: 100 } })]);
  expect(grey().filter((record) => record.reason === 'snapshot_conflict')).toEqual([]);
});

it('what contradicts what the store itself did is a grey record; a claim waiting in the outbox is not', async () => {
  // The store claimed A's credit (in the outbox) and voided B's (its answer acknowledged).
  write(() => db.prepare("UPDATE credits SET state = 'claimed', claim_id = 'clm_local_a' WHERE credit_id = 'cr_10'").run());
  write(() => db.prepare("INSERT INTO outbox (claim_id, body) VALUES ('clm_local_a', '{}')").run());
  write(() => db.prepare("UPDATE credits SET state = 'voided' WHERE credit_id IN ('cr_11', 'cr_12')").run());
  write(() => db.prepare("INSERT INTO void_answers (credit_id, result, claim_id, answered_at_ms, sent) VALUES ('cr_11', 'voided', NULL, 0, 1), ('cr_12', 'voided', NULL, 0, 0)").run());
  write(() => ledger.beginResync());
  write(() =>
    ledger.applySnapshotPage(
      page(
        [
          worker(10, 'A', 100, 'pending'),
          // Acknowledged as voided, yet the Worker has it claimed: someone loaded it.
          worker(11, 'B', 200, 'claimed'),
          // Its answer is still on its way: fine.
          worker(12, 'C', 300, 'pending'),
          worker(13, 'D', 400, 'pending'),
          worker(14, 'E', 500, 'pending'),
        ],
        null,
      ),
    ),
  );
  const conflicts = grey().filter((record) => record.reason === 'snapshot_conflict');
  expect(conflicts.map((record) => record.detail?.credit_id)).toEqual(['cr_11']);
  expect(offer('D')).toBe(400);
});

it('a restart in the middle of a resync still offers nothing, and the resync starts again', async () => {
  write(() => ledger.beginResync());
  write(() => ledger.applySnapshotPage(page([worker(10, 'A', 100, 'claimed')], 'o.90.14.cr_10')));
  db.close();
  open();
  expect(ledger.fleet()).toMatchObject({ resyncing: true, not_offering: 'resyncing' });
  expect(offer('B')).toBe(0);
  // The sync client begins again from the first page; a page named before the restart counts no more.
  write(() => ledger.beginResync());
  write(() => ledger.applySnapshotPage(page([worker(11, 'B', 200, 'pending')], null)));
  expect(offer('B')).toBe(200);
  expect(offer('C')).toBe(0);
  expect(db.prepare("SELECT count(*) AS n FROM credits WHERE state = 'pending'").get()).toEqual({ n: 1 });
});

it('a store that synced before offers nothing to a card it never loaded until the Worker answers in this run; a card with a serial record it does', async () => {
  write(() => ledger.confirmPull('active'));
  // Card B was loaded here before: the store holds its serial after that load.
  write(() => db.prepare("UPDATE cards SET last_online_serial = 3 WHERE card_no = 'B'").run());
  db.close();
  open();
  expect(ledger.fleet()).toMatchObject({ worker_confirmed: false, not_offering: null });
  expect(offer('A')).toBe(0);
  expect(offer('B')).toBe(200);
  // A pull answered: the store is what the Worker last confirmed (or the resync has run).
  write(() => ledger.confirmPull('active'));
  expect(offer('A')).toBe(100);
  // The Worker says standby: nothing for anyone, and the state survives a restart.
  write(() => ledger.confirmPull('standby'));
  expect(offer('B')).toBe(0);
  db.close();
  open();
  expect(ledger.fleet()).toMatchObject({ hub_state: 'standby', not_offering: 'standby' });
  expect(offer('B')).toBe(0);
});

it('a refund of a pending credit of a frozen card (loads this store forgot) is not answered voided: the card may hold it', async () => {
  write(() => db.prepare("UPDATE cards SET frozen = 1 WHERE card_no = 'C'").run());
  db.close();
  open();
  write(() => ledger.applyChanges([{ seq: 20, kind: 'void', credit_id: 'cr_12', card_no: 'C' }, { seq: 21, kind: 'void', credit_id: 'cr_13', card_no: 'D' }], 21));
  expect(ledger.voidAnswersBatch(10)).toEqual([{ credit_id: 'cr_13', result: 'voided', claim_id: null }]);
  expect(db.prepare("SELECT state, void_requested FROM credits WHERE credit_id = 'cr_12'").get()).toEqual({ state: 'pending', void_requested: 1 });
  expect(offer('C')).toBe(0);
});

/** A card the serial guard froze at a load whose verified serial was `seen`, this hub's record `recorded`. */
function frozenAt(card_no: string, recorded: number, seen: number): void {
  write(() => {
    db.prepare('UPDATE cards SET last_online_serial = ?, frozen = 1 WHERE card_no = ?').run(recorded, card_no);
    db.prepare("INSERT INTO card_holds (card_no, online_serial_seen, online_serial_recorded, balance_fen, at_ms, status, sent) VALUES (?, ?, ?, 0, 1, 'open', 1)").run(card_no, seen, recorded);
  });
  // Memory from disk, as at a start.
  db.close();
  open();
}

const holdOf = (card_no: string) => db.prepare('SELECT status, sent FROM card_holds WHERE card_no = ?').get(card_no);
const cardOf = (card_no: string) => db.prepare('SELECT last_online_serial, frozen FROM cards WHERE card_no = ?').get(card_no);

it("a frozen card whose every serial the Worker's claims account for is released by the re-sync; one they do not reach stays frozen", async () => {
  frozenAt('A', 3, 5);
  frozenAt('B', 3, 7);
  write(() => ledger.beginResync());
  // A: two loads the store forgot (serials 3→4→5), both claimed at the Worker; a new credit with
  // a refund waiting. B: the Worker's claims reach serial 5, the card showed 7.
  write(() =>
    ledger.applySnapshotPage(
      page(
        [
          worker(10, 'A', 100, 'claimed', { online_serial_claimed: 5 }),
          worker(21, 'A', 60, 'pending', { online_serial_claimed: 5, void_requested: true }),
          worker(22, 'A', 70, 'pending', { online_serial_claimed: 5 }),
          worker(11, 'B', 200, 'pending', { online_serial_claimed: 5, void_requested: true }),
        ],
        null,
      ),
    ),
  );
  expect(cardOf('A')).toEqual({ last_online_serial: 5, frozen: 0 });
  expect(holdOf('A')).toEqual({ status: 'resolved', sent: 0 });
  expect(cardOf('B')).toEqual({ last_online_serial: 5, frozen: 1 });
  expect(holdOf('B')).toEqual({ status: 'open', sent: 1 });
  // A's refund is answered now: the card holds none of what is still pending. B's waits.
  expect(ledger.voidAnswersBatch(10)).toEqual([{ credit_id: 'cr_21', result: 'voided', claim_id: null }]);
  expect(ledger.holdsBatch(10)).toEqual([expect.objectContaining({ card_no: 'A', status: 'resolved', online_serial_seen: 5, online_serial_recorded: 3 })]);
  txn_seq += 1;
  const a = ledger.swipe({ terminal_id: 'till-1', txn_seq, card_no: 'A', chip: { balance_fen: 0, online_serial: 5 } });
  expect(a.ok && a.value.offer_fen).toBe(70);
  expect(offer('B')).toBe(0);
});

it("the card office's settlement from the feed claims what it found on the card, sets the serial and lifts the freeze", async () => {
  write(() => ledger.applyChanges([credit(30, 'A', 80), credit(31, 'A', 90)], 31));
  frozenAt('A', 3, 4);
  frozenAt('B', 3, 9);
  txn_seq += 1;
  const before = ledger.swipe({ terminal_id: 'till-1', txn_seq, card_no: 'A', chip: { balance_fen: 0, online_serial: 4 } });
  expect(before.ok && before.value).toMatchObject({ offer_fen: 0, pending_fen: 270 });
  // The office read A's load log: one load of 100 (cr_10), serial 3 → 4. B: settled at 8, the card showed 9.
  write(() =>
    ledger.applyChanges(
      [
        { seq: 40, kind: 'hold', card_no: 'A', online_serial_settled: 4, credit_ids: ['cr_10'] },
        { seq: 41, kind: 'hold', card_no: 'B', online_serial_settled: 8, credit_ids: [] },
      ],
      41,
    ),
  );
  expect(cardOf('A')).toEqual({ last_online_serial: 4, frozen: 0 });
  expect(holdOf('A')).toEqual({ status: 'settled', sent: 1 });
  expect(db.prepare("SELECT state FROM credits WHERE credit_id = 'cr_10'").get()).toEqual({ state: 'claimed' });
  txn_seq += 1;
  const after = ledger.swipe({ terminal_id: 'till-1', txn_seq, card_no: 'A', chip: { balance_fen: 100, online_serial: 4 } });
  expect(after.ok && after.value).toMatchObject({ offer_fen: 170, pending_fen: 170 });
  // B showed more than the office accepted: still frozen, and its hold goes to the Worker again.
  expect(cardOf('B')).toEqual({ last_online_serial: 8, frozen: 1 });
  expect(ledger.holdsBatch(10)).toEqual([expect.objectContaining({ card_no: 'B', status: 'open', online_serial_seen: 9 })]);
});

it('a card with no serial record gets the serial it last showed a terminal as its floor; a card with one keeps it', async () => {
  write(() => db.prepare("UPDATE cards SET last_online_serial = 3 WHERE card_no = 'B'").run());
  db.close();
  open();
  write(() => ledger.beginResync());
  write(() =>
    ledger.applySnapshotPage(
      page([worker(10, 'A', 100, 'pending', { online_serial_claimed: null, online_serial_reported: 7 }), worker(11, 'B', 200, 'pending', { online_serial_claimed: null, online_serial_reported: 9 })], null),
    ),
  );
  expect(cardOf('A')).toEqual({ last_online_serial: 7, frozen: 0 });
  // The terminal's word is no proof that loads are claimed: it never raises a record.
  expect(cardOf('B')).toEqual({ last_online_serial: 3, frozen: 0 });
});
