// `POST /api/v1/notify/alipay`: Alipay's asynchronous trade notifications (DESIGN section 5).
//
// The form body is parsed once, with URLSearchParams on the raw text: the values the signature
// covers are exactly those, so a second URL-decode (which turns `+` into a space and `%xx` into
// other bytes) can never make a genuine notification fail or a forged one pass. Then, in this
// order: RSA2 over the sorted parameters without sign/sign_type, app_id, seller_id, the order
// (ours, an Alipay order), its amount in fen. Only then does the ledger move, through
// worker/ledger/payment.ts.
//
// Answers, as Alipay reads them: exactly `success` when handled (duplicates included), so it
// stops retrying; `fail` with a 4xx for a refusal (kept for audit, nothing changed); `fail`
// with a 5xx when the database failed, because then nothing was decided and Alipay must retry.
// D1 budget: one order lookup plus one ledger batch (at most 4 statements in all).
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { alipayVerify, parseChinaTime } from '../../protocol/alipay.ts';
import { ORDER_ID_PATTERN } from '../../protocol/api.ts';
import { yuanToFen } from '../../protocol/money.ts';
import { openDb, type Db } from '../db/client.ts';
import { notifications } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { readAlipayNotification } from '../http/notification.ts';
import { notifiedOrderQuery } from '../ledger/orders.ts';
import { applyClosed, applyPaid, recordRejected, type NotificationAudit } from '../ledger/payment.ts';
import { pushAfterResponse } from '../hub/push.ts';
import { alipayPublicKey, type AlipayConfig } from '../pay/alipay.ts';

// An Alipay notification is about 1.5 KB; the bound keeps a flood from costing CPU or storage.
export const ALIPAY_NOTIFY_BODY_BYTES_MAX = 16 * 1024;

// `credited_school_id`: the school whose hub must hear of a credit this notification minted.
type Outcome = { kind: 'handled'; credited_school_id: string | null } | { kind: 'refused'; status: ContentfulStatusCode; reason: string; order_id: string | null };

function refused(status: ContentfulStatusCode, reason: string, order_id: string | null = null): Outcome {
  return { kind: 'refused', status, reason, order_id };
}

async function handle(db: Db, config: AlipayConfig, params: Record<string, string>, audit: NotificationAudit, now_ms: number): Promise<Outcome> {
  if (!(await alipayVerify(await alipayPublicKey(config), params, 'notification'))) {
    return refused(401, 'RSA2 signature does not verify');
  }
  if (params.app_id !== config.app_id) return refused(403, `app_id ${String(params.app_id).slice(0, 32)} is not ours`);
  if (params.seller_id !== config.seller_id) return refused(403, `seller_id ${String(params.seller_id).slice(0, 32)} is not ours`);

  const order_id = params.out_trade_no ?? '';
  if (!ORDER_ID_PATTERN.test(order_id)) return refused(404, 'out_trade_no is not one of our orders');
  const [order] = await notifiedOrderQuery(db, order_id);
  if (order === undefined || order.channel !== 'alipay') return refused(404, 'out_trade_no is not one of our Alipay orders');
  const amount_fen = yuanToFen(params.total_amount ?? '');
  if (amount_fen !== order.amount_fen) {
    return refused(409, `total_amount ${String(params.total_amount).slice(0, 16)} is not the order's ${order.amount_fen} fen`, order_id);
  }

  switch (params.trade_status) {
    case 'TRADE_SUCCESS':
    case 'TRADE_FINISHED': {
      const trade_no = params.trade_no ?? '';
      if (trade_no.length === 0 || trade_no.length > 64) return refused(400, 'paid notification without trade_no', order_id);
      // gmt_payment is Alipay's clock; without it, the moment we learnt of the payment.
      const paid_at_ms = parseChinaTime(params.gmt_payment ?? '') ?? now_ms;
      const verdict = await applyPaid(
        db,
        { channel: 'alipay', order_id, amount_fen: order.amount_fen, provider_trade_no: trade_no, paid_at_ms },
        audit,
        now_ms,
      );
      return { kind: 'handled', credited_school_id: verdict === 'applied' ? order.school_id : null };
    }
    case 'TRADE_CLOSED':
      // Also sent after a full refund of a paid trade: applyClosed leaves a paid order alone.
      await applyClosed(db, { channel: 'alipay', order_id }, audit, now_ms);
      return { kind: 'handled', credited_school_id: null };
    case 'WAIT_BUYER_PAY':
      // Nothing to change, but every notification is kept.
      await db.insert(notifications).values({
        channel: 'alipay',
        received_at_ms: now_ms,
        order_id,
        verdict: 'duplicate',
        reason: 'WAIT_BUYER_PAY: the order stays unpaid',
        headers: audit.headers,
        body: audit.body,
      });
      return { kind: 'handled', credited_school_id: null };
    default:
      return refused(400, `trade_status ${String(params.trade_status).slice(0, 32)} is not one Alipay notifies`, order_id);
  }
}

function fail(c: Context, status: ContentfulStatusCode): Response {
  return c.text('fail', status);
}

export const notifyAlipayRoutes = new Hono<AppEnv>().post('/', async (c) => {
  const now_ms = Date.now();
  const db = openDb(c.env.DB);
  try {
    const read = await readAlipayNotification(c, db, { body_bytes_max: ALIPAY_NOTIFY_BODY_BYTES_MAX, now_ms, seller_id_required: true });
    if (!read.ok) return fail(c, read.status);
    const { audit, params, config } = read;
    const outcome = await handle(db, config, params, audit, now_ms);
    if (outcome.kind === 'handled') {
      if (outcome.credited_school_id !== null) pushAfterResponse(c, outcome.credited_school_id);
      return c.text('success', 200);
    }
    await recordRejected(db, audit, outcome.order_id, outcome.reason, now_ms);
    return fail(c, outcome.status);
  } catch (error) {
    // The database (or the runtime) failed: nothing was decided, so Alipay must retry.
    console.error(JSON.stringify({ level: 'error', msg: 'alipay notification failed', error: String(error).slice(0, 500) }));
    return fail(c, 503);
  }
});
