// Card holds (hub/README.md, "Backup and restore"; the contract in protocol/hub.ts): a card the
// serial guard froze had loads this store forgot, so its credits are neither offered nor voided
// here until what the card holds is known. Two ways end a hold, each on evidence, never on time:
// - `resolved`: the re-sync raised the card's record to the serial the Worker's claims account
//   for, and that reaches the serial the card showed: every load it had is claimed at the Worker;
// - `settled`: the card office read the card and settled it at the Worker (a `hold` change):
//   the credits it found on the card are claimed, its record becomes the serial it accepted.
// Lifting a freeze answers the void requests that waited for it: the credits still pending are
// not on the card.
import { ONLINE_SERIAL_MAX } from '../../protocol/pos.ts';
import type { CardHold, HubChange } from '../../protocol/hub.ts';
import { assert, type LedgerStore } from './store.ts';

// The frozen cards one re-sync looks at; a campus with more has a problem no loop should hide.
export const FROZEN_CARDS_MAX = 100_000;
// One card's pending credits with a refund waiting: bounded by what one card may hold.
const CARD_VOIDS_MAX = 10_000;

interface HoldRow {
  card_no: string;
  online_serial_seen: number;
  online_serial_recorded: number;
  balance_fen: number;
  at_ms: number;
  status: 'open' | 'resolved' | 'settled';
}

/** The serial guard's verdict: the card's verified serial is ahead of this hub's record. */
export function freezeCard(store: LedgerStore, card_no: string, seen: { online_serial: number; balance_fen: number }, recorded: number, now_ms: number): void {
  const card = store.cards.get(card_no);
  assert(card !== undefined, 'a frozen card is a known card');
  assert(seen.online_serial > recorded && seen.online_serial <= ONLINE_SERIAL_MAX, 'a hold is a serial ahead of the record');
  if (!card.frozen) {
    card.frozen = true;
    store.s.freezeCard.run(card_no);
  }
  store.s.openHold.run(card_no, seen.online_serial, recorded, seen.balance_fen, now_ms);
}

/** The Worker accounts for the card's loads up to `online_serial`: the record follows, never back. */
export function raiseSerial(store: LedgerStore, card_no: string, online_serial: number): void {
  assert(Number.isSafeInteger(online_serial) && online_serial >= 0 && online_serial <= ONLINE_SERIAL_MAX, 'a serial fits 2 bytes');
  const card = store.cards.get(card_no);
  if (card === undefined) return;
  if (card.last_online_serial !== null && card.last_online_serial >= online_serial) return;
  card.last_online_serial = online_serial;
  store.s.setCardSerial.run(online_serial, card_no);
}

/**
 * A record for a card that has none: the serial it last showed a terminal (the Worker's card
 * report). Not proof that its loads are claimed, so it never raises an existing record; but with
 * no record a load this store forgot would be offered again, and with it the card shows ahead.
 */
export function floorSerial(store: LedgerStore, card_no: string, online_serial: number): void {
  const card = store.cards.get(card_no);
  if (card === undefined || card.last_online_serial !== null) return;
  raiseSerial(store, card_no, online_serial);
}

/**
 * At the end of a re-sync: every frozen card whose record now reaches the serial it showed had
 * no load the Worker does not know of. Its freeze lifts and its hold is `resolved`.
 */
export function releaseAccounted(store: LedgerStore, now_ms: number): number {
  const frozen = store.s.frozenCards.all(FROZEN_CARDS_MAX) as { card_no: string; online_serial_seen: number | null }[];
  let released = 0;
  for (const row of frozen) {
    const card = store.cards.get(row.card_no);
    if (card === undefined || card.last_online_serial === null || row.online_serial_seen === null) continue;
    if (card.last_online_serial < row.online_serial_seen) continue;
    release(store, row.card_no, 'resolved', now_ms);
    released += 1;
  }
  return released;
}

/** The card office's settlement, from the feed. */
export function applyHold(store: LedgerStore, change: Extract<HubChange, { kind: 'hold' }>, now_ms: number): void {
  const card = store.cards.get(change.card_no);
  if (card === undefined) return;
  for (const credit_id of change.credit_ids) {
    const local = store.s.credit.get(credit_id) as { card_no: string; state: string; claim_id: string | null } | undefined;
    if (local === undefined || local.card_no !== change.card_no) continue;
    if (local.state === 'pending') {
      // On the card, as the office read it: never offered again.
      store.removePending(local.card_no, credit_id);
      store.s.claimFromWorker.run('office', credit_id);
    } else if (local.state === 'reserved') {
      // MAC2 is out for it: the card settles the reservation, and a claim of it will be refused.
      store.grey({ claim_id: local.claim_id, card_no: change.card_no, terminal_id: null, reason: 'hold_conflict', detail: { credit_id, online_serial_settled: change.online_serial_settled } }, now_ms);
    }
  }
  raiseSerial(store, change.card_no, change.online_serial_settled);
  const hold = store.s.hold.get(change.card_no) as HoldRow | undefined;
  if (!card.frozen) {
    if (hold?.status === 'open') store.s.closeHold.run('settled', 1, change.card_no);
    return;
  }
  const report = store.s.report.get(change.card_no) as { online_serial: number } | undefined;
  const seen = hold?.status === 'open' ? hold.online_serial_seen : (report?.online_serial ?? 0);
  if (seen <= change.online_serial_settled) {
    release(store, change.card_no, 'settled', now_ms);
    return;
  }
  // The card has shown a serial past the one the office accepted: the hold stays, and goes to
  // the Worker again, which opens it again for that serial.
  store.s.resendHold.run(change.card_no);
}

function release(store: LedgerStore, card_no: string, status: 'resolved' | 'settled', now_ms: number): void {
  const card = store.cards.get(card_no);
  assert(card !== undefined && card.frozen, 'only a frozen card is released');
  card.frozen = false;
  store.s.unfreezeCard.run(card_no);
  // `resolved` is news for the Worker; `settled` came from it.
  store.s.closeHold.run(status, status === 'settled' ? 1 : 0, card_no);
  const waiting = store.s.pendingVoidRequested.all(card_no, CARD_VOIDS_MAX) as { credit_id: string }[];
  for (const { credit_id } of waiting) {
    store.s.voidCredit.run(credit_id);
    store.removePending(card_no, credit_id);
    store.s.upsertVoidAnswer.run(credit_id, 'voided', null, now_ms);
  }
}

export function holdsBatch(store: LedgerStore, limit: number): CardHold[] {
  const rows = store.s.holdsBatch.all(limit) as unknown as HoldRow[];
  return rows.map((row) => ({
    card_no: row.card_no,
    online_serial_seen: row.online_serial_seen,
    online_serial_recorded: row.online_serial_recorded,
    balance_fen: row.balance_fen,
    at_ms: row.at_ms,
    // A hold settled here came from the Worker: only open and resolved ones are news to it.
    status: row.status === 'resolved' ? 'resolved' : 'open',
  }));
}

/** Only clears a hold not changed (a higher serial, a resolution) since it was read. */
export function markHoldsSent(store: LedgerStore, holds: readonly CardHold[]): void {
  for (const hold of holds) store.s.markHoldSent.run(hold.card_no, hold.status ?? 'open', hold.online_serial_seen, hold.at_ms);
}
