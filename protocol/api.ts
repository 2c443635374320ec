// Request and response shapes of the Worker's public and admin HTTP API (DESIGN section 10).
// The Worker validates with these schemas; the PWA, the simulators and the tests use the
// inferred types, so a field renamed here breaks every side at compile time.
import { z } from 'zod';
import { CARD_KINDS, CARD_NO_LENGTH_MAX, CARD_STATUSES, HOLDER_NAME_LENGTH_MAX } from './card.ts';
import { MAX_AMOUNT_FEN_LIMIT } from './money.ts';

export const CHANNELS = ['alipay', 'wechat'] as const;
export type Channel = (typeof CHANNELS)[number];

export const ORDER_STATUSES = ['unpaid', 'paid', 'closed', 'refunded'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
// 'moved': the card was replaced and the money went on as a credit of the new card.
export const CREDIT_STATES = ['pending', 'claimed', 'voided', 'moved'] as const;
export type CreditState = (typeof CREDIT_STATES)[number];

/** What the PWA shows: the order and its credit folded into one word. */
export const TOPUP_STATUSES = ['unpaid', 'pending_claim', 'claimed', 'closed', 'refunded'] as const;
export type TopupStatus = (typeof TOPUP_STATUSES)[number];

export const SCHOOL_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,47}$/;
export const ORDER_ID_PATTERN = /^Y[0-9A-Za-z]{10,31}$/;
// Mainland mobile numbers: 11 digits starting 1[3-9].
export const MOBILE_PATTERN = /^1[3-9][0-9]{9}$/;

export const schoolId = z.string().regex(SCHOOL_ID_PATTERN, 'school_id is lower-case letters, digits and dashes');
export const amountFen = z.number().int('amount_fen is an integer number of fen').min(1).max(MAX_AMOUNT_FEN_LIMIT);
const holderName = z.string().trim().min(1).max(HOLDER_NAME_LENGTH_MAX);
const cardNoInput = z.string().min(1).max(CARD_NO_LENGTH_MAX * 2);

export const schoolsQuery = z.object({
  q: z.string().max(32).optional(),
  city: z.string().max(32).optional(),
  initial: z.string().regex(/^[A-Za-z]$/).optional(),
});
export interface School {
  id: string;
  name: string;
  city: string;
  initial: string;
  max_amount_fen: number;
}
export interface SchoolsResponse {
  schools: School[];
}

export const cardLookupRequest = z.strictObject({
  school_id: schoolId,
  name: holderName,
  card_no: cardNoInput,
});
export type CardLookupRequest = z.infer<typeof cardLookupRequest>;
export interface CardLookupResponse {
  card_token: string;
  school_id: string;
  card_no: string;
  holder_name_masked: string;
  kind: (typeof CARD_KINDS)[number];
  balance_fen: number | null;
  pending_fen: number;
  /** ms since epoch of the last balance a POS reported; null when none yet. */
  balance_as_of: number | null;
  /** Lost, frozen and closed cards are found, but a top-up of them is refused (card_not_active). */
  status?: (typeof CARD_STATUSES)[number];
}

// How the payer pays: `page` (default) sends a phone's browser to the provider's wap / H5 page;
// `qr` answers the provider's QR code (alipay.trade.precreate, WeChat Pay Native) for a desktop
// browser to show and a phone to scan (DESIGN section 5).
export const PAY_SCENES = ['page', 'qr'] as const;
export type PayScene = (typeof PAY_SCENES)[number];
const rechargeScene = { scene: z.enum(PAY_SCENES).optional() };

const rechargeCommon = {
  amount_fen: amountFen,
  channel: z.enum(CHANNELS),
  notify_phone: z.string().regex(MOBILE_PATTERN, 'notify_phone is a mainland mobile number').optional(),
  agree_terms: z.boolean(),
  ...rechargeScene,
};
export const rechargeRequest = z.union([
  z.strictObject({ school_id: schoolId, name: holderName, card_no: cardNoInput, ...rechargeCommon }),
  z.strictObject({ card_token: z.string().min(1).max(512), ...rechargeCommon }),
]);
export type RechargeRequest = z.infer<typeof rechargeRequest>;
// What the Worker parses: the same shape with any integer amount, because the range depends on
// the school (max_amount_fen) and an amount outside it has its own code, amount_out_of_range.
const rechargeCommonWire = { ...rechargeCommon, amount_fen: z.number().int('amount_fen is an integer number of fen') };
export const rechargeRequestWire = z.union([
  z.strictObject({ school_id: schoolId, name: holderName, card_no: cardNoInput, ...rechargeCommonWire }),
  z.strictObject({ card_token: z.string().min(1).max(512), ...rechargeCommonWire }),
]);
export const rechargesQuery = z.strictObject({ card_token: z.string().min(1).max(512) });
export interface RechargeCreated {
  order_id: string;
  amount_fen: number;
  status: TopupStatus;
  pay_url: string;
  /** Present so a first top-up can save the card without a second lookup. */
  card_token: string;
  /** With `scene: "qr"`: the text of the provider's QR code (also in pay_url), to render and scan. */
  qr_code?: string;
}

export interface RechargeRecord {
  order_id: string;
  status: TopupStatus;
  amount_fen: number;
  channel: Channel;
  created_at: number;
  paid_at?: number;
  claimed_at?: number;
  closed_at?: number;
  refunded_at?: number;
  terminal_id?: string;
}
export interface MonthTotal {
  /** "2026-11", in China Standard Time. */
  month: string;
  /** Money paid in that month (pending or claimed; closed and refunded excluded). */
  amount_fen: number;
  count: number;
}
/** The card as the token names it: enough for the PWA to refresh a saved card without its name. */
export interface RecordsCard {
  kind: (typeof CARD_KINDS)[number];
  status: (typeof CARD_STATUSES)[number];
  balance_fen: number | null;
  balance_as_of: number | null;
  pending_fen: number;
}
export interface RechargeRecordsResponse {
  records: RechargeRecord[];
  month_totals: MonthTotal[];
  /** Not in DESIGN section 10: added so a saved card's balance follows the POS reports. */
  card: RecordsCard;
}

export const adminSchoolRequest = z.strictObject({
  name: z.string().trim().min(1).max(64),
  city: z.string().trim().min(1).max(32),
  initial: z.string().regex(/^[A-Z]$/, 'initial is one upper-case letter'),
  max_amount_fen: amountFen.optional(),
});
export type AdminSchoolRequest = z.infer<typeof adminSchoolRequest>;

export const CARD_IMPORT_ROWS_MAX = 50_000;
export interface CardImportResponse {
  imported: number;
  rejected: { line: number; reason: string }[];
}
export const cardKind = z.enum(CARD_KINDS);
export const cardStatus = z.enum(CARD_STATUSES);

// Admin listings: newest first, `limit` ≤ ADMIN_LIST_LIMIT_MAX, and `next_cursor` (the last id of
// the page) passed back as `cursor` for the next page; null when there is none.
export const ADMIN_LIST_LIMIT_MAX = 200;
export const listLimit = z
  .string()
  .regex(/^[0-9]{1,3}$/, 'limit is a number of rows')
  .transform(Number)
  .pipe(z.number().int().min(1).max(ADMIN_LIST_LIMIT_MAX));
const listCardNo = z.string().min(1).max(CARD_NO_LENGTH_MAX * 2);
export const adminOrdersQuery = z.strictObject({
  status: z.enum(ORDER_STATUSES).optional(),
  school_id: schoolId.optional(),
  card_no: listCardNo.optional(),
  limit: listLimit.optional(),
  cursor: z.string().regex(ORDER_ID_PATTERN, 'cursor is the next_cursor of the previous page').optional(),
});
export const CREDIT_ID_PATTERN = /^C[0-9A-Za-z]{10,31}$/;
export const adminCreditsQuery = z.strictObject({
  state: z.enum(CREDIT_STATES).optional(),
  school_id: schoolId.optional(),
  card_no: listCardNo.optional(),
  limit: listLimit.optional(),
  cursor: z.string().regex(CREDIT_ID_PATTERN, 'cursor is the next_cursor of the previous page').optional(),
});
export interface AdminOrder {
  order_id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
  channel: Channel;
  origin: 'topup' | 'auto';
  status: OrderStatus;
  topup_status: TopupStatus;
  provider_trade_no: string | null;
  created_at_ms: number;
  expires_at_ms: number;
  paid_at_ms: number | null;
  closed_at_ms: number | null;
  refunded_at_ms: number | null;
}
export interface AdminOrdersResponse {
  orders: AdminOrder[];
  next_cursor: string | null;
}
export interface AdminCredit {
  credit_id: string;
  order_id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
  state: CreditState;
  claim_id: string | null;
  void_requested_at_ms: number | null;
  created_at_ms: number;
  claimed_at_ms: number | null;
  voided_at_ms: number | null;
  /** The replaced card's credit this one continues (补卡), or null for an order's first credit. */
  moved_from_credit_id: string | null;
  moved_at_ms: number | null;
}
export interface AdminCreditsResponse {
  credits: AdminCredit[];
  next_cursor: string | null;
}
