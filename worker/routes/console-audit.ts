// `GET /api/v1/console/audit?school_id=`: the school's audit trail, newest first: who did what,
// when, from where, with the record before and after.
import { Hono } from 'hono';
import { consoleAuditQuery, type ConsoleAction, type ConsoleAuditResponse } from '../../protocol/console.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { pageLimit } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readQuery } from '../http/validate.ts';

function parse(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export const consoleAuditRoutes = new Hono<ConsoleEnv>().get('/audit', async (c) => {
  const query = readQuery(c, consoleAuditQuery);
  const school_id = scopedSchool(c.get('operator'), query.school_id);
  const limit = pageLimit(query.limit);
  if (query.cursor !== undefined && !/^[1-9][0-9]{0,15}$/.test(query.cursor)) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
  const rows = await c.env.DB.prepare(
    `SELECT * FROM console_audit WHERE school_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3`,
  )
    .bind(school_id, query.cursor === undefined ? null : Number(query.cursor), limit + 1)
    .all<{ id: number; operator_id: string; school_id: string; action: ConsoleAction; target: string; before_json: string | null; after_json: string | null; at_ms: number; address: string | null }>();
  const page = rows.results.slice(0, limit);
  const body: ConsoleAuditResponse = {
    entries: page.map((row) => ({
      audit_id: row.id,
      operator_id: row.operator_id,
      school_id: row.school_id,
      action: row.action,
      target: row.target,
      before: parse(row.before_json),
      after: parse(row.after_json),
      at_ms: row.at_ms,
      address: row.address,
    })),
    next_cursor: rows.results.length > limit ? String(page[page.length - 1]!.id) : null,
  };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
