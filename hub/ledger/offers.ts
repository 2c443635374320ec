// Swipe and offers (DESIGN section 6, step 1): what a card may load now. A swipe is read-only:
// the chip state it reports is the terminal's word, not the card's proof, so it only decides
// what to offer and whether an open reservation looks written (`settle`). Nothing here waits
// for the disk; the caller records the txn_seq and the card report lazily.
import { CLAIM_CREDITS_MAX } from '../../protocol/hub.ts';
import { ONLINE_SERIAL_MAX, PURSE_BALANCE_FEN_MAX, type ChipState, type SwipeResponse } from '../../protocol/pos.ts';
import type { CardKind } from '../../protocol/card.ts';
import { noOfferReason } from './fleet.ts';
import { assert, byAge, type LedgerStore, type PendingCredit, type Reservation } from './store.ts';

export interface OfferOptions {
  write_window_ms: number;
  /** The school's purse limit per card kind: a chip balance a load may not exceed. */
  purse_limit_fen: Readonly<Record<CardKind, number>>;
}

/**
 * The credits a load may take, oldest first: the longest prefix that keeps the chip under the
 * purse limit (and its 4-byte balance) and within a claim's credit bound. Oldest first and a
 * prefix, so the load request can name the same credits by their sum alone.
 */
export function offerPrefix(credits: readonly PendingCredit[], balance_fen: number, limit_fen: number): PendingCredit[] {
  assert(Number.isSafeInteger(balance_fen) && balance_fen >= 0, 'balance is a checked integer');
  const ceiling_fen = Math.min(limit_fen, PURSE_BALANCE_FEN_MAX);
  const taken: PendingCredit[] = [];
  let total_fen = balance_fen;
  for (const credit of credits) {
    if (taken.length >= CLAIM_CREDITS_MAX || total_fen + credit.amount_fen > ceiling_fen) break;
    total_fen += credit.amount_fen;
    taken.push(credit);
  }
  return taken;
}

/** The card's offerable credits with its own reservation's put back among them, oldest first. */
export function withReservation(store: LedgerStore, card_no: string, open: Reservation | undefined): PendingCredit[] {
  const pending = store.pending.get(card_no) ?? [];
  if (open === undefined) return pending;
  return [...open.credits, ...pending].sort(byAge);
}

/** May `terminal_id` reuse the credits of `open` (not written, as the card's serial says)? */
export function mayRelease(open: Reservation, terminal_id: string, now_ms: number, write_window_ms: number): boolean {
  // Another terminal's younger reservation may be being written right now.
  return open.terminal_id === terminal_id || now_ms - open.reserved_at_ms >= write_window_ms;
}

export function swipe(
  store: LedgerStore,
  options: OfferOptions,
  request: { terminal_id: string; card_no: string; chip: ChipState },
  now_ms: number,
): SwipeResponse {
  const card = store.cards.get(request.card_no);
  const open = store.open.get(request.card_no);
  const pending = store.pending.get(request.card_no) ?? [];
  let pending_fen = 0;
  for (const credit of pending) pending_fen += credit.amount_fen;
  if (open !== undefined) pending_fen += open.amount_fen;
  if (card === undefined) return { card_status: 'unknown', pending_fen: 0, offer_fen: 0, settle: null };

  let candidates: readonly PendingCredit[] = pending;
  let settle: SwipeResponse['settle'] = null;
  let blocked = false;
  if (open !== undefined) {
    if (request.chip.online_serial > open.online_serial_before) {
      // The chip says the reservation was written: the terminal reads its prove and commits.
      settle = { claim_id: open.claim_id, online_serial: open.online_serial_before };
      pending_fen -= open.amount_fen;
    } else if (request.chip.online_serial === open.online_serial_before && mayRelease(open, request.terminal_id, now_ms, options.write_window_ms)) {
      candidates = withReservation(store, request.card_no, open);
    } else {
      blocked = true;
    }
  }
  const gate_refuses = noOfferReason(store.gate, card) !== null;
  const offerable =
    card.status === 'active' &&
    !card.frozen &&
    card.asn !== null &&
    !blocked &&
    request.chip.online_serial < ONLINE_SERIAL_MAX &&
    !gate_refuses;
  let offer_fen = 0;
  if (offerable) {
    for (const credit of offerPrefix(candidates, request.chip.balance_fen, options.purse_limit_fen[card.kind])) offer_fen += credit.amount_fen;
  } else if (open !== undefined && (candidates !== pending || settle !== null) && gate_refuses) {
    // A hub that may not offer (retiring, re-syncing) must still drain a reservation: one the
    // card never wrote, and one whose transaction prove may not verify (the card's record at
    // that serial is another load's, as after a restore). Only a load request carries the
    // MAC1-verified serial that settles it either way, so the swipe asks for one; the load
    // settles the reservation and is then refused, MAC2-less.
    offer_fen = open.amount_fen;
  }
  // An offer made only to carry the card's serial to a reservation is the reservation's amount.
  assert(offer_fen <= pending_fen || (settle !== null && offer_fen === open?.amount_fen), 'an offer never exceeds what is pending');
  return { card_status: card.status, pending_fen, offer_fen, settle };
}
