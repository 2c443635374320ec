// Worker ↔ hub sync protocol (DESIGN section 6). The Worker validates with these schemas and
// the hub builds its requests from the same types, so both sides move together.
import { z } from 'zod';
import { schoolId } from './api.ts';
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
// The largest hub request body the Worker reads (413 above it): room for a full claims batch
// of ordinary claims, and below D1's 2,000,000-byte limit on one bound value, since a batch is
// bound to SQL as one JSON text. A hub cuts a batch shorter if its JSON would not fit.
export const HUB_BODY_BYTES_MAX = 1_900_000;

/**
 * The exact bytes a hub signs: `HUB_ID\nMETHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nSHA256HEX(BODY)`.
 * The hub id comes first so that a signature vouches for who is asking, not only for what.
 */
export async function hubSigningString(input: {
  hub_id: string;
  method: string;
  path_and_query: string;
  timestamp_ms: number;
  nonce: string;
  body: string | Uint8Array;
}): Promise<string> {
  const body_sha256 = await sha256Hex(input.body);
  return `${input.hub_id}\n${input.method.toUpperCase()}\n${input.path_and_query}\n${input.timestamp_ms}\n${input.nonce}\n${body_sha256}`;
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
      /** The chip's application serial number (16 upper-case hex), from which the hub derives
       * the card's keys; null when the registry has none: such a card is never offered a load. */
      asn: string | null;
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

/**
 * What proves the card wrote a claim (DESIGN section 3, invariant 7): its TAC from CREDIT FOR
 * LOAD (`tac`), the TAC read back with GET TRANSACTION PROVE (`prove`), or the card's
 * MAC1-verified online serial seen past the load's at its next load (`serial`).
 */
export const claimProof = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('tac'), tac: z.string().regex(/^[0-9A-F]{8}$/) }),
  z.strictObject({ kind: z.literal('prove'), tac: z.string().regex(/^[0-9A-F]{8}$/) }),
  z.strictObject({ kind: z.literal('serial'), online_serial_seen: z.number().int().min(1).max(0xffff) }),
]);
export type ClaimProof = z.infer<typeof claimProof>;

export const hubClaim = z.strictObject({
  claim_id: id,
  card_no: cardNo,
  terminal_id: id,
  /** The 6 bytes the card saw as terminal id (12 upper-case hex), part of MAC2 and the TAC. */
  card_terminal_id: z.string().regex(/^[0-9A-F]{12}$/),
  amount_fen: fen.min(1),
  credit_ids: z.array(id).min(1).max(CLAIM_CREDITS_MAX),
  balance_after_fen: fen,
  /** The card's online serial after the load (the serial before it + 1). */
  online_serial_after: z.number().int().min(1).max(0xffff),
  committed_at_ms: ms,
  proof: claimProof,
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
  online_serial: z.number().int().min(0).max(0xffff),
  seen_at_ms: ms,
});
export const GREY_RECORDS_BATCH_MAX = 500;
/**
 * A reservation the hub could not resolve (neither committed nor released, and the card not
 * seen again): DESIGN's four routes have no place for it, so card-reports carries it in an
 * optional `grey` array. The Worker keeps the newest report per (hub, claim_id); `resolved`
 * says the card has since settled it (a claim with this id also resolves it at the Worker).
 */
export const greyRecord = z.strictObject({
  claim_id: id,
  card_no: cardNo,
  terminal_id: id,
  amount_fen: fen.min(1),
  credit_ids: z.array(id).min(1).max(CLAIM_CREDITS_MAX),
  online_serial_after: z.number().int().min(1).max(0xffff),
  reserved_at_ms: ms,
  status: z.enum(['open', 'resolved']).default('open'),
});
export type GreyRecord = z.input<typeof greyRecord>;
// `reports` may be empty when the request only carries grey records; one of the two must not be.
export const cardReportsRequest = z
  .strictObject({
    reports: z.array(cardReport).max(CARD_REPORTS_BATCH_MAX),
    grey: z.array(greyRecord).max(GREY_RECORDS_BATCH_MAX).optional(),
  })
  .refine((body) => body.reports.length > 0 || (body.grey?.length ?? 0) > 0, {
    message: 'send at least one report or grey record',
  });
export type CardReportsRequest = z.input<typeof cardReportsRequest>;
export interface CardReportsResponse {
  accepted: number;
  /** How many grey records were stored; present when the request carried `grey`. */
  grey_accepted?: number;
}

/** The push channel: a signed GET with `Upgrade: websocket` (same X-Hub-* headers, empty body). */
export const HUB_PUSH_PATH = '/api/v1/hub/push';

/** What a hub signs as `PATH?QUERY`: the path, plus `?query` only when there is one. */
export function hubPathAndQuery(url: URL): string {
  return url.pathname + url.search;
}

/** What the push channel (WebSocket to the school's Durable Object) says: "pull now". */
export interface HubPushMessage {
  type: 'changes';
  /** The newest sequence number the Worker has for the school. */
  seq: number;
}

// Admin side of hub sync (DESIGN section 10): hub registration, refunds, grey records.
export const adminHubRequest = z.strictObject({
  school_id: schoolId,
  /** Ed25519 public key, SPKI DER in base64 (what `npm run hub -- keygen` prints last). */
  public_key: z.string().trim().min(40).max(200),
});
export type AdminHubRequest = z.infer<typeof adminHubRequest>;
export interface AdminHub {
  hub_id: string;
  school_id: string;
  public_key: string;
  created_at_ms: number;
  updated_at_ms: number;
  last_seen_at_ms: number | null;
  /** The `after` of the hub's latest changes pull: what it holds durably. */
  last_cursor: number | null;
  /** The newest change sent to it; refunds of credits above it are voided without the hub. */
  sent_through_seq: number | null;
}

export interface RefundView {
  refund_id: string;
  order_id: string;
  credit_id: string;
  amount_fen: number;
  /**
   * requested: waiting for the hub's void; provider_pending: voided, money not yet returned;
   * failed: the provider ended it ABNORMAL or CLOSED, the credit is void and the money still owed.
   */
  state: 'requested' | 'provider_pending' | 'refunded' | 'refused' | 'failed';
  /** The provider's last word: PROCESSING while it waits, then SUCCESS, ABNORMAL or CLOSED. */
  provider_status?: 'PROCESSING' | 'SUCCESS' | 'ABNORMAL' | 'CLOSED';
  failed_at_ms?: number;
  route: 'direct' | 'hub' | null;
  reason?: string;
  last_error?: string;
  provider_attempts: number;
  created_at_ms: number;
  updated_at_ms: number;
  voided_at_ms?: number;
  refunded_at_ms?: number;
}

export const greyRecordsQuery = z.object({
  status: z.enum(['open', 'resolved', 'all']).default('open'),
  school_id: schoolId.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(100),
  /** Page after this (reserved_at_ms, hub_id, claim_id) cursor, as returned in next_cursor. */
  cursor: z.string().max(200).optional(),
});
export interface GreyRecordView {
  hub_id: string;
  school_id: string;
  claim_id: string;
  card_no: string;
  terminal_id: string;
  amount_fen: number;
  credit_ids: string[];
  online_serial_after: number;
  reserved_at_ms: number;
  status: 'open' | 'resolved';
  reported_at_ms: number;
  resolved_at_ms: number | null;
}
export interface GreyRecordsResponse {
  records: GreyRecordView[];
  next_cursor: string | null;
}
