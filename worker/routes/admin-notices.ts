// The SMS outbox for the card office (DESIGN sections 7 and 10): notices by state, newest
// first, dead letters included (`?state=dead`). Phone numbers are masked here as in the logs.
import { Hono } from 'hono';
import { adminNoticesQuery, type AdminNoticesResponse } from '../../protocol/notices.ts';
import type { AppEnv } from '../env.ts';
import { readQuery } from '../http/validate.ts';
import { listNotices } from '../notices/list.ts';

const LIST_LIMIT_DEFAULT = 50;

export const adminNoticeRoutes = new Hono<AppEnv>().get('/notices', async (c) => {
  const query = readQuery(c, adminNoticesQuery);
  const body: AdminNoticesResponse = await listNotices(c.env.DB, {
    school_id: query.school_id ?? null,
    state: query.state ?? null,
    before_id: query.cursor ?? null,
    limit: query.limit ?? LIST_LIMIT_DEFAULT,
  });
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
