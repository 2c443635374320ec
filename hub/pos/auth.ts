// Terminal authentication (DESIGN section 6): HMAC-SHA256 with the terminal's 32-byte key over
// `METHOD\nPATH\nTIMESTAMP\nBODY` (protocol/pos.ts), the timestamp within ±5 minutes; the path
// names the claim, so a captured commit cannot be aimed at another one. Replays inside the
// window are refused by txn_seq (the ledger). Every answer to an authenticated request, errors
// included, is signed back (`X-Hub-Signature`), so a terminal can tell it from a forgery.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, type ErrorCode } from '../../protocol/errors.ts';
import {
  HUB_ANSWER_HEADER_SIGNATURE,
  hubAnswerSigningString,
  TERMINAL_CLOCK_SKEW_MS_MAX,
  TERMINAL_HEADER_ID,
  TERMINAL_HEADER_SIGNATURE,
  TERMINAL_HEADER_TIMESTAMP,
  terminalId,
  terminalSigningString,
} from '../../protocol/pos.ts';
import { HttpError } from '../http.ts';

const SIGNATURE_PATTERN = /^[0-9a-fA-F]{64}$/;

export interface AuthenticatedTerminal {
  terminal_id: string;
  key: Buffer;
  card_terminal_id: string;
  /** The request's X-Terminal-Signature in lower case: the answer's signature covers it. */
  request_signature: string;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? undefined : value;
}

/** Returns the authenticated terminal, or throws the 401 that says why not. */
export function authenticateTerminal(
  req: IncomingMessage,
  path: string,
  body: Buffer,
  terminalOf: (terminal_id: string, reload: boolean) => { key: Buffer; card_terminal_id: string } | null,
  now_ms: number,
): AuthenticatedTerminal {
  const terminal_id = header(req, TERMINAL_HEADER_ID);
  const timestamp = header(req, TERMINAL_HEADER_TIMESTAMP);
  const signature = header(req, TERMINAL_HEADER_SIGNATURE);
  if (terminal_id === undefined || timestamp === undefined || signature === undefined) {
    throw new HttpError(401, 'unauthorized', `send ${TERMINAL_HEADER_ID}, ${TERMINAL_HEADER_TIMESTAMP} and ${TERMINAL_HEADER_SIGNATURE}`);
  }
  if (!terminalId.safeParse(terminal_id).success) throw new HttpError(401, 'unknown_terminal', 'terminal id is malformed');
  if (!/^[0-9]{1,16}$/.test(timestamp)) throw new HttpError(401, 'timestamp_out_of_window', 'timestamp must be milliseconds since the epoch');
  if (Math.abs(now_ms - Number(timestamp)) > TERMINAL_CLOCK_SKEW_MS_MAX) {
    throw new HttpError(401, 'timestamp_out_of_window', 'timestamp is more than 5 minutes off the hub clock');
  }
  if (!SIGNATURE_PATTERN.test(signature)) throw new HttpError(401, 'signature_invalid', 'signature must be 64 hex characters');
  const given = Buffer.from(signature, 'hex');
  const method = req.method ?? 'POST';
  // A failed check re-reads the key once, so a key rotated with `terminal add` takes effect.
  for (const reload of [false, true]) {
    const terminal = terminalOf(terminal_id, reload);
    if (terminal === null) throw new HttpError(401, 'unknown_terminal', `terminal ${terminal_id} is not registered on this hub`);
    const expected = createHmac('sha256', terminal.key).update(terminalSigningString(method, path, timestamp, '')).update(body).digest();
    if (timingSafeEqual(expected, given)) {
      return { terminal_id, key: terminal.key, card_terminal_id: terminal.card_terminal_id, request_signature: signature.toLowerCase() };
    }
  }
  throw new HttpError(401, 'signature_invalid', 'signature does not match');
}

/** The answer signature: lower-case hex HMAC-SHA256(key, `REQUEST_SIGNATURE\nSTATUS\nBODY`). */
export function signAnswer(terminal: AuthenticatedTerminal, status: number, body: string): string {
  return createHmac('sha256', terminal.key).update(hubAnswerSigningString(terminal.request_signature, status, body)).digest('hex');
}

/** Sends JSON, signed when the request was authenticated. */
export function sendPos(res: ServerResponse, terminal: AuthenticatedTerminal | null, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) };
  if (terminal !== null) headers[HUB_ANSWER_HEADER_SIGNATURE] = signAnswer(terminal, status, text);
  res.writeHead(status, headers);
  res.end(text);
}

export function sendPosError(res: ServerResponse, terminal: AuthenticatedTerminal | null, status: number, code: ErrorCode, message: string): void {
  sendPos(res, terminal, status, errorBody(code, message));
}
