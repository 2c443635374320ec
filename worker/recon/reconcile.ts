// Reconciliation and settlement (DESIGN section 7): one China calendar day of one channel's
// bill, matched row by row against the ledger by our id, the provider's id and the amount.
// Safe repairs go through the ledger's own paths only (applyPaid: a paid bill row makes its
// unpaid or closed order paid, and the credit reaches the hub through the changes feed like
// any other; applyRefundState: a refund the provider finished completes ours); everything else
// is a discrepancy for the card office. The day's figures per school are then written whole:
// a run that finds the same bill and the same ledger writes the same rows, and changes nothing.
import { chinaDate, chinaDayStartMs } from '../../protocol/alipay.ts';
import { ORDER_ID_PATTERN, type Channel } from '../../protocol/api.ts';
import { fenToYuan } from '../../protocol/money.ts';
import { openDb } from '../db/client.ts';
import type { Env } from '../env.ts';
import { notifySchoolHub } from '../hub/push.ts';
import { applyPaid } from '../ledger/payment.ts';
import { applyRefundState } from '../ledger/refunds.ts';
import { alipayConfig, alipayTradeBill } from '../pay/alipay.ts';
import { ProviderError } from '../pay/channel.ts';
import { wechatTradeBill } from '../pay/wechat.ts';
import { parseAlipayBill } from './alipay-bill.ts';
import { BILL_ROWS_MAX, BillFormatError, type Bill, type BillRow } from './bill.ts';
import { parseWechatBill } from './wechat-bill.ts';

export const CHANNELS: readonly Channel[] = ['alipay', 'wechat'];
// Kept per school and day; past it the count still says how many there were.
export const DISCREPANCIES_KEPT_MAX = 200;
// Each repair is one D1 batch; a day needing more is finished by running it again.
export const REPAIRS_PER_RUN_MAX = 500;
const DAY_MS = 86_400_000;
const LOOKUP_CHUNK = 500;
const ERROR_CHARS_MAX = 300;
// What the bill has that no order of ours explains is kept under this school ('' in storage,
// null in the API).
export const MERCHANT_SCHOOL = '';

export type DiscrepancyKind =
  | 'amount_mismatch'
  | 'unknown_order'
  | 'unknown_refund'
  | 'missing_from_bill'
  | 'provider_id_mismatch'
  | 'refund_state_mismatch';

export interface Discrepancy {
  kind: DiscrepancyKind;
  order_id?: string;
  provider_trade_no?: string;
  refund_id?: string;
  detail: string;
}

export interface Repair {
  kind: 'paid' | 'refunded';
  order_id: string;
  refund_id?: string;
  provider_trade_no: string;
  amount_fen: number;
}

export interface ReconciliationDay {
  school_id: string | null;
  channel: Channel;
  status: 'balanced' | 'discrepancies' | 'pending';
  bill_total_fen: number;
  ours_total_fen: number;
  fee_fen: number;
  net_fen: number;
  repaired: Repair[];
  discrepancies: Discrepancy[];
  /** Not in DESIGN's shape: why the last run could not read the bill (then nothing was believed). */
  error?: string;
}

interface Bucket {
  bill_total_fen: number;
  ours_total_fen: number;
  fee_fen: number;
  bill_rows: number;
  discrepancies: Discrepancy[];
  discrepancy_count: number;
}

interface OrderRow {
  id: string;
  school_id: string;
  channel: Channel;
  amount_fen: number;
  status: 'unpaid' | 'paid' | 'closed' | 'refunded';
  provider_trade_no: string | null;
}

interface RefundRow {
  id: string;
  order_id: string;
  school_id: string;
  amount_fen: number;
  state: 'requested' | 'provider_pending' | 'refunded' | 'refused' | 'failed';
  channel: Channel;
}

// The statements that read the ledger, exported for the query-plan test: each finds its rows by key.
export const RECON_ORDERS_SQL = `SELECT id, school_id, channel, amount_fen, status, provider_trade_no FROM orders
  WHERE id IN (SELECT value FROM json_each(?1))`;
export const RECON_REFUNDS_SQL = `SELECT r.id, r.order_id, r.school_id, r.amount_fen, r.state, o.channel
   FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.id IN (SELECT value FROM json_each(?1))`;
// Our payments of the day by the provider's time (orders_channel_paid), and our refunds by the
// time the provider's bill files them (refunds_bill_at; the unary + keeps SQLite from walking
// every order of the channel instead).
export const OURS_PAID_SQL = `SELECT id, school_id, amount_fen, provider_trade_no FROM orders
  WHERE channel = ?1 AND paid_at_ms >= ?2 AND paid_at_ms < ?3 AND status IN ('paid', 'refunded') LIMIT ?4`;
export const OURS_REFUNDED_SQL = `SELECT r.id, r.order_id, r.school_id, r.amount_fen FROM refunds r JOIN orders o ON o.id = r.order_id
  WHERE r.provider_bill_at_ms >= ?2 AND r.provider_bill_at_ms < ?3 AND +o.channel = ?1 LIMIT ?4`;

/** `YYYY-MM-DD` of a China calendar day that has begun; null otherwise. */
export function billDateStartMs(bill_date: string, now_ms: number): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(bill_date)) return null;
  const start_ms = chinaDayStartMs(bill_date);
  if (start_ms === null || start_ms > now_ms) return null;
  return start_ms;
}

/** The day the 02:30 UTC cron reconciles: yesterday in China. */
export function yesterdayInChina(now_ms: number): string {
  return chinaDate(now_ms - DAY_MS);
}

async function fetchBill(env: Env, channel: Channel, bill_date: string): Promise<Bill> {
  if (channel === 'alipay') {
    const zip = await alipayTradeBill(alipayConfig(env), bill_date);
    return zip === null ? { channel, bill_date, rows: [] } : parseAlipayBill(zip, bill_date);
  }
  const file = await wechatTradeBill(env, bill_date);
  return file === null ? { channel, bill_date, rows: [] } : parseWechatBill(file.bytes, bill_date, file.mch_id);
}

async function lookup<T>(d1: D1Database, sql: string, ids: readonly string[]): Promise<Map<string, T>> {
  const found = new Map<string, T>();
  for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
    const rows = await d1.prepare(sql).bind(JSON.stringify(ids.slice(i, i + LOOKUP_CHUNK))).all<T & { id: string }>();
    for (const row of rows.results) found.set(row.id, row);
  }
  return found;
}

function yuan(amount_fen: number): string {
  return amount_fen < 0 ? `-${fenToYuan(-amount_fen)}` : fenToYuan(amount_fen);
}

/**
 * Reconciles every channel for one day (what the daily cron does for yesterday, and the admin
 * API on demand). A channel whose bill cannot be fetched or read is left pending with its error,
 * and nothing of it is believed; the other channel goes on.
 */
export async function reconcileDay(env: Env, bill_date: string, now_ms: number): Promise<ReconciliationDay[]> {
  const day_start_ms = billDateStartMs(bill_date, now_ms);
  if (day_start_ms === null) throw new RangeError(`not a day that has begun: ${bill_date}`);
  for (const channel of CHANNELS) {
    let bill: Bill;
    try {
      bill = await fetchBill(env, channel, bill_date);
    } catch (error) {
      if (!(error instanceof ProviderError) && !(error instanceof BillFormatError)) throw error;
      const message = error instanceof ProviderError ? `${error.provider_code}: ${error.message}` : `bill refused: ${error.message}`;
      console.warn(JSON.stringify({ level: 'warn', msg: 'reconciliation pending', bill_date, channel, error: message.slice(0, ERROR_CHARS_MAX) }));
      await recordPending(env.DB, { bill_date, channel, day_start_ms, error: message, now_ms });
      continue;
    }
    await reconcileBill(env, bill, day_start_ms, now_ms);
  }
  return readDay(env.DB, bill_date);
}

async function reconcileBill(env: Env, bill: Bill, day_start_ms: number, now_ms: number): Promise<void> {
  const d1 = env.DB;
  const db = openDb(d1);
  const { channel, bill_date } = bill;
  if (bill.rows.length > BILL_ROWS_MAX) throw new RangeError(`bill of ${bill.rows.length} rows`);
  const order_ids = [...new Set(bill.rows.map((r) => r.order_id).filter((id) => ORDER_ID_PATTERN.test(id)))];
  const refund_ids = [...new Set(bill.rows.flatMap((r) => (r.refund_id === null ? [] : [r.refund_id])))];
  const orders = await lookup<OrderRow>(d1, RECON_ORDERS_SQL, order_ids);
  const refunds = await lookup<RefundRow>(d1, RECON_REFUNDS_SQL, refund_ids);

  const buckets = new Map<string, Bucket>();
  const bucket = (school_id: string): Bucket => {
    let found = buckets.get(school_id);
    if (found === undefined) {
      found = { bill_total_fen: 0, ours_total_fen: 0, fee_fen: 0, bill_rows: 0, discrepancies: [], discrepancy_count: 0 };
      buckets.set(school_id, found);
    }
    return found;
  };
  const flag = (school_id: string, discrepancy: Discrepancy) => {
    const b = bucket(school_id);
    b.discrepancy_count += 1;
    if (b.discrepancies.length < DISCREPANCIES_KEPT_MAX) b.discrepancies.push(discrepancy);
  };
  // The row counts in the school's bill figures: payments in, refunds out, fees as the bill says.
  const billed = (school_id: string, row: BillRow): void => {
    const b = bucket(school_id);
    b.bill_total_fen += row.kind === 'payment' ? row.amount_fen : -row.amount_fen;
    b.fee_fen += row.fee_fen;
    b.bill_rows += 1;
  };
  const repairs: (Repair & { school_id: string })[] = [];
  const credited = new Set<string>();
  const billed_orders = new Set<string>();
  const billed_refunds = new Set<string>();

  const onPayment = async (row: BillRow): Promise<void> => {
    const order = orders.get(row.order_id);
    if (order === undefined || order.channel !== channel) {
      billed(MERCHANT_SCHOOL, row);
      flag(MERCHANT_SCHOOL, {
        kind: 'unknown_order',
        order_id: row.order_id,
        provider_trade_no: row.provider_trade_no,
        detail: `paid ${yuan(row.amount_fen)} yuan for ${row.order_id.slice(0, 64)} (${row.subject.slice(0, 64)}): no ${channel} order of ours`,
      });
      return;
    }
    billed(order.school_id, row);
    billed_orders.add(order.id);
    if (row.amount_fen !== order.amount_fen) {
      flag(order.school_id, {
        kind: 'amount_mismatch',
        order_id: order.id,
        provider_trade_no: row.provider_trade_no,
        detail: `bill says paid ${yuan(row.amount_fen)} yuan, the order is for ${yuan(order.amount_fen)} yuan`,
      });
      return;
    }
    if (order.status === 'paid' || order.status === 'refunded') {
      if (order.provider_trade_no !== null && order.provider_trade_no !== row.provider_trade_no) {
        flag(order.school_id, {
          kind: 'provider_id_mismatch',
          order_id: order.id,
          provider_trade_no: row.provider_trade_no,
          detail: `bill trade ${row.provider_trade_no}, ours ${order.provider_trade_no}`,
        });
      }
      return;
    }
    if (repairs.length >= REPAIRS_PER_RUN_MAX) {
      flag(order.school_id, { kind: 'missing_from_bill', order_id: order.id, detail: 'paid in the bill, unpaid here: repair deferred to the next run' });
      return;
    }
    // The money arrived and no notification said so (or the order was closed first): the one
    // payment path makes it paid, with the bill's time, and mints its one credit.
    const verdict = await applyPaid(
      db,
      { channel, order_id: order.id, amount_fen: order.amount_fen, provider_trade_no: row.provider_trade_no, paid_at_ms: row.at_ms },
      null,
      now_ms,
    );
    if (verdict === 'applied') {
      repairs.push({ kind: 'paid', order_id: order.id, provider_trade_no: row.provider_trade_no, amount_fen: order.amount_fen, school_id: order.school_id });
      credited.add(order.school_id);
    }
  };

  const onRefund = async (row: BillRow): Promise<void> => {
    const refund = row.refund_id === null ? undefined : refunds.get(row.refund_id);
    if (refund === undefined || refund.channel !== channel || refund.order_id !== row.order_id) {
      const school_id = orders.get(row.order_id)?.school_id ?? MERCHANT_SCHOOL;
      billed(school_id, row);
      flag(school_id, {
        kind: 'unknown_refund',
        order_id: row.order_id,
        provider_trade_no: row.provider_trade_no,
        refund_id: row.refund_id ?? '',
        detail: `refunded ${yuan(row.amount_fen)} yuan as ${String(row.refund_id).slice(0, 64)}: no refund of ours`,
      });
      return;
    }
    billed(refund.school_id, row);
    billed_refunds.add(refund.id);
    const about = { order_id: refund.order_id, provider_trade_no: row.provider_trade_no, refund_id: refund.id };
    if (row.amount_fen !== refund.amount_fen) {
      flag(refund.school_id, { kind: 'amount_mismatch', ...about, detail: `bill says refunded ${yuan(row.amount_fen)} yuan, ours is ${yuan(refund.amount_fen)} yuan` });
      return;
    }
    if (refund.state === 'provider_pending' && row.refund_done) {
      const applied = await applyRefundState(d1, refund.id, { state: 'succeeded', provider_refund_no: null, bill_at_ms: row.at_ms, refunded_at_ms: row.at_ms }, now_ms);
      if (applied === 'refunded') {
        repairs.push({ kind: 'refunded', order_id: refund.order_id, refund_id: refund.id, provider_trade_no: row.provider_trade_no, amount_fen: refund.amount_fen, school_id: refund.school_id });
      }
      return;
    }
    if (refund.state === 'requested' || refund.state === 'refused' || (refund.state === 'failed' && row.refund_done)) {
      flag(refund.school_id, { kind: 'refund_state_mismatch', ...about, detail: `the bill lists the refund${row.refund_done ? ' as done' : ''}; ours is ${refund.state}` });
    }
  };

  for (const row of bill.rows) {
    if (row.kind === 'payment') await onPayment(row);
    else await onRefund(row);
  }

  // Our side of the day, after the repairs: payments by their provider's time, refunds by the
  // time the provider's bill files them.
  const end_ms = day_start_ms + DAY_MS;
  const ours_paid = await d1
    .prepare(OURS_PAID_SQL)
    .bind(channel, day_start_ms, end_ms, BILL_ROWS_MAX + 1)
    .all<{ id: string; school_id: string; amount_fen: number; provider_trade_no: string | null }>();
  const ours_refunded = await d1
    .prepare(OURS_REFUNDED_SQL)
    .bind(channel, day_start_ms, end_ms, BILL_ROWS_MAX + 1)
    .all<{ id: string; order_id: string; school_id: string; amount_fen: number }>();
  if (ours_paid.results.length > BILL_ROWS_MAX || ours_refunded.results.length > BILL_ROWS_MAX) throw new RangeError('a day larger than a bill may be');
  for (const order of ours_paid.results) {
    bucket(order.school_id).ours_total_fen += order.amount_fen;
    if (!billed_orders.has(order.id)) {
      flag(order.school_id, {
        kind: 'missing_from_bill',
        order_id: order.id,
        ...(order.provider_trade_no === null ? {} : { provider_trade_no: order.provider_trade_no }),
        detail: `paid ${yuan(order.amount_fen)} yuan here, not in the ${channel} bill`,
      });
    }
  }
  for (const refund of ours_refunded.results) {
    bucket(refund.school_id).ours_total_fen -= refund.amount_fen;
    if (!billed_refunds.has(refund.id)) {
      flag(refund.school_id, { kind: 'missing_from_bill', order_id: refund.order_id, refund_id: refund.id, detail: `refund of ${yuan(refund.amount_fen)} yuan here, not in the ${channel} bill` });
    }
  }

  const statements: D1PreparedStatement[] = [];
  for (const repair of repairs) {
    statements.push(
      d1
        .prepare(
          `INSERT INTO reconciliation_repairs (bill_date, channel, school_id, kind, order_id, refund_id, provider_trade_no, amount_fen, repaired_at_ms)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING`,
        )
        .bind(bill_date, channel, repair.school_id, repair.kind, repair.order_id, repair.refund_id ?? null, repair.provider_trade_no, repair.amount_fen, now_ms),
    );
  }
  // Schools this run has nothing for lose their row (their activity moved to another day).
  statements.push(
    d1
      .prepare(`DELETE FROM reconciliations WHERE bill_date = ?1 AND channel = ?2 AND school_id NOT IN (SELECT value FROM json_each(?3))`)
      .bind(bill_date, channel, JSON.stringify([...buckets.keys()])),
  );
  for (const [school_id, b] of buckets) {
    if (![b.bill_total_fen, b.ours_total_fen, b.fee_fen].every(Number.isSafeInteger) || b.discrepancies.length > b.discrepancy_count) {
      throw new RangeError(`reconciliation of ${bill_date} ${channel} ${school_id}: inconsistent figures`);
    }
    const status = b.discrepancy_count === 0 && b.bill_total_fen === b.ours_total_fen ? 'balanced' : 'discrepancies';
    statements.push(
      d1
        .prepare(
          `INSERT INTO reconciliations (bill_date, channel, school_id, day_start_ms, status, bill_total_fen, ours_total_fen, fee_fen, net_fen,
              bill_rows, discrepancy_count, discrepancies, error, first_run_at_ms)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, ?13)
           ON CONFLICT (bill_date, channel, school_id) DO UPDATE SET status = excluded.status, bill_total_fen = excluded.bill_total_fen,
              ours_total_fen = excluded.ours_total_fen, fee_fen = excluded.fee_fen, net_fen = excluded.net_fen, bill_rows = excluded.bill_rows,
              discrepancy_count = excluded.discrepancy_count, discrepancies = excluded.discrepancies, error = NULL`,
        )
        .bind(
          bill_date, channel, school_id, day_start_ms, status, b.bill_total_fen, b.ours_total_fen, b.fee_fen, b.bill_total_fen - b.fee_fen,
          b.bill_rows, b.discrepancy_count, JSON.stringify(b.discrepancies), now_ms,
        ),
    );
  }
  await d1.batch(statements);
  // The repaired credits are in the changes feed already (triggers); the push only makes the hub pull now.
  await Promise.all([...credited].map((school_id) => notifySchoolHub(env, school_id)));
}

/**
 * The bill could not be fetched or read: nothing of it is believed. A day never reconciled gets
 * a pending row (our side only); a day reconciled before keeps its figures, with the error.
 */
async function recordPending(
  d1: D1Database,
  input: { bill_date: string; channel: Channel; day_start_ms: number; error: string; now_ms: number },
): Promise<void> {
  const error = input.error.slice(0, ERROR_CHARS_MAX);
  await d1.batch([
    d1
      .prepare(`UPDATE reconciliations SET error = ?3 WHERE bill_date = ?1 AND channel = ?2`)
      .bind(input.bill_date, input.channel, error),
    d1
      .prepare(
        `INSERT INTO reconciliations (bill_date, channel, school_id, day_start_ms, status, bill_total_fen, ours_total_fen, fee_fen, net_fen,
            bill_rows, discrepancy_count, discrepancies, error, first_run_at_ms)
         VALUES (?1, ?2, ?5, ?3, 'pending', 0, 0, 0, 0, 0, 0, '[]', ?4, ?6) ON CONFLICT DO NOTHING`,
      )
      .bind(input.bill_date, input.channel, input.day_start_ms, error, MERCHANT_SCHOOL, input.now_ms),
  ]);
}

interface StoredDay {
  school_id: string;
  channel: Channel;
  status: ReconciliationDay['status'];
  bill_total_fen: number;
  ours_total_fen: number;
  fee_fen: number;
  net_fen: number;
  discrepancies: string;
  error: string | null;
}

// Two channels for each of 70+ schools, and the merchant's own rows: well under this.
const DAYS_READ_MAX = 2_000;

/** The stored answer for a day, as DESIGN section 10's GET returns it. */
export async function readDay(d1: D1Database, bill_date: string): Promise<ReconciliationDay[]> {
  const [days, repairs] = await d1.batch([
    d1.prepare(`SELECT * FROM reconciliations WHERE bill_date = ?1 ORDER BY channel, school_id LIMIT ${DAYS_READ_MAX}`).bind(bill_date),
    d1
      .prepare(`SELECT * FROM reconciliation_repairs WHERE bill_date = ?1 ORDER BY channel, school_id, kind, order_id LIMIT ${REPAIRS_PER_RUN_MAX * 20}`)
      .bind(bill_date),
  ]);
  const repaired = new Map<string, Repair[]>();
  for (const row of (repairs?.results ?? []) as (Repair & { channel: Channel; school_id: string; refund_id: string | null })[]) {
    const key = `${row.channel}\n${row.school_id}`;
    const list = repaired.get(key) ?? [];
    list.push({
      kind: row.kind,
      order_id: row.order_id,
      ...(row.refund_id === null ? {} : { refund_id: row.refund_id }),
      provider_trade_no: row.provider_trade_no,
      amount_fen: row.amount_fen,
    });
    repaired.set(key, list);
  }
  return ((days?.results ?? []) as StoredDay[]).map((row) => ({
    school_id: row.school_id === MERCHANT_SCHOOL ? null : row.school_id,
    channel: row.channel,
    status: row.status,
    bill_total_fen: row.bill_total_fen,
    ours_total_fen: row.ours_total_fen,
    fee_fen: row.fee_fen,
    net_fen: row.net_fen,
    repaired: repaired.get(`${row.channel}\n${row.school_id}`) ?? [],
    discrepancies: JSON.parse(row.discrepancies) as Discrepancy[],
    ...(row.error === null ? {} : { error: row.error }),
  }));
}
