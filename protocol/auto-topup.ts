// Auto top-up (自动圈存, DESIGN section 7): what the PWA sends to sign, read and cancel a card's
// withholding agreement, and what the Worker answers (the admin listing too).
import { z } from 'zod';
import { MOBILE_PATTERN, listLimit, schoolId, type OrderStatus } from './api.ts';
import { MAX_AMOUNT_FEN_LIMIT } from './money.ts';

export const AGREEMENT_ID_PATTERN = /^A[0-9A-Za-z]{10,31}$/;
export const AGREEMENT_STATES = ['signing', 'active', 'stopped'] as const;
export type AgreementState = (typeof AGREEMENT_STATES)[number];
export const AGREEMENT_STOP_REASONS = ['unsigned', 'cancelled', 'card_not_active', 'charge_failed', 'replaced'] as const;
export type AgreementStopReason = (typeof AGREEMENT_STOP_REASONS)[number];
// A card below this is not one a threshold makes sense for; above the purse limit never fills.
export const AUTO_THRESHOLD_FEN_MAX = MAX_AMOUNT_FEN_LIMIT;
// At most this many charges a day, whatever the cap: a bound on every loop of money.
export const AUTO_CHARGES_PER_DAY_MAX = 8;

const cardToken = z.string().min(1).max(512);
const fen = z.number().int('an integer number of fen');

export const autoTopupSignRequest = z.strictObject({
  card_token: cardToken,
  threshold_fen: fen.min(0).max(AUTO_THRESHOLD_FEN_MAX),
  amount_fen: fen.min(1).max(MAX_AMOUNT_FEN_LIMIT),
  daily_cap_fen: fen.min(1).max(MAX_AMOUNT_FEN_LIMIT * AUTO_CHARGES_PER_DAY_MAX),
  notify_phone: z.string().regex(MOBILE_PATTERN, 'notify_phone is a mainland mobile number').optional(),
});
export type AutoTopupSignRequest = z.infer<typeof autoTopupSignRequest>;
export const autoTopupQuery = z.strictObject({ card_token: cardToken });
export const autoTopupCancelRequest = z.strictObject({ card_token: cardToken });

export interface AutoTopupSigned {
  agreement_id: string;
  state: 'signing';
  /** The signed Alipay page the holder signs the agreement on. */
  sign_url: string;
}

export interface AutoTopupCharge {
  order_id: string;
  status: OrderStatus;
  amount_fen: number;
  created_at: number;
  /** Alipay's refusal when the charge failed (the agreement then stopped). */
  failure: string | null;
}

export interface AutoTopupAgreement {
  agreement_id: string;
  school_id: string;
  card_no: string;
  state: AgreementState;
  stop_reason: AgreementStopReason | null;
  threshold_fen: number;
  amount_fen: number;
  daily_cap_fen: number;
  /** What started today (China day), paid or waiting: the cap is measured against it. */
  charged_today_fen: number;
  last_error: string | null;
  created_at: number;
  signed_at: number | null;
  stopped_at: number | null;
  /** The latest charges, newest first. */
  charges: AutoTopupCharge[];
}

export interface AutoTopupResponse {
  /** The card's live agreement, or its latest stopped one; null when it never had one. */
  agreement: AutoTopupAgreement | null;
}

export const adminAgreementsQuery = z.strictObject({
  state: z.enum(AGREEMENT_STATES).optional(),
  school_id: schoolId.optional(),
  limit: listLimit.optional(),
  cursor: z.string().regex(AGREEMENT_ID_PATTERN, 'cursor is the next_cursor of the previous page').optional(),
});

export interface AdminAgreementsResponse {
  agreements: AutoTopupAgreement[];
  next_cursor: string | null;
}
