// `POST /api/v1/console/refunds` `{order_id, reason}`: a refund of an unclaimed top-up, through
// the ledger's one refund path (worker/ledger/refunds.ts: voided at the Worker while no hub may
// hold the credit, else through its hub). `GET /refunds?school_id=&state=`: the school's refunds.
import { Hono } from 'hono';
import { consoleRefundRequest, consoleRefundsQuery, type ConsoleRefundsResponse } from '../../protocol/console.ts';
import { auditStatement } from '../console/audit.ts';
import { consoleAddress, pokeHubAfterResponse, type ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { pageLimit } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readJson, readQuery } from '../http/validate.ts';
import { requestRefund, toView, type RefundRow } from '../ledger/refunds.ts';

const REFUND_CURSOR = /^R[0-9A-Za-z]{10,31}$/;

export const consoleRefundRoutes = new Hono<ConsoleEnv>()
  .post('/refunds', async (c) => {
    const input = await readJson(c, consoleRefundRequest);
    const operator = c.get('operator');
    const d1 = c.env.DB;
    const order = await d1
      .prepare('SELECT school_id FROM orders WHERE id = ?1 AND school_id IN (SELECT value FROM json_each(?2))')
      .bind(input.order_id, JSON.stringify(operator.school_ids))
      .first<{ school_id: string }>();
    if (order === null) throw new ApiError(404, 'order_not_found', 'no such order');
    const before = await d1.prepare('SELECT * FROM refunds WHERE order_id = ?1').bind(input.order_id).first<RefundRow>();
    const now_ms = Date.now();
    const address = consoleAddress(c);
    const entry = { school_id: order.school_id, action: 'refund' as const, target: input.order_id, at_ms: now_ms, address };
    const outcome = await requestRefund(c.env, input.order_id, now_ms, {
      // Only the batch that creates the refund writes this row, and it reads the refund as the
      // batch left it: a refund that lost a race to a claim leaves no entry.
      with_batch: (refund_id) => [
        auditStatement(d1, operator, { ...entry, before: null, after: null }, {
          guard: 'EXISTS (SELECT 1 FROM refunds WHERE id = ?9 AND created_at_ms = ?6)',
          after_sql: `(SELECT json_object('refund_id', id, 'state', state, 'route', route, 'reason', ?10) FROM refunds WHERE id = ?9)`,
          params: [refund_id, input.reason],
        }),
      ],
    });
    if (outcome.kind === 'not_found') throw new ApiError(404, 'order_not_found', 'no such order');
    if (outcome.kind === 'not_allowed') throw new ApiError(409, 'refund_not_allowed', outcome.reason);
    if (before !== null && (before.state !== outcome.refund.state || before.updated_at_ms !== outcome.refund.updated_at_ms)) {
      // Asking again about a refund under way moves it only through the provider's answer
      // (completeRefund's own write); when it moved, the request is the operator's, recorded
      // as such. An answer repeated unchanged records nothing.
      await auditStatement(d1, operator, { ...entry, before: toView(before), after: { ...outcome.refund, reason: input.reason } }).run();
    }
    if (outcome.void_requested) pokeHubAfterResponse(c, outcome.school_id);
    return c.json({ ...outcome.refund, school_id: outcome.school_id }, outcome.refund.state === 'refunded' ? 200 : 202);
  })
  .get('/refunds', async (c) => {
    const query = readQuery(c, consoleRefundsQuery);
    const school_id = scopedSchool(c.get('operator'), query.school_id);
    const limit = pageLimit(query.limit);
    if (query.cursor !== undefined && !REFUND_CURSOR.test(query.cursor)) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
    const rows = await c.env.DB.prepare(
      `SELECT * FROM refunds WHERE school_id = ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4`,
    )
      .bind(school_id, query.state ?? null, query.cursor ?? null, limit + 1)
      .all<RefundRow>();
    const page = rows.results.slice(0, limit);
    const body: ConsoleRefundsResponse = {
      refunds: page.map((row) => ({ ...toView(row), school_id: row.school_id })),
      next_cursor: rows.results.length > limit ? page[page.length - 1]!.id : null,
    };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  });
