// The POS API against the real hub process: authentication, validation, the load / commit /
// abort cycle, resolution of unfinished loads by the card's counter, and refused cards.
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chip } from '../../sim/pos/chip.ts';
import { HubRequestError, Terminal } from '../../sim/pos/terminal.ts';
import { cardChange, creditChange, HubHarness } from './helpers/hub.ts';

const hub = new HubHarness({ write_window_ms: 10_000 });
let t1: Terminal;
let t2: Terminal;
let key1 = '';

async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HubRequestError) return { status: error.status, code: error.code };
    throw error;
  }
  throw new Error('expected a refusal');
}

async function raw(path: string, init: RequestInit): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  const response = await fetch(`${hub.url}${path}`, init);
  return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
}

const ROUNDS = 30;
const race_cards = Array.from({ length: ROUNDS }, (_, round) => `RACE${round}`);
const cards = ['A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'LOST1', 'FROZEN1', 'A7', 'A8', 'FULL1'];
const credits = {
  A1: [creditChange('A1', 10_000), creditChange('A1', 300)],
  A2: [creditChange('A2', 5_000)],
  A3: [creditChange('A3', 2_000)],
  A4: [creditChange('A4', 700)],
  A5: [creditChange('A5', 800)],
  LOST1: [creditChange('LOST1', 900)],
  A6: [creditChange('A6', 1_000)],
  A7: [creditChange('A7', 1_100)],
  FULL1: [creditChange('FULL1', 1_200)],
};

beforeAll(async () => {
  await hub.keygen();
  key1 = await hub.addTerminal('canteen-1');
  const key2 = await hub.addTerminal('shop-2');
  hub.seedChanges([
    ...cards.map((card) => cardChange(card, card === 'LOST1' ? 'lost' : card === 'FROZEN1' ? 'frozen' : 'active')),
    ...Object.values(credits).flat(),
    ...race_cards.map((card) => cardChange(card)),
    ...race_cards.map((card, round) => creditChange(card, 100 + round)),
  ]);
  await hub.start();
  t1 = new Terminal({ hub_url: hub.url, terminal_id: 'canteen-1', key_hex: key1, txn_seq_start: 0 });
  t2 = new Terminal({ hub_url: hub.url, terminal_id: 'shop-2', key_hex: key2, txn_seq_start: 0 });
});

afterAll(async () => {
  await hub.cleanup();
});

describe('refused requests change nothing', () => {
  it('refuses unsigned, badly signed, stale, unknown-terminal, replayed and malformed requests', async () => {
    const chip = new Chip({ balance_fen: 50, load_counter: 3 });
    const body = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 1, card_no: 'A2', chip: chip.read() });

    const unsigned = await raw('/pos/v1/swipe', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.error?.code).toBe('unauthorized');

    const headers = t1.sign(body);
    const tampered = await raw('/pos/v1/swipe', { method: 'POST', headers, body: body.replace('"A2"', '"A3"') });
    expect(tampered).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });

    const wrongKey = new Terminal({ hub_url: hub.url, terminal_id: 'canteen-1', key_hex: 'ab'.repeat(32), txn_seq_start: 100 });
    expect(await refusal(wrongKey.swipe('A2', chip))).toEqual({ status: 401, code: 'signature_invalid' });

    const stale = new Terminal({ hub_url: hub.url, terminal_id: 'canteen-1', key_hex: key1, txn_seq_start: 100, clock_skew_ms: -6 * 60_000 });
    expect(await refusal(stale.swipe('A2', chip))).toEqual({ status: 401, code: 'timestamp_out_of_window' });
    const future = new Terminal({ hub_url: hub.url, terminal_id: 'canteen-1', key_hex: key1, txn_seq_start: 100, clock_skew_ms: 6 * 60_000 });
    expect(await refusal(future.swipe('A2', chip))).toEqual({ status: 401, code: 'timestamp_out_of_window' });

    const stranger = new Terminal({ hub_url: hub.url, terminal_id: 'nobody', key_hex: key1, txn_seq_start: 0 });
    expect(await refusal(stranger.swipe('A2', chip))).toEqual({ status: 401, code: 'unknown_terminal' });

    // Signed by canteen-1 but claiming to be shop-2 in the body.
    const spoof = JSON.stringify({ terminal_id: 'shop-2', txn_seq: 500, card_no: 'A2', chip: chip.read() });
    expect(await refusal(t1.post('/pos/v1/swipe', spoof))).toEqual({ status: 403, code: 'forbidden' });

    expect(await refusal(t1.post('/pos/v1/swipe', '{"terminal_id":'))).toEqual({ status: 400, code: 'invalid_json' });
    const negative = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 501, card_no: 'A2', chip: { balance_fen: -1, load_counter: 0 } });
    expect(await refusal(t1.post('/pos/v1/swipe', negative))).toEqual({ status: 400, code: 'invalid_body' });
    const extra = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 502, card_no: 'A2', chip: chip.read(), amount_fen: 1 });
    expect(await refusal(t1.post('/pos/v1/swipe', extra))).toEqual({ status: 400, code: 'invalid_body' });

    const big = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 503, card_no: 'A2', chip: chip.read(), pad: 'x'.repeat(5000) });
    expect(await refusal(t1.post('/pos/v1/swipe', big))).toEqual({ status: 413, code: 'payload_too_large' });

    const text = await raw('/pos/v1/swipe', { method: 'POST', headers: { ...t1.sign(body), 'content-type': 'text/plain' }, body });
    expect(text).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    const get = await raw('/pos/v1/swipe', { method: 'GET' });
    expect(get).toMatchObject({ status: 405, body: { error: { code: 'method_not_allowed' } } });
    const nowhere = await raw('/pos/v1/nothing', { method: 'POST', body: '{}' });
    expect(nowhere).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });

    // The first valid swipe at txn_seq 1 loads; the same signed request again is a replay.
    const replayBody = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 1000, card_no: 'A2', chip: chip.read() });
    const replayHeaders = t1.sign(replayBody);
    const first = await t1.post<{ load: { amount_fen: number; claim_id: string } | null }>('/pos/v1/swipe', replayBody, replayHeaders);
    expect(first.load?.amount_fen).toBe(5_000);
    expect(await refusal(t1.post('/pos/v1/swipe', replayBody, replayHeaders))).toEqual({ status: 409, code: 'txn_seq_replayed' });
    // An older txn_seq with a fresh signature is refused too.
    const older = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 999, card_no: 'A2', chip: chip.read() });
    expect(await refusal(t1.post('/pos/v1/swipe', older))).toEqual({ status: 409, code: 'txn_seq_replayed' });
    t1.txn_seq = 1000;
    await t1.abort(first.load!.claim_id);
  });
});

describe('load, commit, abort', () => {
  it('loads every pending credit of a card at once and commits it durably into the outbox', async () => {
    const chip = new Chip({ balance_fen: 1_234, load_counter: 7 });
    const tap = await t1.tap('A1', chip);
    expect(tap.swipe).toEqual({
      card_status: 'active',
      load: { claim_id: expect.stringMatching(/^clm_/), amount_fen: 10_300, balance_after_fen: 11_534, load_counter_after: 8 },
    });
    expect(tap.outcome).toEqual({ claim_id: tap.swipe.load!.claim_id, status: 'committed' });
    expect(chip.read()).toEqual({ balance_fen: 11_534, load_counter: 8 });
    // Commit again: idempotent. Abort after commit: refused.
    expect(await t1.commit(tap.swipe.load!.claim_id, chip)).toEqual({ claim_id: tap.swipe.load!.claim_id, status: 'committed' });
    expect(await refusal(t1.abort(tap.swipe.load!.claim_id))).toEqual({ status: 409, code: 'claim_conflict' });
    // Nothing more to load.
    expect((await t1.tap('A1', chip)).swipe.load).toBeNull();
    const outbox = hub.query<{ claim_id: string; body: string }>('SELECT claim_id, body FROM outbox WHERE claim_id = ?', tap.swipe.load!.claim_id);
    expect(outbox).toHaveLength(1);
    expect(JSON.parse(outbox[0]!.body)).toMatchObject({
      card_no: 'A1',
      terminal_id: 'canteen-1',
      amount_fen: 10_300,
      credit_ids: credits.A1.map((c) => c.credit_id),
      balance_after_fen: 11_534,
      load_counter_after: 8,
    });
    const health = (await (await fetch(`${hub.url}/healthz`)).json()) as { outbox_depth: number };
    expect(health.outbox_depth).toBeGreaterThanOrEqual(1);
  });

  it('a failed write aborts, and the next swipe offers the same money once', async () => {
    const chip = new Chip({ balance_fen: 0, load_counter: 0 });
    const failed = await t1.tap('A3', chip, 'write_fails');
    expect(failed.outcome?.status).toBe('aborted');
    expect(chip.read()).toEqual({ balance_fen: 0, load_counter: 0 });
    expect(await t1.abort(failed.swipe.load!.claim_id)).toEqual({ claim_id: failed.swipe.load!.claim_id, status: 'aborted' });
    expect(await refusal(t1.commit(failed.swipe.load!.claim_id, chip))).toEqual({ status: 409, code: 'claim_conflict' });
    const again = await t2.tap('A3', chip);
    expect(again.swipe.load?.amount_fen).toBe(2_000);
    expect(again.outcome?.status).toBe('committed');
    expect((await t1.tap('A3', chip)).swipe.load).toBeNull();
    expect(chip.read()).toEqual({ balance_fen: 2_000, load_counter: 1 });
  });

  it('refuses commits and aborts of unknown claims or of another terminal', async () => {
    const chip = new Chip({ balance_fen: 0, load_counter: 0 });
    expect(await refusal(t1.commit('clm_doesnotexist', chip))).toEqual({ status: 404, code: 'claim_not_found' });
    expect(await refusal(t1.abort('clm_doesnotexist'))).toEqual({ status: 404, code: 'claim_not_found' });
    const tap = await t1.tap('A7', chip, 'die_before_write');
    const claim_id = tap.swipe.load!.claim_id;
    expect(await refusal(t2.commit(claim_id, chip))).toEqual({ status: 409, code: 'claim_conflict' });
    expect(await refusal(t2.abort(claim_id))).toEqual({ status: 409, code: 'claim_conflict' });
    // A commit whose chip shows no write is refused: the card is the truth.
    expect(await refusal(t1.commit(claim_id, chip))).toEqual({ status: 409, code: 'claim_conflict' });
    expect(await t1.abort(claim_id)).toMatchObject({ status: 'aborted' });
  });
});

describe('unfinished loads are resolved by the card', () => {
  it('terminal dies after the write: the next swipe at another terminal commits it, no second load', async () => {
    const chip = new Chip({ balance_fen: 100, load_counter: 41 });
    const died = await t1.tap('A4', chip, 'die_after_write');
    expect(died.written).toBe(true);
    expect(chip.read()).toEqual({ balance_fen: 800, load_counter: 42 });
    const next = await t2.tap('A4', chip);
    expect(next.swipe).toEqual({ card_status: 'active', load: null });
    expect(chip.read()).toEqual({ balance_fen: 800, load_counter: 42 });
    const [claim] = hub.query<{ state: string; resolved_by: string }>('SELECT state, resolved_by FROM claims WHERE claim_id = ?', died.swipe.load!.claim_id);
    expect(claim).toEqual({ state: 'committed', resolved_by: 'swipe:shop-2' });
    expect(hub.query('SELECT 1 FROM outbox WHERE claim_id = ?', died.swipe.load!.claim_id)).toHaveLength(1);
    // The dead terminal's late commit is harmless.
    expect(await t1.commit(died.swipe.load!.claim_id, chip)).toMatchObject({ status: 'committed' });
  });

  it('terminal dies before the write: another terminal gets nothing inside the write window, the same terminal reloads once', async () => {
    const chip = new Chip({ balance_fen: 0, load_counter: 5 });
    const died = await t1.tap('A5', chip, 'die_before_write');
    expect(died.swipe.load?.amount_fen).toBe(800);
    // The card moves to the shop at once: canteen-1 might still be writing, so no load.
    expect((await t2.tap('A5', chip)).swipe.load).toBeNull();
    // Back at canteen-1: the counter says not written, so the reservation is released and offered again.
    const again = await t1.tap('A5', chip);
    expect(again.swipe.load).toMatchObject({ amount_fen: 800, load_counter_after: 6 });
    expect(again.swipe.load!.claim_id).not.toBe(died.swipe.load!.claim_id);
    expect(chip.read()).toEqual({ balance_fen: 800, load_counter: 6 });
    expect((await t2.tap('A5', chip)).swipe.load).toBeNull();
    const [old] = hub.query<{ state: string }>('SELECT state FROM claims WHERE claim_id = ?', died.swipe.load!.claim_id);
    expect(old?.state).toBe('released');
  });

  it('two terminals swiping the same card at once: exactly one load each round', async () => {
    let loaded_fen = 0;
    const chip = new Chip({ balance_fen: 0, load_counter: 0 });
    for (let round = 0; round < ROUNDS; round++) {
      // The same physical card comes back each round with one new credit (its own row here).
      const card_no = `RACE${round}`;
      const before = chip.read();
      const [ra, rb] = await Promise.all([t1.swipe(card_no, chip), t2.swipe(card_no, chip)]);
      const offers = [ra.load, rb.load].filter((load) => load !== null);
      expect(offers).toHaveLength(1);
      expect(offers[0]).toMatchObject({ amount_fen: 100 + round, load_counter_after: before.load_counter + 1 });
      const winner = ra.load !== null ? t1 : t2;
      chip.load(offers[0]!);
      expect(await winner.commit(offers[0]!.claim_id, chip)).toMatchObject({ status: 'committed' });
      loaded_fen += offers[0]!.amount_fen;
      // And neither terminal gets it a second time.
      const [again_a, again_b] = await Promise.all([t1.swipe(card_no, chip), t2.swipe(card_no, chip)]);
      expect([again_a.load, again_b.load]).toEqual([null, null]);
    }
    expect(chip.read()).toEqual({ balance_fen: loaded_fen, load_counter: ROUNDS });
  });
});

describe('card status', () => {
  it('refuses loads to lost and frozen cards and says so', async () => {
    const chip = new Chip({ balance_fen: 10, load_counter: 1 });
    expect((await t1.tap('LOST1', chip)).swipe).toEqual({ card_status: 'lost', load: null });
    expect((await t1.tap('FROZEN1', chip)).swipe).toEqual({ card_status: 'frozen', load: null });
    expect((await t1.tap('NOSUCHCARD', chip)).swipe).toEqual({ card_status: 'unknown', load: null });
    expect(chip.read()).toEqual({ balance_fen: 10, load_counter: 1 });
    expect(hub.query<{ state: string }>("SELECT state FROM credits WHERE card_no = 'LOST1'")).toEqual([{ state: 'pending' }]);
    // Unknown cards leave no trace for the Worker.
    expect(hub.query("SELECT 1 FROM card_reports WHERE card_no = 'NOSUCHCARD'")).toEqual([]);
  });

  it('offers nothing to a chip whose load counter is exhausted', async () => {
    const chip = new Chip({ balance_fen: 5, load_counter: 0xffff_ffff });
    expect((await t1.tap('FULL1', chip)).swipe).toEqual({ card_status: 'active', load: null });
    expect((await t1.tap('FULL1', new Chip({ balance_fen: 5, load_counter: 0xffff_fffe }))).swipe.load).toMatchObject({
      amount_fen: 1_200,
      load_counter_after: 0xffff_ffff,
    });
  });
});

describe('connections', () => {
  it('keeps one HTTP/1.1 connection alive across a terminal\'s requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const reused: boolean[] = [];
    const chip = new Chip({ balance_fen: 0, load_counter: 0 });
    for (let i = 0; i < 3; i++) {
      const body = t1.swipeBody('A6-NOT-A-CARD', chip);
      const url = new URL(`${hub.url}/pos/v1/swipe`);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: t1.sign(body) }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
        reused.push(req.reusedSocket);
      });
      expect(status).toBe(200);
    }
    agent.destroy();
    expect(reused).toEqual([false, true, true]);
  });
});

describe('operations', () => {
  it('serves health and Prometheus metrics', async () => {
    const health = (await (await fetch(`${hub.url}/healthz`)).json()) as Record<string, unknown>;
    // The Worker of this test is unreachable: swipes are served, the health says degraded.
    expect(health).toMatchObject({ status: 'degraded', cards: cards.length + ROUNDS, open_claims: 0 });
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).toMatch(/^hub_swipes_total\{result="load"\} \d+$/m);
    expect(metrics).toMatch(/^hub_pos_request_duration_seconds_bucket\{route="swipe",le="\+Inf"\} \d+$/m);
    expect(metrics).toMatch(/^hub_outbox_depth \d+$/m);
    expect(metrics).toMatch(/^hub_sync_lag_seconds /m);
  });
});

