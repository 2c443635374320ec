// The console's SQL must find a school's rows by key: a page of orders, the oldest pending
// credits, a session by its cookie, and a grey record's settlement, never a SCAN of a table that
// grows with every top-up. The statements are the very constants the routes run.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { FROZEN_CREDITS_SQL, SCHOOL_HUBS_SQL } from '../../worker/console/hubs.ts';
import { SESSION_READ_SQL } from '../../worker/console/session.ts';
import { DECISION_CLAIM_SQL, DECISION_CREDITS_SQL, DECISION_REFUSES_REFUNDS_SQL, DECISION_RESOLVES_SQL } from '../../worker/routes/console-grey.ts';
import { ORDER_SELECT } from '../../worker/routes/console-orders.ts';
import { PENDING_OLDEST_SQL } from '../../worker/routes/console-pending.ts';

const GROWING = ['orders', 'credits', 'cards', 'claims', 'changes', 'refunds', 'grey_records', 'operator_sessions', 'console_audit'];

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const rows = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
  return rows.results.map((row) => row.detail);
}

describe('query plans of the console SQL', () => {
  const cases: [string, string, unknown[], RegExp][] = [
    ['a page of orders', `${ORDER_SELECT} WHERE o.school_id = ?1 AND o.id < ?2 ORDER BY o.id DESC LIMIT ?3`, ['s', 'Y9', 51], /SEARCH o USING INDEX orders_school_id \(school_id=\? AND id<\?\)/],
    ['the oldest pending credits', PENDING_OLDEST_SQL, ['s', null, '', 51], /SEARCH credits USING INDEX credits_school_state_created/],
    ['a session by its cookie', SESSION_READ_SQL, ['h'], /SEARCH s USING INDEX operator_sessions_token/],
    ['grey settle: the claim', DECISION_CLAIM_SQL, ['h', 'K1', null, null, 1], /SEARCH g USING INDEX sqlite_autoindex_grey_records_1/],
    ['grey settle: the credits', DECISION_CREDITS_SQL, ['h', 'K1', 1], /SEARCH credits USING INDEX sqlite_autoindex_credits_1 \(id=\?\)/],
    ['grey settle: refunds', DECISION_REFUSES_REFUNDS_SQL, ['h', 'K1', 1], /SEARCH refunds USING INDEX refunds_credit/],
    ['the school\'s hubs and what each owns', SCHOOL_HUBS_SQL, ['s', null], /SEARCH cr USING (COVERING )?INDEX credits_owner_state \(owner_hub_id=\? AND state=\?\)/],
    ['a dead hub\'s frozen credits', FROZEN_CREDITS_SQL, ['s', null], /SEARCH cr USING INDEX credits_owner_state \(owner_hub_id=\? AND state=\?\)/],
    ['grey settle: the record', DECISION_RESOLVES_SQL, ['h', 'K1', 1, 'loaded'], /SEARCH grey_records USING INDEX sqlite_autoindex_grey_records_1/],
  ];
  for (const [name, sql, params, expected] of cases) {
    it(name, async () => {
      const details = await plan(sql, params);
      expect(details.filter((detail) => GROWING.some((table) => new RegExp(`^SCAN ${table}\\b`).test(detail))), details.join('\n')).toEqual([]);
      expect(details.some((detail) => expected.test(detail)), details.join('\n')).toBe(true);
    });
  }
});
