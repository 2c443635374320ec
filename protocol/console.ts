// The card office's console API (DESIGN sections 8 and 10, issue 10): request schemas and the
// JSON shapes of every route under /api/v1/console/. The console pages (pwa/console/) import
// these types; the Worker validates with the schemas. Every list pages on the server: pass the
// `next_cursor` of one page as `cursor` for the next; null means there is none.
import { z } from 'zod';
import { ORDER_ID_PATTERN, schoolId, type AdminOrder, type Channel, type CreditState, type OrderStatus, type TopupStatus } from './api.ts';
import { CARD_KINDS, CARD_NO_LENGTH_MAX, CARD_STATUSES, type CardKind, type CardStatus } from './card.ts';
import type { AutoTopupAgreement } from './auto-topup.ts';
import { adminHubStateRequest, CREDIT_SETTLE_EVIDENCE_MAX, type GreyRecordView, type HubState, type RefundView } from './hub.ts';
import { NOTICE_STATES, type AdminNotice } from './notices.ts';

export const CONSOLE_PREFIX = '/api/v1/console';
export const CONSOLE_COOKIE = 'ykt_console';
export const CONSOLE_CSRF_HEADER = 'X-Console-CSRF';
// A session lives at most this long, and ends sooner after this long without a request.
export const CONSOLE_SESSION_MS_MAX = 8 * 60 * 60 * 1000;
export const CONSOLE_SESSION_IDLE_MS_MAX = 30 * 60 * 1000;
export const CONSOLE_LIST_LIMIT_MAX = 100;
export const CONSOLE_LIST_LIMIT_DEFAULT = 50;
// An operator's schools; more than a handful is a platform administrator's job, not a clerk's.
export const OPERATOR_SCHOOLS_MAX = 32;
export const OPERATOR_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{1,47}$/;
export const PASSWORD_LENGTH_MIN = 12;
export const PASSWORD_LENGTH_MAX = 256;
export const CHARTS_DAYS_MAX = 31;

export const operatorId = z.string().regex(OPERATOR_ID_PATTERN, 'operator_id is 2-48 lower-case letters, digits, dots, dashes, underscores');
const limit = z.coerce.number().int().min(1).max(CONSOLE_LIST_LIMIT_MAX).optional();
// Opaque: whatever next_cursor the previous page returned.
const cursor = z.string().min(1).max(200).optional();
/** A China calendar day, `YYYY-MM-DD`. */
export const chinaDate = z.string().regex(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/, 'date is YYYY-MM-DD (China time)');
const cardNoQuery = z.string().min(1).max(CARD_NO_LENGTH_MAX * 2);

// ---- Platform administrator (Authorization: Bearer ADMIN_TOKEN) ----

/** `PUT /api/v1/admin/operators/{operator_id}`: create or update. A password or an Access e-mail. */
export const adminOperatorRequest = z.strictObject({
  school_ids: z.array(schoolId).min(1).max(OPERATOR_SCHOOLS_MAX),
  display_name: z.string().trim().min(1).max(64),
  password: z.string().min(PASSWORD_LENGTH_MIN).max(PASSWORD_LENGTH_MAX).optional(),
  access_email: z.string().trim().toLowerCase().email().max(254).optional(),
  disabled: z.boolean().optional(),
});
export type AdminOperatorRequest = z.infer<typeof adminOperatorRequest>;

export interface AdminOperator {
  operator_id: string;
  display_name: string;
  school_ids: string[];
  has_password: boolean;
  access_email: string | null;
  disabled: boolean;
  created_at_ms: number;
  updated_at_ms: number;
}
export interface AdminOperatorsResponse {
  operators: AdminOperator[];
}
/** `POST /api/v1/admin/operators/{id}/revoke-sessions` */
export interface RevokeSessionsResponse {
  revoked: number;
}

// ---- Session ----

/** `POST /session`. Without a body field, through Cloudflare Access (Cf-Access-Jwt-Assertion). */
export const consoleSignInRequest = z.union([
  z.strictObject({ operator_id: operatorId, password: z.string().min(1).max(PASSWORD_LENGTH_MAX) }),
  z.strictObject({ access: z.literal(true) }),
]);
export type ConsoleSignInRequest = z.infer<typeof consoleSignInRequest>;

export interface ConsoleSchool {
  school_id: string;
  name: string;
}
/** `POST /session` (201) and `GET /session`. */
export interface ConsoleSession {
  operator_id: string;
  display_name: string;
  schools: ConsoleSchool[];
  /** Send as X-Console-CSRF on every state-changing request. */
  csrf_token: string;
  method: 'password' | 'access';
  created_at_ms: number;
  expires_at_ms: number;
  idle_expires_at_ms: number;
}

export interface ConsoleSessionView {
  session_id: string;
  current: boolean;
  method: 'password' | 'access';
  address: string | null;
  user_agent: string | null;
  created_at_ms: number;
  last_seen_at_ms: number;
  expires_at_ms: number;
  revoked_at_ms: number | null;
}
/** `GET /sessions`: the operator's own live sessions. `POST /sessions/{id}/revoke` → 200 `{revoked: true}`. */
export interface ConsoleSessionsResponse {
  sessions: ConsoleSessionView[];
}

// ---- Overview ----

export const schoolQuery = z.strictObject({ school_id: schoolId });

export interface HubHealth {
  hub_id: string;
  state: HubState;
  last_seen_at_ms: number | null;
  /** Changes of the school the hub has not confirmed yet (feed head − hub cursor). */
  sync_lag: number;
  /** Pending credits whose owner_hub_id is this hub (frozen while it is dead). */
  pending_credits_owned: number;
  healthy: boolean;
}

/** `GET /overview?school_id=` */
export interface ConsoleOverview {
  school_id: string;
  /** The China calendar day the figures are for. */
  today: string;
  today_paid_count: number;
  today_paid_fen: number;
  pending_count: number;
  pending_fen: number;
  oldest_pending_at_ms: number | null;
  oldest_pending_age_ms: number | null;
  hubs: HubHealth[];
  yesterday: string;
  /** One row per channel; empty while yesterday is not reconciled yet. */
  yesterday_reconciliation: { channel: Channel; status: 'balanced' | 'discrepancies' | 'pending'; discrepancy_count: number }[];
  open_grey_records: number;
  failed_refunds: number;
  dead_notices: number;
}

// ---- Orders ----

export const consoleOrdersQuery = z.strictObject({
  school_id: schoolId,
  card_no: cardNoQuery.optional(),
  order_id: z.string().regex(ORDER_ID_PATTERN, 'order_id is an order number').optional(),
  provider_trade_no: z.string().min(1).max(64).optional(),
  date: chinaDate.optional(),
  limit,
  cursor,
});
export type ConsoleOrder = AdminOrder;
export interface ConsoleOrdersResponse {
  orders: ConsoleOrder[];
  next_cursor: string | null;
}

/** `GET /orders/{order_id}`: the whole story. */
export interface ConsoleOrderStory {
  order: ConsoleOrder & { notify_phone_masked: string | null };
  credit: {
    credit_id: string;
    state: CreditState;
    amount_fen: number;
    claim_id: string | null;
    void_requested_at_ms: number | null;
    created_at_ms: number;
    claimed_at_ms: number | null;
    voided_at_ms: number | null;
    /** The hub the credit went to (first hub sent its change), null while none may hold it. */
    owning_hub_id: string | null;
  } | null;
  claim: {
    claim_id: string;
    hub_id: string;
    terminal_id: string;
    amount_fen: number;
    balance_after_fen: number | null;
    online_serial_after: number | null;
    proof_kind: 'tac' | 'prove' | 'serial' | 'decision' | null;
    committed_at_ms: number;
    received_at_ms: number;
  } | null;
  notifications: { notification_id: number; channel: Channel; verdict: 'applied' | 'duplicate' | 'rejected'; reason: string | null; received_at_ms: number }[];
  refunds: RefundView[];
  card: ConsoleCard | null;
  grey_records: GreyRecordView[];
}

// ---- Pending ageing ----

export const consolePendingQuery = z.strictObject({ school_id: schoolId, limit, cursor });
export const PENDING_BUCKETS = ['lt_1h', '1h_24h', '1d_7d', 'gt_7d'] as const;
export type PendingBucket = (typeof PENDING_BUCKETS)[number];
export interface PendingCredit {
  credit_id: string;
  order_id: string;
  card_no: string;
  amount_fen: number;
  created_at_ms: number;
  age_ms: number;
  void_requested: boolean;
}
/** `GET /pending?school_id=`: buckets by age, then the oldest credits, a page at a time. */
export interface ConsolePendingResponse {
  buckets: { bucket: PendingBucket; count: number; amount_fen: number }[];
  oldest: PendingCredit[];
  next_cursor: string | null;
}

// ---- Refunds ----

export const REFUND_REASON_LENGTH_MAX = 200;
export const consoleRefundRequest = z.strictObject({
  order_id: z.string().regex(ORDER_ID_PATTERN, 'order_id is an order number'),
  reason: z.string().trim().min(1).max(REFUND_REASON_LENGTH_MAX),
});
export const REFUND_STATES = ['requested', 'provider_pending', 'refunded', 'refused', 'failed'] as const;
export const consoleRefundsQuery = z.strictObject({ school_id: schoolId, state: z.enum(REFUND_STATES).optional(), limit, cursor });
export type ConsoleRefund = RefundView & { school_id: string };
/** `POST /refunds` answers the refund: 200 when refunded, 202 while the hub or provider is to come. */
export interface ConsoleRefundsResponse {
  refunds: ConsoleRefund[];
  next_cursor: string | null;
}

// ---- Grey records ----

export const consoleGreyQuery = z.strictObject({
  school_id: schoolId,
  state: z.enum(['open', 'resolved', 'all']).optional(),
  limit,
  cursor,
});
/** `GET /grey-records`: each record's id is `hub_id:claim_id`, the path segment of settle. */
export type ConsoleGreyRecord = GreyRecordView & { grey_id: string; decision: GreyDecision | null };
export interface ConsoleGreyRecordsResponse {
  records: ConsoleGreyRecord[];
  next_cursor: string | null;
}
export const GREY_EVIDENCE_LENGTH_MAX = 1000;
/**
 * `POST /grey-records/{grey_id}/settle`. `loaded`: the card shows the load (read in a reader:
 * its balance and serial); the credits are claimed with a card-office decision as the proof.
 * `not_loaded`: the card shows it was not written; the record is closed, its credits stay
 * pending for the card.
 */
export const consoleGreySettleRequest = z.strictObject({
  decision: z.enum(['loaded', 'not_loaded']),
  evidence: z.string().trim().min(1).max(GREY_EVIDENCE_LENGTH_MAX),
  balance_fen: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  online_serial: z.number().int().min(0).max(0xffff).optional(),
});
export type ConsoleGreySettleRequest = z.infer<typeof consoleGreySettleRequest>;
export interface GreyDecision {
  decision: 'loaded' | 'not_loaded';
  evidence: string;
  operator_id: string;
  at_ms: number;
}

// ---- Hubs ----

/** A pending credit of a dead hub: only the card office can settle it (`POST /credits/{id}/settle`). */
export interface ConsoleFrozenCredit {
  credit_id: string;
  card_no: string;
  amount_fen: number;
  created_at_ms: number;
  void_requested: boolean;
}
export const CONSOLE_FROZEN_CREDITS_MAX = 100;
export interface ConsoleHub extends HubHealth {
  school_id: string;
  last_cursor: number | null;
  /** The highest `after` the hub ever pulled with: what it holds durably. */
  durable_cursor: number | null;
  sent_through_seq: number | null;
  feed_head_seq: number;
  pending_owned_fen: number;
  /** When a retiring hub confirmed it was drained (then it may be marked retired). */
  drained_at_ms: number | null;
  state_changed_at_ms: number;
  state_reason: string | null;
  /** Where this hub may go from its state (the same rules as the admin route). */
  transitions: HubState[];
  /** A dead hub's pending credits, oldest first, at most CONSOLE_FROZEN_CREDITS_MAX; empty otherwise. */
  frozen_credits: ConsoleFrozenCredit[];
  created_at_ms: number;
}
/** `POST /hubs/{hub_id}/state` answers the hub as `GET /hubs` shows it; 409 hub_transition_not_allowed when the rules refuse. */
export const consoleHubStateRequest = adminHubStateRequest;
export type ConsoleHubStateRequest = z.infer<typeof consoleHubStateRequest>;
/** `POST /credits/{credit_id}/settle`: a dead hub's frozen credit, the operator the actor. */
export const consoleCreditSettleRequest = z.strictObject({
  decision: z.enum(['claimed', 'release']),
  evidence: z.string().trim().min(1).max(CREDIT_SETTLE_EVIDENCE_MAX),
});
export type ConsoleCreditSettleRequest = z.infer<typeof consoleCreditSettleRequest>;
/** `GET /hubs?school_id=` */
export interface ConsoleHubsResponse {
  hubs: ConsoleHub[];
}

// ---- Reconciliation ----

export const consoleReconciliationsQuery = z.strictObject({ school_id: schoolId, from: chinaDate.optional(), to: chinaDate.optional() });
export const RECONCILIATION_DAYS_MAX = 62;
export interface ConsoleReconciliationDay {
  bill_date: string;
  school_id: string;
  channel: Channel;
  status: 'balanced' | 'discrepancies' | 'pending';
  bill_total_fen: number;
  ours_total_fen: number;
  fee_fen: number;
  net_fen: number;
  discrepancy_count: number;
  discrepancies: { kind: string; order_id?: string; provider_trade_no?: string; refund_id?: string; detail: string }[];
  error: string | null;
}
/** `GET /reconciliations?school_id=&from=&to=` (newest first, at most 62 days); `POST /reconciliations/{date}` answers the day re-run. */
export interface ConsoleReconciliationsResponse {
  days: ConsoleReconciliationDay[];
}
export const consoleReconcileRequest = z.strictObject({ school_id: schoolId });

// ---- Agreements, notices ----

export const consoleAgreementsQuery = z.strictObject({ school_id: schoolId, limit, cursor });
export interface ConsoleAgreementsResponse {
  agreements: AutoTopupAgreement[];
  next_cursor: string | null;
}
export const consoleNoticesQuery = z.strictObject({ school_id: schoolId, state: z.enum(NOTICE_STATES).optional(), limit, cursor });
export interface ConsoleNoticesResponse {
  notices: AdminNotice[];
  next_cursor: string | null;
}

// ---- Audit trail ----

export const consoleAuditQuery = z.strictObject({ school_id: schoolId, limit, cursor });
export const CONSOLE_ACTIONS = ['refund', 'grey_settle', 'reconcile', 'cards_import', 'card_status', 'card_replace', 'session_revoke', 'hub_state', 'credit_settle'] as const;
export type ConsoleAction = (typeof CONSOLE_ACTIONS)[number];
export interface ConsoleAuditEntry {
  audit_id: number;
  operator_id: string;
  school_id: string;
  action: ConsoleAction;
  target: string;
  before: unknown;
  after: unknown;
  at_ms: number;
  address: string | null;
}
export interface ConsoleAuditResponse {
  entries: ConsoleAuditEntry[];
  next_cursor: string | null;
}

// ---- Cards ----

export const consoleCardsQuery = z.strictObject({ school_id: schoolId, q: z.string().trim().max(64).optional(), limit, cursor });
export interface ConsoleCard {
  card_no: string;
  holder_name: string;
  kind: CardKind;
  status: CardStatus;
  balance_fen: number | null;
  balance_as_of_ms: number | null;
  asn: string | null;
  pending_fen: number;
  updated_at_ms: number;
}
export interface ConsoleCardsResponse {
  cards: ConsoleCard[];
  next_cursor: string | null;
}
/** `POST /cards/import?school_id=` text/csv → CardImportResponse (protocol/api.ts). */
export const CONSOLE_CARD_STATUSES = ['active', 'lost', 'frozen'] as const;
export const consoleCardStatusRequest = z.strictObject({ school_id: schoolId, status: z.enum(CONSOLE_CARD_STATUSES) });
/** `POST /cards/{card_no}/status` → the card as it is now. */
export type ConsoleCardStatusResponse = ConsoleCard;

// ---- Charts ----

export const consoleChartsQuery = z.strictObject({ school_id: schoolId, days: z.coerce.number().int().min(1).max(CHARTS_DAYS_MAX).optional() });
/** Upper bounds (ms) of the paid → claimed delay buckets; the last bucket is everything above. */
export const CLAIM_DELAY_BOUNDS_MS = [1_000, 10_000, 60_000, 600_000, 3_600_000, 86_400_000] as const;
/** Upper bounds (fen) of the amount buckets; the last bucket is everything above. */
export const AMOUNT_BOUNDS_FEN = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000] as const;
/** `GET /charts?school_id=&days=`: hours in China time, at most 24 × days rows. */
export interface ConsoleChartsResponse {
  from_ms: number;
  to_ms: number;
  topups_per_hour: { hour_start_ms: number; count: number; amount_fen: number }[];
  /** One entry per CLAIM_DELAY_BOUNDS_MS bound plus one for the rest. */
  claim_delay: { le_ms: number | null; count: number }[];
  amounts: { le_fen: number | null; count: number }[];
}

export type { Channel, CreditState, OrderStatus, TopupStatus, CardKind, CardStatus };
export const CARD_KINDS_ALL = CARD_KINDS;
export const CARD_STATUSES_ALL = CARD_STATUSES;
