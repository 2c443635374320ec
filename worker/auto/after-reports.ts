// A card-reports batch from the hub (DESIGN section 6) may show cards below their auto top-up
// threshold: their charges start once the hub has its answer, so a slow Alipay never holds a
// hub request.
import type { Context } from 'hono';
import type { HubAppEnv } from '../hub/auth.ts';
import { startAutoTopups } from './charges.ts';

export function autoTopupAfterReports(c: Context<HubAppEnv>, school_id: string, reports: readonly { card_no: string }[], now_ms: number): void {
  if (reports.length === 0) return;
  const card_nos = [...new Set(reports.map((report) => report.card_no))];
  const run = startAutoTopups(c.env, school_id, card_nos, now_ms).catch((error: unknown) => {
    // The cron looks at low cards again; a failure here costs only time.
    console.error(JSON.stringify({ level: 'error', msg: 'auto top-up after reports failed', school_id, error: String(error).slice(0, 300) }));
  });
  try {
    c.executionCtx.waitUntil(run);
  } catch {
    // No execution context (the app called directly in a test): the run goes on unawaited.
  }
}
