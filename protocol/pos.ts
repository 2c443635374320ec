// Hub ↔ POS terminal protocol on the campus LAN (DESIGN section 6), also published for
// terminal vendors as OpenAPI in hub/openapi.yaml.
import { z } from 'zod';
import { CARD_NO_LENGTH_MAX, CARD_STATUSES } from './card.ts';

export const TERMINAL_HEADER_ID = 'X-Terminal-Id';
export const TERMINAL_HEADER_TIMESTAMP = 'X-Terminal-Timestamp';
export const TERMINAL_HEADER_SIGNATURE = 'X-Terminal-Signature';
export const TERMINAL_CLOCK_SKEW_MS_MAX = 5 * 60 * 1000;
export const TERMINAL_KEY_BYTES = 32;
// Longer than any card write takes: a reservation younger than this blocks other terminals.
export const WRITE_WINDOW_MS_DEFAULT = 10_000;
export const POS_BODY_BYTES_MAX = 4096;

/** The exact bytes a terminal signs with HMAC-SHA256: `TIMESTAMP\nBODY`. */
export function terminalSigningString(timestamp_ms: number | string, body: string): string {
  return `${timestamp_ms}\n${body}`;
}

const terminalId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
export const chipState = z.strictObject({
  balance_fen: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  load_counter: z.number().int().min(0).max(0xffff_ffff),
});
export type ChipState = z.infer<typeof chipState>;

export const swipeRequest = z.strictObject({
  terminal_id: terminalId,
  // Rises with every request of a terminal; a repeated or older one is a replay.
  txn_seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  card_no: z.string().min(1).max(CARD_NO_LENGTH_MAX),
  chip: chipState,
});
export type SwipeRequest = z.infer<typeof swipeRequest>;

export interface LoadOffer {
  claim_id: string;
  amount_fen: number;
  balance_after_fen: number;
  load_counter_after: number;
}
export interface SwipeResponse {
  card_status: (typeof CARD_STATUSES)[number] | 'unknown';
  load: LoadOffer | null;
}

export const commitRequest = z.strictObject({ terminal_id: terminalId, chip: chipState });
export type CommitRequest = z.infer<typeof commitRequest>;
export const abortRequest = z.strictObject({ terminal_id: terminalId });
export type AbortRequest = z.infer<typeof abortRequest>;
export interface ClaimOutcome {
  claim_id: string;
  status: 'committed' | 'aborted';
}
