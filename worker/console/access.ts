// Sign-in through Cloudflare Access (issue 10): Access in front of /console puts a signed JWT
// (RS256) in `Cf-Access-Jwt-Assertion`. It is believed only after its signature verifies against
// the team's published keys, its audience is this application's (CF_ACCESS_AUD), its issuer is
// the team (CF_ACCESS_TEAM_DOMAIN) and it is within its validity. The e-mail it carries then
// selects the operator. CF_ACCESS_JWKS, when set, holds the key set as JSON instead of fetching
// it from the team domain (tests; a deployment that pins its keys).
import { base64UrlToBytes, utf8 } from '../../protocol/encoding.ts';
import type { Env } from '../env.ts';
import { readBounded } from '../http/read-bounded.ts';

export const ACCESS_JWT_HEADER = 'cf-access-jwt-assertion';
const JWT_LENGTH_MAX = 8 * 1024;
const JWKS_BYTES_MAX = 64 * 1024;
const JWKS_KEYS_MAX = 16;
// Access rotates its keys every few weeks and publishes the next one ahead; an hour of cache
// keeps a fetch off almost every sign-in without holding a withdrawn key for long.
const JWKS_CACHE_MS = 60 * 60 * 1000;
const CLOCK_SKEW_S = 60;

export interface AccessIdentity {
  email: string;
}

interface Jwk {
  kty?: string;
  kid?: string;
  n?: string;
  e?: string;
  alg?: string;
}

let cache: { source: string; keys: Jwk[]; fetched_at_ms: number } | null = null;

export function accessConfigured(env: Env): boolean {
  return (env.CF_ACCESS_TEAM_DOMAIN ?? '').trim() !== '' && (env.CF_ACCESS_AUD ?? '').trim() !== '';
}

function teamOrigin(env: Env): string {
  const domain = (env.CF_ACCESS_TEAM_DOMAIN ?? '').trim().replace(/\/+$/, '');
  return domain.startsWith('https://') ? domain : `https://${domain}`;
}

function parseKeys(text: string): Jwk[] {
  const value = JSON.parse(text) as { keys?: unknown };
  if (!Array.isArray(value.keys)) throw new TypeError('JWKS without keys');
  return (value.keys as Jwk[]).slice(0, JWKS_KEYS_MAX).filter((key) => key.kty === 'RSA' && typeof key.n === 'string' && typeof key.e === 'string');
}

async function jwks(env: Env, now_ms: number): Promise<Jwk[]> {
  const pinned = env.CF_ACCESS_JWKS?.trim();
  if (pinned !== undefined && pinned !== '') return parseKeys(pinned);
  const url = `${teamOrigin(env)}/cdn-cgi/access/certs`;
  if (cache !== null && cache.source === url && now_ms - cache.fetched_at_ms < JWKS_CACHE_MS) return cache.keys;
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`Access keys: HTTP ${response.status}`);
  }
  const bytes = await readBounded(response, JWKS_BYTES_MAX);
  if (bytes === null) throw new Error('Access keys: too large');
  const keys = parseKeys(new TextDecoder().decode(bytes));
  cache = { source: url, keys, fetched_at_ms: now_ms };
  return keys;
}

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(base64UrlToBytes(part)));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * The identity an Access assertion vouches for, or null when it is absent, malformed, signed by
 * a key not in the team's set, meant for another application, or outside its validity.
 */
export async function verifyAccessAssertion(env: Env, assertion: string | undefined, now_ms: number): Promise<AccessIdentity | null> {
  if (!accessConfigured(env) || assertion === undefined || assertion.length > JWT_LENGTH_MAX) return null;
  const parts = assertion.split('.');
  if (parts.length !== 3) return null;
  const [head, body, signature] = parts as [string, string, string];
  const header = decodeJson(head);
  const claims = decodeJson(body);
  if (header === null || claims === null || header.alg !== 'RS256') return null;
  let signature_bytes: Uint8Array<ArrayBuffer>;
  try {
    signature_bytes = base64UrlToBytes(signature);
  } catch {
    return null;
  }
  const keys = await jwks(env, now_ms);
  // With a kid, only that key; without one, any key of the set (Access always sends a kid).
  const candidates = keys.filter((key) => header.kid === undefined || key.kid === header.kid);
  let verified = false;
  for (const jwk of candidates) {
    const key = await crypto.subtle.importKey(
      'jwk',
      { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'RS256', ext: true },
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['verify'],
    );
    if (await crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, signature_bytes, utf8(`${head}.${body}`))) {
      verified = true;
      break;
    }
  }
  if (!verified) return null;
  const aud = (env.CF_ACCESS_AUD ?? '').trim();
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(aud)) return null;
  if (claims.iss !== teamOrigin(env)) return null;
  const now_s = Math.floor(now_ms / 1000);
  if (typeof claims.exp !== 'number' || claims.exp + CLOCK_SKEW_S < now_s) return null;
  if (typeof claims.nbf === 'number' && claims.nbf - CLOCK_SKEW_S > now_s) return null;
  if (typeof claims.email !== 'string' || claims.email.length === 0 || claims.email.length > 254) return null;
  return { email: claims.email.trim().toLowerCase() };
}
