// The money path from "the provider says paid" to a pending credit. Every source of that
// fact (Alipay and WeChat Pay notifications, the expiry cron's trade query, reconciliation)
// goes through here, so there is exactly one way an order becomes paid.
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Channel } from '../../protocol/api.ts';
import type { Db } from '../db/client.ts';
import { credits, notifications, orders } from '../db/schema.ts';

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
  const markPaid = db
    .update(orders)
    .set({ status: 'paid', paid_at_ms: evidence.paid_at_ms, provider_trade_no: evidence.provider_trade_no })
    .where(
      and(
        eq(orders.id, evidence.order_id),
        eq(orders.channel, evidence.channel),
        eq(orders.amount_fen, evidence.amount_fen),
        inArray(orders.status, ['unpaid', 'closed']),
      ),
    );
  // The credit copies the order's own row, so its amount and card cannot disagree with it.
  const mintCredit = db
    .insert(credits)
    .select(
      sql`SELECT ${credit_id}, ${orders.id}, ${orders.school_id}, ${orders.card_no}, ${orders.amount_fen},
            'pending', NULL, NULL, ${now_ms}, NULL, NULL, NULL, NULL
          FROM ${orders} WHERE ${orders.id} = ${evidence.order_id} AND ${orders.status} = 'paid'`,
    )
    .onConflictDoNothing();
  if (audit === null) {
    const [, minted] = await db.batch([markPaid, mintCredit]);
    return minted.meta.changes > 0 ? 'applied' : 'duplicate';
  }
  // changes() is the row count of the statement just before: the credit insert. Computing the
  // verdict inside the batch keeps the audit row truthful when two deliveries race.
  const record = db.insert(notifications).select(
    sql`SELECT NULL, ${audit.channel}, ${now_ms}, ${evidence.order_id},
          CASE WHEN changes() > 0 THEN 'applied' ELSE 'duplicate' END, NULL, ${audit.headers}, ${audit.body}`,
  );
  const [, minted] = await db.batch([markPaid, mintCredit, record]);
  return minted.meta.changes > 0 ? 'applied' : 'duplicate';
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
  const close = db
    .update(orders)
    .set({ status: 'closed', closed_at_ms: now_ms })
    .where(and(eq(orders.id, input.order_id), eq(orders.channel, input.channel), eq(orders.status, 'unpaid')));
  if (audit === null) {
    const result = await close;
    return result.meta.changes > 0 ? 'applied' : 'duplicate';
  }
  const record = db.insert(notifications).select(
    sql`SELECT NULL, ${audit.channel}, ${now_ms}, ${input.order_id},
          CASE WHEN changes() > 0 THEN 'applied' ELSE 'duplicate' END, NULL, ${audit.headers}, ${audit.body}`,
  );
  const [closed] = await db.batch([close, record]);
  return closed.meta.changes > 0 ? 'applied' : 'duplicate';
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
