// Rate limits of card lookups and top-up creation (DESIGN section 4): per client address, so
// one phone cannot walk the card registry, and per card, so many addresses cannot guess one
// card's holder name. Both use the Workers rate-limiting binding; the limits and the period
// live in wrangler.toml.
import type { Context } from 'hono';
import type { AppEnv, Env } from '../env.ts';
import { ApiError } from './errors.ts';

// The period of both [[ratelimits]] in wrangler.toml: the longest a refused caller must wait.
export const RATE_LIMIT_PERIOD_S = 60;
// A key longer than this is not an address or a card; it is cut, never trusted whole.
const RATE_LIMIT_KEY_LENGTH_MAX = 128;

/** The caller's address as Cloudflare's edge saw it; a request without one shares one bucket. */
export function clientAddress(c: Context<AppEnv>): string {
  const address = c.req.header('cf-connecting-ip')?.trim() ?? '';
  return address.length > 0 ? address.slice(0, RATE_LIMIT_KEY_LENGTH_MAX) : 'unknown';
}

export function cardRateKey(school_id: string, card_no: string): string {
  return `${school_id}:${card_no}`.slice(0, RATE_LIMIT_KEY_LENGTH_MAX);
}

async function consume(limiter: RateLimit | undefined, key: string, what: string): Promise<void> {
  // A deployment without the binding has no limit to apply; wrangler.toml always declares it.
  if (limiter === undefined) return;
  const outcome = await limiter.limit({ key });
  if (!outcome.success) {
    throw new ApiError(429, 'rate_limited', `too many requests for this ${what}; try again in a minute`, {
      'retry-after': String(RATE_LIMIT_PERIOD_S),
    });
  }
}

/** Counts one request of this client address; throws 429 `rate_limited` past the limit. */
export function limitClient(env: Env, c: Context<AppEnv>): Promise<void> {
  return consume(env.RATE_LIMIT_CLIENT, clientAddress(c), 'address');
}

/** Counts one attempt on this card (known or not); throws 429 `rate_limited` past the limit. */
export function limitCard(env: Env, school_id: string, card_no: string): Promise<void> {
  return consume(env.RATE_LIMIT_CARD, cardRateKey(school_id, card_no), 'card');
}
