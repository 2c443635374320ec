// SMS notices (DESIGN section 7): the queue message, and the admin listing of the outbox.
import { z } from 'zod';
import { listLimit, schoolId } from './api.ts';

export const NOTICE_KINDS = ['paid', 'claimed', 'refunded', 'auto_charged'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];
// pending: in the outbox; queued: handed to the queue; sending: a consumer holds it;
// sent: Aliyun accepted it; dead: retries exhausted or a permanent refusal (a dead letter).
export const NOTICE_STATES = ['pending', 'queued', 'sending', 'sent', 'dead'] as const;
export type NoticeState = (typeof NOTICE_STATES)[number];

/** What travels through the queue: only the outbox row's id; the row is the truth. */
export interface NoticeMessage {
  notice_id: number;
}

export const adminNoticesQuery = z.strictObject({
  state: z.enum(NOTICE_STATES).optional(),
  school_id: schoolId.optional(),
  limit: listLimit.optional(),
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, 'cursor is the next_cursor of the previous page')
    .transform(Number)
    .optional(),
});

export interface AdminNotice {
  notice_id: number;
  order_id: string;
  school_id: string;
  kind: NoticeKind;
  /** Masked (`138****8000`): the card office sees whom, not the number. */
  phone_masked: string;
  state: NoticeState;
  attempts: number;
  last_error: string | null;
  created_at_ms: number;
  updated_at_ms: number;
  sent_at_ms: number | null;
}

export interface AdminNoticesResponse {
  notices: AdminNotice[];
  /** Pass back as `cursor` for the next (older) page; null when there is none. */
  next_cursor: string | null;
}
