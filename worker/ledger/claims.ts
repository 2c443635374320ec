// Claims from a hub (DESIGN sections 3 and 6): each one says "these pending credits of this card
// were loaded onto it". A claim is applied whole or not at all, exactly once however often the
// hub sends it, and only when its credits are this card's, still pending, and sum to its amount.
import type { ClaimsResponse, HubClaim } from '../../protocol/hub.ts';
import { CLAIMS_BATCH_MAX, CLAIM_CREDITS_MAX, HUB_CLOCK_SKEW_MS_MAX } from '../../protocol/hub.ts';
import type { HubIdentity } from '../hub/auth.ts';
import { cardBalanceStatement, type CardBalance } from '../hub/card-reports.ts';

export const CLAIM_CREDITS_READ_SQL = `SELECT id, school_id, card_no, amount_fen, state, claim_id FROM credits
  WHERE id IN (SELECT value FROM json_each(?1))`;

export const CLAIM_INSERT_SQL = `INSERT INTO claims (id, school_id, card_no, hub_id, terminal_id, amount_fen, balance_after_fen,
                      online_serial_after, card_terminal_id, proof_kind, proof_tac, online_serial_seen,
                      committed_at_ms, received_at_ms)
  SELECT json_extract(j.value, '$.claim_id'), ?1, json_extract(j.value, '$.card_no'), ?2,
         json_extract(j.value, '$.terminal_id'), json_extract(j.value, '$.amount_fen'),
         json_extract(j.value, '$.balance_after_fen'), json_extract(j.value, '$.online_serial_after'),
         json_extract(j.value, '$.card_terminal_id'), json_extract(j.value, '$.proof.kind'),
         json_extract(j.value, '$.proof.tac'), json_extract(j.value, '$.proof.online_serial_seen'),
         json_extract(j.value, '$.committed_at_ms'), ?3
    FROM json_each(?4) j
   WHERE NOT EXISTS (SELECT 1 FROM claims c WHERE c.id = json_extract(j.value, '$.claim_id'))
     AND (SELECT COUNT(*) FROM credits cr
           WHERE cr.id IN (SELECT value FROM json_each(j.value, '$.credit_ids'))
             AND cr.school_id = ?1 AND cr.card_no = json_extract(j.value, '$.card_no') AND cr.state = 'pending')
         = json_array_length(j.value, '$.credit_ids')
     AND (SELECT COALESCE(SUM(cr.amount_fen), 0) FROM credits cr
           WHERE cr.id IN (SELECT value FROM json_each(j.value, '$.credit_ids'))
             AND cr.school_id = ?1 AND cr.card_no = json_extract(j.value, '$.card_no') AND cr.state = 'pending')
         = json_extract(j.value, '$.amount_fen')
  ON CONFLICT DO NOTHING
  RETURNING id`;

export const CLAIM_CREDITS_SQL = `UPDATE credits SET state = 'claimed', claim_id = m.claim_id, claimed_at_ms = ?3
   FROM (SELECT json_extract(j.value, '$.claim_id') AS claim_id, json_extract(j.value, '$.card_no') AS card_no,
                json_extract(j.value, '$.amount_fen') AS amount_fen, c.value AS credit_id
           FROM json_each(?4) j, json_each(j.value, '$.credit_ids') c) AS m
  WHERE credits.id = m.credit_id AND +credits.state = 'pending'
    AND +credits.school_id = ?1 AND +credits.card_no = m.card_no
    AND EXISTS (SELECT 1 FROM claims cl
                 WHERE cl.id = m.claim_id AND cl.hub_id = ?2 AND cl.received_at_ms = ?3
                   AND cl.card_no = m.card_no AND cl.amount_fen = m.amount_fen)`;

export const CLAIM_REFUSES_REFUNDS_SQL = `UPDATE refunds SET state = 'refused', reason = 'loaded onto the card before the void', updated_at_ms = ?2
  WHERE +state = 'requested' AND +school_id = ?1
    AND credit_id IN (SELECT c.value FROM json_each(?3) j, json_each(j.value, '$.credit_ids') c)
    AND EXISTS (SELECT 1 FROM credits cr WHERE cr.id = refunds.credit_id AND cr.state = 'claimed')`;

// A card replacement waiting for the hub's void lost the race to the card the same way: the
// money stays on the old card's chip.
export const CLAIM_REFUSES_MOVES_SQL = `UPDATE credit_moves SET state = 'refused', updated_at_ms = ?2
  WHERE +state = 'requested' AND +school_id = ?1
    AND credit_id IN (SELECT c.value FROM json_each(?3) j, json_each(j.value, '$.credit_ids') c)
    AND EXISTS (SELECT 1 FROM credits cr WHERE cr.id = credit_moves.credit_id AND cr.state = 'claimed')`;

export const CLAIM_RESOLVES_GREY_SQL = `UPDATE grey_records SET status = 'resolved', resolved_at_ms = ?2
  WHERE +status = 'open' AND +school_id = ?1
    AND claim_id IN (SELECT json_extract(value, '$.claim_id') FROM json_each(?3))
    AND EXISTS (SELECT 1 FROM claims cl WHERE cl.id = grey_records.claim_id)`;

export const CLAIM_REJECTIONS_SQL = `INSERT INTO claim_rejections (hub_id, school_id, claim_id, card_no, amount_fen, reason, body, received_at_ms)
  SELECT ?1, ?2, json_extract(value, '$.claim_id'), json_extract(value, '$.card_no'),
         json_extract(value, '$.amount_fen'), json_extract(value, '$.reason'), json_extract(value, '$.body'), ?3
    FROM json_each(?4) WHERE true
  ON CONFLICT DO NOTHING`;

type ClaimResult = ClaimsResponse['results'][number];

interface StoredClaim {
  id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
}

interface StoredCredit {
  id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
  state: 'pending' | 'claimed' | 'voided' | 'moved';
  claim_id: string | null;
}

interface LedgerView {
  claims: Map<string, StoredClaim>;
  credits: Map<string, StoredCredit>;
}

interface Rejection {
  claim_id: string;
  card_no: string;
  amount_fen: number;
  reason: string;
  body: string;
}

// A hub whose clocks disagree with ours must not pin a card's shown balance in the future.
const BALANCE_FUTURE_MS_MAX = HUB_CLOCK_SKEW_MS_MAX;

async function readLedger(d1: D1Database, claims: readonly HubClaim[]): Promise<LedgerView> {
  const claim_ids = [...new Set(claims.map((claim) => claim.claim_id))];
  const credit_ids = [...new Set(claims.flatMap((claim) => claim.credit_ids))];
  const [stored_claims, stored_credits] = await d1.batch([
    d1
      .prepare('SELECT id, school_id, card_no, amount_fen FROM claims WHERE id IN (SELECT value FROM json_each(?1))')
      .bind(JSON.stringify(claim_ids)),
    d1.prepare(CLAIM_CREDITS_READ_SQL).bind(JSON.stringify(credit_ids)),
  ]);
  return {
    claims: new Map(((stored_claims?.results ?? []) as StoredClaim[]).map((row) => [row.id, row])),
    credits: new Map(((stored_credits?.results ?? []) as StoredCredit[]).map((row) => [row.id, row])),
  };
}

function sameClaim(a: HubClaim, b: HubClaim): boolean {
  return (
    a.card_no === b.card_no &&
    a.amount_fen === b.amount_fen &&
    a.credit_ids.length === b.credit_ids.length &&
    a.credit_ids.every((id, i) => id === b.credit_ids[i])
  );
}

/**
 * The verdict on one claim against the ledger as read, or null when it may be applied.
 * `taken` holds credits already promised to earlier claims of the same request.
 */
function judge(hub: HubIdentity, claim: HubClaim, view: LedgerView, taken: Set<string>): ClaimResult | null {
  const reject = (reason: string): ClaimResult => ({ claim_id: claim.claim_id, status: 'rejected', reason });
  const stored = view.claims.get(claim.claim_id);
  if (stored !== undefined) {
    // Its credits sum to its amount and every credit is positive, so "all listed credits are
    // claimed by it and the amounts agree" means the very same set of credits.
    const same =
      stored.school_id === hub.school_id &&
      stored.card_no === claim.card_no &&
      stored.amount_fen === claim.amount_fen &&
      claim.credit_ids.every((id) => view.credits.get(id)?.claim_id === claim.claim_id);
    return same
      ? { claim_id: claim.claim_id, status: 'duplicate' }
      : reject(`claim_id ${claim.claim_id} was already applied with other credits`);
  }
  if (new Set(claim.credit_ids).size !== claim.credit_ids.length) return reject('a credit is listed twice');
  // A serial proves the write only when the card was seen at or past the serial the load left.
  if (claim.proof.kind === 'serial' && claim.proof.online_serial_seen < claim.online_serial_after) {
    return reject(`online serial ${claim.proof.online_serial_seen} seen does not show the load to ${claim.online_serial_after} written`);
  }
  let sum_fen = 0;
  for (const credit_id of claim.credit_ids) {
    const credit = view.credits.get(credit_id);
    if (credit === undefined || credit.school_id !== hub.school_id) return reject(`unknown credit ${credit_id}`);
    if (credit.card_no !== claim.card_no) return reject(`credit ${credit_id} belongs to another card`);
    if (credit.state === 'claimed') return reject(`credit ${credit_id} is already claimed by ${credit.claim_id}`);
    if (credit.state === 'voided') return reject(`credit ${credit_id} was voided (refunded)`);
    if (credit.state === 'moved') return reject(`credit ${credit_id} moved to a replacement card`);
    if (taken.has(credit_id)) return reject(`credit ${credit_id} is also in another claim of this batch`);
    sum_fen += credit.amount_fen;
  }
  if (sum_fen !== claim.amount_fen) {
    return reject(`amount_fen ${claim.amount_fen} is not the sum of its credits (${sum_fen})`);
  }
  return null;
}

function writeStatements(
  d1: D1Database,
  hub: HubIdentity,
  accepted: readonly HubClaim[],
  rejections: readonly Rejection[],
  now_ms: number,
): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  if (accepted.length > 0) {
    const batch_json = JSON.stringify(accepted);
    // The SQL re-checks what judge() checked, inside the transaction: a claim is inserted only
    // if every one of its credits is still this card's and pending, and they sum to its amount.
    statements.push(d1.prepare(CLAIM_INSERT_SQL).bind(hub.school_id, hub.hub_id, now_ms, batch_json));
    // Only credits of a claim row this very batch inserted move to claimed. The unary `+` in
    // CLAIM_CREDITS_SQL keeps SQLite from walking every pending credit by the state index: the
    // batch's own credit ids drive the update, one primary-key lookup each.
    statements.push(d1.prepare(CLAIM_CREDITS_SQL).bind(hub.school_id, hub.hub_id, now_ms, batch_json));
    // A refund that was waiting for the hub's void lost the race to the card: it cannot happen.
    statements.push(d1.prepare(CLAIM_REFUSES_REFUNDS_SQL).bind(hub.school_id, now_ms, batch_json));
    statements.push(d1.prepare(CLAIM_REFUSES_MOVES_SQL).bind(hub.school_id, now_ms, batch_json));
    statements.push(d1.prepare(CLAIM_RESOLVES_GREY_SQL).bind(hub.school_id, now_ms, batch_json));
    const balances = newestBalances(accepted, now_ms);
    if (balances.length > 0) statements.push(cardBalanceStatement(d1, hub.school_id, balances));
  }
  if (rejections.length > 0) {
    statements.push(
      d1.prepare(CLAIM_REJECTIONS_SQL).bind(hub.hub_id, hub.school_id, now_ms, JSON.stringify(rejections)),
    );
  }
  return statements;
}

/** The balance each card had after its newest claim: a load is also a balance report. */
function newestBalances(claims: readonly HubClaim[], now_ms: number): CardBalance[] {
  const newest = new Map<string, CardBalance>();
  for (const claim of claims) {
    if (claim.committed_at_ms > now_ms + BALANCE_FUTURE_MS_MAX) continue;
    const known = newest.get(claim.card_no);
    if (known === undefined || known.as_of_ms < claim.committed_at_ms) {
      newest.set(claim.card_no, {
        card_no: claim.card_no,
        balance_fen: claim.balance_after_fen,
        online_serial: claim.online_serial_after,
        as_of_ms: claim.committed_at_ms,
      });
    }
  }
  return [...newest.values()];
}

/**
 * Applies a hub's claims batch in one D1 batch and answers each claim in request order:
 * `accepted` (applied now), `duplicate` (applied before, by this same claim) or `rejected`
 * with a reason; a rejected claim changes nothing and is kept for the card office.
 */
export async function applyClaims(
  d1: D1Database,
  hub: HubIdentity,
  claims: readonly HubClaim[],
  now_ms: number,
): Promise<ClaimsResponse> {
  if (claims.length === 0 || claims.length > CLAIMS_BATCH_MAX) throw new RangeError(`claims batch of ${claims.length}`);
  for (const claim of claims) {
    if (claim.credit_ids.length === 0 || claim.credit_ids.length > CLAIM_CREDITS_MAX) {
      throw new RangeError(`claim ${claim.claim_id} with ${claim.credit_ids.length} credits`);
    }
  }
  const view = await readLedger(d1, claims);
  const results: ClaimResult[] = [];
  const accepted: HubClaim[] = [];
  const rejections: Rejection[] = [];
  const taken = new Set<string>();
  const in_request = new Map<string, HubClaim>();
  for (const claim of claims) {
    const earlier = in_request.get(claim.claim_id);
    let verdict: ClaimResult | null;
    if (earlier !== undefined) {
      verdict = sameClaim(earlier, claim)
        ? { claim_id: claim.claim_id, status: 'duplicate' }
        : { claim_id: claim.claim_id, status: 'rejected', reason: `claim_id ${claim.claim_id} appears twice with other credits` };
    } else {
      in_request.set(claim.claim_id, claim);
      verdict = judge(hub, claim, view, taken);
    }
    if (verdict === null) {
      for (const credit_id of claim.credit_ids) taken.add(credit_id);
      accepted.push(claim);
      results.push({ claim_id: claim.claim_id, status: 'accepted' });
      continue;
    }
    if (verdict.status === 'rejected') {
      rejections.push({
        claim_id: claim.claim_id,
        card_no: claim.card_no,
        amount_fen: claim.amount_fen,
        reason: verdict.reason ?? 'rejected',
        body: JSON.stringify(claim),
      });
      console.warn(
        JSON.stringify({ level: 'warn', msg: 'claim rejected', hub_id: hub.hub_id, claim_id: claim.claim_id, reason: verdict.reason }),
      );
    }
    results.push(verdict);
  }

  const statements = writeStatements(d1, hub, accepted, rejections, now_ms);
  if (statements.length === 0) return { results };
  const written = await d1.batch(statements);
  if (accepted.length === 0) return { results };

  const inserted = new Set(((written[0]?.results ?? []) as { id: string }[]).map((row) => row.id));
  const claimed_count = written[1]?.meta.changes ?? 0;
  const expected_count = accepted.filter((claim) => inserted.has(claim.claim_id)).reduce((n, claim) => n + claim.credit_ids.length, 0);
  if (claimed_count !== expected_count) {
    // The SQL guards make this impossible short of a concurrent claim_id reuse with other
    // credits in the same millisecond; say so loudly, the audit will name the claim.
    console.error(
      JSON.stringify({ level: 'error', msg: 'claim batch credit count mismatch', hub_id: hub.hub_id, claimed_count, expected_count }),
    );
  }
  const lost = accepted.filter((claim) => !inserted.has(claim.claim_id));
  if (lost.length === 0) return { results };
  // Something changed between our read and the batch (a concurrent copy of this request, most
  // likely): judge those claims again against the ledger as it is now. No second write: a
  // claim that still looks applicable was refused by the SQL guard for a reason we cannot see.
  const fresh = await readLedger(d1, lost);
  const again = new Map<string, ClaimResult>();
  for (const claim of lost) {
    const verdict = judge(hub, claim, fresh, new Set()) ?? {
      claim_id: claim.claim_id,
      status: 'rejected' as const,
      reason: 'the ledger changed while applying; send the claim again',
    };
    again.set(claim.claim_id, verdict);
  }
  return {
    results: results.map((result) => (result.status === 'accepted' ? (again.get(result.claim_id) ?? result) : result)),
  };
}
