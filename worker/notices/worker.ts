// Where the notices machinery meets the Worker's entry points (worker/index.ts): a flush after
// the requests that can write notices, the queue handler, and the cron's catch-up.
import type { Env } from '../env.ts';
import { consumeDeadNotices, consumeNotices } from './consumer.ts';
import { flushNotices, recoverStaleNotices } from './outbox.ts';

// wrangler.toml's queue names; the dead-letter queue is consumed by this Worker too.
export const NOTICES_QUEUE = 'yikatong-notices';
export const NOTICES_DEAD_LETTER_QUEUE = 'yikatong-notices-dlq';

// The requests after which the ledger triggers may have written a notice: provider
// notifications (paid, refunded), hub claims and voids (loaded, refunded), admin actions.
const NOTICEABLE_PREFIXES = ['/api/v1/notify/', '/api/v1/hub/', '/api/v1/admin/'];

function warn(msg: string, error: unknown): void {
  console.warn(JSON.stringify({ level: 'warn', msg, error: String(error).slice(0, 300) }));
}

/** After the response: hand new notices to the queue, so an SMS follows within seconds. */
export function afterNoticeableRequest(request: Request, env: Env, ctx: ExecutionContext): void {
  if (request.method === 'GET' || env.NOTICES === undefined) return;
  const path = new URL(request.url).pathname;
  if (!NOTICEABLE_PREFIXES.some((prefix) => path.startsWith(prefix))) return;
  // A failure here costs only latency: the cron flushes what is left.
  ctx.waitUntil(flushNotices(env, Date.now()).catch((error: unknown) => warn('notice flush failed', error)));
}

export async function consumeNoticeQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue === NOTICES_DEAD_LETTER_QUEUE) return consumeDeadNotices(batch, env);
  if (batch.queue === NOTICES_QUEUE) return consumeNotices(batch, env);
  // A queue this Worker was never meant to consume: leave its messages to be retried.
  throw new Error(`no consumer for queue ${batch.queue}`);
}

/** Every cron run: notices whose message was lost go back to the outbox, and the outbox is flushed. */
export async function noticeCron(env: Env, now_ms: number): Promise<void> {
  try {
    await recoverStaleNotices(env, now_ms);
    await flushNotices(env, now_ms);
  } catch (error) {
    warn('notice cron failed', error);
  }
}
