// The Workers rate-limiting binding runs for real in local workerd. Its windows are aligned to
// the wall clock, so a burst may straddle a window edge and get up to twice the limit through;
// the tests allow for that and still fail if no limit applies at all.
import { describe, expect, it } from 'vitest';
import { clientRateKey } from '../../worker/http/rate-limit.ts';
import { freshSchool, postFrom, uniqueIp } from './helpers/fixtures.ts';

// wrangler.toml: RATE_LIMIT_CLIENT 3000 per 60 s (per address, IPv6 /64), RATE_LIMIT_CARD and
// RATE_LIMIT_NAME 10 per 60 s, RATE_LIMIT_SCHOOL 6000 per 60 s.
const CARD_LIMIT = 10;
const NAME_LIMIT = 10;
// A campus behind one NAT'd address at semester start: far more students than the old ceiling of
// 30 a minute (the 1,000-a-minute figure is a benchmark's to show, not a test's).
const NAT_CARDS = 200;
// Hundreds of real requests through workerd: seconds on a quiet machine, more on a shared one.
const MANY_REQUESTS_TIMEOUT_MS = 60_000;

async function untilLimited(send: (i: number) => Promise<Response>, limit: number): Promise<{ allowed: number; refused: Response | null }> {
  for (let i = 0; i < 2 * limit + 1; i++) {
    const res = await send(i);
    if (res.status === 429) return { allowed: i, refused: res };
    await res.arrayBuffer();
  }
  return { allowed: 2 * limit + 1, refused: null };
}

/** A first top-up of 张三's card 20230001, typed by name, from a fresh address. */
function topupByName(school_id: string): Promise<Response> {
  return postFrom(uniqueIp(), '/api/v1/recharges', {
    school_id,
    name: '张三',
    card_no: '20230001',
    amount_fen: 100,
    channel: 'alipay',
    agree_terms: true,
  });
}

describe('rate limits', () => {
  it('lets a whole campus behind one address look up 200 different cards within a minute', async () => {
    const school_id = await freshSchool();
    const ip = uniqueIp();
    const statuses = new Map<number, number>();
    // Distinct holders and cards, as 1,000 students behind the campus NAT would type them.
    for (let batch = 0; batch < NAT_CARDS / 50; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, j) => {
          const i = batch * 50 + j;
          return postFrom(ip, '/api/v1/cards/lookup', { school_id, name: `学生${i}`, card_no: `5${String(i).padStart(6, '0')}` });
        }),
      );
      for (const answer of answers) {
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        await answer.arrayBuffer();
      }
    }
    // Unknown cards: every one answered card_not_found, none throttled.
    expect(Object.fromEntries(statuses)).toEqual({ 404: NAT_CARDS });
  }, MANY_REQUESTS_TIMEOUT_MS);

  it('keys an IPv6 caller by its /64 and an IPv4 caller by its address', () => {
    const key = clientRateKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    expect(key).toBe('2001:db8:1:2::/64');
    expect(clientRateKey('2001:0db8:0001:0002::1')).toBe(key);
    expect(clientRateKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(key);
    expect(clientRateKey('2001:db8:1:3::1')).not.toBe(key);
    // An IPv4-mapped address is its IPv4 caller, not one bucket for all of them.
    expect(clientRateKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientRateKey('::FFFF:c000:0202')).toBe('192.0.2.2');
    expect(clientRateKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientRateKey('203.0.113.8')).not.toBe(clientRateKey('203.0.113.7'));
    expect(clientRateKey(undefined)).toBe('unknown');
    // Not an address at all: kept (cut to the bound) rather than merged with real ones.
    expect(clientRateKey('2001:db8::1::2')).toBe('2001:db8::1::2');
  });

  it('limits guesses on one card from many addresses, and then top-ups of that card too', async () => {
    const school_id = await freshSchool();
    // Wrong names from fresh addresses: the per-card limit counts unknown combinations too.
    const { allowed, refused } = await untilLimited(
      (i) => postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: `猜${i}`, card_no: '20230001' }),
      CARD_LIMIT,
    );
    expect(refused).not.toBeNull();
    expect(allowed).toBeGreaterThanOrEqual(CARD_LIMIT);
    expect(refused!.headers.get('retry-after')).toBe('60');
    expect(await refused!.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // The right name is refused too now (the same number, typed differently, is the same card).
    const right = await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '张三', card_no: '２０２３０００１' });
    expect(right.status).toBe(429);
    expect((await topupByName(school_id)).status).toBe(429);
    // Another card of the same school is not affected.
    expect((await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '李小红', card_no: '20230002' })).status).toBe(200);
  }, MANY_REQUESTS_TIMEOUT_MS);

  it('limits one known name walked over many card numbers from many addresses, top-ups included', async () => {
    const school_id = await freshSchool();
    // Someone who knows a student's name hunts for the card: a new number and address each time.
    const { allowed, refused } = await untilLimited(
      (i) => postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '张 三', card_no: `8${String(i).padStart(5, '0')}` }),
      NAME_LIMIT,
    );
    expect(refused).not.toBeNull();
    expect(allowed).toBeGreaterThanOrEqual(NAME_LIMIT);
    expect(await refused!.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // The name as compared (NFKC, no spaces) is the key: the real card with that name waits too,
    // for lookups and for top-ups by name.
    expect((await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '张三', card_no: '20230001' })).status).toBe(429);
    expect((await topupByName(school_id)).status).toBe(429);
    // Another holder of the same school is not affected.
    expect((await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '李小红', card_no: '20230002' })).status).toBe(200);
  }, MANY_REQUESTS_TIMEOUT_MS);
});
