// `GET /api/v1/console/hubs?school_id=`: the school's hubs with sync lag, last contact and the
// pending credits they hold.
import { Hono } from 'hono';
import { schoolQuery, type ConsoleHubsResponse } from '../../protocol/console.ts';
import type { ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { schoolHubs } from '../console/hubs.ts';
import { readQuery } from '../http/validate.ts';

export const consoleHubRoutes = new Hono<ConsoleEnv>().get('/hubs', async (c) => {
  const query = readQuery(c, schoolQuery);
  const school_id = scopedSchool(c.get('operator'), query.school_id);
  const body: ConsoleHubsResponse = { hubs: await schoolHubs(c.env.DB, school_id, Date.now()) };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
