// The hub's money logic (DESIGN section 6), one concern a module over one store:
// offers.ts (swipe), loads.ts (MAC1 → reservation → MAC2, settlement by TAC, prove or serial),
// changes.ts (the Worker's feed), outbox.ts (claims and void answers owed to the Worker),
// reports.ts (card reports, grey records), holds.ts (cards the serial guard froze). This class only binds them to one store and clock.
// Every write must run inside GroupCommit.run (see store.ts).
import type { DatabaseSync } from 'node:sqlite';
import type { CardKind } from '../../protocol/card.ts';
import type { CardHold, GreyRecord, HubChange, HubClaim, HubState, SnapshotResponse } from '../../protocol/hub.ts';
import type { z } from 'zod';
import type { commitRequest, CommitResponse, LoadRequest, LoadResponse, SwipeRequest, SwipeResponse } from '../../protocol/pos.ts';
import { applyChanges } from './changes.ts';
import { holdsBatch, markHoldsSent } from './holds.ts';
import { noOfferReason, type NoOfferReason } from './fleet.ts';
import { applySnapshotPage, beginResync, type ResyncTally } from './resync.ts';
import type { CardKeyStore, CardLoadSession, Mac2Result } from '../keys/store.ts';
import { commit, commitWrite, load, loadSession } from './loads.ts';
import { swipe } from './offers.ts';
import { ackOutbox, markVoidAnswersSent, outboxBatch, voidAnswersBatch, type VoidAnswerRow } from './outbox.ts';
import { cardReportsBatch, greyBatch, greyRecords, markCardReportsSent, markGreySent, nextGreyDueAt, type CardReportRow, type HubGreyRecord } from './reports.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { assert, LedgerStore, type Outcome, type TerminalEntry } from './store.ts';

export type { Outcome } from './store.ts';
export type { ResyncTally } from './resync.ts';
export type { CardReportRow } from './reports.ts';
export type { VoidAnswerRow } from './outbox.ts';

export interface LedgerOptions {
  write_window_ms: number;
  purse_limit_fen: Readonly<Record<CardKind, number>>;
  now_ms: () => number;
  /** Told of every new reservation (the sync client reports it if it turns grey). */
  on_reserved?: (reserved_at_ms: number) => void;
  /** Told when the serial guard freezes a card (the sync client reports the hold). */
  on_held?: () => void;
}

export interface LedgerCounts {
  cards: number;
  pending_credits: number;
  open_claims: number;
  outbox_depth: number;
  void_answers_unsent: number;
  /** Cards the serial guard froze, waiting for a re-sync or the card office. */
  frozen_cards: number;
}

export interface FleetStatus {
  hub_state: HubState;
  resyncing: boolean;
  /** Null while loads are offered; else why not (for a card this hub has loaded before). */
  not_offering: NoOfferReason | null;
  /**
   * The Worker has answered a pull since this process started. Until then a card this hub has
   * never loaded is not offered (fleet.ts): only the Worker can tell a restored store.
   */
  worker_confirmed: boolean;
  /** A retiring hub has told the Worker it is drained. */
  retire_confirmed: boolean;
}

export class HubLedger {
  readonly #store: LedgerStore;
  readonly #options: LedgerOptions;
  readonly #swipe_seqs = new Map<string, number>();
  readonly #swipe_reports = new Map<string, { balance_fen: number; online_serial: number; seen_at_ms: number }>();

  constructor(db: DatabaseSync, options: LedgerOptions) {
    assert(options.write_window_ms > 0, 'write window is positive');
    this.#store = new LedgerStore(db);
    this.#options = options;
  }

  /** A cheap early refusal of a replay before the key store is asked (the ledger step re-checks). */
  txnSeqFresh(terminal_id: string, txn_seq: number): boolean {
    const terminal = this.#store.terminals.get(terminal_id);
    return terminal !== undefined && txn_seq > terminal.txn_seq_high;
  }

  terminal(terminal_id: string, reload: boolean): TerminalEntry | null {
    return this.#store.terminal(terminal_id, reload);
  }

  /** Read-only and from memory: answered at once. What it leaves behind waits in `recordSwipe`. */
  swipe(request: SwipeRequest): Outcome<SwipeResponse> {
    const seq = this.#store.takeTxnSeq(request.terminal_id, request.txn_seq);
    if (!seq.ok) return seq;
    return { ok: true, value: swipe(this.#store, this.#options, request, this.#options.now_ms()) };
  }

  /**
   * Remembers the swipe's txn_seq and chip report in memory, for `flushSwipes`: a swipe costs
   * no disk write of its own. Losing them in a crash is harmless (a report is superseded by the
   * next swipe; a swipe's txn_seq guards nothing, since a replayed swipe changes nothing), and
   * the maps are bounded by the registered cards and terminals.
   */
  recordSwipe(request: SwipeRequest): void {
    this.#swipe_seqs.set(request.terminal_id, Math.max(this.#swipe_seqs.get(request.terminal_id) ?? -1, request.txn_seq));
    // Only cards of this school are reported: a terminal cannot fill the store with made-up ones.
    if (this.#store.cards.has(request.card_no)) {
      this.#swipe_reports.set(request.card_no, { balance_fen: request.chip.balance_fen, online_serial: request.chip.online_serial, seen_at_ms: this.#options.now_ms() });
    }
  }

  get swipesPending(): boolean {
    return this.#swipe_seqs.size > 0 || this.#swipe_reports.size > 0;
  }

  /**
   * Writes what swipes left behind (inside GroupCommit.run), newest report per card: every
   * txn_seq (one per terminal) and at most `reports_max` chip reports, the oldest first; the
   * rest waits for the next call.
   */
  flushSwipes(reports_max: number): void {
    assert(reports_max >= 1, 'a flush writes at least one report');
    for (const [terminal_id, txn_seq] of this.#swipe_seqs) this.#store.persistTxnSeq(terminal_id, txn_seq);
    this.#swipe_seqs.clear();
    let written = 0;
    // A Map iterates in insertion order, and deleting the entry being visited is safe.
    for (const [card_no, report] of this.#swipe_reports) {
      if (written >= reports_max) break;
      this.#store.s.upsertReport.run(card_no, report.balance_fen, report.online_serial, report.seen_at_ms);
      this.#swipe_reports.delete(card_no);
      written += 1;
    }
  }

  /**
   * A load: the key store is asked first (MAC1 verified, MAC2 made) with the card's registered
   * asn, then the ledger decides in one synchronous step of the group commit, and the answer
   * carrying MAC2 waits for that step to be durable.
   */
  async load(keys: CardKeyStore, group: GroupCommit, request: LoadRequest): Promise<Outcome<LoadResponse>> {
    const session: CardLoadSession | null = loadSession(this.#store, request);
    let asked: { session: CardLoadSession; verdict: Mac2Result } | null = null;
    if (session !== null) asked = { session, verdict: await keys.makeMac2(session, request.init.mac1, request.terminal_time) };
    const deps = { store: this.#store, options: this.#options, on_reserved: this.#options.on_reserved, on_held: this.#options.on_held };
    return group.run(() => load(deps, request, asked, this.#options.now_ms()));
  }

  /** A commit: the TAC is checked by the key store, then settled in the group commit. */
  async commit(keys: CardKeyStore, group: GroupCommit, claim_id: string, request: z.output<typeof commitRequest>): Promise<Outcome<CommitResponse>> {
    const write = commitWrite(this.#store, claim_id);
    const verdict = write === null ? null : await keys.verifyTac(write, request.tac);
    return group.run(() => commit(this.#store, claim_id, request, verdict, this.#options.now_ms()));
  }

  get cursor(): number {
    return this.#store.cursor;
  }

  applyChanges(changes: readonly HubChange[], next_after: number): { applied: number } {
    return applyChanges(this.#store, changes, next_after, this.#options.now_ms());
  }

  /**
   * The Worker answered a pull: this run is confirmed (fleet.ts) and the store has synced.
   * Returns the state it had before, when the Worker's differs.
   */
  confirmPull(hub_state: HubState | undefined): { changed_from: HubState } | null {
    const store = this.#store;
    store.gate.confirmed = true;
    if (!store.gate.ever_synced) {
      store.gate.ever_synced = true;
      store.setMeta('ever_synced', '1');
    }
    return hub_state === undefined ? null : this.setHubState(hub_state);
  }

  setHubState(hub_state: HubState): { changed_from: HubState } | null {
    const store = this.#store;
    if (store.gate.state === hub_state) return null;
    const changed_from = store.gate.state;
    store.gate.state = hub_state;
    store.setMeta('hub_state', hub_state);
    // A confirmation belongs to one retirement: a hub made retiring again confirms again.
    if (store.gate.retire_confirmed) {
      store.gate.retire_confirmed = false;
      store.setMeta('retire_confirmed', '0');
    }
    return { changed_from };
  }

  /** The Worker took this retiring hub's word that it is drained. */
  markRetireConfirmed(): void {
    this.#store.gate.retire_confirmed = true;
    this.#store.setMeta('retire_confirmed', '1');
  }

  /** The Worker refused a pull as regressed: offers off until the snapshot is in. */
  beginResync(): void {
    beginResync(this.#store);
  }

  applySnapshotPage(page: SnapshotResponse): ResyncTally {
    return applySnapshotPage(this.#store, page, this.#options.now_ms());
  }

  fleet(): FleetStatus {
    const gate = this.#store.gate;
    return { hub_state: gate.state, resyncing: gate.resync_required, not_offering: noOfferReason(gate, { last_online_serial: 0 }), worker_confirmed: gate.confirmed, retire_confirmed: gate.retire_confirmed };
  }

  /**
   * A retiring hub may confirm once nothing is left to send, no reservation is open and no card
   * is frozen: confirming hands its pending credits to another hub, and a frozen card's may be
   * on the card (the card office settles the hold first).
   */
  drained(): boolean {
    const counts = this.counts();
    return counts.outbox_depth === 0 && counts.open_claims === 0 && counts.void_answers_unsent === 0 && counts.frozen_cards === 0;
  }

  outboxBatch(limit: number, bytes_max: number): HubClaim[] {
    return outboxBatch(this.#store, limit, bytes_max);
  }

  ackOutbox(results: readonly { claim_id: string; status: string; code?: string; reason?: string }[], card_of: ReadonlyMap<string, string>): void {
    ackOutbox(this.#store, results, card_of, this.#options.now_ms());
  }

  get outboxDepth(): number {
    return this.#store.outbox_depth;
  }

  voidAnswersBatch(limit: number): VoidAnswerRow[] {
    return voidAnswersBatch(this.#store, limit);
  }

  get resyncRequired(): boolean {
    return this.#store.gate.resync_required;
  }

  markVoidAnswersSent(answers: readonly VoidAnswerRow[], results: readonly { credit_id: string; status: string; code?: string; reason?: string }[]): void {
    markVoidAnswersSent(this.#store, answers, results, this.#options.now_ms());
  }

  cardReportsBatch(limit: number): CardReportRow[] {
    return cardReportsBatch(this.#store, limit);
  }

  markCardReportsSent(reports: readonly CardReportRow[]): void {
    markCardReportsSent(this.#store, reports);
  }

  holdsBatch(limit: number): CardHold[] {
    return holdsBatch(this.#store, limit);
  }

  markHoldsSent(holds: readonly CardHold[]): void {
    markHoldsSent(this.#store, holds);
  }

  greyBatch(older_than_ms: number, limit: number): GreyRecord[] {
    return greyBatch(this.#store, this.#options.now_ms() - older_than_ms, limit);
  }

  nextGreyDueAt(older_than_ms: number): number | null {
    return nextGreyDueAt(this.#store, older_than_ms);
  }

  markGreySent(records: readonly GreyRecord[]): void {
    markGreySent(this.#store, records);
  }

  greyRecords(older_than_ms: number, limit: number): HubGreyRecord[] {
    return greyRecords(this.#store, this.#options.now_ms() - older_than_ms, limit);
  }

  counts(): LedgerCounts {
    let pending_credits = 0;
    for (const list of this.#store.pending.values()) pending_credits += list.length;
    const unsent = this.#store.s.voidAnswersUnsent.get() as { n: number };
    const frozen = this.#store.s.frozenCount.get() as { n: number };
    return {
      cards: this.#store.cards.size,
      pending_credits,
      open_claims: this.#store.open.size,
      outbox_depth: this.#store.outbox_depth,
      void_answers_unsent: unsent.n,
      frozen_cards: frozen.n,
    };
  }
}
