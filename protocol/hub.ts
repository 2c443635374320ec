// Worker ↔ hub sync protocol (DESIGN section 6). The Worker validates with these schemas and
// the hub builds its requests from the same types, so both sides move together.
import { z } from 'zod';
import { CARD_KINDS, CARD_NO_LENGTH_MAX, CARD_STATUSES } from './card.ts';
import { sha256Hex } from './encoding.ts';

export const HUB_HEADER_ID = 'X-Hub-Id';
export const HUB_HEADER_TIMESTAMP = 'X-Hub-Timestamp';
export const HUB_HEADER_NONCE = 'X-Hub-Nonce';
export const HUB_HEADER_SIGNATURE = 'X-Hub-Signature';
// A request signed longer ago (or further ahead) than this is refused as stale.
export const HUB_CLOCK_SKEW_MS_MAX = 5 * 60 * 1000;
export const HUB_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,47}$/;
export const HUB_NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

export const CHANGES_LIMIT_DEFAULT = 500;
export const CHANGES_LIMIT_MAX = 1000;
export const CLAIMS_BATCH_MAX = 500;
export const VOIDS_BATCH_MAX = 500;
export const CARD_REPORTS_BATCH_MAX = 500;
// A claim loads every pending credit of one card; a card rarely has more than a handful.
export const CLAIM_CREDITS_MAX = 100;

/** The exact bytes a hub signs: `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nSHA256HEX(BODY)`. */
export async function hubSigningString(input: {
  method: string;
  path_and_query: string;
  timestamp_ms: number;
  nonce: string;
  body: string | Uint8Array;
}): Promise<string> {
  const body_sha256 = await sha256Hex(input.body);
  return `${input.method.toUpperCase()}\n${input.path_and_query}\n${input.timestamp_ms}\n${input.nonce}\n${body_sha256}`;
}

export type HubChange =
  | {
      seq: number;
      kind: 'credit';
      credit_id: string;
      order_id: string;
      card_no: string;
      amount_fen: number;
      state: 'pending' | 'claimed' | 'voided';
      created_at_ms: number;
    }
  | { seq: number; kind: 'void'; credit_id: string; card_no: string }
  | {
      seq: number;
      kind: 'card';
      card_no: string;
      status: (typeof CARD_STATUSES)[number];
      card_kind: (typeof CARD_KINDS)[number];
    };

export interface ChangesResponse {
  changes: HubChange[];
  /** The cursor to ask with next; equal to `after` when there was nothing new. */
  next_after: number;
  has_more: boolean;
}

const cardNo = z.string().min(1).max(CARD_NO_LENGTH_MAX);
const id = z.string().min(1).max(64);
const fen = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const ms = z.number().int().min(0);

export const changesQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(CHANGES_LIMIT_MAX).default(CHANGES_LIMIT_DEFAULT),
});

export const hubClaim = z.strictObject({
  claim_id: id,
  card_no: cardNo,
  terminal_id: id,
  amount_fen: fen.min(1),
  credit_ids: z.array(id).min(1).max(CLAIM_CREDITS_MAX),
  balance_after_fen: fen,
  load_counter_after: z.number().int().min(0),
  committed_at_ms: ms,
});
export type HubClaim = z.infer<typeof hubClaim>;
export const claimsRequest = z.strictObject({ claims: z.array(hubClaim).min(1).max(CLAIMS_BATCH_MAX) });
export type ClaimsRequest = z.infer<typeof claimsRequest>;
export interface ClaimsResponse {
  results: { claim_id: string; status: 'accepted' | 'duplicate' | 'rejected'; reason?: string }[];
}

export const hubVoidAnswer = z.strictObject({
  credit_id: id,
  result: z.enum(['voided', 'already_claimed']),
  claim_id: id.optional(),
});
export const voidsRequest = z.strictObject({ answers: z.array(hubVoidAnswer).min(1).max(VOIDS_BATCH_MAX) });
export type VoidsRequest = z.infer<typeof voidsRequest>;
export interface VoidsResponse {
  results: { credit_id: string; status: 'accepted' | 'duplicate' | 'rejected'; reason?: string }[];
}

export const cardReport = z.strictObject({
  card_no: cardNo,
  balance_fen: fen,
  load_counter: z.number().int().min(0),
  seen_at_ms: ms,
});
export const cardReportsRequest = z.strictObject({ reports: z.array(cardReport).min(1).max(CARD_REPORTS_BATCH_MAX) });
export type CardReportsRequest = z.infer<typeof cardReportsRequest>;
export interface CardReportsResponse {
  accepted: number;
}

/** What the push channel (WebSocket to the school's Durable Object) says: "pull now". */
export interface HubPushMessage {
  type: 'changes';
  /** The newest sequence number the Worker has for the school. */
  seq: number;
}
