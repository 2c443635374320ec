// The card office settles a frozen credit (DESIGN section 6, handover: its owning hub is dead)
// with evidence from the card; the card holds of worker/ledger/holds.ts claim through the same
// statements (officeClaimStatements), under their own guard. `claimed`: the card has the money, so a claim is written with
// proof kind 'office' and the decision in credit_settlements (invariant 7's audit-trail case);
// `release`: the card does not, so the credit leaves the dead hub for the school's active hub.
import { HOLD_CREDITS_MAX, type AdminCreditSettleResponse } from '../../protocol/hub.ts';
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
 * The statements that make pending credits of one card claimed by the card office: for each, a
 * credit_settlements row (the decision and its evidence: invariant 7's audit-trail case), a claim
 * `office-<credit_id>` with proof kind `office`, the credit claimed; and a refund or a card
 * replacement waiting on it refused, since the card holds the money. `guard_sql` says when the
 * office may do so; it sees the credit as `cr` and the parameters ?1 (credit ids, JSON), ?2
 * school, ?3 hub, ?4 card, ?5 now_ms. Every later statement is guarded on the settlement rows
 * written at now_ms, so the batch changes all of it or, when the first statement wrote nothing,
 * nothing. A credit is settled once: a second settlement of it writes no row.
 */
export function officeClaimStatements(
  d1: D1Database,
  input: { credit_ids: readonly string[]; school_id: string; hub_id: string; card_no: string; evidence: string; actor: string; now_ms: number },
  guard_sql: string,
): D1PreparedStatement[] {
  if (input.credit_ids.length === 0 || input.credit_ids.length > HOLD_CREDITS_MAX) throw new RangeError(`${input.credit_ids.length} credits in one office settlement`);
  if (new Set(input.credit_ids).size !== input.credit_ids.length) throw new RangeError('a credit named twice in one office settlement');
  const ids = JSON.stringify(input.credit_ids);
  const params = [ids, input.school_id, input.hub_id, input.card_no, input.now_ms, input.evidence, input.actor];
  // D1 wants exactly as many values as the highest ?N a statement names.
  const bind = (sql: string) => {
    const highest = Math.max(...[...sql.matchAll(/\?([0-9])/g)].map((m) => Number(m[1])));
    return d1.prepare(sql).bind(...params.slice(0, highest));
  };
  const listed = 'SELECT value FROM json_each(?1)';
  return [
    bind(`INSERT INTO credit_settlements (credit_id, school_id, hub_id, decision, evidence, actor, claim_id, settled_at_ms)
          SELECT cr.id, ?2, ?3, 'claimed', ?6, ?7, 'office-' || cr.id, ?5 FROM credits cr
           WHERE cr.id IN (${listed}) AND cr.state = 'pending' AND cr.owner_hub_id = ?3 AND cr.school_id = ?2
             AND cr.card_no = ?4 AND (${guard_sql})
          ON CONFLICT DO NOTHING`),
    bind(`INSERT INTO claims (id, school_id, card_no, hub_id, terminal_id, amount_fen, proof_kind, committed_at_ms, received_at_ms)
          SELECT s.claim_id, ?2, ?4, ?3, 'card-office', cr.amount_fen, 'office', ?5, ?5
            FROM credit_settlements s JOIN credits cr ON cr.id = s.credit_id
           WHERE s.credit_id IN (${listed}) AND s.settled_at_ms = ?5 AND s.hub_id = ?3 AND s.decision = 'claimed'
             AND cr.state = 'pending' AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.id = s.claim_id)`),
    bind(`UPDATE credits SET state = 'claimed', claim_id = 'office-' || id, claimed_at_ms = ?5
           WHERE id IN (${listed}) AND state = 'pending' AND owner_hub_id = ?3
             AND EXISTS (SELECT 1 FROM claims cl WHERE cl.id = 'office-' || credits.id AND cl.received_at_ms = ?5)`),
    // A refund waiting for the hub's void lost to the card; so did a card replacement's move.
    bind(`UPDATE refunds SET state = 'refused', reason = 'the card office found it loaded onto the card', updated_at_ms = ?5
           WHERE credit_id IN (${listed}) AND state = 'requested' AND school_id = ?2
             AND EXISTS (SELECT 1 FROM credits cr WHERE cr.id = refunds.credit_id AND cr.state = 'claimed' AND cr.claimed_at_ms = ?5)`),
    bind(`UPDATE credit_moves SET state = 'refused', updated_at_ms = ?5
           WHERE credit_id IN (${listed}) AND state = 'requested' AND school_id = ?2
             AND EXISTS (SELECT 1 FROM credits cr WHERE cr.id = credit_moves.credit_id AND cr.state = 'claimed' AND cr.claimed_at_ms = ?5)`),
  ];
}

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
  let statements: D1PreparedStatement[];
  if (input.decision === 'claimed') {
    statements = officeClaimStatements(
      d1,
      { credit_ids: [credit_id], school_id: credit.school_id, hub_id, card_no: credit.card_no, evidence: input.evidence, actor: input.actor, now_ms },
      `EXISTS (SELECT 1 FROM hubs h WHERE h.id = cr.owner_hub_id AND ${GUARD_DEAD})`,
    );
  } else {
    statements = [
      d1
        .prepare(
          `INSERT INTO credit_settlements (credit_id, school_id, hub_id, decision, evidence, actor, claim_id, settled_at_ms)
           SELECT ?1, ?2, ?3, 'release', ?4, ?5, NULL, ?6
            WHERE EXISTS (SELECT 1 FROM credits cr JOIN hubs h ON h.id = cr.owner_hub_id
                           WHERE cr.id = ?1 AND cr.state = 'pending' AND cr.owner_hub_id = ?3 AND ${GUARD_DEAD})
           ON CONFLICT DO NOTHING`,
        )
        .bind(credit_id, credit.school_id, hub_id, input.evidence, input.actor, now_ms),
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
