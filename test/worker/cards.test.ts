import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { CardLookupResponse } from '../../protocol/api.ts';
import { signCardToken, CARD_TOKEN_LIFETIME_MS } from '../../worker/auth/card-token.ts';
import { api } from './helpers/seed.ts';
import { fetchWithConfig, freshSchool, insertCredit, insertOrder, postFrom, testOrderId, uniqueIp, type LedgerOrder } from './helpers/fixtures.ts';

const LOOKUP = '/api/v1/cards/lookup';

async function lookup(body: unknown, ip = uniqueIp()): Promise<Response> {
  return postFrom(ip, LOOKUP, body);
}

describe('POST /api/v1/cards/lookup', () => {
  it('finds a card by school, name and number and shows only a masked name', async () => {
    const school_id = await freshSchool();
    const res = await lookup({ school_id, name: '张三', card_no: '20230001' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as CardLookupResponse;
    expect(body).toMatchObject({
      school_id,
      card_no: '20230001',
      holder_name_masked: '张*',
      kind: 'student',
      balance_fen: null,
      pending_fen: 0,
      balance_as_of: null,
      status: 'active',
    });
    expect(body.card_token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(body)).not.toContain('张三');
  });

  it('answers a wrong name, an unknown card, an unknown school and a junk number identically', async () => {
    const school_id = await freshSchool();
    const attempts = [
      { school_id, name: '李四', card_no: '20230001' },
      { school_id, name: '张三', card_no: '20239999' },
      { school_id: 'no-such-school', name: '张三', card_no: '20230001' },
      { school_id, name: '张三', card_no: '!!!' },
      { school_id, name: '张三', card_no: 'SN:' },
    ];
    const answers = [];
    for (const attempt of attempts) {
      const res = await lookup(attempt);
      answers.push({ status: res.status, type: res.headers.get('content-type'), body: await res.text() });
    }
    expect(answers[0]!.status).toBe(404);
    expect(JSON.parse(answers[0]!.body)).toMatchObject({ error: { code: 'card_not_found' } });
    for (const answer of answers) expect(answer).toEqual(answers[0]);
  });

  it('matches names after NFKC and without spaces, and nothing looser', async () => {
    const school_id = await freshSchool({ extra: [{ card_no: '330001', holder_name: 'Li Lei' }] });
    for (const name of ['张 三', ' 张三 ', '张\u3000三']) {
      expect((await lookup({ school_id, name, card_no: '20230001' })).status, name).toBe(200);
    }
    for (const name of ['LiLei', 'Ｌｉ Ｌｅｉ', 'Li  Lei']) {
      const res = await lookup({ school_id, name, card_no: '330001' });
      expect(res.status, name).toBe(200);
      expect(((await res.json()) as CardLookupResponse).holder_name_masked).toBe('L****');
    }
    for (const name of ['张', '张三三', '張三']) {
      expect((await lookup({ school_id, name, card_no: '20230001' })).status, name).toBe(404);
    }
  });

  it('normalises the typed card number the way the card office prints it', async () => {
    const school_id = await freshSchool();
    const cases: [string, string, string][] = [
      ['访客', 'SN：000999', '999'],
      ['访客', 'SN:000999', '999'],
      ['访客', 'sn: 000999 ', '999'],
      ['访客', '999', '999'],
      ['赵六', 'F000999', 'F000999'],
      ['赵六', 'ｆ０００９９９', 'F000999'],
      ['张三', '２０２３０００１', '20230001'],
      ['王老师', 't1001', 'T1001'],
    ];
    for (const [name, typed, expected] of cases) {
      const res = await lookup({ school_id, name, card_no: typed });
      expect(res.status, typed).toBe(200);
      expect(((await res.json()) as CardLookupResponse).card_no, typed).toBe(expected);
    }
    // A letter-prefixed number is another card: its zeros are not a serial's padding.
    expect((await lookup({ school_id, name: '赵六', card_no: '999' })).status).toBe(404);
    expect((await lookup({ school_id, name: '访客', card_no: 'F000999' })).status).toBe(404);
  });

  it('answers 503 not_configured, not a 500, when CARD_TOKEN_SECRET is missing', async () => {
    const school_id = await freshSchool();
    for (const secret of [undefined, 'short']) {
      const res = await fetchWithConfig({ CARD_TOKEN_SECRET: secret }, LOOKUP, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
        body: JSON.stringify({ school_id, name: '张三', card_no: '20230001' }),
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: { code: 'not_configured' } });
    }
  });

  it('finds a lost card (so its holder learns why a top-up is refused)', async () => {
    const school_id = await freshSchool();
    const res = await lookup({ school_id, name: '陈挂失', card_no: '20230003' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ card_no: '20230003', status: 'lost', holder_name_masked: '陈**' });
  });

  it('shows the last reported balance and the sum of pending credits only', async () => {
    const as_of_ms = Date.now() - 3_600_000;
    const school_id = await freshSchool({
      extra: [{ card_no: '5001', holder_name: '钱多多', balance_fen: 12_282, balance_as_of_ms: as_of_ms }],
    });
    const now_ms = Date.now();
    const order = (amount_fen: number, i: number): LedgerOrder => ({
      order_id: testOrderId(now_ms - i * 1000),
      school_id,
      card_no: '5001',
      amount_fen,
      status: 'paid',
      created_at_ms: now_ms - i * 1000,
      paid_at_ms: now_ms - i * 1000,
    });
    const pending1 = order(100, 1);
    const pending2 = order(200, 2);
    const claimed = order(5_000, 3);
    const unpaid = { ...order(7_000, 4), status: 'unpaid' as const, paid_at_ms: null };
    for (const o of [pending1, pending2, claimed, unpaid]) await insertOrder(o);
    await insertCredit(pending1, { state: 'pending' });
    await insertCredit(pending2, { state: 'pending' });
    await insertCredit(claimed, { state: 'claimed', claimed_at_ms: now_ms, terminal_id: 'POS-7' });
    const res = await lookup({ school_id, name: '钱多多', card_no: '5001' });
    expect(await res.json()).toMatchObject({ balance_fen: 12_282, balance_as_of: as_of_ms, pending_fen: 300 });
  });
});

describe('card token', () => {
  async function records(token: string): Promise<Response> {
    return api(`/api/v1/recharges?card_token=${encodeURIComponent(token)}`);
  }

  it('round-trips: the token from a lookup opens that card’s records', async () => {
    const school_id = await freshSchool();
    const body = (await (await lookup({ school_id, name: '张三', card_no: '20230001' })).json()) as CardLookupResponse;
    const res = await records(body.card_token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      records: [],
      month_totals: [],
      card: { kind: 'student', status: 'active', balance_fen: null, balance_as_of: null, pending_fen: 0 },
    });
  });

  it('refuses tampered, foreign, expired and future tokens with card_token_invalid', async () => {
    const school_id = await freshSchool();
    const body = (await (await lookup({ school_id, name: '张三', card_no: '20230001' })).json()) as CardLookupResponse;
    const [payload, signature] = body.card_token.split('.') as [string, string];
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    const forgedPayload = btoa(JSON.stringify({ ...claims, card_no: '20230002' })).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    const now_ms = Date.now();
    const card = { school_id, card_no: '20230001' };
    const bad = [
      `${forgedPayload}.${signature}`,
      `${payload}.${flip(signature, 3)}`,
      `${flip(payload, 5)}.${signature}`,
      `${payload}.`,
      payload,
      `${payload}.${signature}.${signature}`,
      `${payload}.${signature}!`,
      await signCardToken('another-secret-of-sufficient-length', card, now_ms),
      await signCardToken(env.CARD_TOKEN_SECRET, card, now_ms - CARD_TOKEN_LIFETIME_MS - 60_000),
      await signCardToken(env.CARD_TOKEN_SECRET, card, now_ms + 3_600_000),
    ];
    for (const token of bad) {
      const res = await records(token);
      expect(res.status, token).toBe(401);
      expect(await res.json(), token).toMatchObject({ error: { code: 'card_token_invalid' } });
    }
    // Just inside its lifetime a token still works.
    const old = await signCardToken(env.CARD_TOKEN_SECRET, card, now_ms - CARD_TOKEN_LIFETIME_MS + 60_000);
    expect((await records(old)).status).toBe(200);
  });
});
