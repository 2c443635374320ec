// Orders: creation of an unpaid top-up, and the one word the PWA shows for an order and its
// credit (TopupStatus). Query builders are exported so the query-plan test checks the very SQL
// the routes run.
import { and, desc, eq, gte, ne, sql } from 'drizzle-orm';
import {
  ORDER_ID_PATTERN,
  type Channel,
  type CreditState,
  type MonthTotal,
  type OrderStatus,
  type RechargeRecord,
  type TopupStatus,
} from '../../protocol/api.ts';
import type { Db } from '../db/client.ts';
import { claims, credits, orders } from '../db/schema.ts';

export const ORDER_EXPIRY_MINUTES_DEFAULT = 15;
// Providers cap their own cashier sessions; an order payable for longer would outlive them.
const ORDER_EXPIRY_MINUTES_MAX = 24 * 60;
// China Standard Time, no daylight saving: order ids and month totals are read by people there.
export const CHINA_OFFSET_MS = 8 * 60 * 60 * 1000;
export const RECORDS_LIMIT = 200;
export const RECORDS_MONTHS = 12;

const ORDER_ID_RANDOM_CHARS = 10;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function orderExpiryMs(configured: string | undefined): number {
  const minutes = configured === undefined || configured.trim() === '' ? ORDER_EXPIRY_MINUTES_DEFAULT : Number(configured);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > ORDER_EXPIRY_MINUTES_MAX) {
    throw new RangeError(`ORDER_EXPIRY_MINUTES must be 1..${ORDER_EXPIRY_MINUTES_MAX}, got ${configured}`);
  }
  return minutes * 60_000;
}

/**
 * `Y` + China time to the millisecond (so ids sort by creation, and an operator reading a
 * provider's bill sees when) + 10 random base62 characters (~59 bits: unguessable, since the
 * order id alone lets anyone read the order's status). 28 characters: within WeChat's 32.
 */
export function newOrderId(now_ms: number): string {
  if (!Number.isSafeInteger(now_ms) || now_ms <= 0) throw new RangeError(`bad time ${now_ms}`);
  const stamp = new Date(now_ms + CHINA_OFFSET_MS).toISOString().replace(/[^0-9]/g, '');
  let random = '';
  // Rejection sampling keeps every character equally likely; 4 rounds of 16 bytes are plenty.
  for (let round = 0; round < 4 && random.length < ORDER_ID_RANDOM_CHARS; round++) {
    for (const byte of crypto.getRandomValues(new Uint8Array(16))) {
      if (byte < 248 && random.length < ORDER_ID_RANDOM_CHARS) random += BASE62[byte % 62];
    }
  }
  if (random.length !== ORDER_ID_RANDOM_CHARS) throw new Error('random source exhausted');
  const order_id = `Y${stamp}${random}`;
  if (!ORDER_ID_PATTERN.test(order_id)) throw new Error(`order id does not match its pattern: ${order_id}`);
  return order_id;
}

/** The order and its credit folded into what the payer sees. */
export function topupStatus(order_status: OrderStatus, credit_state: CreditState | null): TopupStatus {
  switch (order_status) {
    case 'unpaid':
      return 'unpaid';
    case 'closed':
      return 'closed';
    case 'refunded':
      return 'refunded';
    case 'paid':
      // A paid order without its credit breaks invariant 1; the audit reports it, while the
      // payer is told the truth as far as they are concerned: the money is waiting.
      if (credit_state === 'claimed') return 'claimed';
      if (credit_state === 'voided') return 'refunded';
      // Only a live credit is joined; a moved one here would be a query that forgot to filter.
      if (credit_state === 'moved') throw new Error('topupStatus of a moved credit');
      return 'pending_claim';
  }
}

export interface NewOrder {
  school_id: string;
  card_no: string;
  amount_fen: number;
  channel: Channel;
  notify_phone: string | null;
  origin: 'topup' | 'auto';
}

export interface CreatedOrder extends NewOrder {
  order_id: string;
  created_at_ms: number;
  expires_at_ms: number;
}

// A card may hold this many unpaid orders at once. Each one is work for the expiry cron (a
// bounded batch every 5 minutes), so without a cap one card could grow its backlog without end;
// a payer who really wants to pay needs one, and a few cover a cashier closed by mistake.
export const OPEN_ORDERS_PER_CARD_MAX = 5;

/** The card already holds `open_orders_max` unpaid orders: nothing was inserted. */
export class TooManyOpenOrders extends Error {}

/**
 * Inserts an unpaid order; the caller has checked the card is active and the amount allowed.
 * The cap on the card's unpaid orders is part of the same INSERT, so concurrent requests cannot
 * both slip under it. Throws TooManyOpenOrders when the card is at the cap.
 */
export async function createOrder(
  db: Db,
  input: NewOrder,
  options: { now_ms: number; expiry_ms: number; open_orders_max?: number },
): Promise<CreatedOrder> {
  if (!Number.isSafeInteger(input.amount_fen) || input.amount_fen <= 0) throw new RangeError(`bad amount ${input.amount_fen}`);
  if (options.expiry_ms <= 0) throw new RangeError(`bad expiry ${options.expiry_ms}`);
  const open_orders_max = options.open_orders_max ?? OPEN_ORDERS_PER_CARD_MAX;
  if (!Number.isSafeInteger(open_orders_max) || open_orders_max < 1) throw new RangeError(`bad open_orders_max ${open_orders_max}`);
  const order: CreatedOrder = {
    ...input,
    order_id: newOrderId(options.now_ms),
    created_at_ms: options.now_ms,
    expires_at_ms: options.now_ms + options.expiry_ms,
  };
  // Columns named, so a column added to orders later takes its default here.
  const inserted = await db.run(
    sql`INSERT INTO ${orders} (id, school_id, card_no, amount_fen, channel, origin, status, notify_phone, created_at_ms, expires_at_ms)
        SELECT ${order.order_id}, ${order.school_id}, ${order.card_no}, ${order.amount_fen}, ${order.channel}, ${order.origin},
               'unpaid', ${order.notify_phone}, ${order.created_at_ms}, ${order.expires_at_ms}
         WHERE (SELECT count(*) FROM ${orders}
                 WHERE ${orders.school_id} = ${order.school_id} AND ${orders.card_no} = ${order.card_no}
                   AND ${orders.status} = 'unpaid') < ${open_orders_max}`,
  );
  if (inserted.meta.changes === 0) throw new TooManyOpenOrders(`card ${order.school_id}/${order.card_no} has ${open_orders_max} unpaid orders`);
  return order;
}

/**
 * Closes an order nobody can pay: the provider refused to start its payment. Only an unpaid
 * order closes; one the provider somehow reports paid later is still made paid by applyPaid.
 */
export async function closeUnstartedOrder(db: Db, order_id: string, now_ms: number): Promise<void> {
  await closeUnstartedOrderQuery(db, order_id, now_ms);
}

/** Exported for the query-plan test. */
export function closeUnstartedOrderQuery(db: Db, order_id: string, now_ms: number) {
  return db
    .update(orders)
    .set({ status: 'closed', closed_at_ms: now_ms })
    .where(and(eq(orders.id, order_id), eq(orders.status, 'unpaid')));
}

const recordColumns = {
  order_id: orders.id,
  order_status: orders.status,
  amount_fen: orders.amount_fen,
  channel: orders.channel,
  created_at_ms: orders.created_at_ms,
  paid_at_ms: orders.paid_at_ms,
  closed_at_ms: orders.closed_at_ms,
  refunded_at_ms: orders.refunded_at_ms,
  credit_state: credits.state,
  claimed_at_ms: credits.claimed_at_ms,
  voided_at_ms: credits.voided_at_ms,
  terminal_id: claims.terminal_id,
};

type RecordRow = {
  order_id: string;
  order_status: OrderStatus;
  amount_fen: number;
  channel: Channel;
  created_at_ms: number;
  paid_at_ms: number | null;
  closed_at_ms: number | null;
  refunded_at_ms: number | null;
  credit_state: CreditState | null;
  claimed_at_ms: number | null;
  voided_at_ms: number | null;
  terminal_id: string | null;
};

// An order's live credit: a card replacement leaves the moved ones behind as its history, and
// the payer sees where the money is now.
const liveCredit = and(eq(credits.order_id, orders.id), ne(credits.state, 'moved'));

/** The order a provider's notification names (both channels' routes; and the query-plan test). */
export function notifiedOrderQuery(db: Db, order_id: string) {
  return db
    .select({ id: orders.id, school_id: orders.school_id, channel: orders.channel, amount_fen: orders.amount_fen })
    .from(orders)
    .where(eq(orders.id, order_id))
    .limit(1);
}

/** Exported for the query-plan test: one order with its credit and the claim that loaded it. */
export function orderStatusQuery(db: Db, order_id: string) {
  return db
    .select(recordColumns)
    .from(orders)
    .leftJoin(credits, liveCredit)
    .leftJoin(claims, eq(claims.id, credits.claim_id))
    .where(eq(orders.id, order_id))
    .limit(1);
}

/** Exported for the query-plan test: a card's orders, newest first, bounded. */
export function cardRecordsQuery(db: Db, school_id: string, card_no: string, since_ms: number, limit: number) {
  if (limit < 1 || limit > RECORDS_LIMIT) throw new RangeError(`records limit ${limit}`);
  return db
    .select(recordColumns)
    .from(orders)
    .leftJoin(credits, liveCredit)
    .leftJoin(claims, eq(claims.id, credits.claim_id))
    .where(and(eq(orders.school_id, school_id), eq(orders.card_no, card_no), gte(orders.created_at_ms, since_ms)))
    .orderBy(desc(orders.created_at_ms), desc(orders.id))
    .limit(limit);
}

// "YYYY-MM" of the payment time in China: the month a family sees on its statement.
const chinaMonth = sql<string>`strftime('%Y-%m', (${orders.paid_at_ms} + ${CHINA_OFFSET_MS}) / 1000, 'unixepoch')`;

/**
 * Exported for the query-plan test: paid money per month, pending or claimed. A refund in
 * flight (credit voided, provider refund not yet confirmed) already shows as refunded, so it
 * is left out here too: the totals always add up to the records' own statuses.
 */
export function monthTotalsQuery(db: Db, school_id: string, card_no: string, since_ms: number) {
  return db
    .select({
      month: chinaMonth,
      amount_fen: sql<number>`sum(${orders.amount_fen})`.mapWith(Number),
      count: sql<number>`count(*)`.mapWith(Number),
    })
    .from(orders)
    .leftJoin(credits, liveCredit)
    .where(
      and(
        eq(orders.school_id, school_id),
        eq(orders.card_no, card_no),
        gte(orders.created_at_ms, since_ms),
        eq(orders.status, 'paid'),
        sql`${credits.state} IS NOT 'voided'`,
      ),
    )
    .groupBy(chinaMonth)
    .orderBy(desc(chinaMonth));
}

/** Start (ms) of the China-time month `months_back` months before the one `now_ms` falls in. */
export function chinaMonthStartMs(now_ms: number, months_back: number): number {
  const local = new Date(now_ms + CHINA_OFFSET_MS);
  return Date.UTC(local.getUTCFullYear(), local.getUTCMonth() - months_back, 1) - CHINA_OFFSET_MS;
}

export function toRechargeRecord(row: RecordRow): RechargeRecord {
  const record: RechargeRecord = {
    order_id: row.order_id,
    status: topupStatus(row.order_status, row.credit_state),
    amount_fen: row.amount_fen,
    channel: row.channel,
    created_at: row.created_at_ms,
  };
  if (row.paid_at_ms !== null) record.paid_at = row.paid_at_ms;
  if (row.credit_state === 'claimed' && row.claimed_at_ms !== null) record.claimed_at = row.claimed_at_ms;
  if (row.closed_at_ms !== null && row.order_status === 'closed') record.closed_at = row.closed_at_ms;
  const refunded_at_ms = row.refunded_at_ms ?? row.voided_at_ms;
  if (record.status === 'refunded' && refunded_at_ms !== null) record.refunded_at = refunded_at_ms;
  if (row.credit_state === 'claimed' && row.terminal_id !== null) record.terminal_id = row.terminal_id;
  return record;
}

export async function orderRecord(db: Db, order_id: string): Promise<RechargeRecord | null> {
  const rows = await orderStatusQuery(db, order_id);
  const row = rows[0];
  return row === undefined ? null : toRechargeRecord(row);
}

export async function cardRecords(
  db: Db,
  card: { school_id: string; card_no: string },
  now_ms: number,
): Promise<{ records: RechargeRecord[]; month_totals: MonthTotal[] }> {
  const since_ms = chinaMonthStartMs(now_ms, RECORDS_MONTHS - 1);
  const [rows, totals] = await Promise.all([
    cardRecordsQuery(db, card.school_id, card.card_no, since_ms, RECORDS_LIMIT),
    monthTotalsQuery(db, card.school_id, card.card_no, since_ms),
  ]);
  return {
    records: rows.map(toRechargeRecord),
    month_totals: totals.filter((t) => t.month !== null).map((t) => ({ month: t.month, amount_fen: t.amount_fen, count: t.count })),
  };
}
