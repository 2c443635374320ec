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
// What a hub puts in one POST /hub/claims at most: it cuts a batch at CLAIMS_BATCH_MAX claims or
// at this many bytes of JSON body, whichever comes first. Below HUB_BODY_BYTES_MAX so that a
// batch cut by this bound is never refused with 413.
export const CLAIMS_BATCH_BYTES_MAX = 1_000_000;
export const VOIDS_BATCH_BYTES_MAX = 1_000_000;

/*
 * Hub fleet contract (DESIGN section 6, "One owner per credit"; issue 8).
 *
 * States (hubs.state): `active | standby | retiring | retired | dead`. The first hub registered
 * for a school is `active`, later ones `standby`. At most one hub of a school is `active`.
 * Card office transitions (POST /api/v1/admin/hubs/{hub_id}/state {state, reason}):
 *   standby  -> active    only while no other hub of the school is active; the school's
 *                         pending credits that have no owner are re-emitted into the feed
 *   active   -> retiring  the hub stops offering loads, drains, confirms (below)
 *   retiring -> retired   only after the hub confirmed it is drained
 *   standby  -> retired   (a standby owns nothing)
 *   active | standby | retiring -> dead   its credits freeze (see below)
 *   dead     -> retiring  its store was recovered: it syncs, drains and confirms like any
 *                         retiring hub
 *   Anything else: 409 hub_transition_not_allowed. Each change is kept in hub_state_events.
 *
 * Ownership: a credit gets its owner (credits.owner_hub_id) in the D1 batch of the first changes
 * page that hands it to an ACTIVE hub. Only the owner ever receives the credit's `credit` and
 * `void` changes; a standby (or any non-owner) receives card changes only. Claims and void
 * answers from a hub that does not own every credit they name are refused per item:
 * `{status: 'rejected', code: 'not_owner', reason}` (claims: the whole claim). Every rejected
 * claim and void answer is kept for the card office (GET /api/v1/admin/claim-rejections,
 * GET /api/v1/admin/void-rejections). A refund of an owned credit asks the owner (void change)
 * and completes only on the owner's `voided`; a credit without owner is voided at once; a
 * credit whose owner is dead answers 409 credit_frozen.
 *
 * Every changes page carries `hub_state`: the hub offers loads only while it is `active`.
 * (`dead`: it must not offer anything either, but its claims and void answers still count.)
 * A `retiring` hub stops offering loads, sends its outbox, waits until no reservation is open,
 * then POST /api/v1/hub/retire-confirm `{outbox_depth: 0, open_reservations: 0}` (signed like
 * every hub request). The Worker then releases the hub's pending credits (owner cleared;
 * those with a refund waiting are voided at once, the rest re-emitted into the feed for the
 * active hub, which becomes their owner on its next page). A claim from the confirmed hub for
 * a released credit is `not_owner` from then on.
 *
 * Dead hub: its pending credits are offered to nobody and refunds answer 409 credit_frozen. A
 * claim or void answer from it still counts. The card office settles each one with evidence
 * from the card: POST /api/v1/admin/credits/{credit_id}/settle {decision, evidence}:
 * `claimed` writes a claim (proof kind `office`, the decision in the audit trail) and the
 * credit is claimed; `release` clears its owner and re-emits it for the active hub.
 *
 * Cursor guard: the `after` of every changes pull is the hub's DURABLE cursor. The Worker keeps
 * the highest one each hub sent (hubs.durable_cursor); a pull with a lower `after` answers
 * 409 hub_state_regressed and changes nothing. The hub then re-syncs:
 *   GET /api/v1/hub/snapshot?since=<its restored cursor>&limit=N          (first page)
 *   GET /api/v1/hub/snapshot?cursor=<next_cursor>&limit=N                 (every next page)
 * Pages come in order: `credits` (every credit the hub owns, by credit_id, with its current
 * state and whether a void is requested), then credits it owned that moved to another hub
 * (state `moved`: drop them), then `cards` (the card changes after `since`, current status).
 * `resume_after` is the same on every page of one snapshot (the hub's durable cursor when the
 * snapshot began: a credit paid after it, which no hub owns yet, comes through the feed). When
 * next_cursor is null the hub has everything: it replaces its credits with the snapshot's, applies the cards, answers the void requests, and pulls the feed with
 * after=resume_after. Whatever changed while it paged is in the feed after resume_after.
 * Each credit carries `online_serial_claimed` (SnapshotCredit): the card's serial as far as
 * the Worker's claims account for it, so the serial guard does not freeze a card whose
 * forgotten loads all reached the Worker.
 */
export const HUB_STATES = ['active', 'standby', 'retiring', 'retired', 'dead'] as const;
export type HubState = (typeof HUB_STATES)[number];
/** Why a hub's claim or void answer was refused, beside the human `reason`. */
export type HubRejectionCode = 'not_owner' | 'invalid';

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
  /**
   * The card office settled this hub's hold on the card (see "Card holds" below): the hub sets
   * its record of the card's serial to `online_serial_settled` (never lowers it), marks the
   * credits the office found on the card claimed, and lifts the freeze. Sent only to the hub
   * that holds the card, and only while the hold is settled at the Worker.
   */
  | { seq: number; kind: 'hold'; card_no: string; online_serial_settled: number; credit_ids: string[] }
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
  /** The hub's state at the Worker: offer loads only while `active` (see the contract above). */
  hub_state: HubState;
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
  results: { claim_id: string; status: 'accepted' | 'duplicate' | 'rejected'; code?: HubRejectionCode; reason?: string }[];
}

export const hubVoidAnswer = z.strictObject({
  credit_id: id,
  result: z.enum(['voided', 'already_claimed']),
  claim_id: id.optional(),
});
export const voidsRequest = z.strictObject({ answers: z.array(hubVoidAnswer).min(1).max(VOIDS_BATCH_MAX) });
export type VoidsRequest = z.infer<typeof voidsRequest>;
export interface VoidsResponse {
  results: { credit_id: string; status: 'accepted' | 'duplicate' | 'rejected'; code?: HubRejectionCode; reason?: string }[];
}

/** A retiring hub's word that it is drained: nothing left to send, no reservation open. */
export const retireConfirmRequest = z.strictObject({
  outbox_depth: z.literal(0),
  open_reservations: z.literal(0),
});
export type RetireConfirmRequest = z.infer<typeof retireConfirmRequest>;
export interface RetireConfirmResponse {
  hub_state: HubState;
  /** Pending credits the hub owned that are now released to the school's active hub. */
  released_credits: number;
  /** Of those, credits with a refund waiting, voided at once. */
  voided_credits: number;
}

export const SNAPSHOT_LIMIT_DEFAULT = 500;
export const SNAPSHOT_LIMIT_MAX = 1000;
export const snapshotQuery = z.object({
  /** The hub's restored cursor: card changes after it are in the snapshot. First page only. */
  since: z.coerce.number().int().min(0).optional(),
  /** The next_cursor of the previous page, as returned (opaque). */
  cursor: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(SNAPSHOT_LIMIT_MAX).default(SNAPSHOT_LIMIT_DEFAULT),
});
export interface SnapshotCredit {
  credit_id: string;
  order_id: string;
  card_no: string;
  amount_fen: number;
  /** `moved`: the hub owned it once and it now belongs to another hub (or none): drop it. */
  state: 'pending' | 'claimed' | 'voided' | 'moved';
  created_at_ms: number;
  claim_id: string | null;
  /** A refund waits for this hub's void answer. */
  void_requested: boolean;
  /**
   * What the Worker knows of the card's online serial: the highest `online_serial_after` of the
   * claims it holds for this card (from any hub), or of a hold the card office settled for it;
   * null when none. Every credit of one card carries the same value. A hub raises its record of
   * the card's serial to it (never lowers it): those loads are accounted for at the Worker, so
   * a card showing this serial had no load the hub forgot, and a card the serial guard froze
   * for a serial up to it is released. Optional: a Worker from before card holds sends none.
   */
  online_serial_claimed?: number | null;
  /**
   * The serial the card last showed a terminal of the school (card reports and claims, newest
   * wins): the terminal's word, not accounted for by claims. A hub uses it only for a card it
   * has no serial record of after the claims' serial: a store restored from before the card's
   * first load here would otherwise have no guard at all for that card (a load it forgot, made
   * after that report, then shows as a serial ahead of the record). Optional, as above.
   */
  online_serial_reported?: number | null;
}
export type CardChange = Extract<HubChange, { kind: 'card' }>;
export interface SnapshotResponse {
  hub_state: HubState;
  credits: SnapshotCredit[];
  cards: CardChange[];
  /** Pass as `cursor` for the next page; null when the snapshot is complete. */
  next_cursor: string | null;
  /** Where the feed resumes after a complete snapshot: pull with after=resume_after. */
  resume_after: number;
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

/*
 * Card holds (hub/README.md, "Backup and restore"). A hub's serial guard freezes a card whose
 * MAC1-verified online serial is ahead of the hub's record of it: the card had loads this hub's
 * store forgot, so its credits are neither offered nor voided there. The hub sends the hold with
 * the card reports (`holds`, below) until the Worker acknowledges it, again whenever the card
 * shows a higher serial, and `resolved` when its re-sync found every serial up to the one shown
 * accounted for by the Worker's claims (SnapshotCredit.online_serial_claimed). The Worker keeps
 * one row per (hub, card): `open` until the card office settles it or the hub resolves it.
 *
 * The card office reads the card in a reader (its load log: the serial and amount of each
 * load) and settles: POST /api/v1/admin/card-holds/{hub_id}/{card_no}/settle
 * {loaded_credit_ids, online_serial, evidence}. In one D1 batch each listed credit (pending,
 * owned by that hub, of that card) is claimed by a claim `office-<credit_id>` with proof kind
 * `office` and its credit_settlements row, a refund waiting on it is refused, and the hold
 * becomes `settled` with the accepted serial; a trigger puts a `hold` change in the feed, which
 * carries the serial and the credit ids to the hub. A refused or repeated settle changes
 * nothing. A later hold of the same card (a serial past the settled one) opens the row again.
 */
export const CARD_HOLDS_BATCH_MAX = 200;
/** Credits one settlement may name: the loads between two serials, each at most a claim's credits. */
export const HOLD_CREDITS_MAX = CLAIM_CREDITS_MAX;
export const cardHold = z
  .strictObject({
    card_no: cardNo,
    /** The MAC1-verified serial the card showed (the highest since the hold opened). */
    online_serial_seen: z.number().int().min(1).max(0xffff),
    /** The hub's record of the card's serial when it froze the card. */
    online_serial_recorded: z.number().int().min(0).max(0xfffe),
    /** The chip's balance at that load (its own word, MAC1-verified). */
    balance_fen: fen.max(0xffff_ffff),
    at_ms: ms,
    status: z.enum(['open', 'resolved']).default('open'),
  })
  .refine((hold) => hold.online_serial_seen > hold.online_serial_recorded, { message: 'a hold is a serial ahead of the record' });
export type CardHold = z.input<typeof cardHold>;
// `reports` may be empty when the request only carries grey records; one of the two must not be.
export const cardReportsRequest = z
  .strictObject({
    reports: z.array(cardReport).max(CARD_REPORTS_BATCH_MAX),
    grey: z.array(greyRecord).max(GREY_RECORDS_BATCH_MAX).optional(),
    holds: z.array(cardHold).max(CARD_HOLDS_BATCH_MAX).optional(),
  })
  .refine((body) => body.reports.length > 0 || (body.grey?.length ?? 0) > 0 || (body.holds?.length ?? 0) > 0, {
    message: 'send at least one report, grey record or hold',
  })
  .refine((body) => new Set((body.holds ?? []).map((hold) => hold.card_no)).size === (body.holds ?? []).length, {
    message: 'holds: one per card',
  });
export type CardReportsRequest = z.input<typeof cardReportsRequest>;
export interface CardReportsResponse {
  accepted: number;
  /** How many grey records were stored; present when the request carried `grey`. */
  grey_accepted?: number;
  /** How many holds were taken; present when the request carried `holds`. */
  holds_accepted?: number;
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
  /** The newest change sent to it (kept for the record; refunds follow ownership now). */
  sent_through_seq: number | null;
  state: HubState;
  /** The highest `after` the hub ever pulled with: a pull below it is 409 hub_state_regressed. */
  durable_cursor: number | null;
  /** When a retiring hub confirmed it was drained. */
  drained_at_ms: number | null;
  state_changed_at_ms: number;
  state_reason: string | null;
  /** Pending credits it owns (frozen when the hub is dead). */
  owned_pending_count: number;
  owned_pending_fen: number;
}

export const adminHubsQuery = z.object({ school_id: schoolId.optional() });
export const adminHubStateRequest = z.strictObject({
  state: z.enum(HUB_STATES),
  reason: z.string().trim().min(1).max(500),
});
export type AdminHubStateRequest = z.infer<typeof adminHubStateRequest>;

export const CREDIT_SETTLE_EVIDENCE_MAX = 2000;
/**
 * The card office settles a frozen credit (its owning hub is dead) with evidence from the card
 * (a reader's balance and serial, a transaction record): `claimed` the card has it, a claim
 * with proof `office` is written; `release` the card does not, the credit goes to the active hub.
 */
export const adminCreditSettleRequest = z.strictObject({
  decision: z.enum(['claimed', 'release']),
  evidence: z.string().trim().min(1).max(CREDIT_SETTLE_EVIDENCE_MAX),
  /** Who decided (operator name); recorded beside the evidence. */
  actor: z.string().trim().min(1).max(100).default('card-office'),
});
export type AdminCreditSettleRequest = z.input<typeof adminCreditSettleRequest>;
export interface AdminCreditSettleResponse {
  credit_id: string;
  decision: 'claimed' | 'release';
  state: 'pending' | 'claimed' | 'voided';
  owner_hub_id: string | null;
  claim_id: string | null;
}

/** The card office's settlement of a hub's card hold (see "Card holds" above). */
export const adminCardHoldSettleRequest = z.strictObject({
  /** The pending credits the card's load log shows loaded (oldest first, as the hub loads). */
  loaded_credit_ids: z.array(id).max(HOLD_CREDITS_MAX),
  /** The online serial the card shows in the office's reader: the hub's record becomes it. */
  online_serial: z.number().int().min(0).max(0xffff),
  /** What the reader showed (the load log's serials and amounts): kept as the decision's proof. */
  evidence: z.string().trim().min(1).max(CREDIT_SETTLE_EVIDENCE_MAX),
  actor: z.string().trim().min(1).max(100).default('card-office'),
});
export type AdminCardHoldSettleRequest = z.input<typeof adminCardHoldSettleRequest>;
export interface AdminCardHoldSettleResponse {
  hub_id: string;
  card_no: string;
  status: 'settled';
  online_serial_settled: number;
  claimed_credit_ids: string[];
  /** One claim per credit, `office-<credit_id>`, proof kind `office`. */
  claim_ids: string[];
  /** Refunds that were waiting on those credits, refused: the card holds the money. */
  refunds_refused: number;
}
export const cardHoldsQuery = z.object({
  school_id: schoolId.optional(),
  status: z.enum(['open', 'settled', 'resolved', 'all']).default('open'),
  limit: z.coerce.number().int().min(1).max(200).default(100),
});
export interface CardHoldView {
  hub_id: string;
  card_no: string;
  school_id: string;
  status: 'open' | 'settled' | 'resolved';
  online_serial_seen: number;
  online_serial_recorded: number;
  balance_fen: number;
  seen_at_ms: number;
  created_at_ms: number;
  reported_at_ms: number;
  online_serial_settled: number | null;
  settled_credit_ids: string[];
  evidence: string | null;
  actor: string | null;
  settled_at_ms: number | null;
  resolved_at_ms: number | null;
  /** The card's pending credits owned by the hub, oldest first (at most 100): what it may have loaded. */
  pending_credits: { credit_id: string; amount_fen: number; created_at_ms: number }[];
  /**
   * The card's claims the Worker holds with a serial past the hub's record (any hub, at most
   * 100): loads already accounted for, not to be counted again from the card's load log.
   */
  claims: { claim_id: string; online_serial_after: number | null; amount_fen: number; hub_id: string }[];
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
