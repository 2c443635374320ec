import { drizzle } from 'drizzle-orm/d1';
import * as schema from './schema.ts';

export type Db = ReturnType<typeof openDb>;

export function openDb(d1: D1Database) {
  return drizzle(d1, { schema });
}

/**
 * Reads that tolerate lag (DESIGN section 11), through D1 read replication: the session may be
 * served by any replica, so what it returns can be a little behind the primary. Only for
 * reads whose answer the payer sees "as of" a moment and asks again for anyway (school list,
 * status polls, records, lookups); never for a read a write depends on. A read that finds
 * nothing may only be behind: callers ask the primary before answering "not found".
 */
export function openReplicaDb(d1: D1Database): Db {
  // drizzle calls only prepare() and batch(), which a session has exactly as the database does.
  return drizzle(d1.withSession('first-unconstrained') as unknown as D1Database, { schema });
}
