// WeChat Pay's REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED notifications, on the same
// route as payments (`POST /api/v1/notify/wechat`), verified by the same signature headers and
// AES-256-GCM resource before this module sees the plaintext. It checks the refund against our
// configuration and our ledger, then moves the refund through applyRefundState, the one path
// every word of a provider about a refund takes.
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorCode } from '../../protocol/errors.ts';
import { parseWechatTime, REFUND_EVENT_TYPES, wechatRefundNotice } from '../../protocol/wechat.ts';
import type { Db } from '../db/client.ts';
import { notifications } from '../db/schema.ts';
import type { NotificationAudit } from '../ledger/payment.ts';
import { applyRefundState } from '../ledger/refunds.ts';
import type { RefundState } from '../pay/channel.ts';

const REFUND_ID_PATTERN = /^R[0-9A-Za-z]{10,31}$/;

export type RefundNoticeOutcome =
  | { kind: 'handled' }
  | { kind: 'refused'; status: ContentfulStatusCode; code: ErrorCode; reason: string; order_id: string | null };

function refused(status: ContentfulStatusCode, code: ErrorCode, reason: string, order_id: string | null = null): RefundNoticeOutcome {
  return { kind: 'refused', status, code, reason, order_id };
}

interface RefundForNotice {
  id: string;
  order_id: string;
  amount_fen: number;
  state: string;
  provider_status: string | null;
  channel: string;
  order_amount_fen: number;
}

export async function handleWechatRefundNotice(
  d1: D1Database,
  db: Db,
  input: { mch_id: string; event_type: string; plaintext: string; audit: NotificationAudit; now_ms: number },
): Promise<RefundNoticeOutcome> {
  let json: unknown;
  try {
    json = JSON.parse(input.plaintext);
  } catch {
    return refused(400, 'invalid_body', 'resource plaintext is not JSON');
  }
  const parsed = wechatRefundNotice.safeParse(json);
  if (!parsed.success) return refused(400, 'invalid_body', 'resource is not a refund');
  const notice = parsed.data;
  if (notice.mchid !== input.mch_id) return refused(403, 'forbidden', `mchid ${notice.mchid.slice(0, 32)} is not ours`);
  if (!(REFUND_EVENT_TYPES as readonly string[]).includes(input.event_type) || input.event_type !== `REFUND.${notice.refund_status}`) {
    return refused(400, 'invalid_body', `event ${input.event_type.slice(0, 32)} does not match refund_status ${notice.refund_status}`);
  }
  if (!REFUND_ID_PATTERN.test(notice.out_refund_no)) return refused(404, 'not_found', 'out_refund_no is not one of our refunds');
  const refund = await d1
    .prepare(
      `SELECT r.id, r.order_id, r.amount_fen, r.state, r.provider_status, o.channel, o.amount_fen AS order_amount_fen
         FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.id = ?`,
    )
    .bind(notice.out_refund_no)
    .first<RefundForNotice>();
  if (refund === null || refund.channel !== 'wechat' || refund.order_id !== notice.out_trade_no) {
    return refused(404, 'not_found', 'out_refund_no is not one of our WeChat Pay refunds of that order');
  }
  if (notice.amount.refund !== refund.amount_fen || notice.amount.total !== refund.order_amount_fen) {
    return refused(409, 'conflict', `refund ${notice.amount.refund} of ${notice.amount.total} fen is not ours (${refund.amount_fen} of ${refund.order_amount_fen})`, refund.order_id);
  }
  let state: RefundState;
  if (notice.refund_status === 'SUCCESS') {
    const refunded_at_ms = notice.success_time === undefined ? null : parseWechatTime(notice.success_time);
    if (refunded_at_ms === null) return refused(400, 'invalid_body', 'REFUND.SUCCESS without success_time', refund.order_id);
    state = { state: 'succeeded', provider_refund_no: notice.refund_id, bill_at_ms: refunded_at_ms, refunded_at_ms };
  } else if (notice.refund_status === 'ABNORMAL' || notice.refund_status === 'CLOSED') {
    state = { state: 'failed', provider_status: notice.refund_status, provider_refund_no: notice.refund_id, bill_at_ms: null };
  } else {
    return refused(400, 'invalid_body', 'PROCESSING is not a notification state', refund.order_id);
  }
  if (refund.state !== 'provider_pending') {
    // Told again what we already know: a duplicate. Told the opposite of what we recorded: the
    // card office must look, and WeChat Pay keeps it as unacknowledged.
    const agrees = (refund.state === 'refunded' && notice.refund_status === 'SUCCESS') ||
      (refund.state === 'failed' && refund.provider_status === notice.refund_status);
    if (!agrees) return refused(409, 'conflict', `refund is ${refund.state}, notification says ${notice.refund_status}`, refund.order_id);
  }
  const applied = refund.state === 'provider_pending' ? await applyRefundState(d1, refund.id, state, input.now_ms) : 'unchanged';
  await db.insert(notifications).values({
    channel: 'wechat',
    received_at_ms: input.now_ms,
    order_id: refund.order_id,
    verdict: applied === 'unchanged' ? 'duplicate' : 'applied',
    reason: `refund ${refund.id} ${notice.refund_status}`,
    headers: input.audit.headers,
    body: input.audit.body,
  });
  return { kind: 'handled' };
}
