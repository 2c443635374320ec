// The load generator of `npm run bench:hub`, run as its own process so it does not share an
// event loop with the server it measures. Each connection is one terminal (its own key,
// card_terminal_id and txn_seq) sending one request at a time over HTTP/1.1 keep-alive; a tap
// is the POS v2 three-request tap with a simulated PBOC card: swipe, then, when a load is
// offered, INITIALIZE FOR LOAD → load (MAC2) → CREDIT FOR LOAD → commit (TAC).
//
//   open loop  (--rate R): taps are scheduled R per second; swipe and whole-tap latencies are
//              measured from the scheduled time, so a stall counts for every tap it delayed;
//              load and commit latencies from their own send.
//   closed loop (no --rate): every terminal taps as fast as it can: saturation throughput.
// `--swipe-only`: taps stop after the swipe (read-only swipe saturation).
// `--bare`: the yardstick server does no cryptography, so the card is not written and the
// commit carries a dummy TAC (the same requests, the same bytes on the wire).
// Prints one JSON line with the results.
import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { POS_PATH_LOADS, POS_PATH_SWIPE, posCommitPath, terminalSigningString } from '../protocol/pos.ts';
import { creditForLoadApdu, initializeForLoadApdu, LOAD_KEY_INDEX, parseInitForLoad, parseTac, SW_OK } from '../sim/pos/apdu.ts';
import type { PurseCard } from '../sim/pos/card.ts';
import { personaliseCard } from '../sim/pos/personalise.ts';
import { terminalTimeOf } from '../sim/pos/terminal.ts';
import { benchAsn } from './cards.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    terminals: { type: 'string' },
    master: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    cards: { type: 'string', default: '200000' },
    'warmup-seconds': { type: 'string', default: '1' },
    bare: { type: 'boolean', default: false },
    'swipe-only': { type: 'boolean', default: false },
  },
});
const url = new URL(values.url!);
const terminals = JSON.parse(values.terminals!) as { terminal_id: string; key_hex: string; card_terminal_id: string }[];
const master_json = JSON.parse(values.master!) as { key_version: number; load_mk: string; tac_mk: string };
const master = { key_version: master_json.key_version, load_mk: Buffer.from(master_json.load_mk, 'hex'), tac_mk: Buffer.from(master_json.tac_mk, 'hex') };
const rate = values.rate === undefined ? null : Number(values.rate);
const duration_ms = Number(values.seconds) * 1000;
const CARDS = Number(values.cards);
const BARE = values.bare;
// Read-only swipes alone: the saturation a swipe reaches beside the bare server's.
const SWIPE_ONLY = values['swipe-only'];
// Bounds the open-loop backlog: beyond this the server is hopelessly behind; stop counting.
const BACKLOG_MAX = 100_000;

interface Answer {
  status: number;
  body: string;
}

// Personalised on first use: 200,000 chips up front would cost the driver seconds and memory.
const cards = new Map<string, PurseCard>();
const busy_cards = new Set<string>();
function cardOf(card_no: string, index: number): PurseCard {
  let card = cards.get(card_no);
  if (card === undefined) {
    card = personaliseCard(master, benchAsn(index));
    cards.set(card_no, card);
  }
  return card;
}

class Conn {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  readonly key: Buffer;
  // Microseconds of the wall clock: above anything an earlier run of this driver used.
  txn_seq = Date.now() * 1_000;
  queue: number[] = [];
  busy = false;
  readonly id: string;
  readonly card_terminal_id: string;
  constructor(t: { terminal_id: string; key_hex: string; card_terminal_id: string }) {
    this.id = t.terminal_id;
    this.key = Buffer.from(t.key_hex, 'hex');
    this.card_terminal_id = t.card_terminal_id;
  }

  post(path: string, fields: Record<string, unknown>): Promise<Answer> {
    this.txn_seq += 1;
    const body = JSON.stringify({ terminal_id: this.id, txn_seq: this.txn_seq, ...fields });
    const timestamp = String(Date.now());
    const signature = createHmac('sha256', this.key).update(terminalSigningString('POST', path, timestamp, body)).digest('hex');
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-terminal-id': this.id,
            'x-terminal-timestamp': timestamp,
            'x-terminal-signature': signature,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

const swipe_ms: number[] = [];
const load_ms: number[] = [];
const commit_ms: number[] = [];
const tap_ms: number[] = [];
let errors = 0;
let loads = 0;
let requests = 0;
let taps = 0;

async function tap(conn: Conn, scheduled_at: number): Promise<void> {
  // A card is at one terminal at a time.
  let index = Math.floor(Math.random() * CARDS);
  for (let tries = 0; busy_cards.has(`C${index}`) && tries < 16; tries++) index = Math.floor(Math.random() * CARDS);
  const card_no = `C${index}`;
  if (busy_cards.has(card_no)) return;
  busy_cards.add(card_no);
  try {
    const card = cardOf(card_no, index);
    const swiped = await conn.post(POS_PATH_SWIPE, { card_no, chip: { balance_fen: card.balance_fen, online_serial: card.online_serial } });
    requests += 1;
    const swiped_at = performance.now();
    swipe_ms.push(swiped_at - scheduled_at);
    if (swiped.status !== 200) {
      errors += 1;
      return;
    }
    const offer_fen = (JSON.parse(swiped.body) as { offer_fen: number }).offer_fen;
    if (offer_fen > 0 && !SWIPE_ONLY) {
      const init_answer = card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: offer_fen, card_terminal_id: conn.card_terminal_id }));
      if (init_answer.sw !== SW_OK) throw new Error(`INITIALIZE FOR LOAD ${init_answer.sw.toString(16)}`);
      const init = parseInitForLoad(init_answer.data);
      const terminal_time = terminalTimeOf(Date.now());
      const load_sent = performance.now();
      const loaded = await conn.post(POS_PATH_LOADS, { card_no, asn: card.asn, amount_fen: offer_fen, init, terminal_time });
      requests += 1;
      load_ms.push(performance.now() - load_sent);
      if (loaded.status !== 200) {
        errors += 1;
        return;
      }
      const load = JSON.parse(loaded.body) as { claim_id: string; mac2: string };
      let tac = '00000000';
      if (!BARE) {
        const credit = card.transmit(creditForLoadApdu({ terminal_time, mac2: load.mac2 }));
        if (credit.sw !== SW_OK) throw new Error(`CREDIT FOR LOAD ${credit.sw.toString(16)}`);
        tac = parseTac(credit.data).tac;
      }
      loads += 1;
      const commit_sent = performance.now();
      const committed = await conn.post(posCommitPath(load.claim_id), { tac, proof: 'tac' });
      requests += 1;
      commit_ms.push(performance.now() - commit_sent);
      if (committed.status !== 200) errors += 1;
    }
    taps += 1;
    tap_ms.push(performance.now() - scheduled_at);
  } finally {
    busy_cards.delete(card_no);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { n: sorted.length, p50_ms: round(percentile(sorted, 50)), p99_ms: round(percentile(sorted, 99)), p999_ms: round(percentile(sorted, 99.9)), max_ms: round(sorted.at(-1) ?? NaN) };
}

async function main(): Promise<void> {
  const conns = terminals.map((t) => new Conn(t));
  // Warm-up: connections opened, both processes' JIT warm; nothing of it is counted.
  const warmup_deadline = performance.now() + Number(values['warmup-seconds']) * 1000;
  await Promise.all(
    conns.map(async (conn) => {
      while (performance.now() < warmup_deadline) await tap(conn, performance.now()).catch(() => void (errors += 1));
    }),
  );
  for (const samples of [swipe_ms, load_ms, commit_ms, tap_ms]) samples.length = 0;
  loads = 0;
  requests = 0;
  errors = 0;
  taps = 0;
  const started = performance.now();
  const deadline = started + duration_ms;
  if (rate === null) {
    await Promise.all(
      conns.map(async (conn) => {
        while (performance.now() < deadline) await tap(conn, performance.now()).catch(() => void (errors += 1));
      }),
    );
  } else {
    const interval_ms = 1000 / rate;
    let next = 0;
    const pump = (conn: Conn) => {
      if (conn.busy) return;
      const scheduled = conn.queue.shift();
      if (scheduled === undefined) return;
      conn.busy = true;
      void tap(conn, scheduled)
        .catch(() => void (errors += 1))
        .finally(() => {
          conn.busy = false;
          pump(conn);
        });
    };
    let backlog = 0;
    // Scheduling every millisecond-ish with catch-up keeps the offered rate exact on average.
    while (performance.now() < deadline && backlog < BACKLOG_MAX) {
      const now = performance.now();
      while (started + next * interval_ms <= now) {
        const conn = conns[next % conns.length]!;
        conn.queue.push(started + next * interval_ms);
        next += 1;
        pump(conn);
      }
      backlog = conns.reduce((sum, conn) => sum + conn.queue.length, 0);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // Let the taps in flight finish (bounded).
    const drain_deadline = performance.now() + 10_000;
    while (conns.some((conn) => conn.busy || conn.queue.length > 0) && performance.now() < drain_deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  const elapsed_s = (performance.now() - started) / 1000;
  for (const conn of conns) conn.agent.destroy();
  process.stdout.write(
    `${JSON.stringify({
      offered_taps_per_s: rate,
      elapsed_s: Math.round(elapsed_s * 100) / 100,
      taps_per_s: Math.round(taps / elapsed_s),
      swipes_per_s: Math.round(swipe_ms.length / elapsed_s),
      requests_per_s: Math.round(requests / elapsed_s),
      loads,
      errors,
      swipe: summary(swipe_ms),
      load: summary(load_ms),
      commit: summary(commit_ms),
      tap: summary(tap_ms),
    })}\n`,
  );
}

void main();
