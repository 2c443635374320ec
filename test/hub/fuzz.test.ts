// Every route of a real hub process fed generated input (fast-check): swipe, load and commit
// bodies shaped like the real ones with fields mutated, signed as the registered terminal so
// the handler itself is reached (loads often carry a genuine INITIALIZE FOR LOAD answer of a
// simulated card, so MAC1 verifies and the ledger decides); spoiled signatures and headers; and
// the ops routes with any method, path and credentials. Properties: no answer is 5xx, every
// refusal carries {error:{code,message}}, every answer to an authenticated request is signed,
// the process stays up, a refusal leaves the store as it was (read from the SQLite file), and a
// valid load still works at the end. Replay a failure with YIKATONG_TEST_SEED=<seed>.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../protocol/errors.ts';
import {
  HUB_ANSWER_HEADER_SIGNATURE,
  hubAnswerSigningString,
  POS_BODY_BYTES_MAX,
  POS_PATH_LOADS,
  POS_PATH_SWIPE,
  posCommitPath,
  TERMINAL_HEADER_ID,
  TERMINAL_HEADER_SIGNATURE,
  TERMINAL_HEADER_TIMESTAMP,
  terminalSigningString,
} from '../../protocol/pos.ts';
import { creditForLoadApdu, initializeForLoadApdu, LOAD_KEY_INDEX, parseInitForLoad, parseTac } from '../../sim/pos/apdu.ts';
import type { PurseCard } from '../../sim/pos/card.ts';
import { CardStatusError, HubRequestError, terminalTimeOf, type Terminal } from '../../sim/pos/terminal.ts';
import { anyJsonValue, anyString, contentType, headerSafeString, mutatedObject, NASTY_NUMBERS, type Json } from '../helpers/fuzz.ts';
import { TEST_SEED_ENV } from '../helpers/random.ts';
import { resolveTestSeed } from '../helpers/test-seed.ts';
import { asnOf, cardChange, creditChange, HubHarness, type RegisteredTerminal } from './helpers/hub.ts';

const SEED = resolveTestSeed('hub fuzz', process.env[TEST_SEED_ENV]);
// YIKATONG_FUZZ_RUNS=1000 for a deeper run on a quiet machine: that many cases per route.
const RUNS_CONFIGURED = /^[1-9][0-9]{0,5}$/.test(process.env.YIKATONG_FUZZ_RUNS ?? '') ? Number(process.env.YIKATONG_FUZZ_RUNS) : null;
const DEEP_TIMEOUT_MS = 60 * 60_000;
const OPERATOR_TOKEN = 'fuzz-operator-token-0123456789';
const REQUEST_TIMEOUT_MS = 10_000;
// Cards with pending credits (amounts as seeded), one lost, one unknown to the hub.
const CREDITS: Record<string, number> = { Z1: 3_000, Z2: 4_500, Z3: 1_000, Z4: 2_500 };
const CARDS = [...Object.keys(CREDITS), 'ZLOST', 'ZNONE'];
// Untouched by the fuzz cases: the valid load at the end.
const FINAL_CARD = 'ZFINAL';

const hub = new HubHarness({ write_window_ms: 10_000, operator_token: OPERATOR_TOKEN });
let reg: RegisteredTerminal;
let other: RegisteredTerminal;
let t: Terminal;
let t2: Terminal;
let pid = 0;
/** A reservation whose card has written it: its TAC (and only its TAC) commits it. */
let open_claim: { claim_id: string; tac: string };

interface Answer {
  status: number;
  text: string;
  hub_signature: string | undefined;
}

function send(path: string, init: { method: string; headers: Record<string, string>; body?: string | Buffer }): Promise<Answer> {
  const url = new URL(hub.url);
  // Framed explicitly: node:http sends a GET's or DELETE's body unframed, which is a broken
  // request of ours, not a hostile one the hub should be judged by.
  const headers = init.body === undefined ? init.headers : { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: init.method, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const signature = res.headers[HUB_ANSWER_HEADER_SIGNATURE.toLowerCase()];
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), hub_signature: Array.isArray(signature) ? undefined : signature });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`hub did not answer ${init.method} ${path} within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Per card: what a refusal must not move (claims, credits, outbox, serial record, frozen). */
function fingerprint(): Map<string, string> {
  const out = new Map<string, string>();
  const add = (card_no: string, row: unknown) => out.set(card_no, `${out.get(card_no) ?? ''}${JSON.stringify(row)}`);
  for (const row of hub.query<{ card_no: string }>('SELECT card_no, claim_id, state, proof_kind FROM claims ORDER BY claim_id')) add(row.card_no, row);
  for (const row of hub.query<{ card_no: string }>('SELECT card_no, credit_id, state, claim_id FROM credits ORDER BY credit_id')) add(row.card_no, row);
  for (const row of hub.query<{ card_no: string }>('SELECT card_no, last_online_serial, frozen, status FROM cards ORDER BY card_no')) add(row.card_no, row);
  for (const row of hub.query<{ card_no: string }>('SELECT c.card_no, o.seq, o.claim_id FROM outbox o JOIN claims c USING (claim_id) ORDER BY o.seq')) add(row.card_no, row);
  out.set('(outbox)', JSON.stringify(hub.query('SELECT count(*) AS n FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM claims c WHERE c.claim_id = o.claim_id)')));
  return out;
}

/** The cards whose rows differ. */
function changedCards(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...new Set([...before.keys(), ...after.keys()])].filter((key) => before.get(key) !== after.get(key)).sort();
}

/** Placeholders in a generated body, filled at send time with values only known then. */
const FRESH_TXN_SEQ = '$txn_seq';
const REAL_INIT = { balance_fen: '$balance_fen', online_serial: '$online_serial', key_version: '$key_version', algorithm_id: '$algorithm_id', random: '$random', mac1: '$mac1' };

function fill(value: unknown, values: Record<string, unknown>): unknown {
  if (typeof value === 'string' && Object.hasOwn(values, value)) return values[value];
  if (Array.isArray(value)) return value.map((item) => fill(item, values));
  if (typeof value === 'object' && value !== null) {
    const out: Json = {};
    for (const [key, item] of Object.entries(value)) Object.defineProperty(out, key, { value: fill(item, values), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

type Spoil = null | 'unsigned' | 'wrong_key' | 'stale' | 'other_terminal' | 'garbled' | 'oversized';

interface PosCase {
  path: string;
  template: Json | string;
  content_type: string | null;
  spoil: Spoil;
  /** For loads: the card whose INITIALIZE FOR LOAD answer fills the template. */
  card?: { card_no: string; keys_of: string; balance_fen: number; online_serial: number; amount_fen: number };
}

const spoil: fc.Arbitrary<Spoil> = fc.oneof(
  { weight: 14, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom<Spoil>('unsigned', 'wrong_key', 'stale', 'other_terminal', 'garbled', 'oversized') },
);
const posType = contentType(['application/json', 'application/json; charset=utf-8']);
const cardNoNear = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...CARDS) }, { weight: 1, arbitrary: anyString });
const u32Near = fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(0xffff_ffff, 0xffff_fffe), anyJsonValue);
const serialNear = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constantFrom(0xfffe, 0xffff, 0x10000), anyJsonValue);
const hexNear = (digits: number) => fc.oneof(fc.stringMatching(new RegExp(`^[0-9A-F]{${digits}}$`)), fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${digits - 1},${digits + 1}}$`)), anyJsonValue);
// A valid txn_seq far ahead is the terminal's own word and would lock it out for the rest of
// the run (a terminal only spends its own numbers): ahead by a little, replayed, or invalid.
const STALE_TXN_SEQ = '$txn_seq_stale';
const AHEAD_TXN_SEQ = '$txn_seq_ahead';
const notTxnSeq = (value: unknown) => !(typeof value === 'number' && Number.isSafeInteger(value) && value > 0);
const txnSeqNear = fc.oneof(
  { weight: 10, arbitrary: fc.constant(FRESH_TXN_SEQ) },
  { weight: 1, arbitrary: fc.constantFrom(STALE_TXN_SEQ, AHEAD_TXN_SEQ) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom(...NASTY_NUMBERS), anyJsonValue).filter(notTxnSeq) },
);
const terminalIdNear = fc.oneof({ weight: 10, arbitrary: fc.constant('till-1') }, { weight: 1, arbitrary: fc.constantFrom('till-2', 'till 1', '', 'x'.repeat(33)) }, { weight: 1, arbitrary: anyJsonValue });

/** The request as the terminal would send it (a third of the cases: the card's data decides), or mutated. */
function nearly(valid: Json, fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Json> {
  return fc.oneof({ weight: 1, arbitrary: fc.constant(valid) }, { weight: 2, arbitrary: mutatedObject(valid, fields) });
}

const swipeCase: fc.Arbitrary<PosCase> = fc
  .record({
    template: mutatedObject(
      { terminal_id: 'till-1', txn_seq: FRESH_TXN_SEQ, card_no: 'Z1', chip: { balance_fen: 0, online_serial: 0 } },
      { terminal_id: terminalIdNear, txn_seq: txnSeqNear, card_no: cardNoNear, balance_fen: u32Near, online_serial: serialNear },
    ),
    content_type: posType,
    spoil,
  })
  .map(({ template, content_type, spoil: s }) => ({ path: POS_PATH_SWIPE, template, content_type, spoil: s }));

const loadCase: fc.Arbitrary<PosCase> = fc
  .record({
    card_no: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...CARDS) }, { weight: 1, arbitrary: anyString.filter((s) => s.length > 0 && s.length <= 32) }),
    // Whose keys the card holds: its own (genuine), or another card's (a clone presenting the number).
    foreign_keys: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...CARDS) }),
    balance_fen: fc.oneof(fc.constantFrom(0, 300, 99_000), fc.integer({ min: 0, max: 0xffff_ffff })),
    online_serial: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(0xfffe, 0xffff)),
    amount_fen: fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 200_000 }) }),
    template: nearly(
      { terminal_id: 'till-1', txn_seq: FRESH_TXN_SEQ, card_no: '$card_no', asn: '$asn', amount_fen: '$amount_fen', init: REAL_INIT, terminal_time: '$terminal_time' },
      {
        terminal_id: terminalIdNear,
        txn_seq: txnSeqNear,
        card_no: cardNoNear,
        asn: hexNear(16),
        amount_fen: u32Near,
        balance_fen: u32Near,
        online_serial: serialNear,
        key_version: fc.oneof(fc.integer({ min: 0, max: 256 }), anyJsonValue),
        algorithm_id: fc.oneof(fc.integer({ min: 0, max: 256 }), anyJsonValue),
        random: hexNear(8),
        mac1: hexNear(8),
        terminal_time: fc.oneof(fc.constantFrom('20261301120000', '20260230120000', '20261201250000', '2026120112000', '99991231235959'), anyJsonValue),
      },
    ),
    content_type: posType,
    spoil,
  })
  .map(({ card_no, foreign_keys, balance_fen, online_serial, amount_fen, template, content_type, spoil: s }) => ({
    path: POS_PATH_LOADS,
    template,
    content_type,
    spoil: s,
    card: { card_no, keys_of: foreign_keys ?? card_no, balance_fen, online_serial, amount_fen: amount_fen === -1 ? CREDITS[card_no] ?? 1_000 : amount_fen },
  }));

const commitCase: fc.Arbitrary<PosCase> = fc
  .record({
    claim: fc.oneof(
      { weight: 4, arbitrary: fc.constant('$open') },
      { weight: 2, arbitrary: fc.stringMatching(/^clm_[0-9a-f]{24}$/) },
      { weight: 1, arbitrary: fc.constantFrom('clm_', 'clm_XYZ', '../swipe', '%2e%2e', 'clm_0123456789abcdef0123456g', `clm_${'0'.repeat(500)}`) },
    ),
    template: mutatedObject(
      { terminal_id: 'till-1', txn_seq: FRESH_TXN_SEQ, tac: '$tac', proof: 'tac' },
      { terminal_id: terminalIdNear, txn_seq: txnSeqNear, tac: hexNear(8), proof: fc.constantFrom('tac', 'prove', 'serial', 'abort', '') },
    ),
    content_type: posType,
    spoil,
  })
  .map(({ claim, template, content_type, spoil: s }) => ({ path: `/pos/v2/loads/${claim}/commit`, template, content_type, spoil: s }));

/** Other bodies on the POS routes: not JSON, JSON of another shape, cut off, not UTF-8. */
const rawPosCase: fc.Arbitrary<PosCase> = fc
  .record({
    path: fc.constantFrom(POS_PATH_SWIPE, POS_PATH_LOADS, '$commit', '/pos/v1/swipe', '/pos/v2/', '/pos/v2/loads/', '/pos/v2/swipe/', '/pos/v2/SWIPE'),
    body: fc.oneof(fc.json({ maxDepth: 3 }), anyString, fc.constantFrom('', '{', '[]', 'null', '{"terminal_id":"till-1"}', '['.repeat(3_000))),
    content_type: posType,
    spoil,
  })
  .map(({ path, body, content_type, spoil: s }) => ({ path, template: body, content_type, spoil: s }));

/** The body a case stands for, with its placeholders filled (INITIALIZE FOR LOAD run on a real card). */
function bodyOf(c: PosCase): string {
  const values: Record<string, unknown> = {
    [FRESH_TXN_SEQ]: t.nextTxnSeq(),
    [STALE_TXN_SEQ]: t.txn_seq - 1,
    [AHEAD_TXN_SEQ]: t.txn_seq + 1_000,
    '$tac': open_claim.tac,
    '$terminal_time': terminalTimeOf(Date.now()),
  };
  if (c.card !== undefined) {
    const card = hub.card(c.card.keys_of, { balance_fen: c.card.balance_fen, online_serial: c.card.online_serial }, asnOf(c.card.keys_of));
    const answer = card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: Math.min(c.card.amount_fen, 0xffff_ffff), card_terminal_id: reg.card_terminal_id }));
    if (answer.sw === 0x9000) {
      const init = parseInitForLoad(answer.data);
      Object.assign(values, { '$balance_fen': init.balance_fen, '$online_serial': init.online_serial, '$key_version': init.key_version, '$algorithm_id': init.algorithm_id, '$random': init.random, '$mac1': init.mac1 });
    } else {
      // The card refused INITIALIZE FOR LOAD (a load past its purse): the terminal makes the rest up.
      Object.assign(values, { '$balance_fen': c.card.balance_fen, '$online_serial': c.card.online_serial, '$key_version': 1, '$algorithm_id': 0, '$random': '00000000', '$mac1': '00000000' });
    }
    Object.assign(values, { '$card_no': c.card.card_no, '$asn': card.asn, '$amount_fen': c.card.amount_fen });
  }
  if (typeof c.template === 'string') return c.template;
  const body = fill(c.template, values) as Json;
  // A valid txn_seq far ahead (a generic mutation may draw one) would lock the terminal out
  // for the rest of the run: it becomes one a little ahead.
  if (!notTxnSeq(body.txn_seq) && (body.txn_seq as number) > t.txn_seq + 1_000) body.txn_seq = t.txn_seq + 1_000;
  return JSON.stringify(body);
}

function headersOf(c: PosCase, path: string, body: string): Record<string, string> {
  const signed = t.sign(path, body);
  const headers: Record<string, string> = { ...signed };
  delete headers['content-type'];
  if (c.content_type !== null) headers['content-type'] = c.content_type;
  switch (c.spoil) {
    case 'unsigned':
      delete headers[TERMINAL_HEADER_SIGNATURE];
      break;
    case 'wrong_key':
      headers[TERMINAL_HEADER_SIGNATURE] = createHmac('sha256', Buffer.alloc(32, 7)).update(body).digest('hex');
      break;
    case 'stale':
      Object.assign(headers, { ...t.sign(path, body, Date.now() - 6 * 60_000), 'content-type': headers['content-type'] ?? 'application/json' });
      break;
    case 'other_terminal':
      // Signed with till-2's key while the body names till-1: the hub must refuse the mismatch.
      headers[TERMINAL_HEADER_ID] = other.terminal_id;
      headers[TERMINAL_HEADER_SIGNATURE] = createHmac('sha256', Buffer.from(other.key_hex, 'hex')).update(terminalSigningString('POST', path, headers[TERMINAL_HEADER_TIMESTAMP]!, body)).digest('hex');
      break;
    case 'garbled':
      headers[TERMINAL_HEADER_TIMESTAMP] = 'soon';
      headers[TERMINAL_HEADER_ID] = 'till-1\u0000'.replace('\u0000', '%00');
      break;
    default:
      break;
  }
  return headers;
}

/** Status, error shape and answer signature of one answer, as a terminal (or operator) would check them. */
function checkAnswer(answer: Answer, what: string, request_signature: string | null, key_hex: string | null): { code: string | null } {
  expect(answer.status, what).toBeGreaterThanOrEqual(200);
  expect(answer.status, what).toBeLessThan(500);
  if (request_signature !== null && key_hex !== null && answer.hub_signature !== undefined) {
    const expected = createHmac('sha256', Buffer.from(key_hex, 'hex')).update(hubAnswerSigningString(request_signature.toLowerCase(), answer.status, answer.text)).digest();
    const given = Buffer.from(/^[0-9a-f]{64}$/.test(answer.hub_signature) ? answer.hub_signature : '', 'hex');
    expect(given.length === expected.length && timingSafeEqual(given, expected), `${what}: answer signature`).toBe(true);
  }
  if (answer.status < 400) return { code: null };
  const parsed = JSON.parse(answer.text) as { error?: { code?: unknown; message?: unknown } };
  expect(ERROR_CODES as readonly unknown[], what).toContain(parsed.error?.code);
  expect(typeof parsed.error?.message, what).toBe('string');
  return { code: String(parsed.error?.code) };
}

function expectAlive(what: string): void {
  expect(hub.service?.pid, what).toBe(pid);
  expect(hub.service?.child.exitCode ?? null, what).toBeNull();
}

const statuses = new Map<string, Map<number, number>>();
function count(route: string, status: number): void {
  const m = statuses.get(route) ?? new Map<number, number>();
  m.set(status, (m.get(status) ?? 0) + 1);
  statuses.set(route, m);
}

async function runPosCase(route: string, c: PosCase): Promise<void> {
  const path = c.path === '$commit' || c.path.includes('$open') ? posCommitPath(open_claim.claim_id) : c.path;
  let body = bodyOf(c);
  if (c.spoil === 'oversized') body = `${body}${' '.repeat(POS_BODY_BYTES_MAX)}`;
  const headers = headersOf(c, path, body);
  const what = `${route} ${path} [${c.content_type} spoil=${c.spoil}${c.card ? ` card=${JSON.stringify(c.card)}` : ''}] ${body.slice(0, 400)}`;
  const before = fingerprint();
  const answer = await send(path, { method: 'POST', headers, body });
  // A number the hub took moves the terminal on, as a real terminal's counter would have.
  const sent_seq = (() => {
    try {
      return (JSON.parse(body) as { txn_seq?: unknown }).txn_seq;
    } catch {
      return undefined;
    }
  })();
  if (typeof sent_seq === 'number' && Number.isSafeInteger(sent_seq) && sent_seq > t.txn_seq) t.txn_seq = sent_seq;
  count(route, answer.status);
  const key_hex = headers[TERMINAL_HEADER_ID] === other.terminal_id ? other.key_hex : reg.key_hex;
  const { code } = checkAnswer(answer, `${what}\n→ ${answer.status} ${answer.text.slice(0, 300)}`, headers[TERMINAL_HEADER_SIGNATURE] ?? null, key_hex);
  // A 200 to a correctly signed request must be signed: it is what a terminal acts on.
  if (answer.status === 200) expect(answer.hub_signature, what).toBeDefined();
  expectAlive(what);
  if (code === null) return;
  const changed = changedCards(before, fingerprint());
  // A refusal changes nothing, with one exception DESIGN section 6 makes: a load carrying the
  // card's own MAC1-verified serial settles that card's earlier reservation (or freezes the
  // card when the serial is ahead of the record), even if this load itself is then refused.
  const may_change = c.card !== undefined && c.card.keys_of === c.card.card_no && ['offer_changed', 'card_frozen', 'card_busy', 'claim_conflict', 'card_not_active', 'serial_exhausted', 'amount_out_of_range', 'replayed'].includes(code) ? [c.card.card_no] : [];
  expect(changed.filter((card_no) => !may_change.includes(card_no)), `${what}\n→ ${answer.status} ${answer.text.slice(0, 300)}`).toEqual([]);
}

/** What the store must hold whatever was sent: each held credit has its claim, each claim its credits' sum. */
function expectStoreConsistent(what: string): void {
  const broken = hub.query(
    `SELECT 'credit without its claim' AS what, cr.credit_id AS id FROM credits cr LEFT JOIN claims cl ON cl.claim_id = cr.claim_id
       WHERE cr.state IN ('reserved', 'claimed') AND (cl.claim_id IS NULL OR (cr.state = 'reserved') <> (cl.state = 'open'))
     UNION ALL
     SELECT 'claim amount is not its credits', cl.claim_id FROM claims cl
       WHERE cl.state <> 'released' AND cl.amount_fen <> (SELECT coalesce(sum(amount_fen), 0) FROM credits WHERE claim_id = cl.claim_id)
     UNION ALL
     SELECT 'committed claim not in the outbox', cl.claim_id FROM claims cl
       WHERE cl.state = 'committed' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.claim_id = cl.claim_id)`,
  );
  expect(broken, what).toEqual([]);
}

// The burst's own cards, each one chip for the whole run: its serial moves only when it writes.
const BURST_CREDITS: Record<string, number[]> = { B1: [1_500, 500], B2: [2_500], B3: [3_500, 700, 300] };
const burst_cards = new Map<string, PurseCard>();

interface BurstItem {
  second_terminal: boolean;
  kind: 'swipe' | 'load' | 'commit' | 'tap';
  card_no: string;
  /** Amount asked by a bare load: the first credit, all of them, or one that matches nothing. */
  amount: 'first' | 'all' | 'odd';
}

const burstItem: fc.Arbitrary<BurstItem> = fc.record({
  second_terminal: fc.boolean(),
  kind: fc.constantFrom<BurstItem['kind']>('swipe', 'load', 'load', 'commit', 'tap', 'tap'),
  card_no: fc.constantFrom(...Object.keys(BURST_CREDITS)),
  amount: fc.constantFrom<BurstItem['amount']>('first', 'all', 'odd'),
});

type BurstResult = { status: number; what: string; answer?: Answer; headers?: Record<string, string>; key_hex?: string };

/** Genuine requests (real INITIALIZE FOR LOAD answers, the real TAC, whole taps) from both terminals at once. */
async function sendBurst(items: BurstItem[]): Promise<void> {
  const sends = items.map(async (item): Promise<BurstResult> => {
    const term = item.second_terminal ? t2 : t;
    const card = burst_cards.get(item.card_no)!;
    if (item.kind === 'tap') {
      try {
        const tap = await term.tap(item.card_no, card);
        return { status: 200, what: `tap ${item.card_no}: ${JSON.stringify(tap.committed ?? tap.swipe)}` };
      } catch (error) {
        // A refusal is an answer; a card refusing a MAC2 its newer session does not match is
        // the card's business. Anything else (a forged or missing answer) fails below.
        if (error instanceof HubRequestError) return { status: error.status, what: `tap ${item.card_no}: ${error.message}` };
        if (error instanceof CardStatusError) return { status: 0, what: `tap ${item.card_no}: ${error.message}` };
        throw error;
      }
    }
    const card_terminal_id = item.second_terminal ? other.card_terminal_id : reg.card_terminal_id;
    let path: string;
    let body: Json;
    if (item.kind === 'swipe') {
      path = POS_PATH_SWIPE;
      body = { terminal_id: term.terminal_id, txn_seq: term.nextTxnSeq(), card_no: item.card_no, chip: { balance_fen: card.balance_fen, online_serial: card.online_serial } };
    } else if (item.kind === 'load') {
      const credits = BURST_CREDITS[item.card_no]!;
      const amount_fen = item.amount === 'first' ? credits[0]! : item.amount === 'all' ? credits.reduce((a, b) => a + b, 0) : 123;
      const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen, card_terminal_id })).data);
      path = POS_PATH_LOADS;
      body = { terminal_id: term.terminal_id, txn_seq: term.nextTxnSeq(), card_no: item.card_no, asn: card.asn, amount_fen, init, terminal_time: terminalTimeOf(Date.now()) };
    } else {
      path = posCommitPath(open_claim.claim_id);
      body = { terminal_id: term.terminal_id, txn_seq: term.nextTxnSeq(), tac: open_claim.tac, proof: 'tac' };
    }
    const text = JSON.stringify(body);
    const headers = term.sign(path, text);
    const answer = await send(path, { method: 'POST', headers, body: text });
    return { status: answer.status, what: `${path} ${text}`, answer, headers, key_hex: item.second_terminal ? other.key_hex : reg.key_hex };
  });
  for (const result of await Promise.all(sends)) {
    count('burst', result.status);
    if (result.answer === undefined) {
      expect(result.status, result.what).toBeLessThan(500);
      continue;
    }
    checkAnswer(result.answer, `${result.what}\n→ ${result.status} ${result.answer.text.slice(0, 300)}`, result.headers![TERMINAL_HEADER_SIGNATURE] ?? null, result.key_hex!);
  }
  expectAlive(`after a burst of ${items.length}`);
}

const opsCase = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
  path: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('/healthz', '/metrics', '/grey-records') },
    fc.constantFrom('/healthz', '/metrics', '/grey-records', '/grey-records?limit=-1', '/healthz?x=%zz', '/', '//healthz', '/pos/v2/swipe', '/pos/v2/loads/clm_0/commit', '/pos', '/pos/', '/%', '/%00', '/grey-records/'),
    headerSafeString(40).map((text) => `/${text.replace(/[#?\s]/g, '')}`),
  ),
  authorization: fc.oneof(fc.constant(null), fc.constantFrom(`Bearer ${OPERATOR_TOKEN}`, 'Bearer wrong', `bearer ${OPERATOR_TOKEN}`, 'Bearer ', `Bearer ${OPERATOR_TOKEN} `), headerSafeString(80)),
  body: fc.option(fc.string({ maxLength: 200 }), { freq: 3 }),
});

beforeAll(async () => {
  await hub.init();
  reg = await hub.addTerminal('till-1');
  other = await hub.addTerminal('till-2');
  hub.seedChanges([
    ...CARDS.filter((card_no) => card_no !== 'ZNONE' && card_no !== 'ZLOST').map((card_no) => cardChange(card_no)),
    cardChange('ZLOST', 'lost'),
    cardChange(FINAL_CARD),
    cardChange('ZOPEN'),
    ...Object.entries(CREDITS).map(([card_no, amount_fen]) => creditChange(card_no, amount_fen)),
    creditChange('ZLOST', 1_000),
    creditChange(FINAL_CARD, 2_000),
    creditChange('ZOPEN', 1_200),
    ...Object.keys(BURST_CREDITS).map((card_no) => cardChange(card_no)),
    ...Object.entries(BURST_CREDITS).flatMap(([card_no, amounts]) => amounts.map((amount_fen) => creditChange(card_no, amount_fen))),
  ]);
  for (const card_no of Object.keys(BURST_CREDITS)) burst_cards.set(card_no, hub.card(card_no));
  await hub.start();
  pid = hub.service!.pid;
  t = hub.terminal(reg);
  t2 = hub.terminal(other);
  // ZOPEN's reservation: the card wrote it and answered its TAC, the commit was never sent.
  const card = hub.card('ZOPEN');
  const swipe = await t.swipe('ZOPEN', { balance_fen: 0, online_serial: 0 });
  const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: swipe.offer_fen, card_terminal_id: reg.card_terminal_id })).data);
  const terminal_time = terminalTimeOf(Date.now());
  const load = await t.load({ card_no: 'ZOPEN', asn: card.asn, amount_fen: swipe.offer_fen, init, terminal_time });
  const { tac } = parseTac(card.transmit(creditForLoadApdu({ terminal_time, mac2: load.mac2 })).data);
  open_claim = { claim_id: load.claim_id, tac };
}, 120_000);

afterAll(() => hub.cleanup());

describe('generated input on every hub route', () => {
  it.each([
    ['swipe', swipeCase, 60],
    ['load', loadCase, 100],
    ['commit', commitCase, 50],
    ['raw', rawPosCase, 40],
  ] as const)('POS %s: never 5xx, refusals carry a code, are signed and change nothing', async (route, arbitrary, numRuns) => {
    await fc.assert(
      fc.asyncProperty(arbitrary, (c) => runPosCase(route, c)),
      { seed: SEED, numRuns: RUNS_CONFIGURED ?? numRuns, endOnFailure: true },
    );
    console.log(`[hub fuzz] ${route}: ${JSON.stringify(Object.fromEntries([...(statuses.get(route) ?? [])].sort(([a], [b]) => a - b)))}`);
    // The handler was reached: answers other than the guards' refusals came back.
    expect([...(statuses.get(route)?.keys() ?? [])].some((status) => status !== 401 && status !== 415 && status !== 413)).toBe(true);
  }, RUNS_CONFIGURED === null ? undefined : DEEP_TIMEOUT_MS);

  it('ops routes: any method, path and credentials; never 5xx, grey records only to the operator', async () => {
    await fc.assert(
      fc.asyncProperty(opsCase, async ({ method, path, authorization, body }) => {
        const headers: Record<string, string> = {};
        if (authorization !== null) headers.authorization = authorization;
        if (body !== null) headers['content-type'] = 'text/plain';
        const answer = await send(path, { method, headers, ...(body === null ? {} : { body }) });
        const what = `${method} ${path} auth=${authorization} → ${answer.status} ${answer.text.slice(0, 200)}`;
        count('ops', answer.status);
        if (path === '/metrics' && method === 'GET') {
          expect(answer.status, what).toBe(200);
        } else {
          checkAnswer(answer, what, null, null);
        }
        if (path.startsWith('/grey-records') && answer.status === 200) {
          expect(path === '/grey-records' || path.startsWith('/grey-records?'), what).toBe(true);
          // HTTP strips the blanks around a header value, so only those may differ.
          expect(authorization?.trim(), what).toBe(`Bearer ${OPERATOR_TOKEN}`);
        }
        expectAlive(what);
      }),
      { seed: SEED, numRuns: RUNS_CONFIGURED ?? 60, endOnFailure: true },
    );
    console.log(`[hub fuzz] ops: ${JSON.stringify(Object.fromEntries([...(statuses.get('ops') ?? [])].sort(([a], [b]) => a - b)))}`);
    expect(statuses.get('ops')?.get(200)).toBeGreaterThan(0);
  }, RUNS_CONFIGURED === null ? undefined : DEEP_TIMEOUT_MS);

  it('bursts of genuine swipes, loads and commits from two terminals at once: never 5xx, the store stays consistent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(burstItem, { minLength: 2, maxLength: 8 }), async (items) => {
        await sendBurst(items);
        expectStoreConsistent(JSON.stringify(items));
      }),
      { seed: SEED, numRuns: RUNS_CONFIGURED ?? 25, endOnFailure: true },
    );
    console.log(`[hub fuzz] burst: ${JSON.stringify(Object.fromEntries([...(statuses.get('burst') ?? [])].sort(([a], [b]) => a - b)))}`);
    expect(statuses.get('burst')?.get(200)).toBeGreaterThan(0);
  }, RUNS_CONFIGURED === null ? undefined : DEEP_TIMEOUT_MS);

  it('afterwards the hub is the same process, healthy, and a valid load still works', async () => {
    expectStoreConsistent('after the fuzz');
    expectAlive('after the fuzz');
    expect((await hub.health()).status).toBeDefined();
    const tap = await t.tap(FINAL_CARD, hub.card(FINAL_CARD, { balance_fen: 500, online_serial: 3 }));
    expect(tap.committed).toMatchObject({ status: 'committed', balance_after_fen: 2_500 });
    expect(hub.query<{ state: string }>('SELECT state FROM credits WHERE card_no = ?', FINAL_CARD)).toEqual([{ state: 'claimed' }]);
    expectAlive('after the final load');
  });
});
