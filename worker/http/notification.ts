// What every notification route (Alipay's trades and agreements, WeChat Pay's) does before it
// looks at the provider's protocol: keep the request for audit, and read its body once, as text,
// since the signature covers exactly those bytes. A body refused here (too large, not UTF-8) is
// still kept, as rejected. Alipay's two routes also share the form and the configuration check.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ALIPAY_PARAMS_MAX } from '../../protocol/alipay.ts';
import type { Channel } from '../../protocol/api.ts';
import type { Db } from '../db/client.ts';
import type { AppEnv } from '../env.ts';
import { recordRejected, type NotificationAudit } from '../ledger/payment.ts';
import { alipayConfig, alipayPublicKey, type AlipayConfig } from '../pay/alipay.ts';
import { ProviderError } from '../pay/channel.ts';
import { ApiError } from './errors.ts';
import { readBodyText } from './validate.ts';

/** The named headers as JSON, each value cut to `value_chars_max`: evidence, bounded. */
export function auditHeaders(c: Context, names: readonly string[], value_chars_max: number): string {
  const kept: Record<string, string> = {};
  for (const name of names) {
    const value = c.req.header(name);
    if (value !== undefined) kept[name] = value.slice(0, value_chars_max);
  }
  return JSON.stringify(kept);
}

export type NotificationRead = { ok: true; audit: NotificationAudit } | { ok: false; error: ApiError };

export async function readNotification(
  c: Context,
  db: Db,
  input: { channel: Channel; headers: string; body_bytes_max: number; now_ms: number },
): Promise<NotificationRead> {
  try {
    const body = await readBodyText(c, input.body_bytes_max);
    return { ok: true, audit: { channel: input.channel, headers: input.headers, body } };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    await recordRejected(db, { channel: input.channel, headers: input.headers, body: '' }, null, error.message, input.now_ms);
    return { ok: false, error };
  }
}

/** The form as a plain record; null when a name repeats (ambiguous: which value was signed?) or there are too many. */
export function formParams(body: string): Record<string, string> | null {
  const params: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of new URLSearchParams(body)) {
    if (++count > ALIPAY_PARAMS_MAX || Object.hasOwn(params, name)) return null;
    params[name] = value;
  }
  return params;
}

export type AlipayNotificationRead =
  | { ok: true; audit: NotificationAudit; params: Record<string, string>; config: AlipayConfig }
  | { ok: false; status: ContentfulStatusCode };

/**
 * An Alipay notification (a trade's or an agreement's) up to its signature check: read and kept
 * as readNotification does, its form parsed once, and our Alipay configuration with its public
 * key at hand. A refusal is already recorded when this returns it: a 4xx for the request, 503
 * when our configuration is at fault, so that Alipay delivers it again.
 */
export async function readAlipayNotification(
  c: Context<AppEnv>,
  db: Db,
  input: { body_bytes_max: number; now_ms: number; seller_id_required: boolean },
): Promise<AlipayNotificationRead> {
  const headers = auditHeaders(c, ['Content-Type', 'User-Agent'], 256);
  const read = await readNotification(c, db, { channel: 'alipay', headers, body_bytes_max: input.body_bytes_max, now_ms: input.now_ms });
  if (!read.ok) return { ok: false, status: read.error.status };
  const { audit } = read;
  const refuse = async (status: ContentfulStatusCode, reason: string): Promise<AlipayNotificationRead> => {
    await recordRejected(db, audit, null, reason, input.now_ms);
    return { ok: false, status };
  };
  if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header('content-type') ?? '')) return refuse(415, 'not application/x-www-form-urlencoded');
  const params = formParams(audit.body);
  if (params === null) return refuse(400, 'repeated or too many form fields');
  let config: AlipayConfig;
  try {
    config = alipayConfig(c.env);
    if (input.seller_id_required && config.seller_id === null) throw new ProviderError('alipay', 'not_configured', 'ALIPAY_SELLER_ID missing', false);
    await alipayPublicKey(config);
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    // Our configuration, not the notification, is at fault.
    return refuse(503, error.message);
  }
  return { ok: true, audit, params, config };
}
