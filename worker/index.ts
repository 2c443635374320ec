import { app } from './app.ts';
import type { Env } from './env.ts';
import { expireUnpaidOrders } from './cron/expire.ts';
import { retryPendingRefunds } from './ledger/refunds.ts';
import { autoTopupCron } from './auto/charges.ts';
import { afterNoticeableRequest, consumeNoticeQueue, noticeCron } from './notices/worker.ts';
import { pruneRejectedNotifications } from './cron/prune.ts';
import { RECONCILE_CRON, reconcileYesterday } from './cron/reconcile.ts';
import { meterRun } from './http/d1-meter.ts';

// Durable Object classes must be exported by the Worker's main module.
export { SchoolHub } from './hub/school-hub.ts';

export default {
  async fetch(request: Request, raw_env: Env, raw_ctx: ExecutionContext): Promise<Response> {
    const run = meterRun(raw_env, raw_ctx);
    const { env, ctx } = run;
    let status: number | null = null;
    try {
      const response = await app.fetch(request, env, ctx);
      status = response.status;
      afterNoticeableRequest(request, env, ctx);
      return response;
    } finally {
      run.finish({ method: request.method, fallback_route: new URL(request.url).pathname, status });
    }
  },
  async queue(batch: MessageBatch<unknown>, raw_env: Env, raw_ctx: ExecutionContext): Promise<void> {
    const run = meterRun(raw_env, raw_ctx);
    try {
      await consumeNoticeQueue(batch, run.env);
    } finally {
      run.finish({ method: 'QUEUE', fallback_route: `queue:${batch.queue}`, status: null });
    }
  },
  async scheduled(controller: ScheduledController, raw_env: Env, raw_ctx: ExecutionContext): Promise<void> {
    const run = meterRun(raw_env, raw_ctx);
    try {
      await scheduledRun(controller, run.env);
    } finally {
      run.finish({ method: 'CRON', fallback_route: `cron:${controller.cron}`, status: null });
    }
  },
} satisfies ExportedHandler<Env>;

async function scheduledRun(controller: ScheduledController, env: Env): Promise<void> {
  // Every trigger closes expired orders: cheap when there are none, and a missed run is made up.
  await expireUnpaidOrders(env, Date.now());
  // Refunds whose credit is voided but whose money is not back yet: submitted again if the
  // provider never took them, asked about if it did (PROCESSING), a bounded batch a run.
  await retryPendingRefunds(env, Date.now());
  await noticeCron(env, Date.now());
  // Agreements of lost cards stop; cards low with no swipe since get their charge.
  await autoTopupCron(env, Date.now()).catch((error: unknown) => console.error(JSON.stringify({ level: 'error', msg: 'auto top-up cron failed', error: String(error).slice(0, 300) })));
  await pruneRejectedNotifications(env, Date.now());
  // 02:30 UTC is 10:30 in China: both providers publish yesterday's bill by 10:00.
  if (controller.cron === RECONCILE_CRON) await reconcileYesterday(env, Date.now());
}
