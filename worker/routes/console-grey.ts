// Grey records for the card office (DESIGN section 6): reservations a hub could not settle from
// the card's own evidence. `GET /grey-records?school_id=&state=` lists them; `POST
// /grey-records/{hub_id:claim_id}/settle` records the card office's decision, with the card in a
// reader, through the ledger:
// - `loaded`: the card shows the load. The reservation's credits are claimed, in one D1 batch,
//   by a claim under the reservation's own claim_id from its own hub, whose proof is the
//   decision (proof_kind 'decision', its console_audit row: invariant 7). Should the hub later
//   send its own claim of that reservation, it is the same claim_id and answers `duplicate`.
// - `not_loaded`: the card shows it was not written. The record is closed; its credits stay
//   pending, for the card's next swipe (or a refund).
// Never a row edit of credits outside that path: the same SQL guards as a hub's claim.
import { Hono } from 'hono';
import { CLAIM_CREDITS_MAX, HUB_ID_PATTERN } from '../../protocol/hub.ts';
import {
  consoleGreyQuery,
  consoleGreySettleRequest,
  type ConsoleGreyRecord,
  type ConsoleGreyRecordsResponse,
  type GreyDecision,
} from '../../protocol/console.ts';
import { auditStatement } from '../console/audit.ts';
import { consoleAddress, type ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { pageLimit } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readJson, readQuery } from '../http/validate.ts';
import { parseCreditIds, readGreyPage, toGreyRecordView, type GreyRow as GreyRecordRow } from '../hub/grey-view.ts';

// The record with the card office's last decision on it, when there is one.
type GreyRow = GreyRecordRow & { decision_json?: string | null };

const GREY_SELECT = `SELECT g.*, (SELECT a.after_json FROM console_audit a WHERE a.action = 'grey_settle' AND a.target = g.hub_id || ':' || g.claim_id
                                 ORDER BY a.id DESC LIMIT 1) AS decision_json
   FROM grey_records g`;

function parseDecision(text: string | null | undefined): GreyDecision | null {
  if (text === null || text === undefined) return null;
  try {
    const value = JSON.parse(text) as Partial<GreyDecision>;
    if ((value.decision === 'loaded' || value.decision === 'not_loaded') && typeof value.evidence === 'string' && typeof value.operator_id === 'string' && typeof value.at_ms === 'number') {
      return { decision: value.decision, evidence: value.evidence, operator_id: value.operator_id, at_ms: value.at_ms };
    }
  } catch {
    // A row this module did not write: shown without a decision.
  }
  return null;
}

function toRecord(row: GreyRow): ConsoleGreyRecord {
  const { decision_json, ...rest } = row;
  return { ...toGreyRecordView(rest), grey_id: `${row.hub_id}:${row.claim_id}`, decision: parseDecision(decision_json) };
}

function notFound(): ApiError {
  return new ApiError(404, 'not_found', 'no such grey record');
}

// The claim a `loaded` decision makes: only while the record is open, no claim has its id, and
// every credit of the reservation is still this card's, pending, and they sum to its amount.
export const DECISION_CLAIM_SQL = `INSERT INTO claims (id, school_id, card_no, hub_id, terminal_id, amount_fen, balance_after_fen, online_serial_after,
                      card_terminal_id, proof_kind, proof_tac, online_serial_seen, committed_at_ms, received_at_ms)
  SELECT g.claim_id, g.school_id, g.card_no, g.hub_id, g.terminal_id, g.amount_fen, ?3, g.online_serial_after,
         NULL, 'decision', NULL, ?4, ?5, ?5
    FROM grey_records g
   WHERE g.hub_id = ?1 AND g.claim_id = ?2 AND g.status = 'open'
     AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.id = g.claim_id)
     AND json_array_length(g.credit_ids) > 0
     AND (SELECT COUNT(*) FROM credits cr WHERE cr.id IN (SELECT value FROM json_each(g.credit_ids))
           AND cr.school_id = g.school_id AND cr.card_no = g.card_no AND cr.state = 'pending') = json_array_length(g.credit_ids)
     AND (SELECT COALESCE(SUM(cr.amount_fen), 0) FROM credits cr WHERE cr.id IN (SELECT value FROM json_each(g.credit_ids))
           AND cr.school_id = g.school_id AND cr.card_no = g.card_no AND cr.state = 'pending') = g.amount_fen`;

export const DECISION_CREDITS_SQL = `UPDATE credits SET state = 'claimed', claim_id = ?2, claimed_at_ms = ?3
  WHERE id IN (SELECT value FROM json_each((SELECT credit_ids FROM grey_records WHERE hub_id = ?1 AND claim_id = ?2)))
    AND +state = 'pending'
    AND EXISTS (SELECT 1 FROM claims cl WHERE cl.id = ?2 AND cl.hub_id = ?1 AND cl.proof_kind = 'decision' AND cl.received_at_ms = ?3)`;

// A refund that waited for the hub's void cannot happen now: the money is on the card. The
// unary `+` on state (here and above) keeps SQLite on the record's own credit ids instead of
// walking every pending credit or requested refund by the state index.
export const DECISION_REFUSES_REFUNDS_SQL = `UPDATE refunds SET state = 'refused', reason = 'the card office found it loaded onto the card', updated_at_ms = ?3
  WHERE +state = 'requested'
    AND credit_id IN (SELECT value FROM json_each((SELECT credit_ids FROM grey_records WHERE hub_id = ?1 AND claim_id = ?2)))
    AND EXISTS (SELECT 1 FROM credits cr WHERE cr.id = refunds.credit_id AND cr.state = 'claimed' AND cr.claim_id = ?2)`;

export const DECISION_RESOLVES_SQL = `UPDATE grey_records SET status = 'resolved', resolved_at_ms = ?3
  WHERE hub_id = ?1 AND claim_id = ?2 AND status = 'open'
    AND (?4 = 'not_loaded' OR EXISTS (SELECT 1 FROM claims cl WHERE cl.id = ?2 AND cl.received_at_ms = ?3))`;

export const consoleGreyRoutes = new Hono<ConsoleEnv>()
  .get('/grey-records', async (c) => {
    const query = readQuery(c, consoleGreyQuery);
    const school_id = scopedSchool(c.get('operator'), query.school_id);
    const page = await readGreyPage<GreyRow>(c.env.DB, GREY_SELECT, {
      status: query.state ?? 'open',
      school_id,
      cursor: query.cursor,
      limit: pageLimit(query.limit),
    });
    const body: ConsoleGreyRecordsResponse = { records: page.rows.map(toRecord), next_cursor: page.next_cursor };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  })
  .post('/grey-records/:grey_id/settle', async (c) => {
    const grey_id = c.req.param('grey_id');
    const colon = grey_id.indexOf(':');
    const hub_id = colon < 0 ? '' : grey_id.slice(0, colon);
    const claim_id = colon < 0 ? '' : grey_id.slice(colon + 1);
    if (!HUB_ID_PATTERN.test(hub_id) || claim_id.length === 0 || claim_id.length > 64) throw notFound();
    const input = await readJson(c, consoleGreySettleRequest);
    const operator = c.get('operator');
    const d1 = c.env.DB;
    const row = await d1
      .prepare(`${GREY_SELECT} WHERE g.hub_id = ?1 AND g.claim_id = ?2 AND g.school_id IN (SELECT value FROM json_each(?3))`)
      .bind(hub_id, claim_id, JSON.stringify(operator.school_ids))
      .first<GreyRow>();
    if (row === null) throw notFound();
    if (row.status !== 'open') throw new ApiError(409, 'conflict', 'this grey record is already settled');
    const credit_ids = parseCreditIds(row.credit_ids);
    // The hub's report was validated at the edge (protocol/hub.ts greyRecord); a row outside
    // that is our bug, and must not become a claim.
    if (!(Number.isSafeInteger(row.amount_fen) && row.amount_fen > 0)) throw new RangeError(`grey ${grey_id}: amount_fen ${row.amount_fen}`);
    if (credit_ids.length === 0 || credit_ids.length > CLAIM_CREDITS_MAX) throw new RangeError(`grey ${grey_id}: ${credit_ids.length} credits`);
    const now_ms = Date.now();
    const decision: GreyDecision & { balance_fen?: number; online_serial?: number } = {
      decision: input.decision,
      evidence: input.evidence,
      operator_id: operator.operator_id,
      at_ms: now_ms,
      ...(input.balance_fen === undefined ? {} : { balance_fen: input.balance_fen }),
      ...(input.online_serial === undefined ? {} : { online_serial: input.online_serial }),
    };
    const statements: D1PreparedStatement[] = [];
    if (input.decision === 'loaded') {
      statements.push(
        d1.prepare(DECISION_CLAIM_SQL).bind(hub_id, claim_id, input.balance_fen ?? null, input.online_serial ?? null, now_ms),
        d1.prepare(DECISION_CREDITS_SQL).bind(hub_id, claim_id, now_ms),
        d1.prepare(DECISION_REFUSES_REFUNDS_SQL).bind(hub_id, claim_id, now_ms),
      );
    }
    statements.push(
      d1.prepare(DECISION_RESOLVES_SQL).bind(hub_id, claim_id, now_ms, input.decision),
      auditStatement(
        d1,
        operator,
        { school_id: row.school_id, action: 'grey_settle', target: grey_id, before: toRecord(row), after: decision, at_ms: now_ms, address: consoleAddress(c) },
        { guard: 'EXISTS (SELECT 1 FROM grey_records WHERE hub_id = ?9 AND claim_id = ?10 AND resolved_at_ms = ?6)', params: [hub_id, claim_id] },
      ),
    );
    const results = await d1.batch(statements);
    const resolved = (results[results.length - 2]?.meta.changes ?? 0) > 0;
    if (!resolved) {
      throw new ApiError(
        409,
        'conflict',
        input.decision === 'loaded'
          ? "the reservation's credits are no longer all pending for this card (claimed, voided or changed): look at the card's orders"
          : 'this grey record is already settled',
      );
    }
    if (input.decision === 'loaded') {
      const claimed = results[1]?.meta.changes ?? 0;
      const credit_count = credit_ids.length;
      // The claim row was inserted only with every credit pending; fewer moved is our bug.
      if (claimed !== credit_count) throw new Error(`grey settle ${grey_id}: ${claimed} of ${credit_count} credits claimed`);
    }
    const settled = await d1.prepare(`${GREY_SELECT} WHERE g.hub_id = ?1 AND g.claim_id = ?2`).bind(hub_id, claim_id).first<GreyRow>();
    return c.json(toRecord(settled!));
  });
