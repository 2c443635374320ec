// Card reports and grey records: chip states seen (coalesced per card) for the Worker, open
// reservations the card has not settled, and events the card office must look at.
import type { GreyRecord } from '../../protocol/hub.ts';
import type { LedgerStore } from './store.ts';

export interface CardReportRow {
  card_no: string;
  balance_fen: number;
  online_serial: number;
  seen_at_ms: number;
}

export function cardReportsBatch(store: LedgerStore, limit: number): CardReportRow[] {
  return store.s.reportsBatch.all(limit) as unknown as CardReportRow[];
}

/** Only clears a report not overwritten by a newer swipe since it was read. */
export function markCardReportsSent(store: LedgerStore, reports: readonly CardReportRow[]): void {
  for (const report of reports) store.s.markReportSent.run(report.card_no, report.seen_at_ms);
}

interface OpenClaimRow {
  claim_id: string;
  card_no: string;
  terminal_id: string;
  amount_fen: number;
  credit_ids: string;
  online_serial_before: number;
  reserved_at_ms: number;
}

/**
 * Grey records for the Worker (sent with card reports): open reservations older than
 * `cutoff_ms` not yet reported, and reported ones the card has since settled.
 */
export function greyBatch(store: LedgerStore, cutoff_ms: number, limit: number): GreyRecord[] {
  const rows = store.s.greyBatch.all(cutoff_ms, limit, limit) as unknown as (OpenClaimRow & { status: 'open' | 'resolved' })[];
  return rows.map((row) => ({
    claim_id: row.claim_id,
    card_no: row.card_no,
    terminal_id: row.terminal_id,
    amount_fen: row.amount_fen,
    credit_ids: JSON.parse(row.credit_ids) as string[],
    online_serial_after: row.online_serial_before + 1,
    reserved_at_ms: row.reserved_at_ms,
    status: row.status,
  }));
}

/** When the oldest open reservation not yet reported becomes grey (null: none open). */
export function nextGreyDueAt(store: LedgerStore, older_than_ms: number): number | null {
  const row = store.s.oldestUnreported.get() as { at_ms: number | null };
  return row.at_ms === null ? null : row.at_ms + older_than_ms;
}

export function markGreySent(store: LedgerStore, records: readonly GreyRecord[]): void {
  for (const record of records) store.s.markGreySent.run(record.claim_id, record.status ?? 'open');
}

export interface HubGreyRecord {
  reason: string;
  claim_id: string | null;
  card_no: string;
  terminal_id: string | null;
  at_ms: number;
  amount_fen?: number;
  credit_ids?: string[];
  /** The serial to read GET TRANSACTION PROVE for (open reservations). */
  online_serial?: number;
  detail?: unknown;
}

/** For the card office (`/grey-records`): open reservations older than `cutoff_ms`, then events, newest first. */
export function greyRecords(store: LedgerStore, cutoff_ms: number, limit: number): HubGreyRecord[] {
  const open = (store.s.openGrey.all(cutoff_ms, limit) as unknown as OpenClaimRow[]).map((row) => ({
    reason: 'open_reservation',
    claim_id: row.claim_id,
    card_no: row.card_no,
    terminal_id: row.terminal_id,
    at_ms: row.reserved_at_ms,
    amount_fen: row.amount_fen,
    credit_ids: JSON.parse(row.credit_ids) as string[],
    online_serial: row.online_serial_before,
  }));
  const events = (store.s.events.all(limit) as { claim_id: string | null; card_no: string; terminal_id: string | null; reason: string; detail: string; at_ms: number }[]).map(
    (row) => ({ reason: row.reason, claim_id: row.claim_id, card_no: row.card_no, terminal_id: row.terminal_id, at_ms: row.at_ms, detail: JSON.parse(row.detail) as unknown }),
  );
  return [...open, ...events].slice(0, limit);
}
