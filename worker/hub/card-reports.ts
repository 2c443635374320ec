// Chip balances seen at swipes (DESIGN section 6), coalesced per card, feed the balance the PWA
// shows; a report older than what we have never overwrites it. The same request may carry grey
// records: reservations the hub could not resolve, kept for the card office.
import type { CardReportsResponse } from '../../protocol/hub.ts';
import {
  CARD_REPORTS_BATCH_MAX,
  CLAIMS_BATCH_MAX,
  HUB_CLOCK_SKEW_MS_MAX,
  type cardReport,
  type greyRecord,
} from '../../protocol/hub.ts';
import type { z } from 'zod';
import type { HubIdentity } from './auth.ts';

// One per card of a claims or card-reports batch, whichever is larger.
const CARD_BALANCES_MAX = Math.max(CARD_REPORTS_BATCH_MAX, CLAIMS_BATCH_MAX);

// The LIMIT makes SQLite materialise the reports and look each card up by its key,
// instead of walking every card of the school.
export const CARD_BALANCE_SQL = `UPDATE cards SET balance_fen = r.balance_fen, online_serial = r.online_serial, balance_as_of_ms = r.as_of_ms
   FROM (SELECT ?1 AS school_id, json_extract(value, '$.card_no') AS card_no,
                json_extract(value, '$.balance_fen') AS balance_fen, json_extract(value, '$.online_serial') AS online_serial,
                json_extract(value, '$.as_of_ms') AS as_of_ms
           FROM json_each(?2) LIMIT ${CARD_BALANCES_MAX}) AS r
  WHERE cards.school_id = r.school_id AND cards.card_no = r.card_no
    AND (cards.balance_as_of_ms IS NULL OR cards.balance_as_of_ms < r.as_of_ms)`;

export const GREY_UPSERT_SQL = `INSERT INTO grey_records (hub_id, claim_id, school_id, card_no, terminal_id, amount_fen, credit_ids,
                            online_serial_after, reserved_at_ms, status, reported_at_ms, resolved_at_ms)
  SELECT ?1, json_extract(g.value, '$.claim_id'), ?2, json_extract(g.value, '$.card_no'),
         json_extract(g.value, '$.terminal_id'), json_extract(g.value, '$.amount_fen'),
         json_extract(g.value, '$.credit_ids'), json_extract(g.value, '$.online_serial_after'),
         json_extract(g.value, '$.reserved_at_ms'),
         CASE WHEN json_extract(g.value, '$.status') = 'resolved'
                OR EXISTS (SELECT 1 FROM claims c WHERE c.id = json_extract(g.value, '$.claim_id'))
              THEN 'resolved' ELSE 'open' END,
         ?3,
         CASE WHEN json_extract(g.value, '$.status') = 'resolved'
                OR EXISTS (SELECT 1 FROM claims c WHERE c.id = json_extract(g.value, '$.claim_id'))
              THEN ?3 END
    FROM json_each(?4) g WHERE true
  ON CONFLICT (hub_id, claim_id) DO UPDATE SET
    reported_at_ms = excluded.reported_at_ms,
    status = CASE WHEN grey_records.status = 'resolved' THEN 'resolved' ELSE excluded.status END,
    resolved_at_ms = COALESCE(grey_records.resolved_at_ms, excluded.resolved_at_ms)`;

export interface CardBalance {
  card_no: string;
  balance_fen: number;
  /** The chip's online serial with that balance. */
  online_serial: number;
  as_of_ms: number;
}

/** One UPDATE for many cards: each takes the given balance only if it is newer than its own. */
export function cardBalanceStatement(d1: D1Database, school_id: string, balances: readonly CardBalance[]): D1PreparedStatement {
  if (balances.length > CARD_BALANCES_MAX) throw new RangeError(`${balances.length} card balances in one statement`);
  return d1.prepare(CARD_BALANCE_SQL).bind(school_id, JSON.stringify(balances));
}

type CardReport = z.infer<typeof cardReport>;
type StoredGreyRecord = z.infer<typeof greyRecord>;

/**
 * Stores the newest report per card and upserts grey records. Reports stamped further in the
 * future than the clock window allows are dropped: they would hide every later real report.
 */
export async function applyCardReports(
  d1: D1Database,
  hub: HubIdentity,
  input: { reports: readonly CardReport[]; grey: readonly StoredGreyRecord[] },
  now_ms: number,
): Promise<CardReportsResponse> {
  const newest = new Map<string, CardBalance>();
  let accepted = 0;
  for (const report of input.reports) {
    if (report.seen_at_ms > now_ms + HUB_CLOCK_SKEW_MS_MAX) continue;
    accepted += 1;
    const known = newest.get(report.card_no);
    if (known === undefined || known.as_of_ms < report.seen_at_ms) {
      newest.set(report.card_no, { card_no: report.card_no, balance_fen: report.balance_fen, online_serial: report.online_serial, as_of_ms: report.seen_at_ms });
    }
  }
  const statements: D1PreparedStatement[] = [];
  if (newest.size > 0) statements.push(cardBalanceStatement(d1, hub.school_id, [...newest.values()]));
  if (input.grey.length > 0) {
    // Keyed by (hub, claim_id): a hub repeating its list refreshes rows instead of adding them,
    // and a record the Worker already saw resolved by a claim stays resolved.
    statements.push(d1.prepare(GREY_UPSERT_SQL).bind(hub.hub_id, hub.school_id, now_ms, JSON.stringify(input.grey)));
  }
  if (statements.length > 0) await d1.batch(statements);
  const response: CardReportsResponse = { accepted };
  if (input.grey.length > 0) response.grey_accepted = input.grey.length;
  return response;
}
