// A hostile device on the LAN: hostile values in every field of every route, bodies over the
// limit, and every captured request (swipe, load, commit) replayed as is, replayed at another
// claim, and replayed after 5 minutes. Each is a 4xx, changes nothing, and the hub answers on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POS_BODY_BYTES_MAX, POS_PATH_LOADS, POS_PATH_SWIPE, posCommitPath } from '../../protocol/pos.ts';
import { initializeForLoadApdu, LOAD_KEY_INDEX, parseInitForLoad } from '../../sim/pos/apdu.ts';
import { terminalTimeOf, type SentRequest, type Terminal } from '../../sim/pos/terminal.ts';
import { refusal } from './helpers/refusal.ts';
import { cardChange, creditChange, HubHarness, type RegisteredTerminal } from './helpers/hub.ts';

const hub = new HubHarness({ write_window_ms: 10_000 });
let reg: RegisteredTerminal;
let t: Terminal;

beforeAll(async () => {
  await hub.init();
  reg = await hub.addTerminal('till-1');
  hub.seedChanges([
    cardChange('H1'),
    cardChange('H2'),
    cardChange('R1'),
    cardChange('R2'),
    cardChange('H3'),
    creditChange('H3', 3_000),
    creditChange('H1', 4_000),
    creditChange('H2', 6_000),
    creditChange('R1', 1_500),
    creditChange('R2', 2_500),
  ]);
  await hub.start();
  t = hub.terminal(reg, 0, { keep_sent: true });
});

afterAll(() => hub.cleanup());

/** Everything a request could have changed. */
function snapshot() {
  return {
    claims: hub.query('SELECT claim_id, state, proof_kind FROM claims ORDER BY claim_id'),
    credits: hub.query('SELECT credit_id, state, claim_id FROM credits ORDER BY credit_id'),
    outbox: hub.query('SELECT claim_id FROM outbox ORDER BY seq'),
    cards: hub.query('SELECT card_no, last_online_serial, frozen FROM cards ORDER BY card_no'),
  };
}

const HOSTILE_NUMBERS = [-1, 1.5, 2 ** 32, 2 ** 53 - 1, 2 ** 64, Number.MAX_VALUE, '1', null, true, {}];
const HOSTILE_HEX = ['', 'ABC', '0123456789abcdef', '0123456789ABCDEFF', 'GGGGGGGGGGGGGGGG', '0123456789ABCDE', 12345678, null];

/** The body with `path` (a.b.c) set to `value`, or removed when value is undefined. */
function mutate(body: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  if (value === undefined) delete node[path.at(-1)!];
  else node[path.at(-1)!] = value;
  return copy;
}

describe('hostile values in every field of every route', () => {
  it('each is a 4xx with an error code, signed; the hub answers on and nothing changes', async () => {
    const card = hub.card('H1', { balance_fen: 300, online_serial: 2 });
    const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 4_000, card_terminal_id: reg.card_terminal_id })).data);
    const swipe = { terminal_id: 'till-1', txn_seq: 0, card_no: 'H1', chip: { balance_fen: 300, online_serial: 2 } };
    const load = { terminal_id: 'till-1', txn_seq: 0, card_no: 'H1', asn: card.asn, amount_fen: 4_000, init, terminal_time: terminalTimeOf(Date.now()) };
    const commit = { terminal_id: 'till-1', txn_seq: 0, tac: '01234567', proof: 'tac' };
    const numberFields = {
      swipe: [['txn_seq'], ['chip', 'balance_fen'], ['chip', 'online_serial']],
      load: [['txn_seq'], ['amount_fen'], ['init', 'balance_fen'], ['init', 'online_serial'], ['init', 'key_version'], ['init', 'algorithm_id']],
      commit: [['txn_seq']],
    };
    const hexFields = { swipe: [], load: [['asn'], ['init', 'random'], ['init', 'mac1']], commit: [['tac']] };
    const otherFields: Record<string, [string[], unknown][]> = {
      swipe: [[['card_no'], ''], [['card_no'], 'X'.repeat(33)], [['card_no'], 5], [['terminal_id'], 'till 1'], [['chip'], null], [['chip', 'extra'], 1], [['extra'], 1]],
      load: [
        [['terminal_time'], '20261301120000'],
        [['terminal_time'], '2026120112000'],
        [['terminal_time'], '20261201250000'],
        [['terminal_time'], 20261201120000],
        [['init'], 'x'],
        [['init', 'extra'], 1],
        [['amount_fen'], 0],
        [['init', 'online_serial'], 0x10000],
        [['init', 'balance_fen'], 0xffff_ffff], // each within 4 bytes, their sum is not
      ],
      commit: [[['proof'], 'serial'], [['proof'], 'abort'], [['extra'], 1]],
    };
    const bodies: { path: string; body: Record<string, unknown> }[] = [];
    const routes = { swipe: { path: POS_PATH_SWIPE, body: swipe }, load: { path: POS_PATH_LOADS, body: load }, commit: { path: posCommitPath('clm_0123456789abcdef01234567'), body: commit } };
    for (const [name, { path, body }] of Object.entries(routes) as [keyof typeof routes, { path: string; body: Record<string, unknown> }][]) {
      for (const field of numberFields[name]) {
        for (const value of HOSTILE_NUMBERS) {
          // Any integer up to 2^53-1 is a valid txn_seq (a terminal only spends its own numbers).
          if (field[0] === 'txn_seq' && (value === 2 ** 53 - 1 || value === 2 ** 32)) continue;
          bodies.push({ path, body: mutate(body, field, value) });
        }
      }
      for (const field of hexFields[name]) for (const value of HOSTILE_HEX) bodies.push({ path, body: mutate(body, field, value) });
      for (const [field, value] of otherFields[name]!) bodies.push({ path, body: mutate(body, field, value) });
      for (const key of Object.keys(body)) bodies.push({ path, body: mutate(body, [key], undefined) });
    }
    const before = snapshot();
    let checked = 0;
    for (const { path, body } of bodies) {
      // A fresh txn_seq where the mutation left it alone, so only the mutated field is wrong.
      const sent = typeof body.txn_seq === 'number' && body.txn_seq === 0 ? { ...body, txn_seq: t.nextTxnSeq() } : body;
      // The signature verifies, so the answer is signed (post checks it, or throws ForgedAnswerError).
      const refused = await refusal(t.post(path, JSON.stringify(sent)));
      expect(refused.status, JSON.stringify(sent)).toBeGreaterThanOrEqual(400);
      expect(refused.status, JSON.stringify(sent)).toBeLessThan(500);
      // A commit without `proof` is a valid "tac" commit, of a claim that does not exist.
      expect(['invalid_body', 'amount_out_of_range', 'claim_not_found'], JSON.stringify(sent)).toContain(refused.code);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(100);
    // Over the body limit on every route.
    for (const { path, body } of Object.values(routes)) {
      expect(await refusal(t.post(path, JSON.stringify({ ...body, pad: 'x'.repeat(POS_BODY_BYTES_MAX) })))).toEqual({ status: 413, code: 'payload_too_large' });
    }
    expect((await hub.health()).open_claims).toBe(0);
    expect(snapshot()).toEqual(before);
    // The card still loads normally afterwards: the hub was never stopped.
    const pid = hub.service!.pid;
    const tap = await t.tap('H1', hub.card('H1', { balance_fen: 300, online_serial: 2 }));
    expect(tap.committed).toMatchObject({ balance_after_fen: 4_300 });
    expect(hub.service!.pid).toBe(pid);
  });

  it("v1's fatal swipe (a balance of 2^53-1 for a card with a pending credit) is a 400, and the hub goes on", async () => {
    const body = JSON.stringify({ terminal_id: 'till-1', txn_seq: t.nextTxnSeq(), card_no: 'H2', chip: { balance_fen: 2 ** 53 - 1, online_serial: 0 } });
    expect(await refusal(t.post(POS_PATH_SWIPE, body))).toEqual({ status: 400, code: 'invalid_body' });
    // Within 4 bytes but at the top: nothing fits under the purse limit, nothing breaks.
    expect(await t.swipe('H2', { balance_fen: 0xffff_ffff, online_serial: 0 })).toMatchObject({ pending_fen: 6_000, offer_fen: 0 });
    expect((await hub.health()).status).toBeDefined();
  });
});

describe('captured requests replayed', () => {
  it('swipe, load and commit replayed as is, at another claim, and after 5 minutes: refused, nothing changes', async () => {
    // Another claim to aim at: R2 left open by a terminal that died after MAC2.
    const r2 = await t.tap('R2', hub.card('R2'), 'after_mac2');
    const other_claim = r2.load!.claim_id;
    const card = hub.card('R1');
    t.sent.length = 0;
    const tap = await t.tap('R1', card);
    expect(tap.committed?.status).toBe('committed');
    const captured = [...t.sent] as SentRequest[];
    expect(captured.map((request) => request.path)).toEqual([POS_PATH_SWIPE, POS_PATH_LOADS, posCommitPath(tap.load!.claim_id)]);
    const before = snapshot();

    for (const request of captured) {
      // As is: the txn_seq was used.
      expect(await refusal(t.post(request.path, request.body, request.headers)), request.path).toEqual({ status: 409, code: 'txn_seq_replayed' });
    }
    // The commit aimed at the other open claim: the signature covers the path.
    const commit = captured[2]!;
    expect(await refusal(t.post(posCommitPath(other_claim), commit.body, commit.headers))).toEqual({ status: 401, code: 'signature_invalid' });
    // The load aimed at another card: the signature covers the body.
    const load = captured[1]!;
    expect(await refusal(t.post(POS_PATH_LOADS, load.body.replace('"R1"', '"R2"'), load.headers))).toEqual({ status: 401, code: 'signature_invalid' });
    // After 5 minutes: what the hub sees is a signature more than 5 minutes old.
    const old_ms = Date.now() - 5 * 60_000 - 1_000;
    for (const request of captured) {
      const headers = t.sign(request.path, request.body, old_ms);
      expect(await refusal(t.post(request.path, request.body, headers))).toEqual({ status: 401, code: 'timestamp_out_of_window' });
    }
    expect(snapshot()).toEqual(before);
    expect([card.balance_fen, card.online_serial]).toEqual([1_500, 1]);
    // The other claim is still open; its card settles it when it comes back (same terminal).
    expect(hub.query('SELECT state FROM claims WHERE claim_id = ?', other_claim)).toEqual([{ state: 'open' }]);
  });

  it("one INITIALIZE FOR LOAD answer makes one reservation: sent again, even freshly signed, it gets the same MAC2 or nothing", async () => {
    const card = hub.card('H2', { balance_fen: 0, online_serial: 5 });
    const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 6_000, card_terminal_id: reg.card_terminal_id })).data);
    const terminal_time = terminalTimeOf(Date.now());
    const first = await t.load({ card_no: 'H2', asn: card.asn, amount_fen: 6_000, init, terminal_time });
    // The terminal retries (its answer was lost): the same reservation, the same MAC2.
    expect(await t.load({ card_no: 'H2', asn: card.asn, amount_fen: 6_000, init, terminal_time })).toEqual(first);
    expect(hub.query("SELECT count(*) AS n FROM claims WHERE card_no = 'H2'")).toEqual([{ n: 1 }]);
    // The card writes it; the stale INIT answer sent again cannot release the reservation.
    const { creditForLoadApdu, parseTac } = await import('../../sim/pos/apdu.ts');
    const { tac } = parseTac(card.transmit(creditForLoadApdu({ terminal_time, mac2: first.mac2 })).data);
    expect(await t.commit(first.claim_id, tac)).toMatchObject({ status: 'committed' });
    expect(await refusal(t.load({ card_no: 'H2', asn: card.asn, amount_fen: 6_000, init, terminal_time }))).toEqual({ status: 409, code: 'replayed' });
    expect(card.balance_fen).toBe(6_000);
    expect(hub.query<{ state: string }>("SELECT state FROM credits WHERE card_no = 'H2'")).toEqual([{ state: 'claimed' }]);
  });

  it('a stale INITIALIZE FOR LOAD answer cannot release a later reservation the card has written', async () => {
    const { creditForLoadApdu, parseTac } = await import('../../sim/pos/apdu.ts');
    const card = hub.card('H3', { balance_fen: 0, online_serial: 2 });
    const initOf = () => parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 3_000, card_terminal_id: reg.card_terminal_id })).data);
    const terminal_time = terminalTimeOf(Date.now());
    const stale = initOf();
    await t.load({ card_no: 'H3', asn: card.asn, amount_fen: 3_000, init: stale, terminal_time });
    // A fresh INITIALIZE FOR LOAD at the same terminal: its load releases the first reservation.
    const fresh = initOf();
    const second = await t.load({ card_no: 'H3', asn: card.asn, amount_fen: 3_000, init: fresh, terminal_time });
    const { tac } = parseTac(card.transmit(creditForLoadApdu({ terminal_time, mac2: second.mac2 })).data);
    expect(card.balance_fen).toBe(3_000);
    // The stale answer again (say, held back by a faulty terminal): refused, and the written
    // reservation stays open for its TAC.
    expect(await refusal(t.load({ card_no: 'H3', asn: card.asn, amount_fen: 3_000, init: stale, terminal_time }))).toEqual({ status: 409, code: 'replayed' });
    expect(hub.query('SELECT state FROM claims WHERE claim_id = ?', second.claim_id)).toEqual([{ state: 'open' }]);
    expect(await t.commit(second.claim_id, tac)).toMatchObject({ status: 'committed' });
    expect((await t.swipe('H3', { balance_fen: card.balance_fen, online_serial: card.online_serial })).offer_fen).toBe(0);
    expect([card.balance_fen, card.online_serial]).toEqual([3_000, 3]);
  });
});
