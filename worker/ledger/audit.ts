// The ledger audit: DESIGN section 3's invariants 1-4 (1 as card replacement amends it: one live
// credit per paid order, and its move chain), 5 as far as the Worker's data goes, and 7,
// as plain SQL over D1. The same queries run inside workerd (tests) and from Node through
// wrangler (`npm run audit`), so this module imports nothing but types: each side brings a
// function that runs a list of statements and returns each one's rows.
//
// Every check selects the rows that break an invariant, as `ids` (the records involved) and
// `detail` (what is wrong, in numbers). The database enforces some of these itself (a unique
// index on credits.order_id, check constraints); the audit checks them again because it must
// also catch a database whose constraints were lost or bypassed.

export type AuditRow = Record<string, unknown>;
/** Runs the statements (no parameters, no `;` inside) and returns each one's rows, in order. */
export type SqlRunner = (statements: readonly string[]) => Promise<AuditRow[][]>;

export interface AuditCheck {
  /** Stable name, printed with every violation: tests and operators grep for it. */
  name: string;
  /** DESIGN section 3 invariant number. */
  invariant: 1 | 2 | 3 | 4 | 5 | 7;
  description: string;
  sql: string;
}

export interface Violation {
  check: string;
  invariant: number;
  description: string;
  ids: string;
  detail: string;
}

export interface LedgerTotals {
  orders: number;
  orders_paid: number;
  orders_refunded: number;
  credits: number;
  credits_pending: number;
  credits_claimed: number;
  credits_voided: number;
  credits_moved: number;
  claims: number;
  pending_fen: number;
}

export interface AuditReport {
  violations: Violation[];
  totals: LedgerTotals;
}

/** Rows reported per check: enough to act on, bounded so a ruined ledger prints a page, not a book. */
export const AUDIT_ROWS_PER_CHECK_MAX = 100;
const LIMIT = `LIMIT ${AUDIT_ROWS_PER_CHECK_MAX}`;

export const AUDIT_CHECKS: readonly AuditCheck[] = [
  {
    // Invariant 1 as card replacement amends it: every paid order has exactly one live credit
    // (pending, claimed or voided) and its move chain (moved credits, each continued by one).
    name: 'paid_order_without_credit',
    invariant: 1,
    description: 'a paid (or refunded) order has no live credit',
    sql: `SELECT o.id AS ids, 'order ' || o.status || ', ' || o.amount_fen || ' fen, no live credit' AS detail
      FROM orders o WHERE o.status IN ('paid', 'refunded')
        AND NOT EXISTS (SELECT 1 FROM credits c WHERE c.order_id = o.id AND c.state <> 'moved')
      ORDER BY o.id ${LIMIT}`,
  },
  {
    name: 'order_with_several_credits',
    invariant: 1,
    description: 'one order has more than one live credit',
    sql: `SELECT c.order_id || ': ' || group_concat(c.id, ', ') AS ids,
        count(*) || ' live credits, ' || sum(c.amount_fen) || ' fen in all' AS detail
      FROM credits c WHERE c.state <> 'moved' GROUP BY c.order_id HAVING count(*) > 1 ORDER BY c.order_id ${LIMIT}`,
  },
  {
    // A moved credit's money lives on in exactly one successor; none would lose it, two double it.
    name: 'moved_credit_without_successor',
    invariant: 1,
    description: 'a moved credit is continued by no credit, or by more than one',
    sql: `SELECT c.id || ' (order ' || c.order_id || ')' AS ids, coalesce(s.n, 0) || ' successors' AS detail
      FROM credits c LEFT JOIN (SELECT moved_from_credit_id AS id, count(*) AS n FROM credits
        WHERE moved_from_credit_id IS NOT NULL GROUP BY moved_from_credit_id) s ON s.id = c.id
      WHERE c.state = 'moved' AND coalesce(s.n, 0) <> 1 ORDER BY c.id ${LIMIT}`,
  },
  {
    // Each link of a chain: the predecessor is moved, same order and amount, and a card
    // replacement of the school took the predecessor's card to the successor's.
    name: 'moved_credit_chain_broken',
    invariant: 1,
    description: "a credit continues a credit that is not a moved credit of the same order, amount and replaced card",
    sql: `SELECT c.id || ' (from ' || c.moved_from_credit_id || ')' AS ids,
        CASE WHEN p.id IS NULL THEN 'no such credit'
             WHEN p.state <> 'moved' THEN 'predecessor is ' || p.state
             WHEN p.order_id <> c.order_id THEN 'order ' || p.order_id || ' vs ' || c.order_id
             WHEN p.amount_fen <> c.amount_fen THEN p.amount_fen || ' fen vs ' || c.amount_fen || ' fen'
             ELSE 'no replacement of ' || p.card_no || ' by ' || c.card_no END AS detail
      FROM credits c LEFT JOIN credits p ON p.id = c.moved_from_credit_id
      WHERE c.moved_from_credit_id IS NOT NULL AND (p.id IS NULL OR p.state <> 'moved' OR p.order_id <> c.order_id
        OR p.amount_fen <> c.amount_fen OR p.school_id <> c.school_id
        OR NOT EXISTS (SELECT 1 FROM card_replacements r WHERE r.school_id = c.school_id
          AND r.old_card_no = p.card_no AND r.new_card_no = c.card_no))
      ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'credit_move_record_mismatch',
    invariant: 1,
    description: "a credit's move record disagrees with the credit or its successor",
    sql: `SELECT coalesce(m.credit_id, c.id) AS ids,
        'move ' || coalesce(m.state, 'missing') || '; credit ' || coalesce(c.state, 'missing')
          || '; successor ' || coalesce(n.state, 'missing') AS detail
      FROM credits c LEFT JOIN credit_moves m ON m.credit_id = c.id LEFT JOIN credits n ON n.id = m.new_credit_id
      WHERE (c.state = 'moved' AND (m.state IS NOT 'moved' OR n.moved_from_credit_id IS NOT c.id OR n.card_no IS NOT m.to_card_no))
         OR (m.state = 'moved' AND c.state <> 'moved')
         OR (m.state = 'requested' AND (c.state <> 'pending' OR n.id IS NOT NULL
           OR (m.route = 'hub' AND c.void_requested_at_ms IS NULL)))
      ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'payment_applied_twice',
    invariant: 1,
    description: "one provider trade is the payment of more than one paid order",
    sql: `SELECT o.channel || ' trade ' || o.provider_trade_no || ': ' || group_concat(o.id, ', ') AS ids,
        count(*) || ' paid orders' AS detail
      FROM orders o WHERE o.status IN ('paid', 'refunded') AND o.provider_trade_no IS NOT NULL
      GROUP BY o.channel, o.provider_trade_no HAVING count(*) > 1 ORDER BY o.provider_trade_no ${LIMIT}`,
  },
  {
    name: 'credit_without_paid_order',
    invariant: 1,
    description: 'a credit whose order does not exist or was never paid',
    sql: `SELECT c.id || ' (order ' || c.order_id || ')' AS ids,
        CASE WHEN o.id IS NULL THEN 'no such order' ELSE 'order is ' || o.status END AS detail
      FROM credits c LEFT JOIN orders o ON o.id = c.order_id
      WHERE o.id IS NULL OR o.status NOT IN ('paid', 'refunded') ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'credit_amount_mismatch',
    invariant: 1,
    description: "a credit's amount differs from its order's",
    sql: `SELECT c.id || ' (order ' || o.id || ')' AS ids,
        'credit ' || c.amount_fen || ' fen, order ' || o.amount_fen || ' fen' AS detail
      FROM credits c JOIN orders o ON o.id = c.order_id
      WHERE c.amount_fen <> o.amount_fen ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'credit_card_mismatch',
    invariant: 1,
    description: "a credit is for another card than its order",
    sql: `SELECT c.id || ' (order ' || o.id || ')' AS ids,
        'credit ' || c.school_id || '/' || c.card_no || ', order ' || o.school_id || '/' || o.card_no AS detail
      FROM credits c JOIN orders o ON o.id = c.order_id
      WHERE c.moved_from_credit_id IS NULL AND (c.school_id <> o.school_id OR c.card_no <> o.card_no) ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'claimed_credit_without_claim',
    invariant: 2,
    description: 'a claimed credit belongs to no claim',
    sql: `SELECT c.id AS ids,
        CASE WHEN c.claim_id IS NULL THEN 'no claim_id' ELSE 'claim ' || c.claim_id || ' does not exist' END AS detail
      FROM credits c WHERE c.state = 'claimed'
        AND (c.claim_id IS NULL OR NOT EXISTS (SELECT 1 FROM claims cl WHERE cl.id = c.claim_id))
      ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'claim_amount_mismatch',
    invariant: 2,
    description: "a claim's amount is not the sum of its credits",
    sql: `SELECT cl.id AS ids,
        'claim ' || cl.amount_fen || ' fen, its ' || coalesce(s.n, 0) || ' credits ' || coalesce(s.sum_fen, 0) || ' fen' AS detail
      FROM claims cl LEFT JOIN (
        SELECT claim_id, sum(amount_fen) AS sum_fen, count(*) AS n FROM credits
        WHERE claim_id IS NOT NULL GROUP BY claim_id
      ) s ON s.claim_id = cl.id
      WHERE coalesce(s.sum_fen, 0) <> cl.amount_fen ORDER BY cl.id ${LIMIT}`,
  },
  {
    name: 'claim_credit_not_claimed',
    invariant: 5,
    description: 'a credit carried by a claim is not in state claimed',
    sql: `SELECT c.id || ' (claim ' || c.claim_id || ')' AS ids, 'credit is ' || c.state AS detail
      FROM credits c WHERE c.claim_id IS NOT NULL AND c.state <> 'claimed' ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'claim_credit_other_card',
    invariant: 5,
    description: "a claim carries a credit of another card",
    sql: `SELECT c.id || ' (claim ' || cl.id || ')' AS ids,
        'credit ' || c.school_id || '/' || c.card_no || ', claim ' || cl.school_id || '/' || cl.card_no AS detail
      FROM credits c JOIN claims cl ON cl.id = c.claim_id
      WHERE c.school_id <> cl.school_id OR c.card_no <> cl.card_no ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'claim_from_foreign_hub',
    invariant: 5,
    description: "a claim came from a hub that is not registered for the claim's school",
    sql: `SELECT cl.id || ' (hub ' || cl.hub_id || ')' AS ids,
        CASE WHEN h.id IS NULL THEN 'unknown hub' ELSE 'hub of ' || h.school_id || ', claim for ' || cl.school_id END AS detail
      FROM claims cl LEFT JOIN hubs h ON h.id = cl.hub_id
      WHERE h.id IS NULL OR h.school_id <> cl.school_id ORDER BY cl.id ${LIMIT}`,
  },
  {
    // The Worker cannot check a TAC (it holds no card keys), but it can insist that every
    // claim names the card's evidence of the write, and that the evidence has its form; or,
    // for a grey record the card office settled as loaded, that its decision is in the
    // console's audit trail.
    name: 'claim_without_card_proof',
    invariant: 7,
    description: "a claim carries no proof from the card (TAC, transaction prove, or serial seen past the load) nor a card-office decision",
    sql: `SELECT cl.id AS ids, 'proof ' || coalesce(cl.proof_kind, 'missing')
          || CASE WHEN cl.proof_kind IN ('tac', 'prove') THEN ', tac ' || coalesce(cl.proof_tac, 'missing')
                  WHEN cl.proof_kind = 'serial' THEN ', serial seen ' || coalesce(cl.online_serial_seen, 'missing')
                    || ' for serial after ' || coalesce(cl.online_serial_after, 'missing')
                  WHEN cl.proof_kind = 'decision' THEN ', no grey_settle entry in console_audit'
                  ELSE '' END AS detail
      FROM claims cl
      WHERE cl.proof_kind IS NULL OR cl.proof_kind NOT IN ('tac', 'prove', 'serial', 'decision')
        OR (cl.proof_kind = 'decision' AND NOT EXISTS (SELECT 1 FROM console_audit a
          WHERE a.action = 'grey_settle' AND a.target = cl.hub_id || ':' || cl.id AND a.school_id = cl.school_id
            AND json_extract(a.after_json, '$.decision') = 'loaded'))
        OR (cl.proof_kind IN ('tac', 'prove') AND (cl.proof_tac IS NULL OR length(cl.proof_tac) <> 8))
        OR (cl.proof_kind = 'serial' AND (cl.online_serial_seen IS NULL OR cl.online_serial_after IS NULL
          OR cl.online_serial_seen < cl.online_serial_after))
      ORDER BY cl.id ${LIMIT}`,
  },
  {
    // The hub learns of credits only through the changes feed (written by triggers): a credit
    // missing from it could never be loaded, and a void request missing from it never answered.
    name: 'credit_missing_from_hub_feed',
    invariant: 5,
    description: "a credit, or a credit's void request, is missing from its school's changes feed",
    sql: `SELECT c.id AS ids,
        CASE WHEN NOT EXISTS (SELECT 1 FROM changes ch WHERE ch.ref = c.id AND ch.kind = 'credit' AND ch.school_id = c.school_id)
          THEN 'no credit change' ELSE 'void requested, no void change' END AS detail
      FROM credits c
      WHERE NOT EXISTS (SELECT 1 FROM changes ch WHERE ch.ref = c.id AND ch.kind = 'credit' AND ch.school_id = c.school_id)
        OR (c.void_requested_at_ms IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM changes ch WHERE ch.ref = c.id AND ch.kind = 'void' AND ch.school_id = c.school_id))
      ORDER BY c.id ${LIMIT}`,
  },
  {
    // A refund voids the credit first and marks the order refunded once the provider has
    // returned the money; in between, its refund row is 'provider_pending'; a refund the provider
    // ended ABNORMAL or CLOSED is 'failed', the money still owed. Those are the only voided
    // credits of a not-yet-refunded order the ledger may hold.
    name: 'voided_credit_order_not_refunded',
    invariant: 3,
    description: "a voided credit's order is not refunded, and no refund of it is under way",
    sql: `SELECT c.id || ' (order ' || c.order_id || ')' AS ids,
        'order is ' || coalesce(o.status, 'missing') AS detail
      FROM credits c LEFT JOIN orders o ON o.id = c.order_id
      WHERE c.state = 'voided' AND (o.status IS NULL OR o.status <> 'refunded')
        AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.credit_id = c.id AND r.order_id = c.order_id
          AND r.state IN ('provider_pending', 'failed'))
      ORDER BY c.id ${LIMIT}`,
  },
  {
    name: 'refund_record_mismatch',
    invariant: 3,
    description: 'a refund disagrees with its order or credit',
    sql: `SELECT r.id || ' (order ' || r.order_id || ', credit ' || r.credit_id || ')' AS ids,
        'refund ' || r.state || ' ' || r.amount_fen || ' fen; order ' || coalesce(o.status, 'missing') || ' '
          || coalesce(o.amount_fen, 0) || ' fen; credit ' || coalesce(c.state, 'missing') AS detail
      FROM refunds r LEFT JOIN orders o ON o.id = r.order_id LEFT JOIN credits c ON c.id = r.credit_id
      WHERE o.id IS NULL OR c.id IS NULL OR c.order_id <> r.order_id OR r.amount_fen <> o.amount_fen
        OR (r.state = 'refunded' AND (o.status <> 'refunded' OR c.state <> 'voided'))
        OR (r.state = 'provider_pending' AND c.state <> 'voided')
        OR (r.state = 'failed' AND (c.state <> 'voided' OR o.status <> 'paid'))
        OR (r.state = 'refused' AND c.state = 'voided')
        OR c.state = 'moved'
      ORDER BY r.id ${LIMIT}`,
  },
  {
    name: 'refunded_order_credit_not_voided',
    invariant: 3,
    description: "a refunded order's credit is not voided",
    sql: `SELECT o.id || ' (credit ' || c.id || ')' AS ids, 'credit is ' || c.state AS detail
      FROM orders o JOIN credits c ON c.order_id = o.id
      WHERE o.status = 'refunded' AND c.state NOT IN ('voided', 'moved') ORDER BY o.id ${LIMIT}`,
  },
  {
    // Invariant 4: a day reconciliation called balanced must still add up. The ledger side is
    // recomputed from orders and refunds exactly as worker/recon/reconcile.ts counts it
    // (payments by the provider's time, refunds by the time the bill files them), so a payment
    // moved, doubled or removed after the day was settled is named here.
    name: 'reconciled_day_differs_from_ledger',
    invariant: 4,
    description: "a day reconciled as balanced no longer matches the ledger: provider bill <> paid orders",
    sql: `SELECT r.bill_date || ' ' || r.channel || ' ' || CASE WHEN r.school_id = '' THEN '(merchant)' ELSE r.school_id END AS ids,
        'bill ' || r.bill_total_fen || ' fen, ledger ' || l.total_fen || ' fen' AS detail
      FROM reconciliations r JOIN (
        SELECT r2.bill_date, r2.channel, r2.school_id,
          coalesce((SELECT sum(o.amount_fen) FROM orders o WHERE o.channel = r2.channel AND o.school_id = r2.school_id
              AND o.status IN ('paid', 'refunded') AND o.paid_at_ms >= r2.day_start_ms AND o.paid_at_ms < r2.day_start_ms + 86400000), 0)
          - coalesce((SELECT sum(f.amount_fen) FROM refunds f JOIN orders o ON o.id = f.order_id WHERE o.channel = r2.channel
              AND f.school_id = r2.school_id AND f.provider_bill_at_ms >= r2.day_start_ms AND f.provider_bill_at_ms < r2.day_start_ms + 86400000), 0)
            AS total_fen
        FROM reconciliations r2 WHERE r2.status = 'balanced'
      ) l ON l.bill_date = r.bill_date AND l.channel = r.channel AND l.school_id = r.school_id
      WHERE r.status = 'balanced' AND (l.total_fen <> r.bill_total_fen OR r.ours_total_fen <> r.bill_total_fen)
      ORDER BY r.bill_date, r.channel, r.school_id ${LIMIT}`,
  },
];

const TOTALS_SQL = `SELECT
  (SELECT count(*) FROM orders) AS orders,
  (SELECT count(*) FROM orders WHERE status = 'paid') AS orders_paid,
  (SELECT count(*) FROM orders WHERE status = 'refunded') AS orders_refunded,
  (SELECT count(*) FROM credits) AS credits,
  (SELECT count(*) FROM credits WHERE state = 'pending') AS credits_pending,
  (SELECT count(*) FROM credits WHERE state = 'claimed') AS credits_claimed,
  (SELECT count(*) FROM credits WHERE state = 'voided') AS credits_voided,
  (SELECT count(*) FROM credits WHERE state = 'moved') AS credits_moved,
  (SELECT count(*) FROM claims) AS claims,
  (SELECT coalesce(sum(amount_fen), 0) FROM credits WHERE state = 'pending') AS pending_fen`;

/** Every statement the audit runs, in order: the checks, then the totals. */
export function auditStatements(): string[] {
  return [...AUDIT_CHECKS.map((check) => check.sql), TOTALS_SQL];
}

function toNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new TypeError(`${field} is not an integer: ${String(value)}`);
  return value;
}

/** Turns the rows of auditStatements() into a report. */
export function auditReportFrom(results: readonly AuditRow[][]): AuditReport {
  if (results.length !== AUDIT_CHECKS.length + 1) {
    throw new RangeError(`expected ${AUDIT_CHECKS.length + 1} result sets, got ${results.length}`);
  }
  const violations: Violation[] = [];
  AUDIT_CHECKS.forEach((check, index) => {
    for (const row of results[index] ?? []) {
      violations.push({
        check: check.name,
        invariant: check.invariant,
        description: check.description,
        ids: String(row.ids),
        detail: String(row.detail),
      });
    }
  });
  const totals_row = results[AUDIT_CHECKS.length]?.[0];
  if (totals_row === undefined) throw new Error('the totals query returned no row');
  const totals: LedgerTotals = {
    orders: toNumber(totals_row.orders, 'orders'),
    orders_paid: toNumber(totals_row.orders_paid, 'orders_paid'),
    orders_refunded: toNumber(totals_row.orders_refunded, 'orders_refunded'),
    credits: toNumber(totals_row.credits, 'credits'),
    credits_pending: toNumber(totals_row.credits_pending, 'credits_pending'),
    credits_claimed: toNumber(totals_row.credits_claimed, 'credits_claimed'),
    credits_voided: toNumber(totals_row.credits_voided, 'credits_voided'),
    credits_moved: toNumber(totals_row.credits_moved, 'credits_moved'),
    claims: toNumber(totals_row.claims, 'claims'),
    pending_fen: toNumber(totals_row.pending_fen, 'pending_fen'),
  };
  return { violations, totals };
}

export async function runAudit(run: SqlRunner): Promise<AuditReport> {
  return auditReportFrom(await run(auditStatements()));
}

/** The part of D1's binding the audit needs, so this module compiles without workers types. */
export interface D1Like {
  prepare(sql: string): unknown;
  batch(statements: unknown[]): Promise<{ results?: unknown[] }[]>;
}

/** A SqlRunner over a D1 binding: every statement in one batch, so one consistent snapshot. */
export function d1Runner(db: D1Like): SqlRunner {
  return async (statements) => {
    const results = await db.batch(statements.map((statement) => db.prepare(statement)));
    return results.map((result) => (result.results ?? []) as AuditRow[]);
  };
}

export function formatViolation(violation: Violation): string {
  return `invariant ${violation.invariant} ${violation.check}: ${violation.ids}: ${violation.detail} (${violation.description})`;
}

export function formatTotals(totals: LedgerTotals): string {
  return (
    `${totals.orders} orders (${totals.orders_paid} paid, ${totals.orders_refunded} refunded), ` +
    `${totals.credits} credits (${totals.credits_pending} pending, ${totals.credits_claimed} claimed, ` +
    `${totals.credits_voided} voided, ${totals.credits_moved} moved), ${totals.claims} claims, ${totals.pending_fen} fen pending claim`
  );
}
