// Terminal authentication (DESIGN section 6): HMAC-SHA256 with the terminal's 32-byte key
// over `TIMESTAMP\nBODY`, timestamp within ±5 minutes. Replays inside that window are caught
// by txn_seq (swipes) or are harmless (commit and abort are idempotent).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  TERMINAL_CLOCK_SKEW_MS_MAX,
  TERMINAL_HEADER_ID,
  TERMINAL_HEADER_SIGNATURE,
  TERMINAL_HEADER_TIMESTAMP,
} from '../../protocol/pos.ts';
import { HttpError } from '../http.ts';

const TERMINAL_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const SIGNATURE_PATTERN = /^[0-9a-fA-F]{64}$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? undefined : value;
}

/** Returns the authenticated terminal id, or throws the 401 that says why not. */
export function authenticateTerminal(
  req: IncomingMessage,
  body: Buffer,
  keyOf: (terminal_id: string, reload: boolean) => Buffer | null,
  now_ms: number,
): string {
  const terminal_id = header(req, TERMINAL_HEADER_ID);
  const timestamp = header(req, TERMINAL_HEADER_TIMESTAMP);
  const signature = header(req, TERMINAL_HEADER_SIGNATURE);
  if (terminal_id === undefined || timestamp === undefined || signature === undefined) {
    throw new HttpError(401, 'unauthorized', `send ${TERMINAL_HEADER_ID}, ${TERMINAL_HEADER_TIMESTAMP} and ${TERMINAL_HEADER_SIGNATURE}`);
  }
  if (!TERMINAL_ID_PATTERN.test(terminal_id)) throw new HttpError(401, 'unknown_terminal', 'terminal id is malformed');
  if (!/^[0-9]{1,16}$/.test(timestamp)) throw new HttpError(401, 'timestamp_out_of_window', 'timestamp must be milliseconds since the epoch');
  if (Math.abs(now_ms - Number(timestamp)) > TERMINAL_CLOCK_SKEW_MS_MAX) {
    throw new HttpError(401, 'timestamp_out_of_window', 'timestamp is more than 5 minutes off the hub clock');
  }
  if (!SIGNATURE_PATTERN.test(signature)) throw new HttpError(401, 'signature_invalid', 'signature must be 64 hex characters');
  const given = Buffer.from(signature, 'hex');
  // A failed check re-reads the key once, so a key rotated with `terminal add` takes effect.
  for (const reload of [false, true]) {
    const key = keyOf(terminal_id, reload);
    if (key === null) throw new HttpError(401, 'unknown_terminal', `terminal ${terminal_id} is not registered on this hub`);
    const expected = createHmac('sha256', key).update(`${timestamp}\n`).update(body).digest();
    if (timingSafeEqual(expected, given)) return terminal_id;
  }
  throw new HttpError(401, 'signature_invalid', 'signature does not match');
}
