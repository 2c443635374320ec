// A provider's daily trade bill, read into one shape for both channels (DESIGN section 7). The
// parsers (alipay-bill.ts, wechat-bill.ts) turn the provider's files into these rows and refuse
// a file that does not add up; matching against the ledger is reconcile.ts's.
import { parse } from 'csv-parse/browser/esm/sync';
import type { Channel } from '../../protocol/api.ts';

// One merchant's day: a busy platform makes thousands of rows, not this many. Past it the bill
// is refused rather than half-read.
export const BILL_ROWS_MAX = 50_000;
export const BILL_BYTES_MAX = 16 * 1024 * 1024;

export interface BillRow {
  kind: 'payment' | 'refund';
  /** Our out_trade_no. */
  order_id: string;
  provider_trade_no: string;
  /** Our out_request_no / out_refund_no, for refunds. */
  refund_id: string | null;
  /** Positive fen: paid, or refunded. */
  amount_fen: number;
  /** The provider's fee for this row in fen, positive when charged, negative when returned. */
  fee_fen: number;
  /** When the bill files the row (payment done; Alipay refund done; WeChat Pay refund initiated). */
  at_ms: number;
  /** WeChat Pay refund rows carry the refund's status as it was initiated; Alipay lists only finished refunds. */
  refund_done: boolean;
  subject: string;
}

export interface Bill {
  channel: Channel;
  bill_date: string;
  rows: BillRow[];
}

/** The bill could not be read as the provider's format: never half-believed. */
export class BillFormatError extends Error {}

const SIGNED_YUAN = /^(-)?(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2})(0{0,3}))?$/;

/** "-1.23" / "1.23" / WeChat Pay's "0.01000" → signed fen, from the digits; BillFormatError otherwise. */
export function signedYuanToFen(text: string, what: string): number {
  const match = SIGNED_YUAN.exec(text);
  if (match === null) throw new BillFormatError(`${what}: not an amount: ${JSON.stringify(text.slice(0, 20))}`);
  const fen = Number(match[2]) * 100 + Number((match[3] ?? '').padEnd(2, '0'));
  return match[1] === '-' ? -fen : fen;
}

/**
 * CSV records through csv-parse (its browser ESM build runs in workerd): quoted fields, CRLF,
 * and every field trimmed of the tabs and spaces providers pad them with. `#` lines (Alipay's
 * comments) are dropped only where a line begins with one.
 */
export function csvRecords(text: string, options: { comments: boolean }): string[][] {
  let records: string[][];
  try {
    records = parse(text, {
      relax_column_count: true,
      skip_empty_lines: true,
      ...(options.comments ? { comment: '#', comment_no_infix: true } : {}),
      to: BILL_ROWS_MAX + 10,
    }) as string[][];
  } catch (error) {
    throw new BillFormatError(`not CSV: ${String(error).slice(0, 200)}`);
  }
  return records.map((record) => record.map((field) => field.trim()));
}

/** Column positions by header name, so a reordered or renamed file is refused, not misread. */
export function columnsOf<const N extends readonly string[]>(header: readonly string[] | undefined, names: N, what: string): Record<N[number], number> {
  if (header === undefined) throw new BillFormatError(`${what}: no header`);
  const out = {} as Record<N[number], number>;
  for (const name of names) {
    const index = header.indexOf(name);
    if (index < 0) throw new BillFormatError(`${what}: no column ${name}`);
    out[name as N[number]] = index;
  }
  return out;
}
