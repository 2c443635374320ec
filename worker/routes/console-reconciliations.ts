// `GET /api/v1/console/reconciliations?school_id=&from=&to=`: the school's reconciled days with
// their discrepancies, newest first; `POST /reconciliations/{date}` `{school_id}`: reconcile that
// day again now (worker/recon: every school and channel of the day, idempotent), answering the
// school's rows. The audit entry holds the school's rows before and after.
import { Hono } from 'hono';
import {
  consoleReconcileRequest,
  consoleReconciliationsQuery,
  RECONCILIATION_DAYS_MAX,
  type ConsoleReconciliationDay,
  type ConsoleReconciliationsResponse,
} from '../../protocol/console.ts';
import { auditStatement } from '../console/audit.ts';
import { consoleAddress, type ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { chinaDateOf, chinaDateStartMs, DAY_MS } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readJson, readQuery } from '../http/validate.ts';
import { billDateStartMs, reconcileDay } from '../recon/reconcile.ts';

interface StoredDay {
  bill_date: string;
  school_id: string;
  channel: 'alipay' | 'wechat';
  status: 'balanced' | 'discrepancies' | 'pending';
  bill_total_fen: number;
  ours_total_fen: number;
  fee_fen: number;
  net_fen: number;
  discrepancy_count: number;
  discrepancies: string;
  error: string | null;
}

function toDay(row: StoredDay): ConsoleReconciliationDay {
  let discrepancies: ConsoleReconciliationDay['discrepancies'] = [];
  try {
    discrepancies = JSON.parse(row.discrepancies) as ConsoleReconciliationDay['discrepancies'];
  } catch {
    // Written by worker/recon as JSON; a broken row still shows its counts.
  }
  return { ...row, discrepancies };
}

async function schoolDays(d1: D1Database, school_id: string, from: string, to: string): Promise<ConsoleReconciliationDay[]> {
  const rows = await d1
    .prepare(
      `SELECT bill_date, school_id, channel, status, bill_total_fen, ours_total_fen, fee_fen, net_fen, discrepancy_count, discrepancies, error
         FROM reconciliations WHERE school_id = ?1 AND bill_date >= ?2 AND bill_date <= ?3
        ORDER BY bill_date DESC, channel LIMIT ${RECONCILIATION_DAYS_MAX * 2}`,
    )
    .bind(school_id, from, to)
    .all<StoredDay>();
  return rows.results.map(toDay);
}

export const consoleReconciliationRoutes = new Hono<ConsoleEnv>()
  .get('/reconciliations', async (c) => {
    const query = readQuery(c, consoleReconciliationsQuery);
    const school_id = scopedSchool(c.get('operator'), query.school_id);
    const now_ms = Date.now();
    const to = query.to ?? chinaDateOf(now_ms);
    const to_ms = chinaDateStartMs(to);
    const from = query.from ?? chinaDateOf((to_ms ?? now_ms) - (RECONCILIATION_DAYS_MAX / 2 - 1) * DAY_MS);
    const from_ms = chinaDateStartMs(from);
    if (to_ms === null || from_ms === null) throw new ApiError(400, 'invalid_query', 'from and to are calendar days');
    if (from_ms > to_ms) throw new ApiError(400, 'invalid_query', 'from is after to');
    if ((to_ms - from_ms) / DAY_MS >= RECONCILIATION_DAYS_MAX) throw new ApiError(400, 'invalid_query', `at most ${RECONCILIATION_DAYS_MAX} days at once`);
    const body: ConsoleReconciliationsResponse = { days: await schoolDays(c.env.DB, school_id, from, to) };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  })
  .post('/reconciliations/:date', async (c) => {
    const now_ms = Date.now();
    const bill_date = c.req.param('date');
    if (billDateStartMs(bill_date, now_ms) === null) throw new ApiError(400, 'invalid_query', 'date is YYYY-MM-DD, a China calendar day that has begun');
    const input = await readJson(c, consoleReconcileRequest);
    const operator = c.get('operator');
    const school_id = scopedSchool(operator, input.school_id);
    const before = await schoolDays(c.env.DB, school_id, bill_date, bill_date);
    await reconcileDay(c.env, bill_date, now_ms);
    const after = await schoolDays(c.env.DB, school_id, bill_date, bill_date);
    // worker/recon writes a day in many batches of its own; the entry follows its last one.
    await auditStatement(c.env.DB, operator, {
      school_id,
      action: 'reconcile',
      target: bill_date,
      before,
      after,
      at_ms: now_ms,
      address: consoleAddress(c),
    }).run();
    const body: ConsoleReconciliationsResponse = { days: after };
    return c.json(body);
  });
