// The money path from "the provider says paid" to a pending credit. Every source of that
// fact (Alipay and WeChat Pay notifications, the expiry cron's trade query, reconciliation)
// goes through here, so there is exactly one way an order becomes paid.
import type { Channel } from '../../protocol/api.ts';
import type { Db } from '../db/client.ts';
import { notifications } from '../db/schema.ts';

export interface PaidEvidence {
  channel: Channel;
  order_id: string;
  amount_fen: number;
  provider_trade_no: string;
  paid_at_ms: number;
}

/** The notification as received, kept whatever its verdict (DESIGN section 5). */
export interface NotificationAudit {
  channel: Channel;
  headers: string | null;
  body: string;
}

export type LedgerVerdict = 'applied' | 'duplicate';

/** A credit's id is its order's with another letter: the same payment can never mint two. */
export function creditIdForOrder(order_id: string): string {
  if (!order_id.startsWith('Y')) throw new RangeError(`not an order id: ${order_id}`);
  return `C${order_id.slice(1)}`;
}

function assertEvidence(evidence: PaidEvidence): void {
  if (!Number.isSafeInteger(evidence.amount_fen) || evidence.amount_fen <= 0) {
    throw new RangeError(`paid amount must be positive fen: ${evidence.amount_fen}`);
  }
  if (evidence.provider_trade_no.length === 0) throw new RangeError('paid evidence without a provider trade number');
}

// Columns named in every insert, so a column added to a table later takes its default here
// instead of shifting the values after it. Raw D1 statements: drizzle's insert-select lists
// every column of the table, and its batch cannot carry a raw statement with parameters.
const ORDER_PAID_SQL = `UPDATE orders SET status = 'paid', paid_at_ms = ?2, provider_trade_no = ?3
  WHERE id = ?1 AND channel = ?4 AND amount_fen = ?5 AND status IN ('unpaid', 'closed')`;
// The credit copies the order's own row, so its amount and card cannot disagree with it.
const CREDIT_MINT_SQL = `INSERT INTO credits (id, order_id, school_id, card_no, amount_fen, state, created_at_ms)
  SELECT ?1, id, school_id, card_no, amount_fen, 'pending', ?3 FROM orders WHERE id = ?2 AND status = 'paid'
  ON CONFLICT DO NOTHING`;
const ORDER_CLOSED_SQL = `UPDATE orders SET status = 'closed', closed_at_ms = ?2 WHERE id = ?1 AND channel = ?3 AND status = 'unpaid'`;
// changes() is the row count of the statement just before it in the batch. Computing the
// verdict inside the batch keeps the audit row truthful when two deliveries race.
const VERDICT_RECORD_SQL = `INSERT INTO notifications (channel, received_at_ms, order_id, verdict, headers, body)
  SELECT ?1, ?2, ?3, CASE WHEN changes() > 0 THEN 'applied' ELSE 'duplicate' END, ?4, ?5`;

function verdictRecord(db: Db, audit: NotificationAudit, order_id: string, now_ms: number): D1PreparedStatement {
  return db.$client.prepare(VERDICT_RECORD_SQL).bind(audit.channel, now_ms, order_id, audit.headers, audit.body);
}

/** D1 answers one result per statement of a batch; anything else is a broken runtime. */
function changesOf(results: readonly D1Result[], index: number): number {
  const result = results[index];
  if (result === undefined) throw new Error(`a batch answered ${results.length} results, no result ${index}`);
  return result.meta.changes;
}

/**
 * Marks the order paid and creates its one credit, in one D1 batch (one transaction). The
 * caller has already checked the evidence against the order; the SQL re-checks amount and
 * state itself, because two deliveries of the same notification can race past that check.
 * A closed order that the provider says is paid is paid: the money arrived, and losing it
 * would be worse than reopening the order.
 */
export async function applyPaid(
  db: Db,
  evidence: PaidEvidence,
  audit: NotificationAudit | null,
  now_ms: number,
): Promise<LedgerVerdict> {
  assertEvidence(evidence);
  const credit_id = creditIdForOrder(evidence.order_id);
  const d1 = db.$client;
  const markPaid = d1
    .prepare(ORDER_PAID_SQL)
    .bind(evidence.order_id, evidence.paid_at_ms, evidence.provider_trade_no, evidence.channel, evidence.amount_fen);
  const mintCredit = d1.prepare(CREDIT_MINT_SQL).bind(credit_id, evidence.order_id, now_ms);
  const statements = [markPaid, mintCredit];
  // The record follows the credit insert, so its verdict is the mint's.
  if (audit !== null) statements.push(verdictRecord(db, audit, evidence.order_id, now_ms));
  return changesOf(await d1.batch(statements), 1) > 0 ? 'applied' : 'duplicate';
}

/**
 * The provider says the trade is closed (never paid). Only an unpaid order closes; a paid one
 * stays paid whatever arrives later (Alipay also sends TRADE_CLOSED after a full refund).
 */
export async function applyClosed(
  db: Db,
  input: { channel: Channel; order_id: string },
  audit: NotificationAudit | null,
  now_ms: number,
): Promise<LedgerVerdict> {
  const d1 = db.$client;
  const close = d1.prepare(ORDER_CLOSED_SQL).bind(input.order_id, now_ms, input.channel);
  const statements = [close];
  if (audit !== null) statements.push(verdictRecord(db, audit, input.order_id, now_ms));
  return changesOf(await d1.batch(statements), 0) > 0 ? 'applied' : 'duplicate';
}

// A rejected notification is evidence, not a payment: its first bytes say who sent what. Kept
// this far, so a flood of junk costs bounded storage (and is pruned after a retention period,
// worker/cron/prune.ts).
export const REJECTED_BODY_BYTES_MAX = 4 * 1024;
export const REJECTED_HEADERS_BYTES_MAX = 2 * 1024;
const TRUNCATION_MARK = '…[truncated]';

/** At most `bytes_max` bytes of UTF-8, cut on a character boundary and marked when cut. */
export function truncateUtf8(text: string, bytes_max: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= bytes_max) return text;
  const mark_bytes = new TextEncoder().encode(TRUNCATION_MARK).length;
  if (bytes_max < mark_bytes) throw new RangeError(`bytes_max ${bytes_max} below the mark`);
  // A cut inside a character leaves an incomplete sequence at the end; the decoder turns it into
  // U+FFFD, which is dropped so the kept text is exactly what was sent, only shorter.
  const kept = new TextDecoder('utf-8').decode(bytes.subarray(0, bytes_max - mark_bytes)).replace(/\uFFFD+$/, '');
  return `${kept}${TRUNCATION_MARK}`;
}

/** A notification that failed a check: kept for audit, bounded in bytes, and nothing else changes. */
export async function recordRejected(
  db: Db,
  audit: NotificationAudit,
  order_id: string | null,
  reason: string,
  now_ms: number,
): Promise<void> {
  await db.insert(notifications).values({
    channel: audit.channel,
    received_at_ms: now_ms,
    order_id,
    verdict: 'rejected',
    reason: reason.slice(0, 500),
    headers: audit.headers === null ? null : truncateUtf8(audit.headers, REJECTED_HEADERS_BYTES_MAX),
    body: truncateUtf8(audit.body, REJECTED_BODY_BYTES_MAX),
  });
}
