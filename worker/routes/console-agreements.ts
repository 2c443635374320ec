// `GET /api/v1/console/agreements?school_id=`: the school's auto top-up agreements (自动圈存),
// newest first, each with its latest charges.
import { Hono } from 'hono';
import { AGREEMENT_ID_PATTERN } from '../../protocol/auto-topup.ts';
import { consoleAgreementsQuery, type ConsoleAgreementsResponse } from '../../protocol/console.ts';
import { agreementViews, type AgreementRow } from '../auto/agreements.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { pageLimit } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readQuery } from '../http/validate.ts';

export const consoleAgreementRoutes = new Hono<ConsoleEnv>().get('/agreements', async (c) => {
  const query = readQuery(c, consoleAgreementsQuery);
  const school_id = scopedSchool(c.get('operator'), query.school_id);
  const limit = pageLimit(query.limit);
  if (query.cursor !== undefined && !AGREEMENT_ID_PATTERN.test(query.cursor)) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
  const rows = await c.env.DB.prepare(
    `SELECT * FROM agreements WHERE school_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3`,
  )
    .bind(school_id, query.cursor ?? null, limit + 1)
    .all<AgreementRow>();
  const page = rows.results.slice(0, limit);
  const body: ConsoleAgreementsResponse = {
    agreements: await agreementViews(c.env.DB, page, Date.now()),
    next_cursor: rows.results.length > limit ? page[page.length - 1]!.id : null,
  };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
