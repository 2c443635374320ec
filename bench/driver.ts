// The load generator of `npm run bench:hub`, run as its own process so it does not share an
// event loop with the server it measures. Each connection is one terminal (its own key and
// txn_seq) sending one request at a time over HTTP/1.1 keep-alive; a tap is a swipe, and
// when a load is offered, the card write and the commit.
//
//   open loop  (--rate R): taps are scheduled R per second; latency is measured from the
//              scheduled time, so a stall counts for every tap it delayed.
//   closed loop (no --rate): every terminal taps as fast as it can: saturation throughput.
// Prints one JSON line with the results.
import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    keys: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    cards: { type: 'string', default: '200000' },
    'warmup-seconds': { type: 'string', default: '1' },
  },
});
const url = new URL(values.url!);
const terminals = JSON.parse(values.keys!) as { id: string; key_hex: string }[];
const rate = values.rate === undefined ? null : Number(values.rate);
const duration_ms = Number(values.seconds) * 1000;
const CARDS = Number(values.cards);
// Bounds the open-loop backlog: beyond this the server is hopelessly behind; stop counting.
const BACKLOG_MAX = 100_000;

interface Answer {
  status: number;
  body: string;
}

const chips = new Map<string, { balance_fen: number; load_counter: number }>();

class Conn {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  readonly key: Buffer;
  txn_seq = Date.now();
  queue: number[] = [];
  busy = false;
  readonly id: string;
  constructor(id: string, key_hex: string) {
    this.id = id;
    this.key = Buffer.from(key_hex, 'hex');
  }

  post(path: string, body: string): Promise<Answer> {
    const timestamp = String(Date.now());
    const signature = createHmac('sha256', this.key).update(`${timestamp}\n${body}`).digest('hex');
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
const commit_ms: number[] = [];
let errors = 0;
let loads = 0;
let requests = 0;

async function tap(conn: Conn, scheduled_at: number): Promise<void> {
  const card_no = `C${Math.floor(Math.random() * CARDS)}`;
  const chip = chips.get(card_no) ?? { balance_fen: 0, load_counter: 0 };
  conn.txn_seq += 1;
  const body = JSON.stringify({ terminal_id: conn.id, txn_seq: conn.txn_seq, card_no, chip });
  const answer = await conn.post('/pos/v1/swipe', body);
  requests += 1;
  const swiped_at = performance.now();
  swipe_ms.push(swiped_at - scheduled_at);
  if (answer.status !== 200) {
    errors += 1;
    return;
  }
  const load = (JSON.parse(answer.body) as { load: { claim_id: string; balance_after_fen: number; load_counter_after: number } | null }).load;
  if (load === null) return;
  loads += 1;
  const written = { balance_fen: load.balance_after_fen, load_counter: load.load_counter_after };
  chips.set(card_no, written);
  const committed = await conn.post(`/pos/v1/claims/${load.claim_id}/commit`, JSON.stringify({ terminal_id: conn.id, chip: written }));
  requests += 1;
  commit_ms.push(performance.now() - swiped_at);
  if (committed.status !== 200) errors += 1;
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
  const conns = terminals.map((t) => new Conn(t.id, t.key_hex));
  // Warm-up: connections opened, both processes' JIT warm; nothing of it is counted.
  const warmup_deadline = performance.now() + Number(values['warmup-seconds']) * 1000;
  await Promise.all(
    conns.map(async (conn) => {
      while (performance.now() < warmup_deadline) await tap(conn, performance.now()).catch(() => void (errors += 1));
    }),
  );
  swipe_ms.length = 0;
  commit_ms.length = 0;
  loads = 0;
  requests = 0;
  errors = 0;
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
      offered_swipes_per_s: rate,
      elapsed_s: Math.round(elapsed_s * 100) / 100,
      swipes_per_s: Math.round(swipe_ms.length / elapsed_s),
      requests_per_s: Math.round(requests / elapsed_s),
      loads,
      errors,
      swipe: summary(swipe_ms),
      commit: summary(commit_ms),
    })}\n`,
  );
}

void main();
