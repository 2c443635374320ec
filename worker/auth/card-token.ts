// The signed card token (DESIGN section 4): after a first successful lookup or top-up the PWA
// keeps it, so the next top-up needs only the amount. It names one card and proves the holder's
// name was once typed correctly; it is not a session and carries nothing secret.
//
// Format: base64url(JSON payload) "." base64url(HMAC-SHA256(CARD_TOKEN_SECRET, first part)).
import { base64UrlToBytes, bytesToBase64Url, utf8 } from '../../protocol/encoding.ts';
import { ApiError } from '../http/errors.ts';

export const CARD_TOKEN_VERSION = 1;
// A year: long enough that a parent is never asked again, short enough that a card handed on to
// someone else stops being payable from an old phone eventually.
export const CARD_TOKEN_LIFETIME_MS = 365 * 24 * 60 * 60 * 1000;
// Tokens issued a little "in the future" happen with clock skew between Worker instances.
const CARD_TOKEN_CLOCK_SKEW_MS_MAX = 5 * 60 * 1000;
export const CARD_TOKEN_LENGTH_MAX = 512;
const CARD_TOKEN_SECRET_LENGTH_MIN = 16;

export interface CardTokenClaims {
  v: number;
  school_id: string;
  card_no: string;
  iat_ms: number;
}

// Key import is not free; a Worker isolate serves many requests with the same secret.
let cachedKey: { secret: string; key: Promise<CryptoKey> } | null = null;

function hmacKey(secret: string | undefined): Promise<CryptoKey> {
  if (secret === undefined || secret.length < CARD_TOKEN_SECRET_LENGTH_MIN) {
    throw new ApiError(503, 'not_configured', 'card tokens are unavailable: CARD_TOKEN_SECRET is not configured');
  }
  if (cachedKey === null || cachedKey.secret !== secret) {
    const key = crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    cachedKey = { secret, key };
  }
  return cachedKey.key;
}

export async function signCardToken(
  secret: string | undefined,
  card: { school_id: string; card_no: string },
  now_ms: number,
): Promise<string> {
  if (card.school_id.length === 0 || card.card_no.length === 0) throw new RangeError('card token for an empty card');
  if (!Number.isSafeInteger(now_ms) || now_ms <= 0) throw new RangeError(`bad issue time ${now_ms}`);
  const claims: CardTokenClaims = { v: CARD_TOKEN_VERSION, school_id: card.school_id, card_no: card.card_no, iat_ms: now_ms };
  const payload = bytesToBase64Url(utf8(JSON.stringify(claims)));
  const signature = await crypto.subtle.sign('HMAC', await hmacKey(secret), utf8(payload));
  const token = `${payload}.${bytesToBase64Url(new Uint8Array(signature))}`;
  if (token.length > CARD_TOKEN_LENGTH_MAX) throw new RangeError('card token longer than its limit');
  return token;
}

function invalid(): ApiError {
  // One message for every failure: a forger learns nothing about which check caught them.
  return new ApiError(401, 'card_token_invalid', 'the saved card is no longer valid; enter the card again');
}

/** The card the token names, or a 401 `card_token_invalid` (tampered, expired, other secret). */
export async function verifyCardToken(secret: string | undefined, token: string, now_ms: number): Promise<CardTokenClaims> {
  const key = await hmacKey(secret);
  if (token.length > CARD_TOKEN_LENGTH_MAX) throw invalid();
  const parts = token.split('.');
  if (parts.length !== 2) throw invalid();
  const [payload, signature_text] = parts as [string, string];
  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = base64UrlToBytes(signature_text);
  } catch {
    throw invalid();
  }
  // WebCrypto's HMAC verify compares in constant time.
  if (!(await crypto.subtle.verify('HMAC', key, signature, utf8(payload)))) throw invalid();
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(base64UrlToBytes(payload)));
  } catch {
    throw invalid();
  }
  if (!isClaims(claims)) throw invalid();
  if (claims.iat_ms > now_ms + CARD_TOKEN_CLOCK_SKEW_MS_MAX) throw invalid();
  if (now_ms - claims.iat_ms > CARD_TOKEN_LIFETIME_MS) throw invalid();
  return claims;
}

function isClaims(value: unknown): value is CardTokenClaims {
  if (typeof value !== 'object' || value === null) return false;
  const claims = value as Record<string, unknown>;
  return (
    claims.v === CARD_TOKEN_VERSION &&
    typeof claims.school_id === 'string' &&
    claims.school_id.length > 0 &&
    typeof claims.card_no === 'string' &&
    claims.card_no.length > 0 &&
    typeof claims.iat_ms === 'number' &&
    Number.isSafeInteger(claims.iat_ms)
  );
}
