// D1 statements counted per request (DESIGN section 11), on the Worker's real entry point and a
// real local D1: what `npm run bench` sums into queries per top-up, and which of them go through
// a read-replica session (the Sessions API) rather than the primary.
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { RechargeCreated, RechargeRecordsResponse, SchoolsResponse } from '../../protocol/api.ts';
import worker from '../../worker/index.ts';
import { newTally, tallyD1 } from '../../worker/db/tally.ts';
import { meterRun } from '../../worker/http/d1-meter.ts';
import { expectLedgerClean } from './helpers/audit.ts';
import { freshSchool, uniqueIp } from './helpers/fixtures.ts';

interface QueryLine {
  msg: string;
  method: string;
  route: string;
  status: number | null;
  statements: number;
  round_trips: number;
  replica_statements: number;
}

/** One request through the Worker's fetch handler with the query log on; its response and log line. */
async function metered(path: string, init: RequestInit = {}, ip = uniqueIp()): Promise<{ response: Response; line: QueryLine }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
  });
  try {
    const ctx = createExecutionContext();
    const headers = new Headers(init.headers);
    headers.set('cf-connecting-ip', ip);
    const response = await worker.fetch(new Request(`http://yikatong.test${path}`, { ...init, headers }), { ...env, D1_QUERY_LOG: '1' }, ctx);
    const body = await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    const found = lines.map((text) => JSON.parse(text) as QueryLine).filter((line) => line.msg === 'd1 queries');
    expect(found, `one query line for ${path}`).toHaveLength(1);
    return { response: new Response(body, response), line: found[0]! };
  } finally {
    spy.mockRestore();
  }
}

function json(body: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

afterEach(() => vi.restoreAllMocks());
afterAll(expectLedgerClean);

describe('D1 statements per request', () => {
  it('counts a batch as its statements in one round trip, and session reads apart', async () => {
    const tally = newTally();
    const db = tallyD1(env.DB, tally);
    const [one, two, three] = await db.batch([db.prepare('SELECT 1 AS n'), db.prepare('SELECT ?1 AS n').bind(2), db.prepare('SELECT 3 AS n')]);
    expect([one, two, three].map((result) => (result!.results[0] as { n: number }).n)).toEqual([1, 2, 3]);
    expect(tally).toEqual({ statements: 3, round_trips: 1, replica_statements: 0 });
    // The Sessions API runs in local workerd: a replica session answers like the database.
    const replica = db.withSession('first-unconstrained');
    expect(await replica.prepare('SELECT ?1 AS n').bind(7).first('n')).toBe(7);
    expect(await db.withSession('first-primary').prepare('SELECT 8 AS n').first('n')).toBe(8);
    expect(tally).toEqual({ statements: 5, round_trips: 3, replica_statements: 1 });
  });

  it('names each request by its route and keeps a top-up on the primary while its status polls go to a replica', async () => {
    const school_id = await freshSchool();
    const created = await metered(
      '/api/v1/recharges',
      json({ school_id, name: '张三', card_no: '20230001', amount_fen: 100, channel: 'alipay', agree_terms: true }),
    );
    expect(created.response.status).toBe(201);
    expect(created.line).toMatchObject({ method: 'POST', route: '/api/v1/recharges', status: 201, replica_statements: 0 });
    expect(created.line.statements).toBeGreaterThanOrEqual(2);
    const order = (await created.response.json()) as RechargeCreated;

    const poll = await metered(`/api/v1/recharges/${order.order_id}`);
    expect(poll.response.status).toBe(200);
    expect(poll.line).toMatchObject({ method: 'GET', route: '/api/v1/recharges/:order_id', status: 200, statements: 1, replica_statements: 1 });

    const records = await metered(`/api/v1/recharges?card_token=${encodeURIComponent(order.card_token)}`);
    expect(records.response.status).toBe(200);
    expect(((await records.response.json()) as RechargeRecordsResponse).records.map((r) => r.order_id)).toEqual([order.order_id]);
    expect(records.line.statements).toBeGreaterThan(0);
    expect(records.line.replica_statements).toBe(records.line.statements);
  });

  it('asks the primary before answering that an order or a card does not exist', async () => {
    const school_id = await freshSchool();
    const missing = await metered('/api/v1/recharges/Y20260101000000000AAAAAAAAAA');
    expect(missing.response.status).toBe(404);
    expect(missing.line).toMatchObject({ statements: 2, replica_statements: 1 });

    const wrong_name = await metered('/api/v1/cards/lookup', json({ school_id, name: '不是他', card_no: '20230001' }));
    expect(wrong_name.response.status).toBe(404);
    expect(wrong_name.line).toMatchObject({ route: '/api/v1/cards/lookup', statements: 2, replica_statements: 1 });

    const right = await metered('/api/v1/cards/lookup', json({ school_id, name: '张三', card_no: '20230001' }));
    expect(right.response.status).toBe(200);
    expect(right.line).toMatchObject({ statements: 2, replica_statements: 2 });
  });

  it('reads the school list from a replica', async () => {
    const school_id = await freshSchool();
    const listed = await metered(`/api/v1/schools?q=${encodeURIComponent(school_id)}`);
    expect(((await listed.response.json()) as SchoolsResponse).schools.map((s) => s.id)).toEqual([school_id]);
    expect(listed.line).toMatchObject({ route: '/api/v1/schools', statements: 1, replica_statements: 1 });
  });

  it('counts the background work a run hands to waitUntil, even work started by that work', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
    const ctx = createExecutionContext();
    const run = meterRun({ ...env, D1_QUERY_LOG: '1' }, ctx);
    await run.env.DB.prepare('SELECT 1').first();
    // A flush after the response, which itself starts a poke: both after the answer went out.
    run.ctx.waitUntil(
      (async () => {
        await run.env.DB.batch([run.env.DB.prepare('SELECT 2'), run.env.DB.prepare('SELECT 3')]);
        run.ctx.waitUntil(
          (async () => {
            // The poke's own query comes a moment later, after the flush has settled.
            await new Promise((resolve) => setTimeout(resolve, 20));
            await run.env.DB.prepare('SELECT 4').first();
          })(),
        );
      })(),
    );
    run.finish({ method: 'POST', fallback_route: '/background', status: 202 });
    await waitOnExecutionContext(ctx);
    const logged = lines.map((text) => JSON.parse(text) as QueryLine).filter((line) => line.msg === 'd1 queries');
    expect(logged).toEqual([
      { level: 'info', msg: 'd1 queries', method: 'POST', route: '/background', status: 202, statements: 4, round_trips: 3, replica_statements: 0 },
    ]);
  });

  it('logs nothing unless D1_QUERY_LOG is 1', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
    const ctx = createExecutionContext();
    const response = await worker.fetch(new Request('http://yikatong.test/api/v1/schools'), env, ctx);
    await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(200);
    expect(lines.filter((line) => line.includes('d1 queries'))).toEqual([]);
  });
});
