// Aliyun SMS (dysmsapi, API version 2017-05-25) `SendSms`, RPC style, shared by the Worker's
// client and the simulator in sim/sms so both ends compute the signature with one function:
//
// - every parameter but `Signature`, sorted by name (code unit order), each name and value
//   percent-encoded as RFC 3986 (unreserved A-Z a-z 0-9 - _ . ~ kept, everything else %XX in
//   upper case, a space as %20), joined `k=v&…`: the canonicalised query;
// - StringToSign = METHOD & percentEncode("/") & percentEncode(canonicalised query);
// - Signature = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
//
// The common parameters carry SignatureNonce (unique per request: a replay is refused) and a
// UTC Timestamp `yyyy-MM-ddTHH:mm:ssZ` (Aliyun refuses one more than 15 minutes off).
import { base64ToBytes, bytesToBase64, timingSafeEqual, utf8 } from './encoding.ts';

export const ALIYUN_SMS_ACTION = 'SendSms';
export const ALIYUN_SMS_VERSION = '2017-05-25';
export const ALIYUN_SMS_ENDPOINT = 'https://dysmsapi.aliyuncs.com';
export const ALIYUN_TIMESTAMP_SKEW_MS_MAX = 15 * 60_000;
// A SendSms request has about 15 parameters; far more is not one.
export const ALIYUN_PARAMS_MAX = 32;

export function aliyunPercentEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function aliyunCanonicalQuery(params: Readonly<Record<string, string>>): string {
  const keys = Object.keys(params).filter((key) => key !== 'Signature');
  if (keys.length > ALIYUN_PARAMS_MAX) throw new RangeError(`too many parameters: ${keys.length}`);
  return keys
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((key) => `${aliyunPercentEncode(key)}=${aliyunPercentEncode(params[key]!)}`)
    .join('&');
}

export function aliyunStringToSign(method: 'GET' | 'POST', params: Readonly<Record<string, string>>): string {
  return `${method}&${aliyunPercentEncode('/')}&${aliyunPercentEncode(aliyunCanonicalQuery(params))}`;
}

async function hmacSha1(secret: string, text: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', utf8(`${secret}&`), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(text)));
}

export async function aliyunSignature(secret: string, method: 'GET' | 'POST', params: Readonly<Record<string, string>>): Promise<string> {
  return bytesToBase64(await hmacSha1(secret, aliyunStringToSign(method, params)));
}

/** Checks `params.Signature`; false (never a throw) for a missing, malformed or wrong one. */
export async function aliyunVerify(secret: string, method: 'GET' | 'POST', params: Readonly<Record<string, string>>): Promise<boolean> {
  const given = params.Signature;
  if (given === undefined || given.length === 0 || given.length > 64) return false;
  let given_bytes: Uint8Array;
  try {
    given_bytes = base64ToBytes(given);
  } catch {
    return false;
  }
  if (Object.keys(params).length > ALIYUN_PARAMS_MAX) return false;
  return timingSafeEqual(given_bytes, await hmacSha1(secret, aliyunStringToSign(method, params)));
}

/** ms → `yyyy-MM-ddTHH:mm:ssZ` (UTC), Aliyun's Timestamp. */
export function aliyunTimestamp(at_ms: number): string {
  return new Date(at_ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function parseAliyunTimestamp(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(text)) return null;
  const at_ms = Date.parse(text);
  return Number.isFinite(at_ms) ? at_ms : null;
}

/** What SendSms answers, success (`Code: "OK"`) or refusal alike. */
export interface AliyunSmsAnswer {
  Code: string;
  Message: string;
  RequestId: string;
  BizId?: string;
}

/** `13800138000` → `138****8000`: what logs and the admin API show of a phone number. */
export function maskPhone(phone: string): string {
  return phone.length >= 7 ? `${phone.slice(0, 3)}****${phone.slice(-4)}` : '****';
}
