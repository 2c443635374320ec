// What the hub owes the Worker: committed claims in commit order (the outbox) and answers to
// void requests. Rows leave only once the Worker has acknowledged them.
import type { HubClaim } from '../../protocol/hub.ts';
import { assert, type LedgerStore } from './store.ts';

export interface VoidAnswerRow {
  credit_id: string;
  result: 'voided' | 'already_claimed';
  claim_id: string | null;
}

// `{"claims":[` + `]}`: what the request adds around the claims' own JSON.
const CLAIMS_ENVELOPE_BYTES = 14;

/**
 * The oldest claims, at most `limit` and at most `bytes_max` bytes of request JSON: a card may
 * carry up to CLAIM_CREDITS_MAX credits, so a full count of large claims would pass the
 * Worker's body limit and be refused whole, every time, and the outbox would never drain.
 */
export function outboxBatch(store: LedgerStore, limit: number, bytes_max: number): HubClaim[] {
  const rows = store.s.outboxBatch.all(limit) as { seq: number; body: string }[];
  const claims: HubClaim[] = [];
  let bytes = CLAIMS_ENVELOPE_BYTES;
  for (const row of rows) {
    // The body is the claim's JSON exactly as the request will carry it, plus a comma.
    bytes += Buffer.byteLength(row.body, 'utf8') + (claims.length > 0 ? 1 : 0);
    if (bytes > bytes_max && claims.length > 0) break;
    assert(bytes <= bytes_max, 'one claim fits a claims request');
    claims.push(JSON.parse(row.body) as HubClaim);
  }
  return claims;
}

/**
 * Drops claims the Worker has (accepted or duplicate). A rejected one is dropped too, since
 * resending it cannot change the answer, but the card was written: a grey record keeps it in
 * front of the card office.
 */
export function ackOutbox(
  store: LedgerStore,
  results: readonly { claim_id: string; status: string; code?: string; reason?: string }[],
  card_of: ReadonlyMap<string, string>,
  now_ms: number,
): void {
  for (const result of results) {
    if (result.status === 'rejected') {
      // `not_owner`: another hub owns a credit of it (a handover this store did not follow).
      store.grey(
        { claim_id: result.claim_id, card_no: card_of.get(result.claim_id) ?? '', terminal_id: null, reason: 'rejected_by_worker', detail: { code: result.code ?? 'invalid', reason: result.reason ?? '' } },
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

/**
 * The Worker has the answers. A rejected one (another hub owns the credit, or the Worker's
 * ledger says otherwise) is not resent, since resending cannot change the verdict, but the
 * disagreement is money in doubt: a grey record keeps it in front of the card office.
 */
export function markVoidAnswersSent(
  store: LedgerStore,
  answers: readonly VoidAnswerRow[],
  results: readonly { credit_id: string; status: string; code?: string; reason?: string }[],
  now_ms: number,
): void {
  const rejected = new Map(results.filter((result) => result.status === 'rejected').map((result) => [result.credit_id, result]));
  for (const answer of answers) {
    const verdict = rejected.get(answer.credit_id);
    if (verdict !== undefined) {
      const credit = store.s.credit.get(answer.credit_id) as { card_no: string } | undefined;
      const detail = { credit_id: answer.credit_id, result: answer.result, code: verdict.code ?? 'invalid', reason: verdict.reason ?? '' };
      store.grey(
        { claim_id: answer.claim_id, card_no: credit?.card_no ?? '', terminal_id: null, reason: 'void_rejected_by_worker', detail },
        now_ms,
      );
    }
    store.s.markVoidSent.run(answer.credit_id, answer.result);
  }
}
