// What both payment-notification routes do before they look at the provider's protocol: keep
// the request for audit, and read its body once, as text, since the signature covers exactly
// those bytes. A body refused here (too large, not UTF-8) is still kept, as rejected.
import type { Context } from 'hono';
import type { Channel } from '../../protocol/api.ts';
import type { Db } from '../db/client.ts';
import { recordRejected, type NotificationAudit } from '../ledger/payment.ts';
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
