// `POST /api/v1/notify/wechat`: WeChat Pay API v3 payment notifications (DESIGN section 5).
//
// Order of checks: signature headers over the raw body (serial, 5-minute window, RSA), then
// the envelope, then AES-256-GCM decryption of the resource, then the transaction against our
// configuration and our order. Only then does the ledger move, through worker/ledger/payment.ts.
// Answers follow WeChat Pay: 204 when handled (duplicates included); a refusal is 4xx with
// `{"code":"FAIL","message"}` (plus our `error` object), kept for audit and changing nothing; a
// database failure is 5xx so WeChat Pay retries.
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ORDER_ID_PATTERN } from '../../protocol/api.ts';
import type { ErrorCode } from '../../protocol/errors.ts';
import {
  decryptResource,
  parseWechatTime,
  readSignatureHeaders,
  verifySignedBody,
  wechatNotification,
  wechatTransaction,
  WECHATPAY_HEADER,
  type WechatTransaction,
} from '../../protocol/wechat.ts';
import { openDb, type Db } from '../db/client.ts';
import type { AppEnv } from '../env.ts';
import { auditHeaders, readNotification } from '../http/notification.ts';
import { notifiedOrderQuery } from '../ledger/orders.ts';
import { applyClosed, applyPaid, recordRejected, type NotificationAudit } from '../ledger/payment.ts';
import { pushAfterResponse } from '../hub/push.ts';
import { ProviderError } from '../pay/channel.ts';
import { wechatNotifyKeys, type WechatNotifyKeys } from '../pay/wechat.ts';
import { handleWechatRefundNotice } from './notify-wechat-refund.ts';

// A WeChat Pay notification is about 1 KB; the bound keeps a flood from costing CPU or storage.
export const WECHAT_NOTIFY_BODY_BYTES_MAX = 16 * 1024;
// States that end a trade unpaid; WeChat Pay does not normally notify them, but if it does the
// order closes (only if still unpaid: applyClosed never touches a paid order).
const CLOSING_STATES = new Set(['CLOSED', 'REVOKED', 'PAYERROR']);

// `credited_school_id`: the school whose hub must hear of a credit this notification minted.
type Handled = { kind: 'handled'; credited_school_id: string | null } | { kind: 'refused'; status: ContentfulStatusCode; code: ErrorCode; reason: string; order_id: string | null };

function refused(status: ContentfulStatusCode, code: ErrorCode, reason: string, order_id: string | null = null): Handled {
  return { kind: 'refused', status, code, reason, order_id };
}

/** Only the headers a dispute needs, never cookies or anything a proxy added. */
function failBody(code: ErrorCode, message: string) {
  return { code: 'FAIL', message, error: { code, message } };
}

async function handle(
  c: Context<AppEnv>,
  db: Db,
  keys: WechatNotifyKeys,
  body: string,
  audit: NotificationAudit,
  now_ms: number,
): Promise<Handled> {
  const signature = await verifySignedBody(
    keys.platform_public_key,
    keys.public_key_id,
    readSignatureHeaders((name) => c.req.header(name)),
    body,
    now_ms,
  );
  if (!signature.ok) {
    if (signature.reason === 'stale_timestamp') return refused(401, 'timestamp_out_of_window', 'Wechatpay-Timestamp is not within 5 minutes');
    if (signature.reason === 'wrong_serial') return refused(401, 'signature_invalid', 'Wechatpay-Serial is not our WeChat Pay public key id');
    if (signature.reason === 'missing_headers') return refused(401, 'signature_invalid', 'Wechatpay-* signature headers missing');
    return refused(401, 'signature_invalid', 'Wechatpay-Signature does not verify');
  }

  let envelope_json: unknown;
  try {
    envelope_json = JSON.parse(body);
  } catch {
    return refused(400, 'invalid_json', 'body is not JSON');
  }
  const envelope = wechatNotification.safeParse(envelope_json);
  if (!envelope.success) return refused(400, 'invalid_body', 'not a WeChat Pay notification');
  const { event_type, resource_type, resource } = envelope.data;
  const is_refund = resource.original_type === 'refund';
  if (resource_type !== 'encrypt-resource' || (resource.original_type !== 'transaction' && !is_refund)) {
    return refused(400, 'invalid_body', `unsupported notification ${event_type}/${resource.original_type}`);
  }

  const plaintext = await decryptResource(keys.api_v3_key, resource);
  if (plaintext === null) return refused(400, 'invalid_body', 'resource does not decrypt with the API v3 key');
  if (is_refund) {
    const outcome = await handleWechatRefundNotice(c.env.DB, db, { mch_id: keys.mch_id, event_type, plaintext, audit, now_ms });
    return outcome.kind === 'handled' ? { kind: 'handled', credited_school_id: null } : outcome;
  }
  let transaction_json: unknown;
  try {
    transaction_json = JSON.parse(plaintext);
  } catch {
    return refused(400, 'invalid_body', 'resource plaintext is not JSON');
  }
  const parsed = wechatTransaction.safeParse(transaction_json);
  if (!parsed.success) return refused(400, 'invalid_body', 'resource is not a transaction');
  const transaction: WechatTransaction = parsed.data;
  if (transaction.mchid !== keys.mch_id) return refused(403, 'forbidden', `mchid ${transaction.mchid.slice(0, 32)} is not ours`);
  if (transaction.appid !== keys.app_id) return refused(403, 'forbidden', `appid ${transaction.appid.slice(0, 32)} is not ours`);

  const order_id = transaction.out_trade_no;
  if (!ORDER_ID_PATTERN.test(order_id)) return refused(404, 'order_not_found', 'out_trade_no is not one of our orders');
  const [order] = await notifiedOrderQuery(db, order_id);
  if (order === undefined || order.channel !== 'wechat') return refused(404, 'order_not_found', 'out_trade_no is not one of our WeChat Pay orders');
  if (transaction.amount === undefined || transaction.amount.total !== order.amount_fen) {
    return refused(409, 'conflict', `amount.total ${transaction.amount?.total ?? 'missing'} is not the order's ${order.amount_fen}`, order_id);
  }
  if (transaction.amount.currency !== undefined && transaction.amount.currency !== 'CNY') {
    return refused(409, 'conflict', `currency ${transaction.amount.currency.slice(0, 16)} is not CNY`, order_id);
  }

  if (transaction.trade_state === 'SUCCESS') {
    if (event_type !== 'TRANSACTION.SUCCESS') return refused(400, 'invalid_body', `event ${event_type} does not match trade_state SUCCESS`, order_id);
    const paid_at_ms = transaction.success_time === undefined ? null : parseWechatTime(transaction.success_time);
    if (paid_at_ms === null || !transaction.transaction_id) {
      return refused(400, 'invalid_body', 'paid transaction without transaction_id or success_time', order_id);
    }
    const verdict = await applyPaid(
      db,
      { channel: 'wechat', order_id, amount_fen: order.amount_fen, provider_trade_no: transaction.transaction_id, paid_at_ms },
      audit,
      now_ms,
    );
    return { kind: 'handled', credited_school_id: verdict === 'applied' ? order.school_id : null };
  }
  if (CLOSING_STATES.has(transaction.trade_state)) {
    await applyClosed(db, { channel: 'wechat', order_id }, audit, now_ms);
    return { kind: 'handled', credited_school_id: null };
  }
  return refused(400, 'invalid_body', `trade_state ${transaction.trade_state} is not a notification state`, order_id);
}

export const notifyWechatRoutes = new Hono<AppEnv>().post('/', async (c) => {
  const now_ms = Date.now();
  const db = openDb(c.env.DB);
  const headers = auditHeaders(c, [...Object.values(WECHATPAY_HEADER), 'Content-Type', 'Request-ID'], 1024);
  try {
    const read = await readNotification(c, db, { channel: 'wechat', headers, body_bytes_max: WECHAT_NOTIFY_BODY_BYTES_MAX, now_ms });
    if (!read.ok) return c.json(failBody(read.error.code, read.error.message), read.error.status);
    const { audit } = read;
    const body = audit.body;
    let keys: WechatNotifyKeys;
    try {
      keys = await wechatNotifyKeys(c.env);
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      // Our configuration, not the notification, is at fault: 5xx so WeChat Pay delivers it again.
      await recordRejected(db, audit, null, error.message, now_ms);
      return c.json(failBody('not_configured', 'WeChat Pay is not configured'), 503);
    }
    const outcome = await handle(c, db, keys, body, audit, now_ms);
    if (outcome.kind === 'handled') {
      if (outcome.credited_school_id !== null) pushAfterResponse(c, outcome.credited_school_id);
      return c.body(null, 204);
    }
    await recordRejected(db, audit, outcome.order_id, outcome.reason, now_ms);
    return c.json(failBody(outcome.code, outcome.reason), outcome.status);
  } catch (error) {
    // The database (or the runtime) failed: nothing was decided, so WeChat Pay must retry.
    console.error(JSON.stringify({ level: 'error', msg: 'wechat notification failed', error: String(error).slice(0, 500) }));
    return c.json({ code: 'FAIL', message: 'temporarily unavailable, retry' }, 500);
  }
});
