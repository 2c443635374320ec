// `POST /api/v1/notify/alipay-agreement`: Alipay's withholding-agreement notifications
// (`dut_user_sign`, `dut_user_unsign`), verified like payment notifications (DESIGN section 5):
// the form parsed once, RSA2 over the sorted parameters without sign/sign_type, then app_id,
// that external_agreement_no is ours, the product, and a notify_time within Alipay's retry
// window (a notification older than that is a replay). Only then does an agreement move, and
// only forward: signing → active on a sign, active → stopped on an unsign. Every notification
// is kept in the audit table; answers are Alipay's `success` / `fail`.
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { alipayVerify, parseChinaTime } from '../../protocol/alipay.ts';
import { AGREEMENT_ID_PATTERN } from '../../protocol/auto-topup.ts';
import { openDb } from '../db/client.ts';
import { notifications } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { readAlipayNotification } from '../http/notification.ts';
import { recordRejected } from '../ledger/payment.ts';
import { activateAgreement, agreementById, stopAgreement } from '../auto/agreements.ts';
import { alipayPublicKey, type AlipayConfig } from '../pay/alipay.ts';
import { AGREEMENT_PRODUCT_CODE } from '../pay/alipay-agreement.ts';

export const AGREEMENT_NOTIFY_BODY_BYTES_MAX = 16 * 1024;
// Alipay retries a notification for about 25 hours; one older than this is not a retry.
export const AGREEMENT_NOTIFY_AGE_MS_MAX = 48 * 3_600_000;
// Alipay's clock may run a little ahead of ours.
const AGREEMENT_NOTIFY_SKEW_MS_MAX = 5 * 60_000;

type Outcome = { kind: 'handled'; verdict: 'applied' | 'duplicate' } | { kind: 'refused'; status: ContentfulStatusCode; reason: string };

function refused(status: ContentfulStatusCode, reason: string): Outcome {
  return { kind: 'refused', status, reason };
}

async function handle(d1: D1Database, config: AlipayConfig, params: Record<string, string>, now_ms: number): Promise<Outcome> {
  if (!(await alipayVerify(await alipayPublicKey(config), params, 'notification'))) return refused(401, 'RSA2 signature does not verify');
  if (params.app_id !== config.app_id) return refused(403, `app_id ${String(params.app_id).slice(0, 32)} is not ours`);
  const notify_at_ms = parseChinaTime(params.notify_time ?? '');
  if (notify_at_ms === null) return refused(400, 'notify_time is missing or malformed');
  if (notify_at_ms < now_ms - AGREEMENT_NOTIFY_AGE_MS_MAX || notify_at_ms > now_ms + AGREEMENT_NOTIFY_SKEW_MS_MAX) {
    return refused(409, 'notify_time is outside Alipay\'s retry window: a replay');
  }
  if (params.personal_product_code !== AGREEMENT_PRODUCT_CODE) return refused(400, 'personal_product_code is not our withholding product');
  const agreement_id = params.external_agreement_no ?? '';
  const agreement_no = params.agreement_no ?? '';
  if (!AGREEMENT_ID_PATTERN.test(agreement_id)) return refused(404, 'external_agreement_no is not one of our agreements');
  if (agreement_no.length === 0 || agreement_no.length > 64) return refused(400, 'agreement_no is missing');
  const row = await agreementById(d1, agreement_id);
  if (row === null) return refused(404, 'external_agreement_no is not one of our agreements');
  // Once Alipay named the agreement, a notification naming another is not about this one.
  if (row.provider_agreement_no !== null && row.provider_agreement_no !== agreement_no) return refused(409, 'agreement_no differs from the signed one');
  switch (params.notify_type) {
    case 'dut_user_sign': {
      if (params.status !== 'NORMAL') return refused(400, `dut_user_sign with status ${String(params.status).slice(0, 16)}`);
      if (row.state === 'active') return { kind: 'handled', verdict: 'duplicate' };
      // A sign for an agreement already stopped (unsigned, replaced) never brings it back.
      if (row.state === 'stopped') return refused(409, `agreement is stopped (${row.stop_reason}); a sign cannot restart it`);
      const signed_at_ms = parseChinaTime(params.sign_time ?? '') ?? now_ms;
      const applied = await activateAgreement(d1, { agreement_id, provider_agreement_no: agreement_no, provider_user_id: params.alipay_user_id?.slice(0, 32) ?? null, signed_at_ms }, now_ms);
      return { kind: 'handled', verdict: applied ? 'applied' : 'duplicate' };
    }
    case 'dut_user_unsign': {
      if (params.status !== 'UNSIGN') return refused(400, `dut_user_unsign with status ${String(params.status).slice(0, 16)}`);
      if (row.provider_agreement_no === null) return refused(409, 'an unsign for an agreement that was never signed');
      const applied = await stopAgreement(d1, { agreement_id, reason: 'unsigned' }, now_ms);
      return { kind: 'handled', verdict: applied ? 'applied' : 'duplicate' };
    }
    default:
      return refused(400, `notify_type ${String(params.notify_type).slice(0, 32)} is not an agreement notification`);
  }
}

function fail(c: Context, status: ContentfulStatusCode): Response {
  return c.text('fail', status);
}

export const notifyAlipayAgreementRoutes = new Hono<AppEnv>().post('/', async (c) => {
  const now_ms = Date.now();
  const db = openDb(c.env.DB);
  try {
    const read = await readAlipayNotification(c, db, { body_bytes_max: AGREEMENT_NOTIFY_BODY_BYTES_MAX, now_ms, seller_id_required: false });
    if (!read.ok) return fail(c, read.status);
    const { audit, params, config } = read;
    const outcome = await handle(c.env.DB, config, params, now_ms);
    if (outcome.kind === 'refused') {
      await recordRejected(db, audit, null, `agreement: ${outcome.reason}`, now_ms);
      return fail(c, outcome.status);
    }
    await db.insert(notifications).values({
      channel: 'alipay',
      received_at_ms: now_ms,
      order_id: null,
      verdict: outcome.verdict,
      reason: `agreement ${params.notify_type} ${params.external_agreement_no}`,
      headers: audit.headers,
      body: audit.body,
    });
    return c.text('success', 200);
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'alipay agreement notification failed', error: String(error).slice(0, 500) }));
    return fail(c, 503);
  }
});
