// The POS API v2 against the real hub process: authentication of requests and answers, a load
// end to end (swipe → INITIALIZE FOR LOAD → MAC2 → CREDIT FOR LOAD → TAC), cards that are not
// what they say (bad MAC1, another card's number), a wrong TAC, the purse limit, the serial at
// 0xFFFF, card status, and operations. Every card here is a personalised simulated chip.
import { createHmac } from 'node:crypto';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeMac1, diversifyKey, sessionLoadKey } from '../../protocol/pboc.ts';
import { HUB_ANSWER_HEADER_SIGNATURE, hubAnswerSigningString, LOAD_TRANSACTION_TYPE, POS_PATH_LOADS, POS_PATH_SWIPE } from '../../protocol/pos.ts';
import { foreignCard } from '../../sim/pos/personalise.ts';
import { ForgedAnswerError, Terminal, terminalTimeOf } from '../../sim/pos/terminal.ts';
import { refusal } from './helpers/refusal.ts';
import { asnOf, cardChange, creditChange, HubHarness, type RegisteredTerminal } from './helpers/hub.ts';

const OPERATOR_TOKEN = 'operator-token-for-tests-0123456789';
const hub = new HubHarness({ write_window_ms: 10_000, operator_token: OPERATOR_TOKEN, purse_limits: 'staff=200000' });
let r1: RegisteredTerminal;
let r2: RegisteredTerminal;
let t1: Terminal;
let t2: Terminal;

async function raw(path: string, init: RequestInit): Promise<{ status: number; body: { error?: { code: string; message: string } }; headers: Headers }> {
  const response = await fetch(`${hub.url}${path}`, init);
  return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } }, headers: response.headers };
}

function state(card_no: string) {
  return {
    credits: hub.query<{ credit_id: string; state: string }>('SELECT credit_id, state FROM credits WHERE card_no = ? ORDER BY credit_id', card_no),
    claims: hub.query<{ claim_id: string; state: string }>('SELECT claim_id, state FROM claims WHERE card_no = ? ORDER BY claim_id', card_no),
  };
}

const credits = {
  A1: [creditChange('A1', 10_000), creditChange('A1', 300)],
  A2: [creditChange('A2', 5_000)],
  A3: [creditChange('A3', 2_000)],
  NUM: [creditChange('NUM', 7_700)],
  LOST1: [creditChange('LOST1', 900)],
  PURSE: [creditChange('PURSE', 500), creditChange('PURSE', 800)],
  STAFF: [creditChange('STAFF', 150_000)],
  FULL: [creditChange('FULL', 1_200)],
  NOASN: [creditChange('NOASN', 1_300)],
  FORGE: [creditChange('FORGE', 3_300)],
};

beforeAll(async () => {
  await hub.init();
  r1 = await hub.addTerminal('canteen-1', '00000000C001');
  r2 = await hub.addTerminal('shop-2');
  hub.seedChanges([
    ...['A1', 'A2', 'A3', 'NUM', 'OTHER', 'PURSE', 'FULL', 'FORGE'].map((card) => cardChange(card)),
    cardChange('LOST1', 'lost'),
    cardChange('FROZEN1', 'frozen'),
    cardChange('STAFF', 'active', { card_kind: 'staff' }),
    cardChange('NOASN', 'active', { asn: null }),
    ...Object.values(credits).flat(),
  ]);
  await hub.start();
  t1 = hub.terminal(r1);
  t2 = hub.terminal(r2);
});

afterAll(() => hub.cleanup());

describe('authentication', () => {
  it('refuses unsigned, badly signed, stale, unknown-terminal, spoofed and malformed requests, changing nothing', async () => {
    const before = state('A2');
    const body = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 1, card_no: 'A2', chip: { balance_fen: 0, online_serial: 0 } });
    const unsigned = await raw(POS_PATH_SWIPE, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    // Unauthenticated refusals cannot be signed: the hub does not know whose key to use.
    expect(unsigned.headers.get(HUB_ANSWER_HEADER_SIGNATURE)).toBeNull();

    const tampered = await raw(POS_PATH_SWIPE, { method: 'POST', headers: t1.sign(POS_PATH_SWIPE, body), body: body.replace('"A2"', '"A3"') });
    expect(tampered).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    // Signed for the swipe path, sent to the loads path: the path is signed too.
    const moved = await raw(POS_PATH_LOADS, { method: 'POST', headers: t1.sign(POS_PATH_SWIPE, body), body });
    expect(moved).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });

    const wrong_key = hub.terminal({ ...r1, key_hex: 'ab'.repeat(32) }, 100);
    expect(await refusal(wrong_key.swipe('A2', { balance_fen: 0, online_serial: 0 }))).toEqual({ status: 401, code: 'signature_invalid' });
    wrong_key.close();
    for (const skew_ms of [-5 * 60_000 - 5_000, 5 * 60_000 + 5_000]) {
      const skewed = hub.terminal(r1, 100, { clock_skew_ms: skew_ms });
      expect(await refusal(skewed.swipe('A2', { balance_fen: 0, online_serial: 0 }))).toEqual({ status: 401, code: 'timestamp_out_of_window' });
      skewed.close();
    }
    const stranger = hub.terminal({ ...r1, terminal_id: 'nobody' });
    expect(await refusal(stranger.swipe('A2', { balance_fen: 0, online_serial: 0 }))).toEqual({ status: 401, code: 'unknown_terminal' });
    stranger.close();

    // Signed by canteen-1, claiming to be shop-2 in the body.
    const spoof = JSON.stringify({ terminal_id: 'shop-2', txn_seq: 500, card_no: 'A2', chip: { balance_fen: 0, online_serial: 0 } });
    expect(await refusal(t1.post(POS_PATH_SWIPE, spoof))).toEqual({ status: 403, code: 'forbidden' });
    expect(await refusal(t1.post(POS_PATH_SWIPE, '{"terminal_id":'))).toEqual({ status: 400, code: 'invalid_json' });
    const big = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: 503, card_no: 'A2', pad: 'x'.repeat(5000) });
    expect(await refusal(t1.post(POS_PATH_SWIPE, big))).toEqual({ status: 413, code: 'payload_too_large' });
    const text = await raw(POS_PATH_SWIPE, { method: 'POST', headers: { ...t1.sign(POS_PATH_SWIPE, body), 'content-type': 'text/plain' }, body });
    expect(text).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    expect(await raw(POS_PATH_SWIPE, { method: 'GET' })).toMatchObject({ status: 405, body: { error: { code: 'method_not_allowed' } } });
    expect(await raw('/pos/v1/swipe', { method: 'POST', body: '{}' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await raw('/pos/v2/loads/clm_x/commit', { method: 'POST', body: '{}' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(state('A2')).toEqual(before);
  });

  it('signs every answer to an authenticated request, refusals included, over the request signature', async () => {
    for (const body of [
      JSON.stringify({ terminal_id: 'canteen-1', txn_seq: t1.nextTxnSeq(), card_no: 'A2', chip: { balance_fen: 0, online_serial: 0 } }),
      JSON.stringify({ terminal_id: 'canteen-1', txn_seq: t1.nextTxnSeq(), card_no: 'A2', chip: { balance_fen: -1, online_serial: 0 } }),
    ]) {
      const headers = t1.sign(POS_PATH_SWIPE, body);
      const response = await fetch(`${hub.url}${POS_PATH_SWIPE}`, { method: 'POST', headers, body });
      const text = await response.text();
      const expected = createHmac('sha256', Buffer.from(r1.key_hex, 'hex'))
        .update(hubAnswerSigningString(headers['X-Terminal-Signature']!, response.status, text))
        .digest('hex');
      expect([200, 400]).toContain(response.status);
      expect(response.headers.get(HUB_ANSWER_HEADER_SIGNATURE)).toBe(expected);
    }
  });

  it('a replayed request (same txn_seq) is refused, even freshly signed', async () => {
    const body = JSON.stringify({ terminal_id: 'canteen-1', txn_seq: t1.nextTxnSeq(), card_no: 'A2', chip: { balance_fen: 0, online_serial: 0 } });
    const headers = t1.sign(POS_PATH_SWIPE, body);
    expect(await t1.post(POS_PATH_SWIPE, body, headers)).toMatchObject({ offer_fen: 5_000 });
    expect(await refusal(t1.post(POS_PATH_SWIPE, body, headers))).toEqual({ status: 409, code: 'txn_seq_replayed' });
    expect(await refusal(t1.post(POS_PATH_SWIPE, body))).toEqual({ status: 409, code: 'txn_seq_replayed' });
  });
});

describe('a load end to end', () => {
  it('swipe offers every pending credit; the card writes the load; its TAC commits it durably into the outbox', async () => {
    const card = hub.card('A1', { balance_fen: 1_234, online_serial: 7 });
    const tap = await t1.tap('A1', card);
    expect(tap.swipe).toEqual({ card_status: 'active', pending_fen: 10_300, offer_fen: 10_300, settle: null });
    expect(tap.load).toEqual({ claim_id: expect.stringMatching(/^clm_[0-9a-f]{24}$/), amount_fen: 10_300, mac2: expect.stringMatching(/^[0-9A-F]{8}$/), balance_after_fen: 11_534, online_serial_after: 8 });
    expect(tap.committed).toEqual({ claim_id: tap.load!.claim_id, status: 'committed', balance_after_fen: 11_534, online_serial_after: 8 });
    // The chip is the truth.
    expect([card.balance_fen, card.online_serial]).toEqual([11_534, 8]);
    const [outbox] = hub.query<{ body: string }>('SELECT body FROM outbox WHERE claim_id = ?', tap.load!.claim_id);
    expect(JSON.parse(outbox!.body)).toEqual({
      claim_id: tap.load!.claim_id,
      card_no: 'A1',
      terminal_id: 'canteen-1',
      card_terminal_id: '00000000C001',
      amount_fen: 10_300,
      credit_ids: credits.A1.map((c) => c.credit_id),
      balance_after_fen: 11_534,
      online_serial_after: 8,
      committed_at_ms: expect.any(Number),
      proof: { kind: 'tac', tac: card.toState().proves.at(-1)!.tac },
    });
    // Committing again with the same TAC is idempotent; nothing more to load.
    const tac = card.toState().proves.at(-1)!.tac;
    expect(await t1.commit(tap.load!.claim_id, tac)).toMatchObject({ status: 'committed' });
    expect((await t1.tap('A1', card)).swipe).toEqual({ card_status: 'active', pending_fen: 0, offer_fen: 0, settle: null });
    expect(card.balance_fen).toBe(11_534);
  });

  it('a TAC that does not verify is refused and the reservation stays open; the right one then commits', async () => {
    const card = hub.card('A3', { balance_fen: 0, online_serial: 0 });
    const tap = await t1.tap('A3', card, 'after_credit');
    expect(tap.written).toBe(true);
    const tac = card.toState().proves.at(-1)!.tac;
    const wrong = ((parseInt(tac.slice(0, 1), 16) ^ 1).toString(16) + tac.slice(1)).toUpperCase();
    expect(await refusal(t1.commit(tap.load!.claim_id, wrong))).toEqual({ status: 409, code: 'tac_invalid' });
    expect(state('A3').claims).toEqual([{ claim_id: tap.load!.claim_id, state: 'open' }]);
    expect(state('A3').credits.map((c) => c.state)).toEqual(['reserved']);
    // Another terminal cannot commit by "tac" (it never saw CREDIT FOR LOAD's answer).
    expect(await refusal(t2.commit(tap.load!.claim_id, tac))).toEqual({ status: 409, code: 'claim_conflict' });
    expect(await t1.commit(tap.load!.claim_id, tac)).toMatchObject({ status: 'committed' });
    expect(state('A3').credits.map((c) => c.state)).toEqual(['claimed']);
    // Idempotent, but never for another TAC.
    expect(await refusal(t1.commit(tap.load!.claim_id, wrong))).toEqual({ status: 409, code: 'tac_invalid' });
    expect(await refusal(t1.commit('clm_000000000000000000000000', tac))).toEqual({ status: 404, code: 'claim_not_found' });
  });

  it('a load for an amount the pending credits do not make up is refused: offer_changed', async () => {
    const card = hub.card('A2', { balance_fen: 0, online_serial: 0 });
    const read = t1.readCard(card);
    const { parseInitForLoad, initializeForLoadApdu, LOAD_KEY_INDEX } = await import('../../sim/pos/apdu.ts');
    const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 4_999, card_terminal_id: r1.card_terminal_id })).data);
    const load = t1.load({ card_no: 'A2', asn: read.asn, amount_fen: 4_999, init, terminal_time: terminalTimeOf(Date.now()) });
    expect(await refusal(load)).toEqual({ status: 409, code: 'offer_changed' });
    expect(state('A2').credits.map((c) => c.state)).toEqual(['pending']);
  });
});

/**
 * A device on the LAN between terminal and hub: it forwards requests and rewrites answers with
 * `tamper` (which may keep the hub's X-Hub-Signature, or drop it).
 */
async function manInTheMiddle(tamper: (path: string, status: number, body: string) => { status: number; body: string; keep_signature: boolean } | null): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name.startsWith('x-terminal') || name === 'content-type')) as Record<string, string>;
      void fetch(`${hub.url}${req.url}`, { method: 'POST', headers, body: Buffer.concat(chunks) }).then(async (answer) => {
        const text = await answer.text();
        const forged = tamper(req.url ?? '', answer.status, text);
        const out = forged ?? { status: answer.status, body: text, keep_signature: true };
        const signature = answer.headers.get(HUB_ANSWER_HEADER_SIGNATURE);
        res.writeHead(out.status, { 'content-type': 'application/json', ...(out.keep_signature && signature !== null ? { [HUB_ANSWER_HEADER_SIGNATURE]: signature } : {}) });
        res.end(out.body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('forged hub answers', () => {
  it('the terminal detects a forged answer and acts on none of it: no MAC2 reaches the card', async () => {
    const card = hub.card('FORGE', { balance_fen: 100, online_serial: 4 });
    const forgeries: [string, (path: string, status: number, body: string) => { status: number; body: string; keep_signature: boolean } | null][] = [
      // A bigger offer than the hub made, under the hub's signature.
      ['offer raised', (path, status, body) => (path === POS_PATH_SWIPE ? { status, body: body.replace('"offer_fen":3300', '"offer_fen":9900'), keep_signature: true } : null)],
      // Another MAC2 (replayed from elsewhere) under the hub's signature.
      ['mac2 replaced', (path, status, body) => (path === POS_PATH_LOADS ? { status, body: body.replace(/"mac2":"[0-9A-F]{8}"/, '"mac2":"0BADF00D"'), keep_signature: true } : null)],
      // An answer with no signature at all.
      ['signature dropped', (path, status, body) => (path === POS_PATH_LOADS ? { status, body, keep_signature: false } : null)],
      // A refusal turned into a success.
      ['status changed', (path, status, body) => (path === POS_PATH_SWIPE ? { status: 200, body, keep_signature: status === 200 ? false : true } : null)],
    ];
    let seq = 10_000;
    for (const [what, tamper] of forgeries) {
      const mitm = await manInTheMiddle(tamper);
      const victim = new Terminal({ hub_url: mitm.url, ...r2, txn_seq_start: (seq += 100) });
      try {
        await expect(victim.tap('FORGE', card), what).rejects.toBeInstanceOf(ForgedAnswerError);
      } finally {
        victim.close();
        await new Promise((resolve) => mitm.server.close(resolve));
      }
      // The card was never sent a MAC2: nothing written.
      expect([card.balance_fen, card.online_serial], what).toEqual([100, 4]);
    }
    // The honest path still loads it (from shop-2, after its own reservation).
    const honest = hub.terminal(r2, (seq += 100));
    const tap = await honest.tap('FORGE', card);
    honest.close();
    expect(tap.committed?.status).toBe('committed');
    expect(card.balance_fen).toBe(3_400);
  });
});

describe('cards that are not what they say', () => {
  it('a card without the school keys (bad MAC1) is refused and recorded; nothing is reserved', async () => {
    const card = foreignCard(asnOf('A2'));
    expect(await refusal(t1.tap('A2', card))).toEqual({ status: 403, code: 'mac1_invalid' });
    expect(card.balance_fen).toBe(0);
    expect(state('A2').credits.map((c) => c.state)).toEqual(['pending']);
    const grey = await greyRecords();
    expect(grey).toContainEqual(expect.objectContaining({ reason: 'mac1_invalid', card_no: 'A2', terminal_id: 'canteen-1' }));
  });

  it('a genuine card presenting another card\'s number cannot take that card\'s money', async () => {
    // OTHER's own, genuine card, swiped as NUM (whose credits it wants).
    const card = hub.card('OTHER');
    expect(await refusal(t1.tap('NUM', card))).toEqual({ status: 403, code: 'asn_mismatch' });
    // And reporting NUM's asn instead of its own: its MAC1 is made with OTHER's keys.
    const { parseInitForLoad, initializeForLoadApdu, LOAD_KEY_INDEX } = await import('../../sim/pos/apdu.ts');
    const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 7_700, card_terminal_id: r1.card_terminal_id })).data);
    const lying = t1.load({ card_no: 'NUM', asn: asnOf('NUM'), amount_fen: 7_700, init, terminal_time: terminalTimeOf(Date.now()) });
    expect(await refusal(lying)).toEqual({ status: 403, code: 'mac1_invalid' });
    expect(card.balance_fen).toBe(0);
    expect(state('NUM').credits.map((c) => c.state)).toEqual(['pending']);
    expect(await greyRecords()).toContainEqual(expect.objectContaining({ reason: 'asn_mismatch', card_no: 'NUM' }));
    // NUM's real card still gets its money.
    const real = hub.card('NUM');
    expect((await t1.tap('NUM', real)).committed?.status).toBe('committed');
    expect(real.balance_fen).toBe(7_700);
  });

  it('a card whose registry entry has no asn is never offered a load', async () => {
    const card = hub.card('NOASN');
    expect((await t1.tap('NOASN', card)).swipe).toEqual({ card_status: 'active', pending_fen: 1_300, offer_fen: 0, settle: null });
  });
});

describe('bounds of the purse', () => {
  it('offers only what fits under the purse limit of the card kind', async () => {
    // Default limit 100,000 fen: 99,000 + 500 fits, + 800 more does not.
    const card = hub.card('PURSE', { balance_fen: 99_000, online_serial: 1 });
    const tap = await t1.tap('PURSE', card);
    expect(tap.swipe).toMatchObject({ pending_fen: 1_300, offer_fen: 500 });
    expect(card.balance_fen).toBe(99_500);
    expect((await t1.tap('PURSE', card)).swipe).toMatchObject({ pending_fen: 800, offer_fen: 0 });
    // Staff cards are configured with 200,000 (HUB_PURSE_LIMITS).
    const staff = hub.card('STAFF', { balance_fen: 40_000, online_serial: 0 });
    expect((await t1.tap('STAFF', staff)).committed?.status).toBe('committed');
    expect(staff.balance_fen).toBe(190_000);
  });

  it('offers nothing to a card whose online serial is at 0xFFFF, and refuses a load at it', async () => {
    const card = hub.card('FULL', { balance_fen: 5, online_serial: 0xffff });
    expect((await t1.tap('FULL', card)).swipe).toEqual({ card_status: 'active', pending_fen: 1_200, offer_fen: 0, settle: null });
    // A (forged) INITIALIZE FOR LOAD answer at 0xFFFF with a valid MAC1: the hub refuses it.
    const seslk = sessionLoadKey(diversifyKey(hub.master().load_mk, asnOf('FULL')), '01020304', 0xffff);
    const mac1 = computeMac1(seslk, { balance_fen: 5, amount_fen: 1_200, transaction_type: LOAD_TRANSACTION_TYPE, card_terminal_id: r1.card_terminal_id });
    const init = { balance_fen: 5, online_serial: 0xffff, key_version: 1, algorithm_id: 0, random: '01020304', mac1 };
    expect(await refusal(t1.load({ card_no: 'FULL', asn: asnOf('FULL'), amount_fen: 1_200, init, terminal_time: terminalTimeOf(Date.now()) }))).toEqual({
      status: 409,
      code: 'serial_exhausted',
    });
    // One below: loads, and the serial after is 0xFFFF.
    const last = hub.card('FULL', { balance_fen: 5, online_serial: 0xfffe });
    const tap = await t1.tap('FULL', last);
    expect(tap.committed).toMatchObject({ online_serial_after: 0xffff });
  });
});

describe('card status', () => {
  it('offers nothing to lost, frozen and unknown cards and says which', async () => {
    const card = hub.card('LOST1', { balance_fen: 10, online_serial: 1 });
    expect((await t1.tap('LOST1', card)).swipe).toEqual({ card_status: 'lost', pending_fen: 900, offer_fen: 0, settle: null });
    expect((await t1.tap('FROZEN1', hub.card('FROZEN1'))).swipe).toMatchObject({ card_status: 'frozen', offer_fen: 0 });
    expect((await t1.tap('NOSUCHCARD', hub.card('NOSUCHCARD'))).swipe).toEqual({ card_status: 'unknown', pending_fen: 0, offer_fen: 0, settle: null });
    expect(card.balance_fen).toBe(10);
    expect(state('LOST1').credits.map((c) => c.state)).toEqual(['pending']);
    // Unknown cards leave no trace for the Worker.
    expect(hub.query("SELECT 1 FROM card_reports WHERE card_no = 'NOSUCHCARD'")).toEqual([]);
  });
});

describe('connections', () => {
  it("keeps one HTTP/1.1 connection alive across a terminal's requests", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const reused: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const body = t1.swipeBody('NOT-A-CARD', { balance_fen: 0, online_serial: 0 });
      const url = new URL(`${hub.url}${POS_PATH_SWIPE}`);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: t1.sign(POS_PATH_SWIPE, body) }, (res) => {
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

async function greyRecords(): Promise<{ reason: string; card_no: string; terminal_id: string | null; claim_id: string | null }[]> {
  const response = await fetch(`${hub.url}/grey-records`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { records: { reason: string; card_no: string; terminal_id: string | null; claim_id: string | null }[] }).records;
}

describe('operations', () => {
  it('serves health and metrics openly; grey records only with the operator token', async () => {
    const health = await hub.health();
    // The Worker of this test is unreachable: loads are served, the health says degraded.
    expect(health).toMatchObject({ status: 'degraded', cards: 12 });
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).toMatch(/^hub_loads_total\{result="reserved"\} \d+$/m);
    expect(metrics).toMatch(/^hub_commits_total\{result="committed_tac"\} \d+$/m);
    expect(metrics).toMatch(/^hub_pos_request_duration_seconds_bucket\{route="load",le="\+Inf"\} \d+$/m);
    expect(metrics).toMatch(/^hub_outbox_depth \d+$/m);
    const anonymous = await raw('/grey-records', { method: 'GET' });
    expect(anonymous).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    const wrong = await raw('/grey-records', { method: 'GET', headers: { authorization: `Bearer ${OPERATOR_TOKEN}x` } });
    expect(wrong.status).toBe(401);
    expect((await greyRecords()).length).toBeGreaterThan(0);
    // No key material anywhere the operator sees.
    const master = hub.master();
    const everything = JSON.stringify(await greyRecords()) + metrics + JSON.stringify(health) + (hub.service?.output() ?? '');
    for (const key of [master.load_mk, master.tac_mk]) expect(everything.toUpperCase()).not.toContain(key.toString('hex').toUpperCase());
  });
});
