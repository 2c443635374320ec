// WeChat Pay API v3 wire protocol, shared by the Worker (merchant side) and the simulated gateway
// (WeChat Pay side) so both sign, verify, encrypt and decrypt with one code path. WebCrypto only:
// it runs in workerd and in Node.
//
// - Requests carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
//   signature="…",timestamp="…",serial_no="…"`, an RSA-SHA256 signature by the merchant key over
//   `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY\n`.
// - Responses and notifications carry `Wechatpay-Timestamp`, `Wechatpay-Nonce`,
//   `Wechatpay-Signature`, `Wechatpay-Serial`: a signature by the platform key over
//   `TIMESTAMP\nNONCE\nBODY\n`; the serial names the platform key ("public key id").
// - A notification's `resource` is AES-256-GCM under the merchant's API v3 key (32 ASCII bytes),
//   the ciphertext base64 with the 16-byte tag appended.
import { z } from 'zod';
import { base64ToBytes, bytesToBase64, utf8 } from './encoding.ts';
import { rsaSign, rsaVerify } from './rsa.ts';

export const WECHATPAY_AUTH_SCHEME = 'WECHATPAY2-SHA256-RSA2048';
export const WECHATPAY_API_ORIGIN = 'https://api.mch.weixin.qq.com';
// WeChat Pay's own rule for responses and notifications, applied to requests by the simulator.
export const WECHATPAY_SIGNATURE_WINDOW_S = 300;
export const WECHATPAY_AES_ALGORITHM = 'AEAD_AES_256_GCM';
// Every field of an Authorization header is short; a longer header is not one of ours.
const AUTHORIZATION_CHARS_MAX = 2048;
const NONCE_CHARS_MAX = 64;

/** Header names as WeChat Pay sends them; HTTP header lookup is case-insensitive anyway. */
export const WECHATPAY_HEADER = {
  timestamp: 'Wechatpay-Timestamp',
  nonce: 'Wechatpay-Nonce',
  signature: 'Wechatpay-Signature',
  serial: 'Wechatpay-Serial',
  signature_type: 'Wechatpay-Signature-Type',
} as const;

const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Random upper-case alphanumerics; 32 for request nonces, 12 for AES-GCM resource nonces. */
export function randomNonce(length: number): string {
  if (!Number.isInteger(length) || length < 1 || length > NONCE_CHARS_MAX) throw new RangeError(`nonce length ${length}`);
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = '';
  // 256 % 36 leaves a slight bias; a nonce needs uniqueness, not uniformity.
  for (const byte of bytes) out += NONCE_ALPHABET[byte % NONCE_ALPHABET.length];
  return out;
}

export function nowSeconds(now_ms: number): string {
  return String(Math.floor(now_ms / 1000));
}

// ---------------------------------------------------------------------------------------------
// Request signature (merchant → WeChat Pay)

export interface RequestToSign {
  method: string;
  /** The path with its query string exactly as sent, e.g. `/v3/pay/transactions/out-trade-no/Y1?mchid=1900000001`. */
  path_and_query: string;
  /** Empty for GET. */
  body: string;
}

export function requestSignatureMessage(request: RequestToSign, timestamp: string, nonce: string): string {
  return `${request.method.toUpperCase()}\n${request.path_and_query}\n${timestamp}\n${nonce}\n${request.body}\n`;
}

export interface WechatAuthorization {
  mchid: string;
  nonce_str: string;
  signature: string;
  timestamp: string;
  serial_no: string;
}

/** The `Authorization` header value of a merchant request. */
export async function signRequest(
  merchant_private_key: CryptoKey,
  identity: { mchid: string; serial_no: string },
  request: RequestToSign,
  now_ms: number,
  nonce: string = randomNonce(32),
): Promise<string> {
  const timestamp = nowSeconds(now_ms);
  const signature = await rsaSign(merchant_private_key, requestSignatureMessage(request, timestamp, nonce));
  return (
    `${WECHATPAY_AUTH_SCHEME} mchid="${identity.mchid}",nonce_str="${nonce}",` +
    `signature="${signature}",timestamp="${timestamp}",serial_no="${identity.serial_no}"`
  );
}

const AUTH_FIELD = /([a-z_]+)="([^"]*)"/g;
const AUTH_FIELD_NAMES = ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no'] as const;

/** Null for anything that is not exactly the five quoted fields of the scheme, each once. */
export function parseAuthorization(header: string | null | undefined): WechatAuthorization | null {
  if (typeof header !== 'string' || header.length > AUTHORIZATION_CHARS_MAX) return null;
  const prefix = `${WECHATPAY_AUTH_SCHEME} `;
  if (!header.startsWith(prefix)) return null;
  const rest = header.slice(prefix.length).trim();
  const fields = new Map<string, string>();
  let consumed = '';
  for (const match of rest.matchAll(AUTH_FIELD)) {
    const [whole, name, value] = match;
    if (fields.has(name!)) return null;
    fields.set(name!, value!);
    consumed += (consumed.length > 0 ? ',' : '') + whole;
  }
  // Rejects stray text between fields, which a lenient parser would silently skip.
  if (consumed !== rest.replace(/\s*,\s*/g, ',')) return null;
  if (fields.size !== AUTH_FIELD_NAMES.length) return null;
  for (const name of AUTH_FIELD_NAMES) {
    if (!fields.get(name)) return null;
  }
  return {
    mchid: fields.get('mchid')!,
    nonce_str: fields.get('nonce_str')!,
    signature: fields.get('signature')!,
    timestamp: fields.get('timestamp')!,
    serial_no: fields.get('serial_no')!,
  };
}

export function verifyRequest(
  merchant_public_key: CryptoKey,
  authorization: WechatAuthorization,
  request: RequestToSign,
): Promise<boolean> {
  const message = requestSignatureMessage(request, authorization.timestamp, authorization.nonce_str);
  return rsaVerify(merchant_public_key, message, authorization.signature);
}

// ---------------------------------------------------------------------------------------------
// Response and notification signature (WeChat Pay → merchant)

export function signedMessage(timestamp: string, nonce: string, body: string): string {
  return `${timestamp}\n${nonce}\n${body}\n`;
}

export interface SignatureHeaders {
  timestamp: string;
  nonce: string;
  signature: string;
  serial: string;
}

/** The four Wechatpay-* headers (and the signature type) for a response or notification body. */
export async function signBody(
  platform_private_key: CryptoKey,
  platform_serial: string,
  body: string,
  now_ms: number,
  nonce: string = randomNonce(32),
): Promise<Record<string, string>> {
  const timestamp = nowSeconds(now_ms);
  const signature = await rsaSign(platform_private_key, signedMessage(timestamp, nonce, body));
  return {
    [WECHATPAY_HEADER.timestamp]: timestamp,
    [WECHATPAY_HEADER.nonce]: nonce,
    [WECHATPAY_HEADER.signature]: signature,
    [WECHATPAY_HEADER.serial]: platform_serial,
    [WECHATPAY_HEADER.signature_type]: WECHATPAY_AUTH_SCHEME,
  };
}

/** Reads the headers through `get` (case-insensitive in Headers, lower-case in Node); null if any is missing. */
export function readSignatureHeaders(get: (name: string) => string | null | undefined): SignatureHeaders | null {
  const timestamp = get(WECHATPAY_HEADER.timestamp.toLowerCase());
  const nonce = get(WECHATPAY_HEADER.nonce.toLowerCase());
  const signature = get(WECHATPAY_HEADER.signature.toLowerCase());
  const serial = get(WECHATPAY_HEADER.serial.toLowerCase());
  if (!timestamp || !nonce || !signature || !serial) return null;
  return { timestamp, nonce, signature, serial };
}

export type SignatureVerdict =
  | { ok: true }
  | { ok: false; reason: 'missing_headers' | 'wrong_serial' | 'stale_timestamp' | 'bad_signature' };

/**
 * Checks, in this order: all headers present, the serial names the key we hold, the timestamp
 * is within the window of `now_ms` (a replayed old message is refused even with a good
 * signature), and the signature over the exact body bytes.
 */
export async function verifySignedBody(
  platform_public_key: CryptoKey,
  expected_serial: string,
  headers: SignatureHeaders | null,
  body: string,
  now_ms: number,
  window_s: number = WECHATPAY_SIGNATURE_WINDOW_S,
): Promise<SignatureVerdict> {
  if (headers === null) return { ok: false, reason: 'missing_headers' };
  if (headers.serial !== expected_serial) return { ok: false, reason: 'wrong_serial' };
  if (!timestampWithin(headers.timestamp, now_ms, window_s)) return { ok: false, reason: 'stale_timestamp' };
  if (headers.nonce.length > NONCE_CHARS_MAX) return { ok: false, reason: 'bad_signature' };
  const good = await rsaVerify(platform_public_key, signedMessage(headers.timestamp, headers.nonce, body), headers.signature);
  return good ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

/** Unix seconds as decimal digits, within `window_s` of `now_ms` either way. */
export function timestampWithin(timestamp: string, now_ms: number, window_s: number): boolean {
  if (!/^[0-9]{1,12}$/.test(timestamp)) return false;
  return Math.abs(Number(timestamp) * 1000 - now_ms) <= window_s * 1000;
}

// ---------------------------------------------------------------------------------------------
// Notification resource encryption (AEAD_AES_256_GCM under the API v3 key)

export interface WechatResource {
  original_type: string;
  algorithm: string;
  ciphertext: string;
  associated_data?: string;
  nonce: string;
}

const API_V3_KEY_BYTES = 32;

/** The API v3 key is 32 ASCII characters whose bytes are the AES-256 key. */
export function importApiV3Key(api_v3_key: string): Promise<CryptoKey> {
  const bytes = utf8(api_v3_key);
  if (bytes.length !== API_V3_KEY_BYTES || !/^[\x21-\x7e]+$/.test(api_v3_key)) {
    throw new RangeError('WECHATPAY_API_V3_KEY must be 32 ASCII characters');
  }
  return crypto.subtle.importKey('raw', bytes, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

export async function encryptResource(
  api_v3_key: CryptoKey,
  plaintext: string,
  original_type: string,
  associated_data: string,
  nonce: string = randomNonce(12),
): Promise<WechatResource> {
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: utf8(nonce), additionalData: utf8(associated_data), tagLength: 128 },
    api_v3_key,
    utf8(plaintext),
  );
  return {
    original_type,
    algorithm: WECHATPAY_AES_ALGORITHM,
    ciphertext: bytesToBase64(new Uint8Array(sealed)),
    associated_data,
    nonce,
  };
}

/** The plaintext, or null when the algorithm is not ours or the tag does not verify. */
export async function decryptResource(api_v3_key: CryptoKey, resource: WechatResource): Promise<string | null> {
  if (resource.algorithm !== WECHATPAY_AES_ALGORITHM) return null;
  if (resource.nonce.length === 0 || resource.nonce.length > NONCE_CHARS_MAX) return null;
  let sealed: Uint8Array<ArrayBuffer>;
  try {
    sealed = base64ToBytes(resource.ciphertext);
  } catch {
    return null;
  }
  // Shorter than the tag cannot be a GCM ciphertext.
  if (sealed.length <= 16) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: utf8(resource.nonce), additionalData: utf8(resource.associated_data ?? ''), tagLength: 128 },
      api_v3_key,
      sealed,
    );
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(plain);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Times: WeChat Pay writes RFC 3339 with the China offset, `2026-11-22T10:00:00+08:00`.

const CST_OFFSET_MS = 8 * 3600_000;
const RFC3339 = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/;

export function formatWechatTime(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a time in ms: ${ms}`);
  return `${new Date(ms + CST_OFFSET_MS).toISOString().slice(0, 19)}+08:00`;
}

/** ms since the epoch, or null for anything that is not a full RFC 3339 time with an offset. */
export function parseWechatTime(text: string): number | null {
  if (!RFC3339.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}

// ---------------------------------------------------------------------------------------------
// Shapes. Objects are not strict: WeChat Pay adds fields (promotion_detail, …) over time.

export const TRADE_STATES = ['SUCCESS', 'REFUND', 'NOTPAY', 'CLOSED', 'REVOKED', 'USERPAYING', 'PAYERROR', 'ACCEPT'] as const;
export type TradeStateCode = (typeof TRADE_STATES)[number];

const shortText = (max: number) => z.string().min(1).max(max);

export const wechatAmount = z.object({
  total: z.number().int().min(1).max(100_000_000_000),
  currency: z.string().max(16).optional(),
  payer_total: z.number().int().min(0).optional(),
  payer_currency: z.string().max(16).optional(),
});

/** A transaction as a query answers it and as a TRANSACTION notification's resource holds it. */
export const wechatTransaction = z.object({
  appid: shortText(32),
  mchid: shortText(32),
  out_trade_no: shortText(32),
  transaction_id: z.string().max(32).optional(),
  trade_type: z.string().max(16).optional(),
  trade_state: z.enum(TRADE_STATES),
  trade_state_desc: z.string().max(256).optional(),
  bank_type: z.string().max(32).optional(),
  attach: z.string().max(128).optional(),
  success_time: z.string().max(40).optional(),
  payer: z.object({ openid: z.string().max(128).optional() }).optional(),
  amount: wechatAmount.optional(),
});
export type WechatTransaction = z.infer<typeof wechatTransaction>;

export const wechatResource = z.object({
  original_type: z.string().max(32),
  algorithm: z.string().max(32),
  ciphertext: z.string().min(1).max(32_768),
  associated_data: z.string().max(256).optional(),
  nonce: shortText(NONCE_CHARS_MAX),
});

export const wechatNotification = z.object({
  id: shortText(64),
  create_time: z.string().max(40),
  event_type: shortText(64),
  resource_type: z.string().max(32),
  summary: z.string().max(256).optional(),
  resource: wechatResource,
});
export type WechatNotification = z.infer<typeof wechatNotification>;

/** WeChat Pay's error body, on its API and on the merchant's notification answer. */
export interface WechatErrorBody {
  code: string;
  message: string;
}

// H5 order request (`POST /v3/pay/transactions/h5`); JSAPI has `payer.openid` instead of `h5_info`.
export const wechatOrderRequest = z.object({
  appid: shortText(32),
  mchid: shortText(32),
  description: shortText(127),
  out_trade_no: z.string().regex(/^[0-9A-Za-z_\-|*]{6,32}$/, 'out_trade_no is 6-32 letters, digits, _-|*'),
  time_expire: z.string().max(40).optional(),
  attach: z.string().max(128).optional(),
  notify_url: z.string().max(256).regex(/^https?:\/\/[^\s]+$/, 'notify_url is an http(s) URL'),
  amount: z.object({ total: z.number().int().min(1).max(100_000_000_000), currency: z.literal('CNY').optional() }),
  scene_info: z
    .object({
      payer_client_ip: shortText(45),
      h5_info: z.object({ type: z.enum(['Wap', 'iOS', 'Android']) }).optional(),
    })
    .optional(),
  payer: z.object({ openid: shortText(128) }).optional(),
});
export type WechatOrderRequest = z.infer<typeof wechatOrderRequest>;

export const wechatRefundRequest = z.object({
  out_trade_no: shortText(32).optional(),
  transaction_id: shortText(32).optional(),
  out_refund_no: z.string().regex(/^[0-9A-Za-z_\-|*@]{1,64}$/),
  reason: z.string().max(80).optional(),
  notify_url: z.string().max(256).optional(),
  amount: z.object({
    refund: z.number().int().min(1),
    total: z.number().int().min(1),
    currency: z.literal('CNY'),
  }),
});
export type WechatRefundRequest = z.infer<typeof wechatRefundRequest>;

export const REFUND_STATUSES = ['SUCCESS', 'CLOSED', 'PROCESSING', 'ABNORMAL'] as const;
export const wechatRefund = z.object({
  refund_id: shortText(64),
  out_refund_no: shortText(64),
  out_trade_no: z.string().max(32).optional(),
  status: z.enum(REFUND_STATUSES),
  amount: z.object({ refund: z.number().int(), total: z.number().int() }),
  create_time: z.string().max(40).optional(),
  success_time: z.string().max(40).optional(),
});

// The decrypted resource of a REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED notification
// (resource.original_type "refund"): note `refund_status`, where the refund API says `status`.
export const REFUND_EVENT_TYPES = ['REFUND.SUCCESS', 'REFUND.ABNORMAL', 'REFUND.CLOSED'] as const;
export const wechatRefundNotice = z.object({
  mchid: shortText(32),
  out_trade_no: shortText(32),
  transaction_id: shortText(32),
  out_refund_no: shortText(64),
  refund_id: shortText(64),
  refund_status: z.enum(REFUND_STATUSES),
  success_time: z.string().max(40).optional(),
  user_received_account: z.string().max(64).optional(),
  amount: z.object({
    total: z.number().int(),
    refund: z.number().int(),
    payer_total: z.number().int(),
    payer_refund: z.number().int(),
  }),
});
export type WechatRefundNotice = z.infer<typeof wechatRefundNotice>;
