// `GET /api/v1/console/notices?school_id=&state=`: the school's SMS outbox, dead letters
// included (`state=dead`), newest first, phone numbers masked.
import { Hono } from 'hono';
import { consoleNoticesQuery, type ConsoleNoticesResponse } from '../../protocol/console.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { pageLimit } from '../console/views.ts';
import { ApiError } from '../http/errors.ts';
import { readQuery } from '../http/validate.ts';
import { listNotices } from '../notices/list.ts';

export const consoleNoticeRoutes = new Hono<ConsoleEnv>().get('/notices', async (c) => {
  const query = readQuery(c, consoleNoticesQuery);
  const school_id = scopedSchool(c.get('operator'), query.school_id);
  const limit = pageLimit(query.limit);
  if (query.cursor !== undefined && !/^[1-9][0-9]{0,15}$/.test(query.cursor)) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
  const body: ConsoleNoticesResponse = await listNotices(c.env.DB, {
    school_id,
    state: query.state ?? null,
    before_id: query.cursor === undefined ? null : Number(query.cursor),
    limit,
  });
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
