// Auto top-up agreements for the card office (DESIGN sections 7 and 8): every agreement with
// its state, why it stopped, and its latest charges, newest first.
import { Hono } from 'hono';
import { adminAgreementsQuery, type AdminAgreementsResponse } from '../../protocol/auto-topup.ts';
import { agreementViews, type AgreementRow } from '../auto/agreements.ts';
import type { AppEnv } from '../env.ts';
import { readQuery } from '../http/validate.ts';

const LIST_LIMIT_DEFAULT = 50;

export const adminAutoTopupRoutes = new Hono<AppEnv>().get('/agreements', async (c) => {
  const query = readQuery(c, adminAgreementsQuery);
  const limit = query.limit ?? LIST_LIMIT_DEFAULT;
  const rows = await c.env.DB.prepare(
    `SELECT * FROM agreements
      WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR school_id = ?2) AND (?3 IS NULL OR id < ?3)
      ORDER BY id DESC LIMIT ?4`,
  )
    .bind(query.state ?? null, query.school_id ?? null, query.cursor ?? null, limit + 1)
    .all<AgreementRow>();
  const page = rows.results.slice(0, limit);
  const now_ms = Date.now();
  const body: AdminAgreementsResponse = {
    agreements: await agreementViews(c.env.DB, page, now_ms),
    next_cursor: rows.results.length > limit ? page[page.length - 1]!.id : null,
  };
  return c.json(body, 200, { 'cache-control': 'no-store' });
});
