// Cron: the daily reconciliation of yesterday (China calendar day) for every school and channel,
// at the trigger wrangler.toml names. A re-run of the same day changes nothing, so a retried or
// doubled trigger is harmless.
import type { Env } from '../env.ts';
import { reconcileDay, yesterdayInChina, type ReconciliationDay } from '../recon/reconcile.ts';

export const RECONCILE_CRON = '30 2 * * *';

export function reconcileYesterday(env: Env, now_ms: number): Promise<ReconciliationDay[]> {
  return reconcileDay(env, yesterdayInChina(now_ms), now_ms);
}
