// How the admin API and the console read grey records (DESIGN section 6): the stored row with
// its credit ids parsed, a page at a time in (reserved_at_ms, hub_id, claim_id) order behind an
// opaque cursor. One reading, two callers (worker/routes/admin-hubs.ts, console-grey.ts).
import type { GreyRecordView } from '../../protocol/hub.ts';
import type { greyRecords } from '../db/schema.ts';
import { ApiError } from '../http/errors.ts';

// Read with raw SQL (`SELECT g.*`), so the row is the table's own shape.
export type GreyRow = typeof greyRecords.$inferSelect;

/** The grey records with no extra column; a caller with more selects `g.*, …` from `grey_records g`. */
export const GREY_SELECT_SQL = 'SELECT g.* FROM grey_records g';

/** A stored JSON array of ids; anything else (a row this code did not write) reads as none. */
export function parseCreditIds(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

export function toGreyRecordView(row: GreyRow): GreyRecordView {
  return { ...row, credit_ids: parseCreditIds(row.credit_ids) };
}

export interface GreyPageQuery {
  status: 'open' | 'resolved' | 'all';
  school_id?: string | undefined;
  /** A next_cursor an earlier page returned. */
  cursor?: string | undefined;
  /** Bounded by the caller's query schema. */
  limit: number;
}

// Opaque to clients: "reserved_at_ms:hub_id:claim_id" of the last row of a page.
function decodeGreyCursor(text: string): { reserved_at_ms: number; hub_id: string; claim_id: string } {
  const match = /^([0-9]{1,16}):([a-z0-9-]{2,48}):(.{1,64})$/.exec(text);
  if (match === null) throw new ApiError(400, 'invalid_query', 'cursor: not a cursor this API returned');
  return { reserved_at_ms: Number(match[1]), hub_id: match[2]!, claim_id: match[3]! };
}

/**
 * One page of `select` (which reads `grey_records g`), with the cursor of the next page or null
 * on the last. Reads one row more than the page to know whether another page follows.
 */
export async function readGreyPage<Row extends GreyRow>(
  d1: D1Database,
  select: string,
  query: GreyPageQuery,
): Promise<{ rows: Row[]; next_cursor: string | null }> {
  if (!Number.isSafeInteger(query.limit) || query.limit < 1) throw new RangeError(`grey page limit ${query.limit}`);
  const after = query.cursor === undefined ? null : decodeGreyCursor(query.cursor);
  // Only the filters asked for go into the SQL, so a status filter runs on its index.
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.status !== 'all') {
    where.push(`g.status = ?${params.length + 1}`);
    params.push(query.status);
  }
  if (query.school_id !== undefined) {
    where.push(`g.school_id = ?${params.length + 1}`);
    params.push(query.school_id);
  }
  if (after !== null) {
    where.push(`(g.reserved_at_ms, g.hub_id, g.claim_id) > (?${params.length + 1}, ?${params.length + 2}, ?${params.length + 3})`);
    params.push(after.reserved_at_ms, after.hub_id, after.claim_id);
  }
  params.push(query.limit + 1);
  const read = await d1
    .prepare(
      `${select} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY g.reserved_at_ms, g.hub_id, g.claim_id LIMIT ?${params.length}`,
    )
    .bind(...params)
    .all<Row>();
  const rows = read.results.slice(0, query.limit);
  const last = rows.at(-1);
  return {
    rows,
    next_cursor: read.results.length > query.limit && last !== undefined ? `${last.reserved_at_ms}:${last.hub_id}:${last.claim_id}` : null,
  };
}
