// The hub sync SQL must find its rows by key: a full SCAN of a growing table, or a walk over
// every pending credit by the state index, would make each claims batch or void answer slower
// with every top-up ever made. The statements are the very constants the routes run.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { CARD_BALANCE_SQL, GREY_UPSERT_SQL, HOLD_UPSERT_SQL } from '../../worker/hub/card-reports.ts';
import { CHANGES_PAGE_SQL, CURSOR_MARK_SQL, OWNER_MARK_SQL } from '../../worker/hub/changes.ts';
import { SNAPSHOT_CARDS_SQL, SNAPSHOT_MOVED_SQL, SNAPSHOT_OWNED_SQL } from '../../worker/hub/snapshot.ts';
import {
  CLAIM_CREDITS_READ_SQL,
  CLAIM_CREDITS_SQL,
  CLAIM_INSERT_SQL,
  CLAIM_REFUSES_MOVES_SQL,
  CLAIM_REFUSES_REFUNDS_SQL,
  CLAIM_RESOLVES_GREY_SQL,
} from '../../worker/ledger/claims.ts';
import {
  DIRECT_MOVE_SQL,
  HUB_MOVE_REFUSALS_SQL,
  HUB_MOVE_SQL,
  MOVE_VOID_REQUEST_SQL,
  MOVES_INSERT_SQL,
  MOVES_READ_SQL,
  NEW_CARD_INSERT_SQL,
  OLD_CARD_CLOSE_SQL,
  REPLACE_READ_SQL,
  REPLACEMENT_INSERT_SQL,
} from '../../worker/ledger/replace.ts';
import {
  REFUND_DIRECT_PENDING_SQL,
  REFUND_DIRECT_VOID_SQL,
  REFUND_INSERT_SQL,
  REFUND_ORDER_SQL,
  REFUND_VOID_REQUEST_SQL,
  VOID_CREDITS_SQL,
  VOID_REFUNDS_SQL,
  VOID_REFUSALS_SQL,
  VOID_TARGETS_SQL,
} from '../../worker/ledger/refunds.ts';

const GROWING = ['orders', 'credits', 'cards', 'claims', 'changes', 'refunds', 'grey_records', 'card_holds', 'hub_nonces', 'claim_rejections', 'credit_moves', 'credit_handovers', 'card_replacements'];

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const rows = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return rows.results.map((row) => row.detail);
}

function slowSteps(details: string[]): string[] {
  return details.filter(
    (detail) =>
      GROWING.some((table) => new RegExp(`^SCAN ${table}\\b`).test(detail)) ||
      // Narrowing by state alone still visits every pending credit or open refund.
      /^SEARCH \w+ USING (COVERING )?INDEX \w+ \(state=\?\)$/.test(detail),
  );
}

const claims_json = JSON.stringify([{ claim_id: 'K1', card_no: 'A1', amount_fen: 1, credit_ids: ['C1'] }]);
const ids_json = JSON.stringify(['C1']);
const balances_json = JSON.stringify([{ card_no: 'A1', balance_fen: 1, as_of_ms: 1 }]);
const grey_json = JSON.stringify([{ claim_id: 'K1' }]);
const pairs_json = JSON.stringify([{ credit_id: 'C1', new_credit_id: 'M1-1' }]);

describe('query plans of the hub sync SQL', () => {
  const cases: [string, string, unknown[], RegExp][] = [
    ['changes page', CHANGES_PAGE_SQL, ['s', 0, 10, 'h'], /SEARCH ch USING INDEX changes_school_seq/],
    ['cursor mark', CURSOR_MARK_SQL, ['s', 0, 10, 1, 'h'], /SEARCH changes USING COVERING INDEX changes_school_seq/],
    ["owner mark", OWNER_MARK_SQL, ["s", 0, 10, 1, "h"], /SEARCH credits USING INDEX (credits_owner|sqlite_autoindex_credits_1) \(.*id=\?\)/],
    ['snapshot: owned credits', SNAPSHOT_OWNED_SQL, ['h', '', 10], /SEARCH credits USING INDEX credits_owner \(owner_hub_id=\? AND id>\?\)/],
    ["snapshot: a card's claimed serial", SNAPSHOT_OWNED_SQL, ['h', '', 10], /SEARCH cl USING INDEX claims_card \(school_id=\? AND card_no=\?\)/],
    ["snapshot: a card's settled hold", SNAPSHOT_OWNED_SQL, ['h', '', 10], /SEARCH hd USING INDEX (card_holds_card|sqlite_autoindex_card_holds_1)/],
    ['snapshot: moved credits', SNAPSHOT_MOVED_SQL, ['h', '', 10], /SEARCH credit_handovers USING COVERING INDEX credit_handovers_from/],
    ['snapshot: card changes', SNAPSHOT_CARDS_SQL, ['s', 0, 10, 10], /SEARCH ch USING INDEX changes_school_seq/],
    ['claims: read credits', CLAIM_CREDITS_READ_SQL, [ids_json], /SEARCH credits USING (COVERING )?INDEX sqlite_autoindex_credits_1/],
    ['claims: insert', CLAIM_INSERT_SQL, ['s', 'h', 1, claims_json], /SEARCH cr USING INDEX credits_card_state/],
    ['claims: claim credits', CLAIM_CREDITS_SQL, ['s', 'h', 1, claims_json], /SEARCH credits USING INDEX sqlite_autoindex_credits_1 \(id=\?\)/],
    ['claims: refuse refunds', CLAIM_REFUSES_REFUNDS_SQL, ['s', 1, claims_json], /SEARCH refunds USING INDEX refunds_credit/],
    ['claims: resolve grey', CLAIM_RESOLVES_GREY_SQL, ['s', 1, claims_json], /SEARCH grey_records USING INDEX grey_records_claim/],
    ['card balances', CARD_BALANCE_SQL, ['s', balances_json], /SEARCH cards USING INDEX sqlite_autoindex_cards_1 \(school_id=\? AND card_no=\?\)/],
    ['grey upsert', GREY_UPSERT_SQL, ['h', 's', 1, grey_json], /SEARCH c USING COVERING INDEX sqlite_autoindex_claims_1/],
    ['hold upsert', HOLD_UPSERT_SQL, ['h', 's', 1, JSON.stringify([{ card_no: 'A1' }])], /SEARCH c EXISTS USING COVERING INDEX sqlite_autoindex_cards_1/],
    ['refund: order', REFUND_ORDER_SQL, ['Y1'], /SEARCH r USING INDEX refunds_order/],
    ['refund: insert', REFUND_INSERT_SQL, ['R1', 'Y1', 1], /SEARCH cr USING INDEX credits_order/],
    ['refund: direct void', REFUND_DIRECT_VOID_SQL, ['C1', 1], /SEARCH credits USING INDEX sqlite_autoindex_credits_1/],
    ['refund: void request', REFUND_VOID_REQUEST_SQL, ['C1', 1], /SEARCH credits USING INDEX sqlite_autoindex_credits_1/],
    ['refund: direct pending', REFUND_DIRECT_PENDING_SQL, ['R1', 1], /SEARCH refunds USING INDEX sqlite_autoindex_refunds_1/],
    ['voids: read', VOID_TARGETS_SQL, [ids_json], /SEARCH r USING INDEX refunds_credit/],
    ['voids: void credits', VOID_CREDITS_SQL, [ids_json, 's', 1, 'h'], /SEARCH credits USING INDEX sqlite_autoindex_credits_1 \(id=\?\)/],
    ['voids: refunds on', VOID_REFUNDS_SQL, [ids_json, 1], /SEARCH refunds USING INDEX refunds_credit/],
    ['voids: refusals', VOID_REFUSALS_SQL, [ids_json, 1, 'h'], /SEARCH refunds USING INDEX refunds_credit/],
    ['claims: refuse moves', CLAIM_REFUSES_MOVES_SQL, ['s', 1, claims_json], /SEARCH credit_moves USING INDEX sqlite_autoindex_credit_moves_1/],
    ['replace: movable credits', REPLACE_READ_SQL.movable, ['s', 'A1'], /SEARCH cr USING INDEX credits_card_state/],
    ['replace: asn owner', REPLACE_READ_SQL.asn_owner, ['s', 'A5000000000000A1'], /cards_school_asn/],
    ['replace: earlier replacement', REPLACE_READ_SQL.replacement_of, ['s', 'A1'], /card_replacements_old/],
    ['replace: insert', REPLACEMENT_INSERT_SQL, ['P1', 's', 'A1', 'A2', 'A5000000000000A1', 'admin', 1], /cards_school_asn/],
    ['replace: new card', NEW_CARD_INSERT_SQL, ['P1', 1], /SEARCH r USING INDEX sqlite_autoindex_card_replacements_1/],
    ['replace: close old card', OLD_CARD_CLOSE_SQL, ['P1', 1], /SEARCH cards USING INDEX sqlite_autoindex_cards_1/],
    ['replace: moves insert', MOVES_INSERT_SQL, ['P1', pairs_json, 1], /SEARCH cr USING INDEX (credits_card_state|sqlite_autoindex_credits_1)/],
    ['replace: direct move', DIRECT_MOVE_SQL.move, ['P1', 1], /credit_moves_replacement/],
    ['replace: direct mint', DIRECT_MOVE_SQL.mint, ['P1', 1], /credit_moves_replacement/],
    ['replace: direct done', DIRECT_MOVE_SQL.done, ['P1', 1], /credit_moves_replacement/],
    ['replace: void request', MOVE_VOID_REQUEST_SQL, ['P1', 1], /credit_moves_replacement/],
    ['replace: moves read', MOVES_READ_SQL, ['P1'], /credit_moves_replacement/],
    ['voids: move', HUB_MOVE_SQL.move, [ids_json, 1], /SEARCH credits USING INDEX sqlite_autoindex_credits_1 \(id=\?\)/],
    ['voids: mint', HUB_MOVE_SQL.mint, [ids_json, 1], /SEARCH m USING INDEX sqlite_autoindex_credit_moves_1/],
    ['voids: move done', HUB_MOVE_SQL.done, [ids_json, 1], /SEARCH credit_moves USING INDEX sqlite_autoindex_credit_moves_1/],
    ['voids: move refusals', HUB_MOVE_REFUSALS_SQL, [ids_json, 1], /SEARCH credit_moves USING INDEX sqlite_autoindex_credit_moves_1/],
  ];

  for (const [name, sql, params, expected] of cases) {
    it(name, async () => {
      const details = await plan(sql, params);
      expect(slowSteps(details), details.join('\n')).toEqual([]);
      expect(details.some((detail) => expected.test(detail)), details.join('\n')).toBe(true);
    });
  }
});
