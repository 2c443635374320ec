// The changes feed as the hub accepts it. The Worker is trusted to be honest but not to be
// bug-free: a malformed page is refused as a whole (the round fails and is retried) instead
// of reaching the store, where a broken constraint would stop the hub.
import { z } from 'zod';
import { CARD_KINDS, CARD_NO_LENGTH_MAX, CARD_STATUSES } from '../../protocol/card.ts';
import { CHANGES_LIMIT_MAX, HOLD_CREDITS_MAX, HUB_STATES, SNAPSHOT_LIMIT_MAX, type ChangesResponse, type SnapshotResponse } from '../../protocol/hub.ts';
import { asnHex } from '../../protocol/pos.ts';

const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const id = z.string().min(1).max(64);
const cardNo = z.string().min(1).max(CARD_NO_LENGTH_MAX);

const change = z.discriminatedUnion('kind', [
  z.object({
    seq,
    kind: z.literal('credit'),
    credit_id: id,
    order_id: id,
    card_no: cardNo,
    amount_fen: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    state: z.enum(['pending', 'claimed', 'voided']),
    created_at_ms: z.number().int().min(0),
  }),
  z.object({ seq, kind: z.literal('void'), credit_id: id, card_no: cardNo }),
  z.object({ seq, kind: z.literal('hold'), card_no: cardNo, online_serial_settled: z.number().int().min(0).max(0xffff), credit_ids: z.array(id).max(HOLD_CREDITS_MAX) }),
  // The asn the hub derives the card's keys from: exactly 16 upper-case hex digits, or none.
  z.object({ seq, kind: z.literal('card'), card_no: cardNo, status: z.enum(CARD_STATUSES), card_kind: z.enum(CARD_KINDS), asn: asnHex.nullable() }),
]);

const page = z.object({
  // Optional: a Worker from before the hub fleet (issue 8) sends none, and the state stays.
  hub_state: z.enum(HUB_STATES).optional(),
  changes: z.array(change).max(CHANGES_LIMIT_MAX),
  next_after: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  has_more: z.boolean(),
});

/** The page, checked: shapes, ascending seqs above `after`, and a cursor that covers them. */
export function parseChangesPage(value: unknown, after: number): Omit<ChangesResponse, 'hub_state'> & { hub_state?: ChangesResponse['hub_state'] } {
  const parsed = page.safeParse(value);
  if (!parsed.success) throw new Error(`changes page is malformed: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  let last = after;
  for (const item of parsed.data.changes) {
    if (item.seq <= last) throw new Error(`changes page out of order: seq ${item.seq} after ${last}`);
    last = item.seq;
  }
  if (parsed.data.next_after < last) throw new Error(`changes page next_after ${parsed.data.next_after} is below its last seq ${last}`);
  return parsed.data;
}

const cardChange = change.options[3];
const snapshotPage = z.object({
  hub_state: z.enum(HUB_STATES),
  credits: z
    .array(
      z.object({
        credit_id: id,
        order_id: id,
        card_no: cardNo,
        amount_fen: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
        state: z.enum(['pending', 'claimed', 'voided', 'moved']),
        created_at_ms: z.number().int().min(0),
        claim_id: id.nullable(),
        void_requested: z.boolean(),
        online_serial_claimed: z.number().int().min(0).max(0xffff).nullable().optional(),
        online_serial_reported: z.number().int().min(0).max(0xffff).nullable().optional(),
      }),
    )
    .max(SNAPSHOT_LIMIT_MAX),
  cards: z.array(cardChange).max(SNAPSHOT_LIMIT_MAX),
  next_cursor: z.string().min(1).max(200).nullable(),
  resume_after: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

/** A snapshot page, checked: shapes, and the same resume_after on every page of one snapshot. */
export function parseSnapshotPage(value: unknown, resume_after: number | null): SnapshotResponse {
  const parsed = snapshotPage.safeParse(value);
  if (!parsed.success) throw new Error(`snapshot page is malformed: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (resume_after !== null && parsed.data.resume_after !== resume_after) {
    throw new Error(`snapshot page resume_after ${parsed.data.resume_after} differs from the snapshot's ${resume_after}`);
  }
  return parsed.data;
}
