// Every request's and cron run's D1 statements, counted on the binding they use (DESIGN section
// 11), background work (`waitUntil`: hub pokes, notice flushes) included. With `D1_QUERY_LOG=1`
// each one ends in a log line `{"msg":"d1 queries", route, statements, …}`: what
// `npm run bench` sums per route and per top-up, and what a deployment can chart per route.
import type { Context, Next } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv, Env } from '../env.ts';
import { newTally, tallyD1, type D1Tally } from '../db/tally.ts';

// waitUntil work may start more waitUntil work (a push after a flush); a few rounds cover it.
const BACKGROUND_ROUNDS_MAX = 4;

interface Meter {
  tally: D1Tally;
  route: string | null;
  background: Promise<unknown>[];
}

// Keyed by the request's own copy of the bindings, which lives exactly as long as the request.
const meters = new WeakMap<object, Meter>();

export interface MeteredRun {
  env: Env;
  ctx: ExecutionContext;
  /** Logs the tally once the background work the run started has settled. */
  finish(what: { method: string; fallback_route: string; status: number | null }): void;
}

export function meterRun(env: Env, ctx: ExecutionContext): MeteredRun {
  const meter: Meter = { tally: newTally(), route: null, background: [] };
  const metered_env: Env = env.DB === undefined ? { ...env } : { ...env, DB: tallyD1(env.DB, meter.tally) };
  meters.set(metered_env, meter);
  const metered_ctx = new Proxy(ctx, {
    get(target, property) {
      if (property === 'waitUntil') {
        return (promise: Promise<unknown>) => {
          meter.background.push(promise);
          target.waitUntil(promise);
        };
      }
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    env: metered_env,
    ctx: metered_ctx,
    finish(what) {
      if (env.D1_QUERY_LOG !== '1') return;
      ctx.waitUntil(
        (async () => {
          for (let round = 0, seen = -1; round < BACKGROUND_ROUNDS_MAX && seen !== meter.background.length; round++) {
            seen = meter.background.length;
            await Promise.allSettled(meter.background);
          }
          console.log(
            JSON.stringify({
              level: 'info',
              msg: 'd1 queries',
              method: what.method,
              route: meter.route ?? what.fallback_route,
              status: what.status,
              ...meter.tally,
            }),
          );
        })(),
      );
    },
  };
}

/** Hono middleware: names the run by the route pattern that answered (`/api/v1/recharges/:order_id`). */
export async function nameMeteredRoute(c: Context<AppEnv>, next: Next): Promise<void> {
  await next();
  const meter = meters.get(c.env);
  if (meter !== undefined) meter.route = routePath(c) || null;
}
