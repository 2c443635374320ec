// `GET /api/v1/admin/refunds?state=`: the card office's list of refunds, above all the failed
// ones (the provider ended them ABNORMAL or CLOSED: the credit is void and the payer is still
// owed the money) and those still waiting for the provider. Mounted at /api/v1/admin, behind
// requireAdmin.
import { Hono } from 'hono';
import { z } from 'zod';
import { schoolId } from '../../protocol/api.ts';
import type { AppEnv } from '../env.ts';
import { readQuery } from '../http/validate.ts';
import { toView, type RefundRow } from '../ledger/refunds.ts';

export const REFUNDS_LIST_MAX = 200;

const refundsQuery = z.strictObject({
  state: z.enum(['requested', 'provider_pending', 'refunded', 'refused', 'failed']).optional(),
  school_id: schoolId.optional(),
  limit: z.coerce.number().int().min(1).max(REFUNDS_LIST_MAX).default(50),
  // Newest first (refund ids follow their orders', which begin with the time); `before` is the
  // next_before of the previous page.
  before: z.string().regex(/^R[0-9A-Za-z]{10,31}$/, 'before is the next_before of the previous page').optional(),
});

export const adminRefundRoutes = new Hono<AppEnv>().get('/refunds', async (c) => {
  const query = readQuery(c, refundsQuery);
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.state !== undefined) {
    params.push(query.state);
    where.push(`state = ?${params.length}`);
  }
  if (query.school_id !== undefined) {
    params.push(query.school_id);
    where.push(`school_id = ?${params.length}`);
  }
  if (query.before !== undefined) {
    params.push(query.before);
    where.push(`id < ?${params.length}`);
  }
  params.push(query.limit);
  const rows = await c.env.DB.prepare(
    `SELECT * FROM refunds ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT ?${params.length}`,
  )
    .bind(...params)
    .all<RefundRow & { school_id: string }>();
  const last = rows.results.at(-1);
  return c.json({
    refunds: rows.results.map((row) => ({ ...toView(row), school_id: row.school_id })),
    next_before: rows.results.length === query.limit && last !== undefined ? last.id : null,
  });
});
