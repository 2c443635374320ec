// `npm run bench:hub` (issues 3 and 7): the hub with 200,000 cards and 50,000 pending credits,
// driven from a separate process over loopback keep-alive connections with the POS v2
// three-request tap (swipe, load with MAC1 → MAC2, commit with the card's TAC) and simulated
// PBOC cards — fixed offered tap rates with p50/p99/p99.9, then saturation — and, in the same
// run, a bare node:http server that answers the same routes with the same JSON from a Map,
// for the ratio. Reservations and commits are durable (group commit: the WAL fdatasync'd before
// any answer, off the event loop).
// Prints a table and a JSON line; figures go into hub/README.md.
//
// `runHubBench` is the same run for `npm run bench` (bench/suites/hub-tap.ts).
// Options (env): BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (terminals, default 32),
// BENCH_RATES (comma list of offered taps/s, default 500,1000,2000), BENCH_CLAIMABLE_SAMPLES
// (paid → claimable samples against the real Worker, default 20; 0 skips that part).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initCardKeysFile, readCardKeysFile } from '../hub/keys/file.ts';
import { HubLedger } from '../hub/ledger/index.ts';
import { GroupCommit } from '../hub/store/group-commit.ts';
import { openDatabase } from '../hub/store/schema.ts';
import { generateHubKeyPair } from '../hub/sync/signer.ts';
import type { HubChange } from '../protocol/hub.ts';
import { runCommand, startService, type Service } from '../scripts/lib/processes.ts';
import { PURSE_LIMIT_FEN_DEFAULT } from '../protocol/pos.ts';
import { benchAsn } from './cards.ts';
import { measureClaimable } from './claimable.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const CREDIT_EVERY = 4; // 50,000 credits of 200,000 cards
const SEED_CHUNK = 20_000;

export interface HubBenchOptions {
  cards: number;
  seconds: number;
  connections: number;
  rates: number[];
  claimable_samples: number;
  log: (line: string) => void;
}

export interface HubBenchResult {
  results: Record<string, DriverResult>;
  ratio: number;
  swipe_ratio: number;
  rss_start: number;
  rss_end: number;
  claimable: unknown;
}

export type Latency = { n: number; p50_ms: number; p99_ms: number; p999_ms: number; max_ms: number };
export interface DriverResult {
  offered_taps_per_s: number | null;
  taps_per_s: number;
  swipes_per_s: number;
  requests_per_s: number;
  loads: number;
  errors: number;
  swipe: Latency;
  load: Latency;
  commit: Latency;
  tap: Latency;
}

export interface BenchTerminal {
  terminal_id: string;
  key_hex: string;
  card_terminal_id: string;
}

/** Writes a hub store of `cards` bench cards (`C<i>`), a pending credit on every `credit_every`-th, and the terminals. */
/**
 * The hub process on a port the OS picked, with no Worker to sync with: a bench's figures are the
 * hub's own (its store, its memory, its answers), not sync's.
 */
export function startBenchHub(options: {
  hub_id: string;
  key_file: string;
  db_path: string;
  card_keys_file: string;
  ready_timeout_ms: number;
  /** Unset: the hub's own default. */
  log_level?: string;
}): Promise<Service> {
  return startService({
    name: 'hub',
    command: process.execPath,
    args: ['--disable-warning=ExperimentalWarning', 'hub/main.ts', 'start'],
    cwd: ROOT,
    env: {
      ...process.env,
      HUB_WORKER_URL: 'http://127.0.0.1:9',
      HUB_ID: options.hub_id,
      HUB_KEY_FILE: options.key_file,
      HUB_DB: options.db_path,
      HUB_CARD_KEYS_FILE: options.card_keys_file,
      HUB_LISTEN: '127.0.0.1:0',
      HUB_BACKOFF_MAX_MS: '60000',
      ...(options.log_level === undefined ? {} : { HUB_LOG_LEVEL: options.log_level }),
    },
    ready: /"msg":"hub listening".*"port":(\d+)/,
    ready_timeout_ms: options.ready_timeout_ms,
  });
}

export function seedHub(db_path: string, terminals: BenchTerminal[], cards: number, credit_every = CREDIT_EVERY): void {
  const db = openDatabase({ path: db_path, busy_timeout_ms: 5_000 });
  const purse_limit_fen = { student: PURSE_LIMIT_FEN_DEFAULT, staff: PURSE_LIMIT_FEN_DEFAULT, visitor: PURSE_LIMIT_FEN_DEFAULT };
  const ledger = new HubLedger(db, { write_window_ms: 10_000, purse_limit_fen, now_ms: Date.now });
  const group = new GroupCommit(db, { ops_per_batch_max: 1 });
  let seq = 0;
  const now_ms = Date.now();
  for (let start = 0; start < cards; start += SEED_CHUNK) {
    const changes: HubChange[] = [];
    for (let i = start; i < Math.min(cards, start + SEED_CHUNK); i++) {
      changes.push({ seq: ++seq, kind: 'card', card_no: `C${i}`, status: 'active', card_kind: 'student', asn: benchAsn(i) });
      if (i % credit_every === 0) {
        changes.push({
          seq: ++seq,
          kind: 'credit',
          credit_id: `cr_${i}`,
          order_id: `ord_${i}`,
          card_no: `C${i}`,
          amount_fen: 10_000,
          state: 'pending',
          created_at_ms: now_ms,
        });
      }
    }
    void group.run(() => ledger.applyChanges(changes, seq));
  }
  const insert = db.prepare('INSERT INTO terminals (terminal_id, key_hex, card_terminal_id, created_at_ms) VALUES (?, ?, ?, ?)');
  void group.run(() => {
    for (const t of terminals) insert.run(t.terminal_id, t.key_hex, t.card_terminal_id, now_ms);
  });
  group.flush();
  db.close();
}

async function drive(o: HubBenchOptions, url: string, terminals: BenchTerminal[], master: string, rate: number | null, bare: boolean, swipe_only = false): Promise<DriverResult> {
  const { seconds, cards } = o;
  const args = ['--disable-warning=ExperimentalWarning', 'bench/driver.ts', '--url', url, '--terminals', JSON.stringify(terminals), '--master', master, '--seconds', String(seconds), '--cards', String(cards)];
  if (rate !== null) args.push('--rate', String(rate));
  if (bare) args.push('--bare');
  if (swipe_only) args.push('--swipe-only');
  const out = await runCommand(process.execPath, args, { cwd: ROOT, timeout_ms: (seconds + 60) * 1000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as DriverResult;
}

async function rssBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
}

function row(label: string, r: DriverResult): string {
  const cell = (x: number) => String(x).padStart(10);
  return `${label.padEnd(24)}${cell(r.taps_per_s)}${cell(r.requests_per_s)}${cell(r.swipe.p50_ms)}${cell(r.swipe.p99_ms)}${cell(r.swipe.p999_ms)}${cell(r.load.p99_ms)}${cell(r.commit.p99_ms)}${cell(r.tap.p99_ms)}${cell(r.errors)}`;
}

export async function runHubBench(o: HubBenchOptions): Promise<HubBenchResult> {
  const { cards, seconds, connections, rates, claimable_samples } = o;
  const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-bench-'));
  const services: Service[] = [];
  try {
    const terminals: BenchTerminal[] = Array.from({ length: connections }, (_, i) => ({
      terminal_id: `bench-${i}`,
      key_hex: randomBytes(32).toString('hex'),
      card_terminal_id: (0xbe0000000000 + i).toString(16).toUpperCase(),
    }));
    const db_path = path.join(dir, 'hub.db');
    const card_keys_file = path.join(dir, 'card-keys.json');
    initCardKeysFile(card_keys_file, { key_version: 1 });
    const keys = readCardKeysFile(card_keys_file);
    // The issuer's master keys, for the driver's chips (a bench is its own card issuer).
    const master = JSON.stringify({ key_version: keys.key_version, load_mk: keys.load_mk.toString('hex'), tac_mk: keys.tac_mk.toString('hex') });
    const seed_started = performance.now();
    seedHub(db_path, terminals, cards);
    o.log(`seeded ${cards} cards, ${cards / CREDIT_EVERY} pending credits in ${Math.round(performance.now() - seed_started)} ms`);
    const key_file = path.join(dir, 'hub-key.pem');
    writeFileSync(key_file, (await generateHubKeyPair()).private_pem, { mode: 0o600 });

    const hub = await startBenchHub({ hub_id: 'bench-hub', key_file, db_path, card_keys_file, ready_timeout_ms: 120_000 });
    services.push(hub);
    const hub_url = `http://127.0.0.1:${hub.ready_match[1]}`;
    const rss_start = await rssBytes(hub_url);

    const bare = await startService({
      name: 'bare',
      command: process.execPath,
      args: ['bench/bare-server.ts'],
      cwd: ROOT,
      env: { ...process.env, BENCH_CARDS: String(cards), BENCH_CREDIT_EVERY: String(CREDIT_EVERY) },
      ready: /bare listening (\d+)/,
    });
    services.push(bare);
    const bare_url = `http://127.0.0.1:${bare.ready_match[1]}`;

    const header = `${'run'.padEnd(24)}${'taps/s'.padStart(10)}${'req/s'.padStart(10)}${'s.p50'.padStart(10)}${'s.p99'.padStart(10)}${'s.p99.9'.padStart(10)}${'l.p99'.padStart(10)}${'c.p99'.padStart(10)}${'tap.p99'.padStart(10)}${'errors'.padStart(10)}`;
    o.log(`${connections} terminals (keep-alive connections), ${seconds} s per run, latencies in ms (s. swipe, l. load, c. commit)\n${header}`);
    const results: Record<string, DriverResult> = {};
    const run = async (label: string, url: string, rate: number | null, bare: boolean, swipe_only = false) => {
      results[label] = await drive(o, url, terminals, master, rate, bare, swipe_only);
      o.log(`${row(label, results[label]!)}`);
    };
    for (const rate of rates) await run(`hub @ ${rate}/s`, hub_url, rate, false);
    await run('hub saturation', hub_url, null, false);
    await run('bare saturation', bare_url, null, true);
    await run('hub swipes only, sat.', hub_url, null, false, true);
    await run('bare swipes only, sat.', bare_url, null, true, true);
    for (const rate of rates) await run(`bare @ ${rate}/s`, bare_url, rate, true);
    const rss_end = await rssBytes(hub_url);
    const ratio = results['hub saturation']!.requests_per_s / results['bare saturation']!.requests_per_s;
    const swipe_ratio = results['hub swipes only, sat.']!.swipes_per_s / results['bare swipes only, sat.']!.swipes_per_s;
    o.log(`hub / bare throughput at saturation: three-request taps ${ratio.toFixed(2)} (requests/s), read-only swipes ${swipe_ratio.toFixed(2)}`);
    o.log(`hub RSS: ${(rss_start / 2 ** 20).toFixed(0)} MiB after start, ${(rss_end / 2 ** 20).toFixed(0)} MiB after the runs`);
    for (const service of services.splice(0).reverse()) await service.stop();
    let claimable: unknown = null;
    if (claimable_samples > 0) {
      try {
        const measured = await measureClaimable(claimable_samples, 5_000);
        claimable = measured;
        o.log(
          `paid → claimable (${claimable_samples} top-ups, push ${measured.push_connected ? 'connected' : 'NOT connected'}, 5 s poll): ` +
            `p50 ${measured.p50_ms} ms, p99 ${measured.p99_ms} ms`,
        );
      } catch (error) {
        claimable = { error: String((error as Error).message ?? error).slice(0, 500) };
        o.log(`paid → claimable: not measured (${String((error as Error).message ?? error).slice(0, 300)})`);
      }
    }
    return { results, ratio, swipe_ratio, rss_start, rss_end, claimable };
  } finally {
    for (const service of services.reverse()) await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  void runHubBench({
    cards: 200_000,
    seconds: Number(process.env.BENCH_SECONDS ?? 10),
    connections: Number(process.env.BENCH_CONNECTIONS ?? 32),
    rates: (process.env.BENCH_RATES ?? '500,1000,2000').split(',').map(Number),
    claimable_samples: Number(process.env.BENCH_CLAIMABLE_SAMPLES ?? 20),
    log: (line) => process.stdout.write(`${line}\n`),
  }).then((result) => process.stdout.write(`${JSON.stringify(result)}\n`));
}
