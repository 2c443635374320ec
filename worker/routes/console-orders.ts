// `GET /api/v1/console/orders` (search by card, order id, provider id, China day) and
// `GET /orders/{order_id}`: the whole story of one top-up. Scoped to the operator's schools: an
// order of another school answers 404 exactly like one that does not exist.
import { Hono } from 'hono';
import { ORDER_ID_PATTERN } from '../../protocol/api.ts';
import { normaliseCardNo } from '../../protocol/card.ts';
import { consoleOrdersQuery, type ConsoleOrderStory, type ConsoleOrdersResponse } from '../../protocol/console.ts';
import { maskPhone } from '../../protocol/aliyun-sms.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { CARD_VIEW_SQL, chinaDateStartMs, DAY_MS, pageLimit, toConsoleOrder, type CardRow, type OrderRow } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readQuery } from '../http/validate.ts';
import { toGreyRecordView, type GreyRow } from '../hub/grey-view.ts';
import { toView, type RefundRow } from '../ledger/refunds.ts';

const STORY_NOTIFICATIONS_MAX = 50;
const STORY_GREY_MAX = 20;

// An order's live credit: a replaced card's moved credits are its history (worker/ledger/replace.ts).
export const ORDER_SELECT = `SELECT o.*, cr.state AS credit_state FROM orders o LEFT JOIN credits cr ON cr.order_id = o.id AND cr.state <> 'moved'`;

function notFound(): ApiError {
  return new ApiError(404, 'order_not_found', 'no such order');
}

export const consoleOrderRoutes = new Hono<ConsoleEnv>()
  .get('/orders', async (c) => {
    const query = readQuery(c, consoleOrdersQuery);
    const school_id = scopedSchool(c.get('operator'), query.school_id);
    const limit = pageLimit(query.limit);
    const where = ['o.school_id = ?1'];
    const params: (string | number)[] = [school_id];
    const add = (clause: string, value: string | number) => {
      params.push(value);
      where.push(clause.replace('?', `?${params.length}`));
    };
    if (query.card_no !== undefined) {
      const card_no = normaliseCardNo(query.card_no);
      if (card_no === null) throw new ApiError(400, 'invalid_query', 'card_no is not a card number');
      add('o.card_no = ?', card_no);
    }
    if (query.order_id !== undefined) add('o.id = ?', query.order_id);
    if (query.provider_trade_no !== undefined) add('o.provider_trade_no = ?', query.provider_trade_no);
    if (query.date !== undefined) {
      const start_ms = chinaDateStartMs(query.date);
      if (start_ms === null) throw new ApiError(400, 'invalid_query', 'date is not a calendar day');
      add('o.created_at_ms >= ?', start_ms);
      add('o.created_at_ms < ?', start_ms + DAY_MS);
    }
    if (query.cursor !== undefined) {
      if (!ORDER_ID_PATTERN.test(query.cursor)) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
      add('o.id < ?', query.cursor);
    }
    params.push(limit + 1);
    const rows = await c.env.DB.prepare(`${ORDER_SELECT} WHERE ${where.join(' AND ')} ORDER BY o.id DESC LIMIT ?${params.length}`)
      .bind(...params)
      .all<OrderRow>();
    const page = rows.results.slice(0, limit);
    const body: ConsoleOrdersResponse = {
      orders: page.map(toConsoleOrder),
      next_cursor: rows.results.length > limit ? page[page.length - 1]!.id : null,
    };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  })
  .get('/orders/:order_id', async (c) => {
    const order_id = c.req.param('order_id');
    if (!ORDER_ID_PATTERN.test(order_id)) throw notFound();
    const operator = c.get('operator');
    const d1 = c.env.DB;
    const order = await d1
      .prepare(`${ORDER_SELECT} WHERE o.id = ?1 AND o.school_id IN (SELECT value FROM json_each(?2))`)
      .bind(order_id, JSON.stringify(operator.school_ids))
      .first<OrderRow>();
    if (order === null) throw notFound();
    const [credit_rows, claim_rows, notification_rows, refund_rows, card_rows, owner_rows] = await d1.batch([
      d1.prepare(`SELECT * FROM credits WHERE order_id = ?1 AND state <> 'moved'`).bind(order_id),
      d1
        .prepare(
          `SELECT cl.* FROM claims cl JOIN credits cr ON cr.claim_id = cl.id WHERE cr.order_id = ?1 LIMIT 1`,
        )
        .bind(order_id),
      d1
        .prepare(`SELECT id, channel, verdict, reason, received_at_ms FROM notifications WHERE order_id = ?1 ORDER BY id LIMIT ${STORY_NOTIFICATIONS_MAX}`)
        .bind(order_id),
      d1.prepare('SELECT * FROM refunds WHERE order_id = ?1').bind(order_id),
      d1.prepare(`${CARD_VIEW_SQL} WHERE c.school_id = ?1 AND c.card_no = ?2`).bind(order.school_id, order.card_no),
      // The credit's owner: the first hub of the school that was sent its change.
      d1
        .prepare(
          `SELECT h.id FROM hubs h, credits cr
            WHERE cr.order_id = ?1 AND cr.state <> 'moved' AND h.school_id = cr.school_id
              AND COALESCE(h.sent_through_seq, 0) >= (SELECT MIN(ch.seq) FROM changes ch WHERE ch.ref = cr.id AND ch.kind = 'credit')
            ORDER BY h.created_at_ms, h.id LIMIT 1`,
        )
        .bind(order_id),
    ]);
    const credit = (credit_rows?.results[0] ?? null) as {
      id: string; state: 'pending' | 'claimed' | 'voided'; amount_fen: number; claim_id: string | null; void_requested_at_ms: number | null;
      created_at_ms: number; claimed_at_ms: number | null; voided_at_ms: number | null;
    } | null;
    const claim = (claim_rows?.results[0] ?? null) as {
      id: string; hub_id: string; terminal_id: string; amount_fen: number; balance_after_fen: number | null; online_serial_after: number | null;
      proof_kind: 'tac' | 'prove' | 'serial' | 'decision' | null; committed_at_ms: number; received_at_ms: number;
    } | null;
    const grey =
      credit === null
        ? []
        : (
            await d1
              .prepare(
                `SELECT * FROM grey_records WHERE school_id = ?1 AND card_no = ?2
                   AND EXISTS (SELECT 1 FROM json_each(grey_records.credit_ids) WHERE value = ?3)
                 ORDER BY reserved_at_ms LIMIT ${STORY_GREY_MAX}`,
              )
              .bind(order.school_id, order.card_no, credit.id)
              .all<GreyRow>()
          ).results;
    const owner = (owner_rows?.results[0] ?? null) as { id: string } | null;
    const body: ConsoleOrderStory = {
      order: { ...toConsoleOrder(order), notify_phone_masked: order.notify_phone === null ? null : maskPhone(order.notify_phone) },
      credit:
        credit === null
          ? null
          : {
              credit_id: credit.id,
              state: credit.state,
              amount_fen: credit.amount_fen,
              claim_id: credit.claim_id,
              void_requested_at_ms: credit.void_requested_at_ms,
              created_at_ms: credit.created_at_ms,
              claimed_at_ms: credit.claimed_at_ms,
              voided_at_ms: credit.voided_at_ms,
              owning_hub_id: claim?.hub_id ?? owner?.id ?? null,
            },
      claim:
        claim === null
          ? null
          : {
              claim_id: claim.id,
              hub_id: claim.hub_id,
              terminal_id: claim.terminal_id,
              amount_fen: claim.amount_fen,
              balance_after_fen: claim.balance_after_fen,
              online_serial_after: claim.online_serial_after,
              proof_kind: claim.proof_kind,
              committed_at_ms: claim.committed_at_ms,
              received_at_ms: claim.received_at_ms,
            },
      notifications: ((notification_rows?.results ?? []) as { id: number; channel: 'alipay' | 'wechat'; verdict: 'applied' | 'duplicate' | 'rejected'; reason: string | null; received_at_ms: number }[]).map(
        ({ id, ...row }) => ({ notification_id: id, ...row }),
      ),
      refunds: ((refund_rows?.results ?? []) as RefundRow[]).map(toView),
      card: ((card_rows?.results[0] ?? null) as CardRow | null),
      grey_records: grey.map(toGreyRecordView),
    };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  });
