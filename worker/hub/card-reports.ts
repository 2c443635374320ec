// Chip balances seen at swipes (DESIGN section 6), coalesced per card, feed the balance the PWA
// shows; a report older than what we have never overwrites it. The same request may carry grey
// records (reservations the hub could not resolve) and card holds (cards its serial guard
// froze), kept for the card office.
import type { CardReportsResponse } from '../../protocol/hub.ts';
import {
  CARD_REPORTS_BATCH_MAX,
  CLAIMS_BATCH_MAX,
  HUB_CLOCK_SKEW_MS_MAX,
  CARD_HOLDS_BATCH_MAX,
  type cardHold,
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

// A hub's card holds (protocol/hub.ts, "Card holds"), one row per (hub, card). A row takes a
// report only when it says something new: an open hold's higher serial or its resolution, or a
// hold closed before opening again for a serial past the one it was closed at. A hub repeating
// a hold the office has settled meanwhile changes nothing. Holds of cards this school does not
// have are dropped, as reports are.
const HOLD_TAKES = `(card_holds.status = 'open' AND excluded.online_serial_seen >= card_holds.online_serial_seen)
      OR (card_holds.status <> 'open' AND excluded.status = 'open'
        AND excluded.online_serial_seen > coalesce(card_holds.online_serial_settled, card_holds.online_serial_seen))`;
export const HOLD_UPSERT_SQL = `INSERT INTO card_holds (hub_id, card_no, school_id, status, online_serial_seen, online_serial_recorded,
                        balance_fen, seen_at_ms, created_at_ms, reported_at_ms, resolved_at_ms)
  SELECT ?1, json_extract(h.value, '$.card_no'), ?2, json_extract(h.value, '$.status'),
         json_extract(h.value, '$.online_serial_seen'), json_extract(h.value, '$.online_serial_recorded'),
         json_extract(h.value, '$.balance_fen'), json_extract(h.value, '$.at_ms'), ?3, ?3,
         CASE WHEN json_extract(h.value, '$.status') = 'resolved' THEN ?3 END
    FROM json_each(?4) h
   WHERE EXISTS (SELECT 1 FROM cards c WHERE c.school_id = ?2 AND c.card_no = json_extract(h.value, '$.card_no'))
  ON CONFLICT (hub_id, card_no) DO UPDATE SET
    status = CASE WHEN card_holds.status = 'open' THEN excluded.status ELSE 'open' END,
    created_at_ms = CASE WHEN card_holds.status = 'open' THEN card_holds.created_at_ms ELSE excluded.created_at_ms END,
    online_serial_seen = excluded.online_serial_seen,
    online_serial_recorded = excluded.online_serial_recorded,
    balance_fen = excluded.balance_fen,
    seen_at_ms = excluded.seen_at_ms,
    reported_at_ms = excluded.reported_at_ms,
    resolved_at_ms = excluded.resolved_at_ms
  WHERE ${HOLD_TAKES}`;

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
type StoredCardHold = z.infer<typeof cardHold>;

/**
 * Stores the newest report per card and upserts grey records. Reports stamped further in the
 * future than the clock window allows are dropped: they would hide every later real report.
 */
export async function applyCardReports(
  d1: D1Database,
  hub: HubIdentity,
  input: { reports: readonly CardReport[]; grey: readonly StoredGreyRecord[]; holds?: readonly StoredCardHold[] },
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
  const holds = input.holds ?? [];
  if (holds.length > CARD_HOLDS_BATCH_MAX) throw new RangeError(`${holds.length} holds in one request`);
  if (holds.length > 0) statements.push(d1.prepare(HOLD_UPSERT_SQL).bind(hub.hub_id, hub.school_id, now_ms, JSON.stringify(holds)));
  if (statements.length > 0) await d1.batch(statements);
  const response: CardReportsResponse = { accepted };
  if (input.grey.length > 0) response.grey_accepted = input.grey.length;
  if (holds.length > 0) response.holds_accepted = holds.length;
  return response;
}
