// `POST /api/v1/admin/reconciliations/{date}`: reconcile that China calendar day for every school
// and channel now (what the daily cron does for yesterday); idempotent. `GET` the same path: the
// stored answer, `{days: [...]}` as DESIGN section 10 gives it. Behind requireAdmin.
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { billDateStartMs, readDay, reconcileDay } from '../recon/reconcile.ts';

function billDate(value: string, now_ms: number): string {
  if (billDateStartMs(value, now_ms) === null) {
    throw new ApiError(400, 'invalid_query', 'date is YYYY-MM-DD, a China calendar day that has begun');
  }
  return value;
}

export const adminReconciliationRoutes = new Hono<AppEnv>()
  .post('/reconciliations/:date', async (c) => {
    const now_ms = Date.now();
    const bill_date = billDate(c.req.param('date'), now_ms);
    // The route takes no body; one sent is a client that means something else.
    if ((c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding') !== undefined) {
      throw new ApiError(400, 'invalid_body', 'this request takes no body');
    }
    return c.json({ days: await reconcileDay(c.env, bill_date, now_ms) });
  })
  .get('/reconciliations/:date', async (c) => {
    const bill_date = billDate(c.req.param('date'), Date.now());
    return c.json({ days: await readDay(c.env.DB, bill_date) });
  });
