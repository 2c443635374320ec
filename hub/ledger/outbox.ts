// What the hub owes the Worker: committed claims in commit order (the outbox) and answers to
// void requests. Rows leave only once the Worker has acknowledged them.
import type { HubClaim } from '../../protocol/hub.ts';
import { assert, type LedgerStore } from './store.ts';

export interface VoidAnswerRow {
  credit_id: string;
  result: 'voided' | 'already_claimed';
  claim_id: string | null;
}

export function outboxBatch(store: LedgerStore, limit: number): HubClaim[] {
  const rows = store.s.outboxBatch.all(limit) as { seq: number; body: string }[];
  return rows.map((row) => JSON.parse(row.body) as HubClaim);
}

/**
 * Drops claims the Worker has (accepted or duplicate). A rejected one is dropped too, since
 * resending it cannot change the answer, but the card was written: a grey record keeps it in
 * front of the card office.
 */
export function ackOutbox(
  store: LedgerStore,
  results: readonly { claim_id: string; status: string; reason?: string }[],
  card_of: ReadonlyMap<string, string>,
  now_ms: number,
): void {
  for (const result of results) {
    if (result.status === 'rejected') {
      store.grey(
        { claim_id: result.claim_id, card_no: card_of.get(result.claim_id) ?? '', terminal_id: null, reason: 'rejected_by_worker', detail: { reason: result.reason ?? '' } },
        now_ms,
      );
    }
    store.outbox_depth -= Number(store.s.deleteOutbox.run(result.claim_id).changes);
  }
  assert(store.outbox_depth >= 0, 'outbox depth is never negative');
}

export function voidAnswersBatch(store: LedgerStore, limit: number): VoidAnswerRow[] {
  return store.s.voidAnswersBatch.all(limit) as unknown as VoidAnswerRow[];
}

export function markVoidAnswersSent(store: LedgerStore, answers: readonly VoidAnswerRow[]): void {
  for (const answer of answers) store.s.markVoidSent.run(answer.credit_id, answer.result);
}
