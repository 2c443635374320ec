// Rows as the console shows them, shared by the console's routes (protocol/console.ts shapes).
import type { ConsoleCard, ConsoleOrder } from '../../protocol/console.ts';
import { CONSOLE_LIST_LIMIT_DEFAULT, CONSOLE_LIST_LIMIT_MAX } from '../../protocol/console.ts';
import { CHINA_OFFSET_MS, topupStatus } from '../ledger/orders.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;

export function pageLimit(limit: number | undefined): number {
  const value = limit ?? CONSOLE_LIST_LIMIT_DEFAULT;
  if (!(Number.isInteger(value) && value >= 1 && value <= CONSOLE_LIST_LIMIT_MAX)) throw new RangeError(`limit ${value}`);
  return value;
}

/** 00:00 China time of the day holding `at_ms`. */
export function chinaDayStartMs(at_ms: number): number {
  return Math.floor((at_ms + CHINA_OFFSET_MS) / DAY_MS) * DAY_MS - CHINA_OFFSET_MS;
}

export function chinaDateOf(at_ms: number): string {
  return new Date(at_ms + CHINA_OFFSET_MS).toISOString().slice(0, 10);
}

/** 00:00 China time of `YYYY-MM-DD`, or null when it is not a calendar day. */
export function chinaDateStartMs(date: string): number | null {
  const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(date);
  if (match === null) return null;
  const utc = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  if (new Date(utc).toISOString().slice(0, 10) !== date) return null;
  return utc - CHINA_OFFSET_MS;
}

export interface OrderRow {
  id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
  channel: 'alipay' | 'wechat';
  origin: 'topup' | 'auto';
  status: 'unpaid' | 'paid' | 'closed' | 'refunded';
  provider_trade_no: string | null;
  notify_phone: string | null;
  created_at_ms: number;
  expires_at_ms: number;
  paid_at_ms: number | null;
  closed_at_ms: number | null;
  refunded_at_ms: number | null;
  credit_state: 'pending' | 'claimed' | 'voided' | null;
}

export function toConsoleOrder(row: OrderRow): ConsoleOrder {
  return {
    order_id: row.id,
    school_id: row.school_id,
    card_no: row.card_no,
    amount_fen: row.amount_fen,
    channel: row.channel,
    origin: row.origin,
    status: row.status,
    topup_status: topupStatus(row.status, row.credit_state),
    provider_trade_no: row.provider_trade_no,
    created_at_ms: row.created_at_ms,
    expires_at_ms: row.expires_at_ms,
    paid_at_ms: row.paid_at_ms,
    closed_at_ms: row.closed_at_ms,
    refunded_at_ms: row.refunded_at_ms,
  };
}

export const CARD_VIEW_SQL = `SELECT c.card_no, c.holder_name, c.kind, c.status, c.balance_fen, c.balance_as_of_ms, c.asn, c.updated_at_ms,
        COALESCE((SELECT SUM(cr.amount_fen) FROM credits cr WHERE cr.school_id = c.school_id AND cr.card_no = c.card_no AND cr.state = 'pending'), 0) AS pending_fen
   FROM cards c`;

export type CardRow = ConsoleCard;

export function toConsoleCard(row: CardRow): ConsoleCard {
  return { ...row };
}
