// Operator passwords (issue 10): PBKDF2-SHA256 through WebCrypto, a 16-byte salt per operator,
// compared in constant time. 100,000 iterations is the most workerd's PBKDF2 accepts; the count
// is stored with each hash so a later raise re-hashes at the next sign-in instead of locking out.
// WebCrypto only, so `npm run operator` (Node) makes the very hashes the Worker checks.
import { base64ToBytes, bytesToBase64, timingSafeEqual, utf8 } from '../../protocol/encoding.ts';

export const PBKDF2_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const HASH_BITS = 256;

export interface PasswordHash {
  password_hash: string;
  password_salt: string;
  password_iterations: number;
}

async function derive(password: string, salt: Uint8Array<ArrayBuffer>, iterations: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > PBKDF2_ITERATIONS) throw new RangeError(`iterations ${iterations}`);
  const key = await crypto.subtle.importKey('raw', utf8(password), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, HASH_BITS));
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, PBKDF2_ITERATIONS);
  return { password_hash: bytesToBase64(hash), password_salt: bytesToBase64(salt), password_iterations: PBKDF2_ITERATIONS };
}

// Hashed when the operator does not exist or has no password, so the answer takes as long
// either way and the time does not say which operator names exist.
const DECOY: PasswordHash = {
  password_hash: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
  password_salt: 'AAAAAAAAAAAAAAAAAAAAAA==',
  password_iterations: PBKDF2_ITERATIONS,
};

/** True only when `stored` is a hash of `password`; a missing hash costs the same time, and fails. */
export async function verifyPassword(password: string, stored: PasswordHash | null): Promise<boolean> {
  const against = stored ?? DECOY;
  let expected: Uint8Array;
  let salt: Uint8Array<ArrayBuffer>;
  try {
    expected = base64ToBytes(against.password_hash);
    salt = base64ToBytes(against.password_salt);
  } catch {
    return false;
  }
  const actual = await derive(password, salt, against.password_iterations);
  return timingSafeEqual(actual, expected) && stored !== null;
}
