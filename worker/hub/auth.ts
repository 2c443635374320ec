// Authentication of campus hubs (DESIGN section 6): every request is signed with the hub's
// Ed25519 key over `HUB_ID\nMETHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nSHA256HEX(BODY)`, is at most five
// minutes off our clock, and carries a nonce this hub has never used within that window.
// The Worker stores only public keys; a hub sees and changes only its own school.
import type { Context, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { base64ToBytes, utf8 } from '../../protocol/encoding.ts';
import {
  HUB_BODY_BYTES_MAX,
  HUB_CLOCK_SKEW_MS_MAX,
  HUB_HEADER_ID,
  HUB_HEADER_NONCE,
  HUB_HEADER_SIGNATURE,
  HUB_HEADER_TIMESTAMP,
  HUB_ID_PATTERN,
  HUB_NONCE_PATTERN,
  hubPathAndQuery,
  hubSigningString,
} from '../../protocol/hub.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { readStreamBounded } from '../http/read-bounded.ts';

export interface HubIdentity {
  hub_id: string;
  school_id: string;
}

export type HubAppEnv = AppEnv & { Variables: { hub: HubIdentity; hub_body: string } };

// The body is hashed before anything else looks at it, so it is bounded first.
export { HUB_BODY_BYTES_MAX };
const ED25519_SIGNATURE_BYTES = 64;
const SIGNATURE_BASE64_LENGTH_MAX = 128;
// Expired nonces deleted per request: more than the one each request adds, so the table
// shrinks back to one window's worth of requests without a separate cleanup job.
const NONCE_CLEANUP_ROWS_MAX = 64;
// Imported public keys kept per isolate; a campus system has a handful of hubs.
const KEY_CACHE_ENTRIES_MAX = 64;

const keyCache = new Map<string, Promise<CryptoKey>>();

function refuse(code: 'signature_invalid' | 'timestamp_out_of_window' | 'replayed' | 'unknown_hub', message: string) {
  return new ApiError(401, code, message);
}

/** Ed25519 SPKI (base64) → verify key; throws on anything that is not one. */
export function importHubPublicKey(public_key_base64: string): Promise<CryptoKey> {
  const cached = keyCache.get(public_key_base64);
  if (cached !== undefined) return cached;
  const imported = crypto.subtle.importKey('spki', base64ToBytes(public_key_base64), { name: 'Ed25519' }, false, [
    'verify',
  ]);
  if (keyCache.size >= KEY_CACHE_ENTRIES_MAX) keyCache.clear();
  keyCache.set(public_key_base64, imported);
  // A key that fails to import must not stay cached as a rejected promise.
  imported.catch(() => keyCache.delete(public_key_base64));
  return imported;
}

/** The body as sent, read in chunks and refused as soon as it passes the bound. */
async function readRawBody(c: Context): Promise<string> {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return '';
  const tooLarge = () => new ApiError(413, 'payload_too_large', `body exceeds ${HUB_BODY_BYTES_MAX} bytes`);
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > HUB_BODY_BYTES_MAX) throw tooLarge();
  const bytes = await readStreamBounded(c.req.raw.body, HUB_BODY_BYTES_MAX);
  if (bytes === null) throw tooLarge();
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError(400, 'invalid_body', 'body is not UTF-8');
  }
}

function decodeSignature(text: string): Uint8Array<ArrayBuffer> {
  if (text.length > SIGNATURE_BASE64_LENGTH_MAX) throw refuse('signature_invalid', 'X-Hub-Signature is not an Ed25519 signature');
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = base64ToBytes(text);
  } catch {
    throw refuse('signature_invalid', 'X-Hub-Signature is not base64');
  }
  if (bytes.length !== ED25519_SIGNATURE_BYTES) throw refuse('signature_invalid', 'X-Hub-Signature is not an Ed25519 signature');
  return bytes;
}

/**
 * Hono middleware for every `/api/v1/hub/` route: checks the signature headers, then sets
 * `hub` (who is asking) and `hub_body` (the exact bytes that were signed, as text).
 */
export const requireHub: MiddlewareHandler<HubAppEnv> = async (c, next) => {
  const hub_id = c.req.header(HUB_HEADER_ID) ?? '';
  const timestamp_text = c.req.header(HUB_HEADER_TIMESTAMP) ?? '';
  const nonce = c.req.header(HUB_HEADER_NONCE) ?? '';
  const signature_text = c.req.header(HUB_HEADER_SIGNATURE) ?? '';
  if (hub_id === '' || timestamp_text === '' || nonce === '' || signature_text === '') {
    throw refuse('signature_invalid', `sign the request: ${HUB_HEADER_ID}, ${HUB_HEADER_TIMESTAMP}, ${HUB_HEADER_NONCE}, ${HUB_HEADER_SIGNATURE}`);
  }
  if (!HUB_ID_PATTERN.test(hub_id)) throw refuse('unknown_hub', 'X-Hub-Id is not a registered hub');
  if (!HUB_NONCE_PATTERN.test(nonce)) throw refuse('signature_invalid', 'X-Hub-Nonce must be 16-64 characters of [A-Za-z0-9_-]');
  if (!/^[0-9]{1,16}$/.test(timestamp_text)) throw refuse('timestamp_out_of_window', 'X-Hub-Timestamp must be ms since the epoch');
  const timestamp_ms = Number(timestamp_text);
  const now_ms = Date.now();
  if (Math.abs(now_ms - timestamp_ms) > HUB_CLOCK_SKEW_MS_MAX) {
    throw refuse('timestamp_out_of_window', `X-Hub-Timestamp is more than ${HUB_CLOCK_SKEW_MS_MAX / 1000} s from the Worker's clock`);
  }
  const signature = decodeSignature(signature_text);
  const hub = await c.env.DB.prepare('SELECT school_id, public_key FROM hubs WHERE id = ?')
    .bind(hub_id)
    .first<{ school_id: string; public_key: string }>();
  if (hub === null) throw refuse('unknown_hub', 'X-Hub-Id is not a registered hub');
  const body = await readRawBody(c);

  let key: CryptoKey;
  try {
    key = await importHubPublicKey(hub.public_key);
  } catch {
    // Registration checks keys, so this is a corrupted row: the hub cannot be authenticated.
    console.error(JSON.stringify({ level: 'error', msg: 'hub public key unusable', hub_id }));
    throw refuse('signature_invalid', 'the registered public key of this hub is unusable');
  }
  const signed = await hubSigningString({
    hub_id,
    method: c.req.method,
    path_and_query: hubPathAndQuery(new URL(c.req.url)),
    timestamp_ms,
    nonce,
    body,
  });
  const valid = await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, utf8(signed));
  if (!valid) throw refuse('signature_invalid', 'X-Hub-Signature does not verify with the hub key');

  // Only a verified request may spend a nonce, or anyone could burn a hub's nonces. The nonce
  // must outlive the window its timestamp passes in; after that the timestamp check refuses it.
  const expires_at_ms = timestamp_ms + HUB_CLOCK_SKEW_MS_MAX;
  const [, stored] = await c.env.DB.batch([
    c.env.DB.prepare(
      `DELETE FROM hub_nonces WHERE rowid IN
         (SELECT rowid FROM hub_nonces WHERE expires_at_ms < ? ORDER BY expires_at_ms LIMIT ${NONCE_CLEANUP_ROWS_MAX})`,
    ).bind(now_ms),
    c.env.DB.prepare('INSERT INTO hub_nonces (hub_id, nonce, expires_at_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').bind(
      hub_id,
      nonce,
      expires_at_ms,
    ),
    // changes() is the nonce insert's row count: a replay does not count as the hub being seen.
    c.env.DB.prepare('UPDATE hubs SET last_seen_at_ms = ? WHERE id = ? AND changes() = 1').bind(now_ms, hub_id),
  ]);
  if ((stored?.meta.changes ?? 0) !== 1) throw refuse('replayed', 'X-Hub-Nonce was already used');

  c.set('hub', { hub_id, school_id: hub.school_id });
  c.set('hub_body', body);
  await next();
};

/** The signed body as JSON of the given shape, or a 4xx naming what is wrong. */
export function parseHubBody<T extends z.ZodType>(c: Context<HubAppEnv>, schema: T): z.infer<T> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  let value: unknown;
  try {
    value = JSON.parse(c.get('hub_body'));
  } catch {
    throw new ApiError(400, 'invalid_json', 'body is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const message = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
      .join('; ');
    throw new ApiError(400, 'invalid_body', message);
  }
  return parsed.data;
}
