// School picker: search by name, filter by city and by initial letter (DESIGN section 8).
import { Hono } from 'hono';
import { and, asc, eq, sql, type SQL } from 'drizzle-orm';
import { schoolsQuery, type SchoolsResponse } from '../../protocol/api.ts';
import type { AppEnv } from '../env.ts';
import { openReplicaDb, type Db } from '../db/client.ts';
import { schools } from '../db/schema.ts';
import { readQuery } from '../http/validate.ts';

// A campus system lists tens of schools, not thousands; the cap keeps a bad query cheap.
const SCHOOLS_RESULT_MAX = 200;

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

export const schoolRoutes = new Hono<AppEnv>().get('/', async (c) => {
  // Schools change a few times a year: any replica's copy will do.
  const rows = await schoolSearchQuery(openReplicaDb(c.env.DB), readQuery(c, schoolsQuery));
  const body: SchoolsResponse = { schools: rows };
  return c.json(body);
});

/** The picker's search, exported for the query-plan test: it must read what the route runs. */
export function schoolSearchQuery(db: Db, query: { q?: string | undefined; city?: string | undefined; initial?: string | undefined }) {
  const filters: SQL[] = [];
  const q = query.q?.trim();
  if (q) filters.push(nameContains(q));
  if (query.city?.trim()) filters.push(eq(schools.city, query.city.trim()));
  if (query.initial) filters.push(eq(schools.initial, query.initial.toUpperCase()));
  return db
    .select({
      id: schools.id,
      name: schools.name,
      city: schools.city,
      initial: schools.initial,
      max_amount_fen: schools.max_amount_fen,
    })
    .from(schools)
    .where(filters.length > 0 ? and(...filters) : undefined)
    .orderBy(asc(schools.initial), asc(schools.name))
    .limit(SCHOOLS_RESULT_MAX);
}

function nameContains(text: string): SQL {
  return sql`${schools.name} LIKE ${`%${escapeLike(text)}%`} ESCAPE '\\'`;
}
