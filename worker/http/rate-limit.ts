// Rate limits of card lookups and top-up creation (DESIGN section 4). A whole campus can sit
// behind one NAT'd address (20,000 students at semester start), so the address only gets a
// ceiling high enough for a busy NAT; what stops abuse are the keys an attacker cannot spread:
// - per card: guessing the holder name of one card, from however many addresses;
// - per holder name: walking card numbers with one known name, to find that person's card;
// - per school: walking a school's registry with many names and numbers at once.
// All use the Workers rate-limiting binding; the limits and the period live in wrangler.toml.
import type { Context } from 'hono';
import { holderNameKey } from '../../protocol/card.ts';
import type { AppEnv, Env } from '../env.ts';
import { ApiError } from './errors.ts';

// The period of every [[ratelimits]] in wrangler.toml: the longest a refused caller must wait.
export const RATE_LIMIT_PERIOD_S = 60;
// A key longer than this is not an address, a card or a name; it is cut, never trusted whole.
const RATE_LIMIT_KEY_LENGTH_MAX = 128;
// An IPv6 subscriber (a phone, a household, a campus) gets a whole /64: its 64 low bits are
// its own to vary, so keying on them would give every request a fresh bucket.
const IPV6_PREFIX_HEXTETS = 4;
const IPV6_HEXTETS = 8;

const IPV4_PATTERN = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;

/** The eight hextets of an IPv6 address (lower case, no leading zeros), or null when `text` is not one. */
function ipv6Hextets(text: string): string[] | null {
  let address = text.trim().toLowerCase();
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  if (!address.includes(':') || !/^[0-9a-f:.]+$/.test(address)) return null;
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): string[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: string[] = [];
    for (const [i, group] of groups.entries()) {
      if (group.includes('.')) {
        // An embedded IPv4 tail (::ffff:192.0.2.1) is the last group and fills two hextets.
        if (i !== groups.length - 1 || !IPV4_PATTERN.test(group)) return null;
        const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
        out.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
        continue;
      }
      if (!/^[0-9a-f]{1,4}$/.test(group)) return null;
      out.push(group.replace(/^0+(?=.)/, ''));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = IPV6_HEXTETS - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const full = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  return full.length === IPV6_HEXTETS ? full : null;
}

/** The /64 of an IPv6 address (`2001:db8:1:2::/64`), or null when `text` is not one. */
export function ipv6Prefix64(text: string): string | null {
  const hextets = ipv6Hextets(text);
  return hextets === null ? null : `${hextets.slice(0, IPV6_PREFIX_HEXTETS).join(':')}::/64`;
}

/** The caller's bucket as Cloudflare's edge saw it: the IPv4 address, or the IPv6 /64. */
export function clientRateKey(address_header: string | undefined): string {
  const address = address_header?.trim() ?? '';
  if (address.length === 0) return 'unknown';
  const hextets = ipv6Hextets(address);
  if (hextets === null) return address.slice(0, RATE_LIMIT_KEY_LENGTH_MAX);
  // An IPv4-mapped address (::ffff:a.b.c.d) is an IPv4 caller: keyed by its own address, or
  // every IPv4 caller seen that way would share the one bucket of ::ffff:0:0/96's /64.
  if (hextets.slice(0, 5).every((h) => h === '0') && hextets[5] === 'ffff') {
    const [high, low] = [parseInt(hextets[6]!, 16), parseInt(hextets[7]!, 16)];
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `${hextets.slice(0, IPV6_PREFIX_HEXTETS).join(':')}::/64`;
}

/** The caller's address bucket for this request (`cf-connecting-ip`). */
export function clientAddress(c: Context<AppEnv>): string {
  return clientRateKey(c.req.header('cf-connecting-ip'));
}

export function cardRateKey(school_id: string, card_no: string): string {
  return `${school_id}:${card_no}`.slice(0, RATE_LIMIT_KEY_LENGTH_MAX);
}

/** The name as it is compared (NFKC, no spaces), so `张 三` and `张三` share one bucket. */
export function nameRateKey(school_id: string, holder_name: string): string {
  return `${school_id}:${holderNameKey(holder_name)}`.slice(0, RATE_LIMIT_KEY_LENGTH_MAX);
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

/** Counts one request of this client address (IPv6: its /64); 429 `rate_limited` past the ceiling. */
export function limitClient(env: Env, c: Context<AppEnv>): Promise<void> {
  return consume(env.RATE_LIMIT_CLIENT, clientAddress(c), 'address');
}

/** Counts one attempt on this card (known or not); throws 429 `rate_limited` past the limit. */
export function limitCard(env: Env, school_id: string, card_no: string): Promise<void> {
  return consume(env.RATE_LIMIT_CARD, cardRateKey(school_id, card_no), 'card');
}

/**
 * Counts one attempt that names a holder: per (school, name) and per school. Only requests
 * that type a name count, so a saved card's token top-up never spends a school's budget.
 */
export async function limitNamed(env: Env, school_id: string, holder_name: string): Promise<void> {
  await consume(env.RATE_LIMIT_NAME, nameRateKey(school_id, holder_name), 'name');
  await consume(env.RATE_LIMIT_SCHOOL, school_id.slice(0, RATE_LIMIT_KEY_LENGTH_MAX), 'school');
}
