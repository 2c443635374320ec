// Hub ↔ POS terminal protocol v2 on the campus LAN (DESIGN section 6, "loads as PBOC electronic
// purses do them"), also published for terminal vendors as OpenAPI in hub/openapi.yaml.
// A load is three requests on one keep-alive connection: swipe (read-only), load (MAC1 in,
// MAC2 out, only once the reservation is durable), commit (TAC in). Nothing releases money on
// a terminal's word: a reservation is settled only by the card's own evidence.
import { z } from 'zod';
import { CARD_NO_LENGTH_MAX, CARD_STATUSES } from './card.ts';

export const POS_PATH_SWIPE = '/pos/v2/swipe';
export const POS_PATH_LOADS = '/pos/v2/loads';
/** `/pos/v2/loads/{claim_id}/commit` */
export function posCommitPath(claim_id: string): string {
  return `${POS_PATH_LOADS}/${claim_id}/commit`;
}
export const POS_COMMIT_PATH_PATTERN = /^\/pos\/v2\/loads\/(clm_[0-9a-f]{24})\/commit$/;

export const TERMINAL_HEADER_ID = 'X-Terminal-Id';
export const TERMINAL_HEADER_TIMESTAMP = 'X-Terminal-Timestamp';
export const TERMINAL_HEADER_SIGNATURE = 'X-Terminal-Signature';
/** On every answer to an authenticated request: the terminal can tell it from a forgery. */
export const HUB_ANSWER_HEADER_SIGNATURE = 'X-Hub-Signature';
export const TERMINAL_CLOCK_SKEW_MS_MAX = 5 * 60 * 1000;
export const TERMINAL_KEY_BYTES = 32;
// Longer than any card write takes: another terminal's load of a card younger than this
// blocks offers to it, since that terminal may be writing the card right now.
export const WRITE_WINDOW_MS_DEFAULT = 10_000;
export const POS_BODY_BYTES_MAX = 4096;

// The chip's own bounds (JR/T 0025): a 4-byte balance in fen and a 2-byte online serial.
export const PURSE_BALANCE_FEN_MAX = 0xffff_ffff;
export const ONLINE_SERIAL_MAX = 0xffff;
// A school's purse limit per card kind unless configured (1,000.00 yuan).
export const PURSE_LIMIT_FEN_DEFAULT = 100_000;
// Transaction type of a load to an electronic purse (DESIGN: MAC1/MAC2/TAC input).
export const LOAD_TRANSACTION_TYPE = 0x02;
// 3DES (PBOC 2.0); SM4 may be added as 04 later.
export const ALGORITHM_ID_3DES = 0;

/**
 * The exact bytes a terminal signs with HMAC-SHA256: `METHOD\nPATH\nTIMESTAMP\nBODY`.
 * The path names the claim a commit is for, so a captured commit cannot be aimed at another.
 */
export function terminalSigningString(method: string, path: string, timestamp_ms: number | string, body: string): string {
  return `${method.toUpperCase()}\n${path}\n${timestamp_ms}\n${body}`;
}

/**
 * The exact bytes the hub signs for its answer: `REQUEST_SIGNATURE\nSTATUS\nBODY`, with the
 * request's X-Terminal-Signature in lower case, so an answer cannot be replayed to another request.
 */
export function hubAnswerSigningString(request_signature_hex: string, status: number, body: string): string {
  return `${request_signature_hex.toLowerCase()}\n${status}\n${body}`;
}

const hex = (digits: number) => z.string().regex(new RegExp(`^[0-9A-F]{${digits}}$`), `${digits} upper-case hex digits`);
export const asnHex = hex(16);
export const cardTerminalIdHex = hex(12);
const randomHex = hex(8);
const macHex = hex(8);

export const terminalId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
// Rises with every request of a terminal; a repeated or older one is a replay.
const txnSeq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const cardNo = z.string().min(1).max(CARD_NO_LENGTH_MAX);
const balanceFen = z.number().int().min(0).max(PURSE_BALANCE_FEN_MAX);
const onlineSerial = z.number().int().min(0).max(ONLINE_SERIAL_MAX);
const amountFen = z.number().int().min(1).max(PURSE_BALANCE_FEN_MAX);

/** `YYYYMMDDhhmmss`, a real calendar time (it goes into MAC2 and the TAC as BCD). */
export const terminalTime = z
  .string()
  .regex(/^[0-9]{14}$/, 'YYYYMMDDhhmmss')
  .refine((text) => {
    const [y, mo, d, h, mi, s] = [text.slice(0, 4), text.slice(4, 6), text.slice(6, 8), text.slice(8, 10), text.slice(10, 12), text.slice(12, 14)].map(Number) as [number, number, number, number, number, number];
    const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
  }, 'not a calendar time');

export const chipState = z.strictObject({ balance_fen: balanceFen, online_serial: onlineSerial });
export type ChipState = z.infer<typeof chipState>;

// ---- 1. swipe: read-only, answered without waiting for the disk ------------------------

export const swipeRequest = z.strictObject({ terminal_id: terminalId, txn_seq: txnSeq, card_no: cardNo, chip: chipState });
export type SwipeRequest = z.infer<typeof swipeRequest>;

export interface SwipeSettle {
  /** The open reservation the reported serial says was written: read its prove, then commit. */
  claim_id: string;
  /** The serial to ask GET TRANSACTION PROVE for (the reservation's serial before the load). */
  online_serial: number;
}
export interface SwipeResponse {
  card_status: (typeof CARD_STATUSES)[number] | 'unknown';
  pending_fen: number;
  /** What the card may load now: 0 when none (no credits, blocked, purse full, serial at 0xFFFF). */
  offer_fen: number;
  settle: SwipeSettle | null;
}

// ---- 2. load: INITIALIZE FOR LOAD's answer in, MAC2 out -------------------------------

export const initForLoad = z.strictObject({
  balance_fen: balanceFen,
  online_serial: onlineSerial,
  key_version: z.number().int().min(0).max(255),
  algorithm_id: z.number().int().min(0).max(255),
  random: randomHex,
  mac1: macHex,
});
export type InitForLoad = z.infer<typeof initForLoad>;

export const loadRequest = z.strictObject({
  terminal_id: terminalId,
  txn_seq: txnSeq,
  card_no: cardNo,
  asn: asnHex,
  amount_fen: amountFen,
  init: initForLoad,
  terminal_time: terminalTime,
});
export type LoadRequest = z.infer<typeof loadRequest>;

export interface LoadResponse {
  claim_id: string;
  amount_fen: number;
  mac2: string;
  balance_after_fen: number;
  online_serial_after: number;
}

// ---- 3. commit: the card's TAC (from CREDIT FOR LOAD, or GET TRANSACTION PROVE) -------

export const commitRequest = z.strictObject({
  terminal_id: terminalId,
  txn_seq: txnSeq,
  tac: macHex,
  /** `prove`: the TAC was read with GET TRANSACTION PROVE (any terminal may send it). */
  proof: z.enum(['tac', 'prove']).default('tac'),
});
export type CommitRequest = z.input<typeof commitRequest>;

export interface CommitResponse {
  claim_id: string;
  status: 'committed';
  balance_after_fen: number;
  online_serial_after: number;
}
