// Cron: unpaid orders past their expiry are asked about at their provider, then settled.
// Paid there (the notification never came) → paid here: money must not be lost. Unpaid or
// never seen → closed at the provider first, so it can no longer be paid, then closed here
// (the 交易关闭 rows). A provider that cannot answer now is asked again on a later run, backing
// off exponentially up to a bound, for as long as it takes: an order is settled only by the
// provider's word (or by reconciliation against its bill), never left to a counter.
import { and, asc, eq, lte, sql } from 'drizzle-orm';
import { openDb, type Db } from '../db/client.ts';
import { orders } from '../db/schema.ts';
import type { Env } from '../env.ts';
import { notifySchoolHub } from '../hub/push.ts';
import { applyClosed, applyPaid } from '../ledger/payment.ts';
import { ProviderError, type PaymentChannel } from '../pay/channel.ts';
import { paymentChannel } from '../pay/channels.ts';

// Each order costs up to two provider calls; 20 keeps a run within the 50 subrequests a
// Worker invocation may make on the free plan. The cron runs every 5 minutes.
export const EXPIRY_BATCH_MAX = 20;
// After a deferral the order is due again in 5 minutes, then 10, 20, ... and at most every 6
// hours: a provider down for a day costs a handful of queries per order, not hundreds, and an
// order whose provider keeps failing still never drops out of the cron.
export const EXPIRY_RETRY_BASE_MS = 5 * 60_000;
export const EXPIRY_RETRY_MAX_MS = 6 * 3_600_000;

/** The wait after the `attempts`-th failed query (1-based), bounded. */
export function expiryRetryDelayMs(attempts: number): number {
  if (!Number.isSafeInteger(attempts) || attempts < 1) throw new RangeError(`attempts ${attempts}`);
  // 2^7 * 5 min is past the cap already; the exponent's bound keeps the arithmetic finite.
  return Math.min(EXPIRY_RETRY_BASE_MS * 2 ** Math.min(attempts - 1, 16), EXPIRY_RETRY_MAX_MS);
}

export interface ExpiryReport {
  examined: number;
  paid: number;
  closed: number;
  deferred: number;
}

type Verdict = 'paid' | 'closed' | 'deferred';

interface ExpiredOrder {
  id: string;
  school_id: string;
  channel: 'alipay' | 'wechat';
  amount_fen: number;
  expiry_attempts: number;
}

async function settle(db: Db, provider: PaymentChannel, order: ExpiredOrder, now_ms: number): Promise<Verdict> {
  const trade = await provider.queryTrade(order.id);
  if (trade.state === 'paid') {
    if (trade.amount_fen !== order.amount_fen) {
      // Never credit a different amount than ordered; a person must look at this one.
      throw new ProviderError(order.channel, 'amount_mismatch', `provider says paid ${trade.amount_fen} fen, order is ${order.amount_fen}`, false);
    }
    await applyPaid(
      db,
      { channel: order.channel, order_id: order.id, amount_fen: order.amount_fen, provider_trade_no: trade.provider_trade_no, paid_at_ms: trade.paid_at_ms },
      null,
      now_ms,
    );
    return 'paid';
  }
  // Closing at the provider first: a trade closed here but still payable there could take
  // money for an order we already called closed.
  if (trade.state !== 'closed') await provider.closeTrade(order.id);
  await applyClosed(db, { channel: order.channel, order_id: order.id }, null, now_ms);
  return 'closed';
}

// Written exactly as in migrations/0008_orders_status_due.sql, so SQLite uses that index.
const DUE_AT = sql`coalesce(${orders.next_query_at_ms}, ${orders.expires_at_ms})`;

/**
 * The batch to look at, oldest due first: unpaid orders past their expiry, or past the time a
 * deferral set. Served by the orders_status_due expression index (status, then a range on the
 * due time).
 */
export function dueOrders(db: Db, now_ms: number) {
  return db
    .select({
      id: orders.id,
      school_id: orders.school_id,
      channel: orders.channel,
      amount_fen: orders.amount_fen,
      expiry_attempts: orders.expiry_attempts,
    })
    .from(orders)
    .where(and(eq(orders.status, 'unpaid'), lte(DUE_AT, now_ms)))
    .orderBy(asc(DUE_AT))
    .limit(EXPIRY_BATCH_MAX);
}

export async function expireUnpaidOrders(env: Env, now_ms: number): Promise<ExpiryReport> {
  const db = openDb(env.DB);
  const due = await dueOrders(db, now_ms);
  const report: ExpiryReport = { examined: due.length, paid: 0, closed: 0, deferred: 0 };
  const channels = new Map<string, PaymentChannel>();
  const credited_schools = new Set<string>();
  for (const order of due) {
    let provider = channels.get(order.channel);
    if (provider === undefined) {
      provider = paymentChannel(env, order.channel);
      channels.set(order.channel, provider);
    }
    let verdict: Verdict;
    try {
      verdict = await settle(db, provider, order, now_ms);
    } catch (error) {
      // Whatever went wrong (provider, network, a bug in one channel), this order waits for a
      // later run and the rest of the batch goes on; the back-off bounds how often it is asked.
      const code = error instanceof ProviderError ? error.provider_code : 'error';
      const attempts = order.expiry_attempts + 1;
      const next_query_at_ms = now_ms + expiryRetryDelayMs(attempts);
      console.warn(
        JSON.stringify({ level: 'warn', msg: 'expiry deferred', order_id: order.id, code, attempts, next_query_at_ms, error: String(error).slice(0, 300) }),
      );
      verdict = 'deferred';
      await db
        .update(orders)
        .set({ expiry_attempts: sql`${orders.expiry_attempts} + 1`, next_query_at_ms })
        .where(and(eq(orders.id, order.id), eq(orders.status, 'unpaid')));
    }
    report[verdict]++;
    if (verdict === 'paid') credited_schools.add(order.school_id);
  }
  // One poke per school for the whole batch: the hub pulls everything new in one go.
  await Promise.all([...credited_schools].map((school_id) => notifySchoolHub(env, school_id)));
  return report;
}
