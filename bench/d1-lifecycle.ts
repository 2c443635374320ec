// D1 statements per route and per top-up lifecycle (issue 11; DESIGN section 11), counted by the
// Worker itself (worker/http/d1-meter.ts, `D1_QUERY_LOG=1`) on `wrangler dev` with a real local
// D1, while the real gateway, a real hub and a POS simulator drive the whole life of a top-up:
// lookup, creation, the provider's notification, the payer's status polls, the hub's pull of the
// changes page, the load at the POS and the claim, and the records the app refreshes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CardLookupResponse, RechargeCreated } from '../protocol/api.ts';
import { startCampus } from '../scripts/start.ts';
import { DEMO_CARDS } from '../sim/demo-campus.ts';
import { HubHarness } from '../test/hub/helpers/hub.ts';
import { pressPay, recharge } from '../test/hub/helpers/payer.ts';

// The demo school's active cards; each takes at most 2 of its 10 rate-limited requests a top-up.
const CARDS = [
  { school_id: 'bjtu-weihai', name: '张三', card_no: '20230001' },
  { school_id: 'bjtu-weihai', name: '李小红', card_no: '20230002' },
  { school_id: 'bjtu-weihai', name: '王老师', card_no: 'T1001' },
  { school_id: 'bjtu-weihai', name: '访客', card_no: '999' },
  { school_id: 'bjtu-weihai', name: '赵六', card_no: 'F000999' },
] as const;
const TOPUPS_MAX = CARDS.length * 4;
const WAIT_MS_MAX = 30_000;
const POLL_EVERY_MS = 100;
// The hub's poll while nothing happens: the Worker's steady load from every campus.
const HUB_POLL_INTERVAL_MS = 5_000;
const LINES_MAX = 100_000;
const CRON = '*/5 * * * *';

export interface RouteCount {
  route: string;
  requests: number;
  statements: number;
  replica_statements: number;
  round_trips: number;
}

export interface D1Lifecycle {
  topups: number;
  /** Per route over the whole lifecycle phase (hub polls included). */
  routes: RouteCount[];
  /** The payer's status polls it took until the Worker answered paid (after the cashier). */
  polls_until_paid: number;
  /** The idle phase: what one hub costs while nothing is paid. */
  idle: { seconds: number; hub_changes_requests: number; statements: number };
  hub_poll_interval_ms: number;
  /** One run of the five-minute cron with nothing due. */
  cron: { cron: string; statements: number; round_trips: number };
}

interface QueryLine {
  msg: string;
  method: string;
  route: string;
  status: number | null;
  statements: number;
  round_trips: number;
  replica_statements: number;
}

function parseQueryLine(line: string): QueryLine | null {
  const start = line.indexOf('{"level":"info","msg":"d1 queries"');
  if (start < 0) return null;
  try {
    return JSON.parse(line.slice(start)) as QueryLine;
  } catch {
    return null;
  }
}

function byRoute(lines: readonly QueryLine[]): RouteCount[] {
  const routes = new Map<string, RouteCount>();
  for (const line of lines) {
    // Refusals are their own rows: a lookup that misses costs differently from one that finds.
    const key = `${line.method} ${line.route}${line.status !== null && line.status >= 400 ? ` ${line.status}` : ''}`;
    const route = routes.get(key) ?? { route: key, requests: 0, statements: 0, replica_statements: 0, round_trips: 0 };
    route.requests += 1;
    route.statements += line.statements;
    route.replica_statements += line.replica_statements;
    route.round_trips += line.round_trips;
    routes.set(key, route);
  }
  return [...routes.values()].sort((a, b) => b.statements - a.statements);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function json<T>(response: Response, expected: number): Promise<T> {
  const text = await response.text();
  if (response.status !== expected) throw new Error(`${response.url}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** Waits (bounded) until `probe` holds. */
async function until(what: string, probe: () => boolean | Promise<boolean>, timeout_ms = WAIT_MS_MAX): Promise<void> {
  const deadline_ms = Date.now() + timeout_ms;
  while (!(await probe())) {
    if (Date.now() > deadline_ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_EVERY_MS);
  }
}

export async function measureD1Lifecycle(options: { topups: number; idle_s: number; log: (line: string) => void }): Promise<D1Lifecycle> {
  const topups = Math.min(options.topups, TOPUPS_MAX);
  const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-bench-d1-'));
  const lines: QueryLine[] = [];
  const campus = await startCampus({
    worker_port: 0,
    gateway_port: 0,
    state_dir: path.join(work_dir, 'state'),
    dev_dir: work_dir,
    worker_var_overrides: { D1_QUERY_LOG: '1' },
    echo: (line) => {
      const parsed = parseQueryLine(line);
      if (parsed !== null && lines.length < LINES_MAX) lines.push(parsed);
    },
    log: (line) => options.log(line),
  });
  const hub = new HubHarness({ worker_url: campus.worker_url, hub_id: 'bench-d1', poll_interval_ms: HUB_POLL_INTERVAL_MS });
  try {
    await hub.init();
    const registered = await fetch(`${campus.worker_url}/api/v1/admin/hubs/bench-d1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${campus.keys.admin_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ school_id: CARDS[0].school_id, public_key: hub.public_key }),
    });
    if (!registered.ok) throw new Error(`hub registration: ${registered.status} ${await registered.text()}`);
    const terminal_keys = await hub.addTerminal('bench-d1-pos');
    await hub.start();
    const terminal = hub.terminal(terminal_keys);
    await until('the hub push channel', async () => (await hub.health()).push_connected === true);

    // Idle: only the hub's polls reach the Worker.
    const idle_from = lines.length;
    await sleep(options.idle_s * 1_000);
    const idle_lines = lines.slice(idle_from);
    const idle = {
      seconds: options.idle_s,
      hub_changes_requests: idle_lines.filter((line) => line.route === '/api/v1/hub/changes').length,
      statements: idle_lines.reduce((sum, line) => sum + line.statements, 0),
    };
    options.log(`idle ${options.idle_s} s: ${idle.hub_changes_requests} changes pulls, ${idle.statements} statements`);

    const asnOf = (card_no: string) => DEMO_CARDS.find((demo) => demo.card_no === card_no)!.asn;
    const chips = new Map(CARDS.map((card) => [card.card_no, hub.card(card.card_no, { balance_fen: 0, online_serial: 0 }, asnOf(card.card_no))]));
    const lifecycle_from = lines.length;
    let polls_until_paid = 0;
    for (let i = 0; i < topups; i++) {
      const card = CARDS[i % CARDS.length]!;
      // A new holder picks the school, mistypes the card number once, then finds the card.
      await json(await fetch(`${campus.worker_url}/api/v1/schools?q=${encodeURIComponent('威海')}`), 200);
      const mistyped = await fetch(`${campus.worker_url}/api/v1/cards/lookup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...card, card_no: `9${card.card_no}` }),
      });
      if (mistyped.status !== 404) throw new Error(`a mistyped card number answered ${mistyped.status}`);
      await mistyped.body?.cancel();
      const looked_up = await json<CardLookupResponse>(
        await fetch(`${campus.worker_url}/api/v1/cards/lookup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(card) }),
        200,
      );
      const created = await json<RechargeCreated>(
        await fetch(`${campus.worker_url}/api/v1/recharges`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ card_token: looked_up.card_token, amount_fen: 100 + i, channel: 'alipay', agree_terms: true }),
        }),
        201,
      );
      await pressPay(created.pay_url);
      // The payer back from the cashier: the app asks until the money shows as paid.
      for (let poll = 0; poll < WAIT_MS_MAX / POLL_EVERY_MS; poll++) {
        polls_until_paid += 1;
        if ((await recharge(campus.worker_url, created.order_id)).status === 'pending_claim') break;
        await sleep(POLL_EVERY_MS);
      }
      const chip = chips.get(card.card_no)!;
      const claims_before = lines.filter((line) => line.route === '/api/v1/hub/claims').length;
      await until(`the load of ${created.order_id} at the POS`, async () => (await terminal.tap(card.card_no, chip)).load !== null);
      // Watched in the Worker's log, not by polling its status: that would count as the payer's polls.
      await until(`the claim of ${created.order_id} at the Worker`, () => lines.filter((line) => line.route === '/api/v1/hub/claims').length > claims_before);
      await json(await fetch(`${campus.worker_url}/api/v1/recharges?card_token=${encodeURIComponent(created.card_token)}`), 200);
    }
    terminal.close();
    // The last requests' lines come after their background work; wait until they stop coming.
    let seen = -1;
    await until('the last query lines', () => {
      const settled = seen === lines.length;
      seen = lines.length;
      return settled;
    });
    const lifecycle = lines.slice(lifecycle_from);
    // The five-minute cron once, with nothing due: what it costs the platform's database each run.
    const cron = await fetch(`${campus.worker_url}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(CRON)}`);
    await cron.body?.cancel();
    if (!cron.ok) throw new Error(`cron: ${cron.status}`);
    let cron_line: QueryLine | undefined;
    await until('the cron run', () => (cron_line = lines.find((line) => line.method === 'CRON')) !== undefined);
    return {
      topups,
      routes: byRoute(lifecycle),
      polls_until_paid,
      idle,
      hub_poll_interval_ms: HUB_POLL_INTERVAL_MS,
      cron: { cron: CRON, statements: cron_line!.statements, round_trips: cron_line!.round_trips },
    };
  } finally {
    await hub.cleanup();
    await campus.stop();
    rmSync(work_dir, { recursive: true, force: true });
  }
}

let measured: Promise<D1Lifecycle> | null = null;

/** One measurement per `npm run bench`: the D1 suite and the capacity model read the same run. */
export function d1LifecycleOnce(options: { quick: boolean; log: (line: string) => void }): Promise<D1Lifecycle> {
  measured ??= measureD1Lifecycle({ topups: options.quick ? 3 : TOPUPS_MAX, idle_s: options.quick ? 6 : 16, log: options.log });
  return measured;
}
