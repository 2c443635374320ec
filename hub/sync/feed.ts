// The changes feed as the hub accepts it. The Worker is trusted to be honest but not to be
// bug-free: a malformed page is refused as a whole (the round fails and is retried) instead
// of reaching the store, where a broken constraint would stop the hub.
import { z } from 'zod';
import { CARD_KINDS, CARD_NO_LENGTH_MAX, CARD_STATUSES } from '../../protocol/card.ts';
import { CHANGES_LIMIT_MAX, HUB_STATES, type ChangesResponse } from '../../protocol/hub.ts';
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
  // The asn the hub derives the card's keys from: exactly 16 upper-case hex digits, or none.
  z.object({ seq, kind: z.literal('card'), card_no: cardNo, status: z.enum(CARD_STATUSES), card_kind: z.enum(CARD_KINDS), asn: asnHex.nullable() }),
]);

const page = z.object({
  // Fleet contract (protocol/hub.ts): offer loads only while active. A Worker before issue 8 sends none.
  hub_state: z.enum(HUB_STATES).default('active'),
  changes: z.array(change).max(CHANGES_LIMIT_MAX),
  next_after: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  has_more: z.boolean(),
});

/** The page, checked: shapes, ascending seqs above `after`, and a cursor that covers them. */
export function parseChangesPage(value: unknown, after: number): ChangesResponse {
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
