// The Workers rate-limiting binding runs for real in local workerd. Its windows are aligned to
// the wall clock, so a burst may straddle a window edge and get up to twice the limit through;
// the tests allow for that and still fail if no limit applies at all.
import { describe, expect, it } from 'vitest';
import { freshSchool, postFrom, uniqueIp } from './helpers/fixtures.ts';

// wrangler.toml: RATE_LIMIT_CLIENT 30 per 60 s, RATE_LIMIT_CARD 10 per 60 s.
const CLIENT_LIMIT = 30;
const CARD_LIMIT = 10;

async function untilLimited(send: (i: number) => Promise<Response>, limit: number): Promise<{ allowed: number; refused: Response | null }> {
  for (let i = 0; i < 2 * limit + 1; i++) {
    const res = await send(i);
    if (res.status === 429) return { allowed: i, refused: res };
    await res.arrayBuffer();
  }
  return { allowed: 2 * limit + 1, refused: null };
}

describe('rate limits', () => {
  it('limits lookups per client address, across cards, with 429 rate_limited and Retry-After', async () => {
    const school_id = await freshSchool();
    const ip = uniqueIp();
    // Different (unknown) card numbers each time, so only the per-address limit can bite.
    const { allowed, refused } = await untilLimited(
      (i) => postFrom(ip, '/api/v1/cards/lookup', { school_id, name: '张三', card_no: `77${i}` }),
      CLIENT_LIMIT,
    );
    expect(refused).not.toBeNull();
    expect(allowed).toBeGreaterThanOrEqual(CLIENT_LIMIT);
    expect(refused!.headers.get('retry-after')).toBe('60');
    expect(await refused!.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // Another address is not affected.
    expect((await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '张三', card_no: '20230001' })).status).toBe(200);
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
    expect(await refused!.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // The right name is refused too now (the same number, typed differently, is the same card).
    const right = await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '张三', card_no: '２０２３０００１' });
    expect(right.status).toBe(429);
    const topup = await postFrom(uniqueIp(), '/api/v1/recharges', {
      school_id,
      name: '张三',
      card_no: '20230001',
      amount_fen: 100,
      channel: 'alipay',
      agree_terms: true,
    });
    expect(topup.status).toBe(429);
    // Another card of the same school is not affected.
    expect((await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '李小红', card_no: '20230002' })).status).toBe(200);
  });

  it('counts top-up attempts against the client address as lookups do', async () => {
    const school_id = await freshSchool();
    const ip = uniqueIp();
    const { refused } = await untilLimited(
      (i) =>
        postFrom(ip, '/api/v1/recharges', { school_id, name: '张三', card_no: `66${i}`, amount_fen: 100, channel: 'alipay', agree_terms: true }),
      CLIENT_LIMIT,
    );
    expect(refused).not.toBeNull();
    expect((await postFrom(ip, '/api/v1/cards/lookup', { school_id, name: '张三', card_no: '20230001' })).status).toBe(429);
  });
});
