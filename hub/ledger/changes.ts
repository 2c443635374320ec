// The Worker's changes feed as it lands in the hub's store (DESIGN section 6): cards with
// their status, kind and asn; new credits; void requests. One page per transaction, with the
// cursor, so a crash loses neither.
import type { HubChange } from '../../protocol/hub.ts';
import { applyHold } from './holds.ts';
import { assert, type LedgerStore } from './store.ts';

export function applyChanges(store: LedgerStore, changes: readonly HubChange[], next_after: number, now_ms: number): { applied: number } {
  assert(next_after >= store.cursor, 'the cursor never moves back');
  let applied = 0;
  for (const change of changes) {
    if (change.seq <= store.cursor) continue;
    applied += 1;
    if (change.kind === 'card') {
      applyCard(store, change);
    } else if (change.kind === 'credit') {
      // Once a credit is here, only the hub decides its fate; later states from the Worker
      // are echoes of the hub's own claims and voids.
      if (store.s.credit.get(change.credit_id) !== undefined) continue;
      // Claimed elsewhere before it reached this hub: recorded, never offered.
      const claim_id = change.state === 'claimed' ? 'worker' : null;
      store.s.insertCredit.run(change.credit_id, change.order_id, change.card_no, change.amount_fen, change.state, claim_id, change.created_at_ms, change.seq);
      if (change.state === 'pending') store.addPending(change.card_no, change);
    } else if (change.kind === 'hold') {
      applyHold(store, change, now_ms);
    } else {
      applyVoid(store, change.credit_id, change.card_no, change.seq, now_ms);
    }
  }
  store.cursor = Math.max(store.cursor, next_after);
  store.s.setMeta.run('cursor', String(store.cursor));
  return { applied };
}

/** A card as the Worker has it: status, kind, and the asn its keys come from. */
export function applyCard(store: LedgerStore, change: Extract<HubChange, { kind: 'card' }>): void {
  store.s.upsertCard.run(change.card_no, change.status, change.card_kind, change.asn, change.seq);
  const known = store.cards.get(change.card_no);
  // A new asn is a new chip: this hub's serial record and freeze were about the old one.
  const same_chip = known !== undefined && known.asn === change.asn;
  // The hold was about the old chip's serial: nothing of it applies to the new one.
  if (known !== undefined && !same_chip) store.s.closeHold.run('resolved', 0, change.card_no);
  store.cards.set(change.card_no, {
    status: change.status,
    kind: change.card_kind,
    asn: change.asn,
    last_online_serial: same_chip ? known.last_online_serial : null,
    frozen: same_chip ? known.frozen : false,
  });
}

function applyVoid(store: LedgerStore, credit_id: string, card_no: string, seq: number, now_ms: number): void {
  const row = store.s.credit.get(credit_id) as { state: string; claim_id: string | null } | undefined;
  if (row === undefined) {
    // The feed is ordered, so the credit would have come first; a tombstone keeps a late copy
    // of it from ever being offered.
    store.s.insertCredit.run(credit_id, '', card_no, 1, 'voided', null, now_ms, seq);
    store.s.upsertVoidAnswer.run(credit_id, 'voided', null, now_ms);
    return;
  }
  if (row.state === 'pending' && store.cards.get(card_no)?.frozen === true) {
    // The card had loads this hub forgot: this credit may be on it already. The answer waits
    // for the card office, which settles the card with the card's own evidence.
    store.s.markVoidRequested.run(credit_id);
  } else if (row.state === 'pending') {
    store.s.voidCredit.run(credit_id);
    store.removePending(card_no, credit_id);
    store.s.upsertVoidAnswer.run(credit_id, 'voided', null, now_ms);
  } else if (row.state === 'voided') {
    store.s.upsertVoidAnswer.run(credit_id, 'voided', null, now_ms);
  } else if (row.state === 'claimed') {
    store.s.upsertVoidAnswer.run(credit_id, 'already_claimed', row.claim_id, now_ms);
  } else {
    // Reserved: MAC2 is out and the card may be written. The answer waits for the card.
    store.s.markVoidRequested.run(credit_id);
  }
}
