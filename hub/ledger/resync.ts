// Re-sync after the Worker refused a pull as regressed (DESIGN section 6, "A hub that lost
// state"; the snapshot contract in protocol/hub.ts): this store went back in time, so it may
// hold as pending credits it has already loaded, or voided, or handed over. Every credit the
// hub owns is re-read from the Worker, one page per transaction; the Worker's claimed and voided
// become so here; whatever disagrees with what this store itself did becomes a grey record.
// Offers stay off (fleet.ts) until the last page is in and the cursor is set to resume_after,
// in that page's transaction.
import type { SnapshotCredit, SnapshotResponse } from '../../protocol/hub.ts';
import { applyCard } from './changes.ts';
import { floorSerial, raiseSerial, releaseAccounted } from './holds.ts';
import { assert, type LedgerStore } from './store.ts';

export interface ResyncTally {
  credits: number;
  /** Credits the Worker has claimed that this store still had pending or had never seen. */
  forgotten_loads: number;
  conflicts: number;
  dropped: number;
  /** Frozen cards whose every serial the Worker's claims account for: released (last page only). */
  released_holds: number;
}

interface LocalCredit {
  credit_id: string;
  card_no: string;
  amount_fen: number;
  state: 'pending' | 'reserved' | 'claimed' | 'voided';
  claim_id: string | null;
  void_requested: number;
  created_at_ms: number;
}

/** Starts (or restarts) a resync: offers off, durably, and nothing seen yet. */
export function beginResync(store: LedgerStore): void {
  store.gate.resync_required = true;
  store.setMeta('resync_required', '1');
  store.db.exec('DELETE FROM resync_seen');
}

export function applySnapshotPage(store: LedgerStore, page: SnapshotResponse, now_ms: number): ResyncTally {
  assert(store.gate.resync_required, 'a snapshot is applied only during a resync');
  const tally: ResyncTally = { credits: 0, forgotten_loads: 0, conflicts: 0, dropped: 0, released_holds: 0 };
  for (const credit of page.credits) {
    tally.credits += 1;
    store.s.markResyncSeen.run(credit.credit_id);
    applyCredit(store, credit, tally, now_ms);
    // The card's loads up to this serial are claims at the Worker: none of them is forgotten.
    if (credit.online_serial_claimed !== undefined && credit.online_serial_claimed !== null) raiseSerial(store, credit.card_no, credit.online_serial_claimed);
    // A card with no record has no serial guard at all: the serial it last showed a terminal is
    // a floor below any load this store forgot since.
    if (credit.online_serial_reported !== undefined && credit.online_serial_reported !== null) floorSerial(store, credit.card_no, credit.online_serial_reported);
  }
  // Card changes after the restored cursor: statuses, kinds and asns as the Worker has them now.
  for (const card of page.cards) applyCard(store, card);
  if (page.next_cursor === null) finish(store, page.resume_after, tally, now_ms);
  return tally;
}

function applyCredit(store: LedgerStore, worker: SnapshotCredit, tally: ResyncTally, now_ms: number): void {
  const local = store.s.credit.get(worker.credit_id) as LocalCredit | undefined;
  const conflict = (detail: Record<string, unknown>) => {
    tally.conflicts += 1;
    store.grey(
      { claim_id: local?.claim_id ?? worker.claim_id, card_no: worker.card_no, terminal_id: null, reason: 'snapshot_conflict', detail: { credit_id: worker.credit_id, worker_state: worker.state, worker_claim_id: worker.claim_id, local_state: local?.state ?? null, ...detail } },
      now_ms,
    );
  };
  if (worker.state === 'moved') {
    // Another hub's now. A pending copy here must never be offered; a reserved one waits for
    // its card (MAC2 is out), and its claim, refused as not_owner, becomes a grey record then.
    if (local?.state === 'pending') {
      store.s.deleteCredit.run(worker.credit_id);
      store.removePending(local.card_no, local.credit_id);
      tally.dropped += 1;
    }
    return;
  }
  if (local === undefined) {
    // This store never saw it (it came after the backup); the Worker's state is the truth.
    const claim_id = worker.state === 'claimed' ? (worker.claim_id ?? 'worker') : null;
    store.s.insertCredit.run(worker.credit_id, worker.order_id, worker.card_no, worker.amount_fen, worker.state, claim_id, worker.created_at_ms, 0);
    if (worker.state === 'claimed') forgotten(store, worker, tally, now_ms);
    if (worker.state === 'pending') {
      store.addPending(worker.card_no, worker);
      if (worker.void_requested) voidPending(store, worker.credit_id, worker.card_no, now_ms);
    }
    return;
  }
  if (local.state === 'pending') {
    if (worker.state === 'claimed') {
      store.removePending(local.card_no, local.credit_id);
      store.s.claimFromWorker.run(worker.claim_id ?? 'worker', worker.credit_id);
      forgotten(store, worker, tally, now_ms);
    } else if (worker.state === 'voided') {
      store.removePending(local.card_no, local.credit_id);
      store.s.voidCredit.run(worker.credit_id);
    } else if (worker.void_requested) {
      voidPending(store, worker.credit_id, local.card_no, now_ms);
    }
  } else if (local.state === 'reserved') {
    // MAC2 is out: the card settles it, whatever the Worker says now.
    if (worker.state === 'voided' || (worker.state === 'claimed' && worker.claim_id !== local.claim_id)) conflict({});
    else if (worker.void_requested) store.s.markVoidRequested.run(worker.credit_id);
  } else if (local.state === 'claimed') {
    if (worker.state === 'claimed' && worker.claim_id === local.claim_id) return;
    // Not at the Worker yet: fine while the claim waits in the outbox.
    if (worker.state === 'pending' && local.claim_id !== null && store.s.outboxHas.get(local.claim_id) !== undefined) {
      if (worker.void_requested) store.s.upsertVoidAnswer.run(worker.credit_id, 'already_claimed', local.claim_id, now_ms);
      return;
    }
    conflict({});
  } else {
    if (worker.state === 'voided') return;
    // This store voided it and the answer has not reached the Worker yet: it is on its way.
    const answer = store.s.voidAnswer.get(worker.credit_id) as { result: string; sent: number } | undefined;
    if (worker.state === 'pending' && answer?.result === 'voided' && answer.sent === 0) return;
    conflict({ void_answer: answer ?? null });
  }
}

/** A load this store has no record of: the card has it; the card office should know. */
function forgotten(store: LedgerStore, worker: SnapshotCredit, tally: ResyncTally, now_ms: number): void {
  tally.forgotten_loads += 1;
  store.grey(
    { claim_id: worker.claim_id, card_no: worker.card_no, terminal_id: null, reason: 'forgotten_load', detail: { credit_id: worker.credit_id, amount_fen: worker.amount_fen } },
    now_ms,
  );
}

function voidPending(store: LedgerStore, credit_id: string, card_no: string, now_ms: number): void {
  if (store.cards.get(card_no)?.frozen === true) {
    // The card had loads this store forgot: the credit may be on it. The card office decides.
    store.s.markVoidRequested.run(credit_id);
    return;
  }
  store.s.voidCredit.run(credit_id);
  store.removePending(card_no, credit_id);
  store.s.upsertVoidAnswer.run(credit_id, 'voided', null, now_ms);
}

function finish(store: LedgerStore, resume_after: number, tally: ResyncTally, now_ms: number): void {
  // Pending here, not named by the Worker: not this hub's (it never was, or was handed over
  // in a way this store forgot). Never offered again.
  const stale = store.db
    .prepare("SELECT credit_id, card_no FROM credits WHERE state = 'pending' AND credit_id NOT IN (SELECT credit_id FROM resync_seen)")
    .all() as { credit_id: string; card_no: string }[];
  for (const credit of stale) {
    store.s.deleteCredit.run(credit.credit_id);
    store.removePending(credit.card_no, credit.credit_id);
    tally.dropped += 1;
  }
  store.db.exec('DELETE FROM resync_seen');
  // Every card page has raised its serial record by now: a card frozen for a serial the
  // Worker's claims reach had no load this store does not know of.
  tally.released_holds = releaseAccounted(store, now_ms);
  // The feed resumes where the snapshot stood; what changed while it paged follows in the feed.
  // The restored cursor may be above it only if the Worker lost changes: then it stays.
  store.cursor = Math.max(store.cursor, resume_after);
  store.setMeta('cursor', String(store.cursor));
  store.gate.resync_required = false;
  store.setMeta('resync_required', '0');
}
