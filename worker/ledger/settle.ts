// The card office settles a frozen credit (DESIGN section 6, handover: its owning hub is dead)
// with evidence from the card. `claimed`: the card has the money, so a claim is written with
// proof kind 'office' and the decision in credit_settlements (invariant 7's audit-trail case);
// `release`: the card does not, so the credit leaves the dead hub for the school's active hub.
import type { AdminCreditSettleResponse } from '../../protocol/hub.ts';
import { ApiError } from '../http/errors.ts';
import { releaseStatements } from '../hub/fleet.ts';

interface FrozenCredit {
  id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
  state: 'pending' | 'claimed' | 'voided';
  owner_hub_id: string | null;
  owner_state: string | null;
}

/** The claim id a card-office settlement writes: one per credit, so settling twice is one claim. */
export function officeClaimId(credit_id: string): string {
  return `office-${credit_id}`;
}

const GUARD_DEAD = "h.state = 'dead'";

/**
 * `with_batch` joins the settling batch (the console's audit row); it must guard itself on the
 * credit_settlements row this call writes, so a refused settlement leaves nothing.
 */
export async function settleCredit(
  d1: D1Database,
  credit_id: string,
  input: { decision: 'claimed' | 'release'; evidence: string; actor: string },
  now_ms: number,
  with_batch: readonly D1PreparedStatement[] = [],
): Promise<AdminCreditSettleResponse> {
  const credit = await d1
    .prepare(
      `SELECT cr.id, cr.school_id, cr.card_no, cr.amount_fen, cr.state, cr.owner_hub_id, h.state AS owner_state
         FROM credits cr LEFT JOIN hubs h ON h.id = cr.owner_hub_id WHERE cr.id = ?`,
    )
    .bind(credit_id)
    .first<FrozenCredit>();
  if (credit === null) throw new ApiError(404, 'not_found', 'no such credit');
  if (credit.state !== 'pending' || credit.owner_hub_id === null || credit.owner_state !== 'dead') {
    throw new ApiError(
      409,
      'conflict',
      credit.state !== 'pending'
        ? `the credit is ${credit.state}: nothing to settle`
        : `only a credit whose owning hub is dead is settled here (owner: ${credit.owner_hub_id ?? 'none'}, ${credit.owner_state ?? 'no hub'})`,
    );
  }
  if (!(Number.isSafeInteger(credit.amount_fen) && credit.amount_fen > 0)) throw new RangeError(`credit ${credit_id} of ${credit.amount_fen} fen`);
  const hub_id = credit.owner_hub_id;
  const claim_id = input.decision === 'claimed' ? officeClaimId(credit_id) : null;
  const settlement = d1
    .prepare(
      `INSERT INTO credit_settlements (credit_id, school_id, hub_id, decision, evidence, actor, claim_id, settled_at_ms)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
        WHERE EXISTS (SELECT 1 FROM credits cr JOIN hubs h ON h.id = cr.owner_hub_id
                       WHERE cr.id = ?1 AND cr.state = 'pending' AND cr.owner_hub_id = ?3 AND ${GUARD_DEAD})
       ON CONFLICT DO NOTHING`,
    )
    .bind(credit_id, credit.school_id, hub_id, input.decision, input.evidence, input.actor, claim_id, now_ms);
  let statements: D1PreparedStatement[];
  if (claim_id !== null) {
    statements = [
      settlement,
      d1
        .prepare(
          `INSERT INTO claims (id, school_id, card_no, hub_id, terminal_id, amount_fen, proof_kind, committed_at_ms, received_at_ms)
           SELECT ?1, ?2, ?3, ?4, 'card-office', ?5, 'office', ?6, ?6
            WHERE changes() = 1 AND NOT EXISTS (SELECT 1 FROM claims WHERE id = ?1)`,
        )
        .bind(claim_id, credit.school_id, credit.card_no, hub_id, credit.amount_fen, now_ms),
      d1
        .prepare(
          `UPDATE credits SET state = 'claimed', claim_id = ?2, claimed_at_ms = ?3
            WHERE id = ?1 AND state = 'pending' AND owner_hub_id = ?4
              AND EXISTS (SELECT 1 FROM claims cl WHERE cl.id = ?2 AND cl.received_at_ms = ?3)`,
        )
        .bind(credit_id, claim_id, now_ms, hub_id),
      // A refund waiting for the dead hub's void lost to the card.
      d1
        .prepare(
          `UPDATE refunds SET state = 'refused', reason = 'the card office found it loaded onto the card', updated_at_ms = ?2
            WHERE credit_id = ?1 AND state = 'requested'
              AND EXISTS (SELECT 1 FROM credits cr WHERE cr.id = ?1 AND cr.state = 'claimed')`,
        )
        .bind(credit_id, now_ms),
    ];
  } else {
    statements = [
      settlement,
      ...releaseStatements(
        d1,
        { hub_id, school_id: credit.school_id, now_ms, credit_ids: [credit_id], reason: 'released' },
        `${GUARD_DEAD} AND EXISTS (SELECT 1 FROM credit_settlements s WHERE s.credit_id = cr.id AND s.settled_at_ms = ?3)`,
      ),
    ];
  }
  const [stored] = await d1.batch([...statements, ...with_batch]);
  if ((stored?.meta.changes ?? 0) !== 1) throw new ApiError(409, 'conflict', 'the credit changed meanwhile; look at it again');
  const after = await d1
    .prepare('SELECT state, owner_hub_id, claim_id FROM credits WHERE id = ?')
    .bind(credit_id)
    .first<{ state: 'pending' | 'claimed' | 'voided'; owner_hub_id: string | null; claim_id: string | null }>();
  if (after === null) throw new Error(`credit ${credit_id} vanished`);
  // The batch either settled the credit whole or not at all.
  if (input.decision === 'claimed' && after.state !== 'claimed') throw new Error(`office claim of ${credit_id} left it ${after.state}`);
  if (input.decision === 'release' && after.owner_hub_id !== null) throw new Error(`release of ${credit_id} kept owner ${after.owner_hub_id}`);
  return { credit_id, decision: input.decision, state: after.state, owner_hub_id: after.owner_hub_id, claim_id: after.claim_id };
}
