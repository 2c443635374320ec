// Loads and settlement (DESIGN section 6, steps 2 and 3): INITIALIZE FOR LOAD's answer in,
// MAC2 out only once the reservation is durable; the card's TAC (or its transaction prove, or
// its MAC1-verified serial at its next load) settles a reservation. There is no release on a
// terminal's word and none by a timer: only the card's own evidence moves money.
import { ALGORITHM_ID_3DES, ONLINE_SERIAL_MAX, PURSE_BALANCE_FEN_MAX, type CommitResponse, type LoadRequest, type LoadResponse } from '../../protocol/pos.ts';
import type { ClaimProof, HubClaim } from '../../protocol/hub.ts';
import type { CardLoadSession, CardLoadWrite, KeyVerdict, Mac2Result } from '../keys/store.ts';
import { NO_OFFER_MESSAGES, noOfferReason } from './fleet.ts';
import { freezeCard } from './holds.ts';
import { mayRelease, offerPrefix, withReservation, type OfferOptions } from './offers.ts';
import { assert, fail, newClaimId, type ClaimRow, type LedgerStore, type Outcome, type PendingCredit, type Reservation } from './store.ts';

// The key store may be an HSM across a wire, so its answers are awaited before the load's
// synchronous step in the group commit: `loadSession` names what to ask it, `load` decides
// with its answer on the state as it is then.

/** What to ask the key store for this load; null when no key may be derived (unknown card, no or another asn). */
export function loadSession(store: LedgerStore, request: LoadRequest): CardLoadSession | null {
  const card = store.cards.get(request.card_no);
  const terminal = store.terminals.get(request.terminal_id);
  if (card === undefined || card.asn === null || card.asn !== request.asn || terminal === undefined) return null;
  return {
    // The REGISTERED asn: a genuine card presenting another's number cannot make this MAC1.
    asn: card.asn,
    key_version: request.init.key_version,
    algorithm_id: request.init.algorithm_id,
    random: request.init.random,
    online_serial: request.init.online_serial,
    balance_fen: request.init.balance_fen,
    amount_fen: request.amount_fen,
    card_terminal_id: terminal.card_terminal_id,
  };
}

export interface LoadDeps {
  store: LedgerStore;
  options: OfferOptions;
  /** Told of every new reservation (the sync client reports it if it turns grey). */
  on_reserved?: (reserved_at_ms: number) => void;
  /** Told when the serial guard freezes a card (the sync client reports the hold). */
  on_held?: () => void;
}

export function load(
  deps: LoadDeps,
  request: LoadRequest,
  asked: { session: CardLoadSession; verdict: Mac2Result } | null,
  now_ms: number,
): Outcome<LoadResponse> {
  const { store } = deps;
  const terminal = store.terminals.get(request.terminal_id);
  assert(terminal !== undefined, 'a load comes from an authenticated terminal');
  const seq = store.takeTxnSeq(request.terminal_id, request.txn_seq);
  if (!seq.ok) return seq;
  store.persistTxnSeq(request.terminal_id, request.txn_seq);
  const init = request.init;
  // Bounds a card could never exceed are the terminal's mistake (or an attack): 4xx here, so
  // no later sum can break an invariant inside the group commit.
  if (init.balance_fen + request.amount_fen > PURSE_BALANCE_FEN_MAX) {
    return fail(400, 'amount_out_of_range', `balance ${init.balance_fen} + amount ${request.amount_fen} exceeds the purse's 4 bytes`);
  }
  const card = store.cards.get(request.card_no);
  if (card === undefined) return fail(404, 'card_not_found', `card ${request.card_no} is not registered at this hub`);
  if (card.asn === null) return fail(409, 'card_not_active', `card ${request.card_no} has no registered asn: it cannot be loaded`);
  if (init.algorithm_id !== ALGORITHM_ID_3DES) {
    return fail(409, 'card_keys_unsupported', `algorithm ${init.algorithm_id} is not 3DES (0): this hub cannot load the card`);
  }
  const detail = { asn: request.asn, online_serial: init.online_serial, balance_fen: init.balance_fen, amount_fen: request.amount_fen };
  // Keys come from the REGISTERED asn only: a genuine card presenting another's number fails here.
  if (request.asn !== card.asn) {
    store.grey({ claim_id: null, card_no: request.card_no, terminal_id: request.terminal_id, reason: 'asn_mismatch', detail }, now_ms);
    return fail(403, 'asn_mismatch', `the card's asn is not the one registered for ${request.card_no}`);
  }
  // The registration (or the terminal's card id) moved while the key store was asked.
  if (asked === null || asked.session.asn !== card.asn || asked.session.card_terminal_id !== terminal.card_terminal_id) {
    return fail(409, 'offer_changed', 'the card or terminal registration changed during the load: swipe again');
  }
  if (!asked.verdict.ok) {
    if (asked.verdict.reason !== 'mac_invalid') {
      return fail(409, 'card_keys_unsupported', `the card's key version ${init.key_version} is not one this hub holds`);
    }
    store.grey({ claim_id: null, card_no: request.card_no, terminal_id: request.terminal_id, reason: 'mac1_invalid', detail }, now_ms);
    return fail(403, 'mac1_invalid', 'MAC1 does not verify: the card does not hold the load key of this card number');
  }
  const mac2 = asked.verdict.mac2;

  const open = store.open.get(request.card_no);
  if (open !== undefined) {
    if (open.online_serial_before === init.online_serial && open.random === init.random) {
      // The same INITIALIZE FOR LOAD answer again: the terminal's retry gets the same MAC2;
      // anything else carrying it is a replay.
      if (open.terminal_id === request.terminal_id && open.amount_fen === request.amount_fen && open.terminal_time === request.terminal_time) {
        return { ok: true, value: loadAnswer(open) };
      }
      return fail(409, 'replayed', 'this INITIALIZE FOR LOAD answer was already used');
    }
  }
  // A used INITIALIZE FOR LOAD answer proves nothing about the card now: checked before it may
  // settle anything, so a stale one cannot release a reservation the card has since written.
  if (store.s.session.get(request.card_no, init.online_serial, init.random) !== undefined) {
    return fail(409, 'replayed', 'this INITIALIZE FOR LOAD answer was already used');
  }
  // From here on balance and serial are the card's own word, and fresh. The chip is reported.
  store.s.upsertReport.run(request.card_no, init.balance_fen, init.online_serial, now_ms);
  if (open !== undefined) {
    if (init.online_serial > open.online_serial_before) {
      commitReservation(store, open, { kind: 'serial', online_serial_seen: init.online_serial }, `load:${request.terminal_id}`, now_ms);
    } else if (init.online_serial === open.online_serial_before) {
      if (!mayRelease(open, request.terminal_id, now_ms, deps.options.write_window_ms)) {
        return fail(409, 'card_busy', 'another terminal loaded this card moments ago and may be writing it: try again shortly');
      }
      releaseReservation(store, open, `load:${request.terminal_id}`, now_ms);
    } else {
      store.grey({ claim_id: open.claim_id, card_no: request.card_no, terminal_id: request.terminal_id, reason: 'serial_behind', detail }, now_ms);
      return fail(409, 'claim_conflict', `the card's serial ${init.online_serial} is below its open reservation's ${open.online_serial_before}`);
    }
  }
  const known = card.last_online_serial;
  if (known !== null && init.online_serial !== known) {
    // Ahead: loads this hub has no record of (a store restored from a backup): its credits
    // must not be offered again until the card office has looked. Behind: not this chip.
    const reason = init.online_serial > known ? 'serial_ahead' : 'serial_behind';
    if (reason === 'serial_ahead') {
      freezeCard(store, request.card_no, init, known, now_ms);
      deps.on_held?.();
    }
    store.grey({ claim_id: null, card_no: request.card_no, terminal_id: request.terminal_id, reason, detail: { ...detail, last_online_serial: known } }, now_ms);
    return fail(409, 'card_frozen', `the card's online serial ${init.online_serial} disagrees with this hub's record ${known}: the card office must look at it`);
  }
  // After the card's evidence has settled what it could: a hub that may not offer still drains.
  const no_offer = noOfferReason(store.gate, card);
  if (no_offer !== null) return fail(409, 'hub_not_offering', NO_OFFER_MESSAGES[no_offer]);
  if (card.frozen) return fail(409, 'card_frozen', `card ${request.card_no} is frozen at this hub until the card office settles it`);
  if (card.status !== 'active') return fail(409, 'card_not_active', `card ${request.card_no} is ${card.status}`);
  if (init.online_serial >= ONLINE_SERIAL_MAX) return fail(409, 'serial_exhausted', 'the card\'s online serial is at 0xFFFF: it can take no more loads');

  const credits = exactPrefix(withReservation(store, request.card_no, undefined), init.balance_fen, deps.options.purse_limit_fen[card.kind], request.amount_fen);
  if (credits === null) return fail(409, 'offer_changed', `no pending credits make up exactly ${request.amount_fen} fen for this card now: swipe again`);

  const reservation: Reservation = {
    claim_id: newClaimId(),
    card_no: request.card_no,
    asn: card.asn,
    key_version: init.key_version,
    terminal_id: request.terminal_id,
    card_terminal_id: terminal.card_terminal_id,
    amount_fen: request.amount_fen,
    credits,
    balance_before_fen: init.balance_fen,
    online_serial_before: init.online_serial,
    balance_after_fen: init.balance_fen + request.amount_fen,
    random: init.random,
    terminal_time: request.terminal_time,
    mac2,
    reserved_at_ms: now_ms,
  };
  reserve(store, reservation);
  deps.on_reserved?.(now_ms);
  return { ok: true, value: loadAnswer(reservation) };
}

function loadAnswer(reservation: Reservation): LoadResponse {
  return {
    claim_id: reservation.claim_id,
    amount_fen: reservation.amount_fen,
    mac2: reservation.mac2,
    balance_after_fen: reservation.balance_after_fen,
    online_serial_after: reservation.online_serial_before + 1,
  };
}

/** The offer prefix whose sum is exactly `amount_fen`, or null. */
function exactPrefix(credits: readonly PendingCredit[], balance_fen: number, limit_fen: number, amount_fen: number): PendingCredit[] | null {
  let sum_fen = 0;
  const taken: PendingCredit[] = [];
  for (const credit of offerPrefix(credits, balance_fen, limit_fen)) {
    sum_fen += credit.amount_fen;
    taken.push(credit);
    if (sum_fen === amount_fen) return taken;
    if (sum_fen > amount_fen) return null;
  }
  return null;
}

function reserve(store: LedgerStore, reservation: Reservation): void {
  assert(!store.open.has(reservation.card_no), 'no second open reservation for a card');
  assert(reservation.balance_after_fen <= PURSE_BALANCE_FEN_MAX && reservation.online_serial_before < ONLINE_SERIAL_MAX, 'reservation is within the chip bounds');
  store.s.insertClaim.run(
    reservation.claim_id,
    reservation.card_no,
    reservation.asn,
    reservation.key_version,
    reservation.terminal_id,
    reservation.card_terminal_id,
    reservation.amount_fen,
    JSON.stringify(reservation.credits.map((credit) => credit.credit_id)),
    reservation.balance_before_fen,
    reservation.online_serial_before,
    reservation.balance_after_fen,
    reservation.random,
    reservation.terminal_time,
    reservation.mac2,
    reservation.reserved_at_ms,
  );
  for (const credit of reservation.credits) {
    const changed = store.s.reserveCredit.run(reservation.claim_id, credit.credit_id).changes;
    assert(changed === 1, `credit ${credit.credit_id} was pending on disk as in memory`);
    store.removePending(reservation.card_no, credit.credit_id);
  }
  store.open.set(reservation.card_no, reservation);
}

export function commitReservation(store: LedgerStore, open: Reservation, proof: ClaimProof, by: string, now_ms: number): void {
  const proof_value = proof.kind === 'serial' ? String(proof.online_serial_seen) : proof.tac;
  const changed = store.s.commitClaim.run(proof.kind, proof_value, now_ms, by, open.claim_id).changes;
  assert(changed === 1, `claim ${open.claim_id} was open on disk`);
  store.open.delete(open.card_no);
  for (const credit of open.credits) {
    const n = store.s.claimCredit.run(credit.credit_id, open.claim_id).changes;
    assert(n === 1, `credit ${credit.credit_id} was reserved by ${open.claim_id}`);
    const row = store.s.credit.get(credit.credit_id) as { void_requested: number };
    if (row.void_requested === 1) store.s.upsertVoidAnswer.run(credit.credit_id, 'already_claimed', open.claim_id, now_ms);
  }
  const online_serial_after = open.online_serial_before + 1;
  const card = store.cards.get(open.card_no);
  assert(card !== undefined, 'a reservation is of a known card');
  // The serial proof may have seen the card further on; the record is what this hub loaded.
  if (card.last_online_serial === null || card.last_online_serial < online_serial_after) {
    card.last_online_serial = online_serial_after;
    store.s.setCardSerial.run(online_serial_after, open.card_no);
  }
  const claim: HubClaim = {
    claim_id: open.claim_id,
    card_no: open.card_no,
    terminal_id: open.terminal_id,
    card_terminal_id: open.card_terminal_id,
    amount_fen: open.amount_fen,
    credit_ids: open.credits.map((credit) => credit.credit_id),
    balance_after_fen: open.balance_after_fen,
    online_serial_after,
    committed_at_ms: now_ms,
    proof,
  };
  store.s.insertOutbox.run(open.claim_id, JSON.stringify(claim));
  store.outbox_depth += 1;
}

/** The card's verified serial says not written: its credits are offerable again. */
function releaseReservation(store: LedgerStore, open: Reservation, by: string, now_ms: number): void {
  const changed = store.s.releaseClaim.run(now_ms, by, open.claim_id).changes;
  assert(changed === 1, `claim ${open.claim_id} was open on disk`);
  store.open.delete(open.card_no);
  for (const credit of open.credits) {
    const n = store.s.releaseCredit.run(credit.credit_id, open.claim_id).changes;
    assert(n === 1, `credit ${credit.credit_id} was reserved by ${open.claim_id}`);
    const row = store.s.credit.get(credit.credit_id) as { void_requested: number };
    // A refund was waiting for exactly this moment.
    if (row.void_requested === 1) {
      store.s.voidCredit.run(credit.credit_id);
      store.s.upsertVoidAnswer.run(credit.credit_id, 'voided', null, now_ms);
    } else {
      store.addPending(open.card_no, credit);
    }
  }
}

/** What the key store must check a commit's TAC against; null for an unknown claim. */
export function commitWrite(store: LedgerStore, claim_id: string): CardLoadWrite | null {
  const row = store.claimRow(claim_id);
  if (row === undefined) return null;
  return {
    asn: row.asn,
    key_version: row.key_version,
    algorithm_id: ALGORITHM_ID_3DES,
    balance_after_fen: row.balance_after_fen,
    online_serial: row.online_serial_before,
    amount_fen: row.amount_fen,
    card_terminal_id: row.card_terminal_id,
    terminal_time: row.terminal_time,
  };
}

export function commit(
  store: LedgerStore,
  claim_id: string,
  request: { terminal_id: string; txn_seq: number; tac: string; proof: 'tac' | 'prove' },
  verdict: KeyVerdict | null,
  now_ms: number,
): Outcome<CommitResponse> {
  const seq = store.takeTxnSeq(request.terminal_id, request.txn_seq);
  if (!seq.ok) return seq;
  store.persistTxnSeq(request.terminal_id, request.txn_seq);
  const row = store.claimRow(claim_id);
  if (row === undefined) return fail(404, 'claim_not_found', `no claim ${claim_id}`);
  assert(verdict !== null, 'a known claim had its TAC checked');
  // CREDIT FOR LOAD's TAC is only ever seen by the terminal that wrote; any other terminal
  // reads it back with GET TRANSACTION PROVE.
  if (request.proof === 'tac' && row.terminal_id !== request.terminal_id) {
    return fail(409, 'claim_conflict', `claim ${claim_id} was loaded at another terminal: commit with proof "prove"`);
  }
  const tac_ok = verdict.ok;
  const answer: CommitResponse = { claim_id, status: 'committed', balance_after_fen: row.balance_after_fen, online_serial_after: row.online_serial_before + 1 };
  if (row.state === 'committed') {
    return tac_ok ? { ok: true, value: answer } : fail(409, 'tac_invalid', 'the TAC does not verify for this claim');
  }
  const detail = { proof: request.proof, tac: request.tac };
  if (row.state === 'released') {
    if (tac_ok) {
      // The card proves a write its later serial had said did not happen: look at this card.
      store.grey({ claim_id, card_no: row.card_no, terminal_id: request.terminal_id, reason: 'tac_after_release', detail }, now_ms);
      return fail(409, 'claim_conflict', `claim ${claim_id} was released: the card's serial had said it was not written`);
    }
    return fail(409, 'tac_invalid', 'the TAC does not verify for this claim');
  }
  if (!tac_ok) {
    store.grey({ claim_id, card_no: row.card_no, terminal_id: request.terminal_id, reason: 'tac_invalid', detail }, now_ms);
    return fail(409, 'tac_invalid', 'the TAC does not verify for this claim: the reservation stays open');
  }
  const open = store.open.get(row.card_no);
  assert(open !== undefined && open.claim_id === claim_id, 'an open claim on disk is the open reservation in memory');
  commitReservation(store, open, { kind: request.proof, tac: request.tac }, `${request.proof}:${request.terminal_id}`, now_ms);
  store.s.upsertReport.run(row.card_no, row.balance_after_fen, row.online_serial_before + 1, now_ms);
  return { ok: true, value: answer };
}
