// The Alipay OpenAPI signing rules, shared by the Worker (merchant side) and the simulated
// gateway (Alipay's side), so both ends compute the canonical string with one function.
//
// - A request is signed over every parameter but `sign`: `sign_type` IS part of it.
// - A notification (and the synchronous return to return_url) is signed over every parameter
//   but `sign` and `sign_type`.
// - Either way: parameters sorted by key (code unit order, as Alipay's SDKs sort), empty
//   values skipped, joined `k=v&…` with the raw, undecoded-once values (no URL-encoding).
// - A response is `{"<method>_response": {...}, "sign": "..."}`, signed over the exact text
//   of the response node as it appears in the body, so the verifier must cut that text out
//   of the raw body rather than re-serialise a parsed object.
import { rsaSign, rsaVerify } from './rsa.ts';

export type AlipaySignScope = 'request' | 'notification';

export type AlipayParams = Readonly<Record<string, string>>;

// Alipay's own notifications carry about 30 parameters; a request a few more. Anything far
// beyond that is not a real message and is refused before any sorting or crypto.
export const ALIPAY_PARAMS_MAX = 64;

const CHINA_OFFSET_MS = 8 * 3_600_000;

export function alipaySignContent(params: AlipayParams, scope: AlipaySignScope): string {
  const keys = Object.keys(params);
  if (keys.length > ALIPAY_PARAMS_MAX) throw new RangeError(`too many parameters: ${keys.length}`);
  return keys
    .filter((key) => key !== 'sign' && !(scope === 'notification' && key === 'sign_type'))
    .filter((key) => params[key] !== undefined && params[key] !== '')
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((key) => `${key}=${params[key]}`)
    .join('&');
}

/** The `sign` value for `params` (RSA2), with the private key of whoever sends them. */
export function alipaySign(key: CryptoKey, params: AlipayParams, scope: AlipaySignScope): Promise<string> {
  return rsaSign(key, alipaySignContent(params, scope));
}

/** Checks `params.sign`; false (never a throw) for a missing, malformed or wrong signature. */
export async function alipayVerify(key: CryptoKey, params: AlipayParams, scope: AlipaySignScope): Promise<boolean> {
  const sign = params.sign;
  if (sign === undefined || sign.length === 0) return false;
  if (scope === 'notification' && params.sign_type !== undefined && params.sign_type !== 'RSA2') return false;
  if (Object.keys(params).length > ALIPAY_PARAMS_MAX) return false;
  return rsaVerify(key, alipaySignContent(params, scope), sign);
}

/** `alipay.trade.query` → `alipay_trade_query_response`. */
export function responseKeyOf(method: string): string {
  return `${method.replace(/\./g, '_')}_response`;
}

/** The response body as Alipay sends it: the node's exact text, then its signature. */
export async function signedResponseBody(key: CryptoKey, method: string | null, node: object): Promise<string> {
  const response_key = method === null ? 'error_response' : responseKeyOf(method);
  const node_text = JSON.stringify(node);
  const sign = await rsaSign(key, node_text);
  return `{"${response_key}":${node_text},"sign":${JSON.stringify(sign)}}`;
}

// Alipay's responses are small; a body past this is not one, and the scanner stays bounded.
export const ALIPAY_RESPONSE_BYTES_MAX = 256 * 1024;

/**
 * Cuts the exact text of the JSON object value of `"<response_key>":` out of `raw`: the
 * signature covers those bytes, and re-serialising a parsed object could reorder or re-escape.
 * Returns null when the key or a well-formed object after it is missing.
 */
export function extractResponseNode(raw: string, response_key: string): string | null {
  if (raw.length > ALIPAY_RESPONSE_BYTES_MAX) return null;
  const marker = `"${response_key}"`;
  const at = raw.indexOf(marker);
  if (at < 0) return null;
  let i = at + marker.length;
  while (i < raw.length && /\s/.test(raw[i]!)) i++;
  if (raw[i] !== ':') return null;
  i++;
  while (i < raw.length && /\s/.test(raw[i]!)) i++;
  if (raw[i] !== '{') return null;
  const start = i;
  let depth = 0;
  let in_string = false;
  for (; i < raw.length; i++) {
    const ch = raw[i]!;
    if (in_string) {
      if (ch === '\\') i++;
      else if (ch === '"') in_string = false;
      continue;
    }
    if (ch === '"') in_string = true;
    else if (ch === '{') depth++;
    else if (ch === '}') {
      depth--;
      if (depth === 0) return raw.slice(start, i + 1);
    }
  }
  return null;
}

/** ms → `yyyy-MM-dd HH:mm:ss` in China Standard Time (UTC+8, no daylight saving), Alipay's clock. */
export function formatChinaTime(at_ms: number): string {
  const d = new Date(at_ms + CHINA_OFFSET_MS);
  const pad = (n: number) => n.toString().padStart(2, '0');
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

const CHINA_TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** `yyyy-MM-dd HH:mm:ss` in China Standard Time → ms; null for anything else. */
export function parseChinaTime(text: string): number | null {
  const m = CHINA_TIME_PATTERN.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const utc_ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(utc_ms);
  // Date.UTC rolls 2026-02-31 over into March; a real timestamp never needs that.
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return null;
  }
  return utc_ms - CHINA_OFFSET_MS;
}

/** `yyyy-MM-dd` of the China calendar day that contains `at_ms`. */
export function chinaDate(at_ms: number): string {
  return formatChinaTime(at_ms).slice(0, 10);
}

/** Start of the China calendar day `yyyy-MM-dd`, in ms; null when not a date. */
export function chinaDayStartMs(date: string): number | null {
  return parseChinaTime(`${date} 00:00:00`);
}

/**
 * Alipay's `timeout_express` / relative expiry: `90m`, `2h`, `1d` (days of 24 h) or `1c`
 * (until the end of the current China day). Between 1 minute and 15 days, as Alipay allows.
 */
export function parseTimeoutExpress(text: string, now_ms: number): number | null {
  const m = /^([1-9][0-9]{0,4})([mhdc])$/.exec(text);
  if (m === null) return null;
  const count = Number(m[1]);
  const unit = m[2]!;
  if (unit === 'c') {
    if (count !== 1) return null;
    const start = chinaDayStartMs(chinaDate(now_ms))!;
    return start + 86_400_000;
  }
  const unit_ms = unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
  const duration_ms = count * unit_ms;
  if (duration_ms > 15 * 86_400_000) return null;
  return now_ms + duration_ms;
}
