// "Pull now" for a school's hub: called wherever a change for the hub is written (payment
// notifications, refunds, card imports). Best effort by design: the money path never waits
// for it and never fails because of it; the hub's polling catches whatever a poke misses.
import type { Context } from 'hono';
import type { AppEnv, Env } from '../env.ts';
import type { PokeRequest } from './school-hub.ts';

/**
 * Pokes the school's Durable Object, which tells its connected hubs to pull. Never rejects.
 * Call it as `ctx.waitUntil(notifySchoolHub(env, school_id))` after the change is committed.
 */
export async function notifySchoolHub(env: Env, school_id: string, seq?: number): Promise<void> {
  try {
    const namespace = env.SCHOOL_HUB;
    if (namespace === undefined) return;
    const stub = namespace.get(namespace.idFromName(school_id));
    const body: PokeRequest = { school_id, seq: seq ?? null };
    const response = await stub.fetch('https://school-hub.internal/poke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await response.body?.cancel();
  } catch (err) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'hub push failed', school_id, error: String(err) }));
  }
}

/** The Durable Object instance of a school, for the push route's WebSocket upgrade. */
export function schoolHubStub(env: Env, school_id: string): DurableObjectStub | null {
  const namespace = env.SCHOOL_HUB;
  if (namespace === undefined) return null;
  return namespace.get(namespace.idFromName(school_id));
}

/**
 * Pokes the school's hub once the response is on its way: the request that committed the change
 * never waits for the hub. Without an execution context (the app called directly, as some tests
 * do) the poke still runs, just unawaited.
 */
export function pushAfterResponse<E extends AppEnv>(c: Context<E>, school_id: string): void {
  const poke = notifySchoolHub(c.env, school_id);
  try {
    c.executionCtx.waitUntil(poke);
  } catch {
    // Hono throws when there is no execution context; the poke is already under way.
  }
}
