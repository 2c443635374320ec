// The chaos run: the whole campus as `npm start` runs it (the Worker in `wrangler dev` with its
// local D1, the simulated gateway, a hub process), many terminals tapping personalised chips,
// payers topping up, and the seed's fault schedule played against all of it at once. Then the
// faults stop, everything drains, and the run judges the outcome the way the card office and
// the holders would: reconciliation balanced, the ledger audit clean, the Worker and the hub
// agreeing on every claim, and the chips themselves holding exactly what was paid, less what
// was refunded and spent, card by card.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { auditLocalD1 } from '../../scripts/audit.ts';
import { executeLocalSql, sqlLiteral } from '../../scripts/lib/local-d1.ts';
import { startCampus, type Campus } from '../../scripts/start.ts';
import { DEMO_SCHOOLS } from '../../sim/demo-campus.ts';
import { purchaseApdu, SW_OK } from '../../sim/pos/apdu.ts';
import type { PurseCard } from '../../sim/pos/card.ts';
import { ForgedAnswerError, HubRequestError, type Terminal } from '../../sim/pos/terminal.ts';
import type { CardHoldView } from '../../protocol/hub.ts';
import { readCard } from '../../sim/pos/reader.ts';
import { asnOf, HubHarness, type RegisteredTerminal } from '../hub/helpers/hub.ts';
import { Link } from '../hub/helpers/link.ts';
import { officeDecision } from '../hub/helpers/office.ts';
import { copyStore, restoreStore } from '../hub/helpers/store-copy.ts';
import { createTopUp, pressPay } from '../hub/helpers/payer.ts';
import { randomFromSeed, type SeededRandom } from '../helpers/random.ts';
import { describeFault, drawDeath, drawSchedule, type Fault } from './schedule.ts';

export interface ChaosOptions {
  seed: number;
  /** Length of the fault phase; set-up and the drain come on top. */
  minutes: number;
  cards: number;
  terminals: number;
  log: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  faults: Fault[];
  counts: Record<string, number>;
  violations: string[];
  verdict: string;
}

export const CHAOS_CARDS_MAX = 500;
export const CHAOS_TERMINALS_MAX = 32;
export const CHAOS_MINUTES_MAX = 120;
const SCHOOL = DEMO_SCHOOLS[0]!.id;
// The gateway retries a notification over about 15 s: a Worker down for a fault's length
// still gets it, one down longer is what reconciliation is for.
const NOTIFY_RETRY_SCHEDULE_MS = [0, 1_000, 3_000, 7_000, 15_000];
// Short, so a terminal that died mid-load has its reservation settled by the card within the run.
const WRITE_WINDOW_MS = 3_000;
const PAYER_PAUSE_MS = 400;
const TAP_PAUSE_MS_MAX = 60;
const SPEND_FEN_MAX = 800;
const TOP_UP_FEN_MIN = 100;
const TOP_UP_FEN_MAX = 3_000;
const REQUEST_TIMEOUT_MS = 15_000;
const DRAIN_TIMEOUT_MS = 180_000;
// A card settles in a tap or two once the faults stop; far more means something is stuck.
const DRAIN_TAPS_PER_CARD_MAX = 60;
const VIOLATIONS_KEPT_MAX = 200;
// The card office's desk: holds listed per visit, and how long a restore waits for the Worker to
// have a change the copy is behind (what makes the restored hub re-sync, DESIGN section 6).
const HOLDS_PER_VISIT_MAX = 200;
const RESTORE_CURSOR_QUICK_MS = 3_000;
const RESTORE_CURSOR_WAIT_MS = 20_000;
// Refusals a terminal meets in normal operation under faults; anything else is a finding.
const EXPECTED_REFUSALS = new Set(['hub_not_offering', 'card_busy', 'offer_changed', 'replayed', 'no_offer', 'card_frozen', 'window_expired', 'not_found', 'claim_not_found']);
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

interface Holder {
  card_no: string;
  name: string;
  chip: PurseCard;
  start_fen: number;
  spent_fen: number;
  busy: boolean;
}

function chinaDate(at_ms: number): string {
  return new Date(at_ms + 8 * 3_600_000).toISOString().slice(0, 10);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  const message = error instanceof Error ? error.message : String(error);
  return (code !== undefined && CONNECTION_ERRORS.has(code)) || /socket hang up|did not answer|fetch failed|aborted|timeout/i.test(message);
}

/** Runs the campus under the seed's faults, drains it, and judges it. Every process is stopped on return and on throw. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  if (!(Number.isInteger(options.seed) && options.seed >= 0 && options.seed <= 0xffff_ffff)) throw new RangeError(`seed ${options.seed}`);
  if (!(options.minutes > 0 && options.minutes <= CHAOS_MINUTES_MAX)) throw new RangeError(`minutes ${options.minutes}: 0 < minutes ≤ ${CHAOS_MINUTES_MAX}`);
  if (!(Number.isInteger(options.cards) && options.cards >= 2 && options.cards <= CHAOS_CARDS_MAX)) throw new RangeError(`cards ${options.cards}`);
  if (!(Number.isInteger(options.terminals) && options.terminals >= 1 && options.terminals <= CHAOS_TERMINALS_MAX)) throw new RangeError(`terminals ${options.terminals}`);
  const { log } = options;
  const run_ms = Math.round(options.minutes * 60_000);
  const faults = drawSchedule(options.seed, run_ms);
  // A second stream of the same seed for the workload: which card, which amount, which death.
  const random: SeededRandom = randomFromSeed((options.seed ^ 0x9e37_79b9) >>> 0);
  const counts: Record<string, number> = {};
  const count = (what: string, by = 1) => (counts[what] = (counts[what] ?? 0) + by);
  const violations: string[] = [];
  const violation = (what: string) => {
    if (violations.length < VIOLATIONS_KEPT_MAX) violations.push(what);
    log(`VIOLATION ${what}`);
  };

  log(`chaos: seed ${options.seed}, ${options.minutes} min of faults, ${options.cards} cards, ${options.terminals} terminals`);
  for (const fault of faults) log(`  scheduled ${describeFault(fault)}`);

  const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-chaos-'));
  const state_dir = path.join(work_dir, 'state');
  let campus: Campus | null = null;
  let link: Link | null = null;
  // Every hub the run started (a handover adds one), the current one last.
  const hubs: HubHarness[] = [];
  const terminals: Terminal[] = [];
  try {
    campus = await startCampus({
      worker_port: 0,
      gateway_port: 0,
      state_dir,
      dev_dir: work_dir,
      hub_port: null,
      notify_retry_schedule_ms: NOTIFY_RETRY_SCHEDULE_MS,
      // Unpaid orders are asked about at the provider a minute after they expire, so the drain's
      // cron run settles the ones whose payment failed mid-outage.
      worker_var_overrides: { ORDER_EXPIRY_MINUTES: '1' },
      log: (line) => log(`  start: ${line}`),
    });
    const worker_url = campus.worker_url;
    const gateway_url = campus.gateway_url;
    const admin_token = campus.keys.admin_token;
    // Everything that talks to the Worker (payers, the provider's notifications, which follow the
    // payers' origin, and the hub) goes through one link, so "the Worker is down" is one switch.
    // The card office's admin calls go direct: its desk is not on the campus link.
    link = new Link(Number(new URL(worker_url).port));
    const via = await link.open();
    const admin = async (method: string, pathname: string, body?: string, content_type = 'application/json'): Promise<Response> =>
      fetch(`${worker_url}${pathname}`, {
        method,
        headers: { authorization: `Bearer ${admin_token}`, ...(body === undefined ? {} : { 'content-type': content_type }) },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    const gateway = async (method: string, pathname: string, body?: unknown): Promise<unknown> => {
      const response = await fetch(`${gateway_url}${pathname}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`gateway ${method} ${pathname}: ${response.status} ${await response.text()}`);
      return response.json();
    };

    // ---- the campus: cards in the registry, a hub, terminals, chips -------------------------
    const holders: Holder[] = [];
    const rows: string[] = [];
    for (let i = 0; i < options.cards; i++) {
      const card_no = `88${String(i).padStart(6, '0')}`;
      rows.push(`${card_no},混沌${i},student,active,${asnOf(card_no)}`);
      holders.push({ card_no, name: `混沌${i}`, chip: null as unknown as PurseCard, start_fen: 0, spent_fen: 0, busy: false });
    }
    const imported = await admin('POST', `/api/v1/admin/schools/${SCHOOL}/cards`, `${rows.join('\n')}\n`, 'text/csv');
    if (imported.status !== 200) throw new Error(`card import: ${imported.status} ${await imported.text()}`);
    // A hub of the school as its IT would set one up: its own key, the school's card master keys
    // (the first hub makes them; a standby gets a copy), registered, with the campus's terminals.
    const regs = new Map<HubHarness, RegisteredTerminal[]>();
    const startHub = async (): Promise<HubHarness> => {
      const hub_id = `chaos-hub-${hubs.length + 1}`;
      const hub = new HubHarness({ worker_url: via, hub_id, poll_interval_ms: 2_000, backoff_max_ms: 1_000, write_window_ms: WRITE_WINDOW_MS, grey_after_ms: 600_000 });
      hubs.push(hub);
      await hub.keygen();
      if (hubs.length === 1) await hub.cli(['card-keys', 'init']);
      else copyFileSync(hubs[0]!.card_keys_file, hub.card_keys_file);
      const registered = await admin('PUT', `/api/v1/admin/hubs/${hub_id}`, JSON.stringify({ school_id: SCHOOL, public_key: hub.public_key }));
      if (registered.status !== 201 && registered.status !== 200) throw new Error(`hub registration: ${registered.status} ${await registered.text()}`);
      const terminals_of_hub: RegisteredTerminal[] = [];
      for (let i = 0; i < options.terminals; i++) terminals_of_hub.push(await hub.addTerminal(`chaos-pos-${i + 1}`));
      regs.set(hub, terminals_of_hub);
      await hub.start();
      const registry_by_ms = Date.now() + 120_000;
      while (((await hub.health()).cards as number) < options.cards) {
        if (Date.now() > registry_by_ms) throw new Error(`${hub_id} did not receive the registry`);
        await sleep(200);
      }
      return hub;
    };
    let running_hub = await startHub();
    const txn_seqs = Array.from({ length: options.terminals }, () => 0);
    const openTerminals = () => {
      for (const terminal of terminals.splice(0)) terminal.close();
      regs.get(running_hub)!.forEach((reg, i) => terminals.push(running_hub.terminal(reg, txn_seqs[i]!)));
    };
    const closeTerminals = () => {
      terminals.forEach((terminal, i) => (txn_seqs[i] = Math.max(txn_seqs[i]!, terminal.txn_seq)));
      for (const terminal of terminals.splice(0)) terminal.close();
    };
    openTerminals();
    for (const holder of holders) {
      holder.chip = running_hub.card(holder.card_no, { balance_fen: random.int(0, 5_000), online_serial: random.int(0, 200) }, asnOf(holder.card_no));
      holder.start_fen = holder.chip.balance_fen;
    }
    log(`campus up: Worker ${worker_url} (link ${via}), gateway ${gateway_url}, hub ${running_hub.url}`);

    // ---- the workload -----------------------------------------------------------------------
    let running = true;
    let hub_down = false;
    const orders = new Map<string, { card_no: string; amount_fen: number }>();
    const refunds_requested = new Set<string>();
    let hot_card: string | null = null;

    const payer = async () => {
      while (running) {
        const holder = random.pick(holders);
        const amount_fen = random.int(TOP_UP_FEN_MIN, TOP_UP_FEN_MAX);
        try {
          const created = await createTopUp(via, { school_id: SCHOOL, name: holder.name, card_no: holder.card_no }, amount_fen);
          orders.set(created.order_id, { card_no: holder.card_no, amount_fen });
          await pressPay(created.pay_url);
          count('top-ups paid at the cashier');
        } catch (error) {
          // Under faults a payer meets an unreachable Worker, a provider's 503 cashier, and the
          // limits it then runs into (open orders per card, attempts per minute): all refusals.
          const expected = isConnectionError(error) || / 503| 429|cashier page 503|too_many_open_orders|rate_limited/.test(String(error));
          count(expected ? 'top-ups refused or unreachable' : 'top-up errors');
          if (!expected) violation(`payer: ${(error as Error).message.slice(0, 200)}`);
        }
        await sleep(PAYER_PAUSE_MS);
      }
    };

    const tapOnce = async (terminal: Terminal, holder: Holder, death: ReturnType<typeof drawDeath>) => {
      try {
        const tap = await terminal.tap(holder.card_no, holder.chip, death);
        count('taps');
        if (tap.committed !== null) count('loads committed');
        if (tap.died !== null) count(`terminal deaths (${tap.died})`);
      } catch (error) {
        if (error instanceof ForgedAnswerError) violation(`terminal ${terminal.terminal_id}: ${error.message}`);
        else if (error instanceof HubRequestError) {
          count(`refusals (${error.code})`);
          if (error.status >= 500 || !EXPECTED_REFUSALS.has(error.code)) violation(`hub refused a tap of ${holder.card_no} with ${error.status} ${error.code}: ${error.message}`);
        // A tap in flight when its hub went away (killed, or handed over and stopped) is cut, as at
        // a real till: the terminal is closed or no longer the campus's.
        } else if (isConnectionError(error) && (hub_down || !terminals.includes(terminal))) count('taps cut by the hub kill');
        else violation(`tap of ${holder.card_no}: ${(error as Error).stack?.split('\n').slice(0, 3).join(' ') ?? String(error)}`);
      }
    };

    const tapper = async (index: number) => {
      while (running) {
        const hot = hot_card === null ? undefined : holders.find((h) => h.card_no === hot_card && !h.busy);
        const free = holders.filter((h) => !h.busy);
        const holder = hot ?? (free.length === 0 ? undefined : random.pick(free));
        const terminal = terminals[index];
        if (holder === undefined || terminal === undefined || hub_down) {
          await sleep(20);
          continue;
        }
        holder.busy = true;
        try {
          // Spending at the till, offline: the chip's balance falls, nothing reaches the hub.
          if (holder.chip.balance_fen > 0 && random.next() < 0.05) {
            const amount_fen = random.int(1, Math.min(SPEND_FEN_MAX, holder.chip.balance_fen));
            const answer = holder.chip.transmit(purchaseApdu({ amount_fen }));
            if (answer.sw === SW_OK) {
              holder.spent_fen += amount_fen;
              count('purchases');
            }
          }
          await tapOnce(terminal, holder, drawDeath(random));
        } finally {
          holder.busy = false;
        }
        await sleep(random.int(0, TAP_PAUSE_MS_MAX));
      }
    };

    const refundRace = async () => {
      // A top-up paid now, refunded the moment it is claimable while every terminal is steered
      // at its card: the hub's void and a load race for the same credit, and only one may win.
      const holder = random.pick(holders);
      const amount_fen = random.int(TOP_UP_FEN_MIN, TOP_UP_FEN_MAX);
      try {
        const created = await createTopUp(worker_url, { school_id: SCHOOL, name: holder.name, card_no: holder.card_no }, amount_fen);
        orders.set(created.order_id, { card_no: holder.card_no, amount_fen });
        await pressPay(created.pay_url);
        const claimable_by_ms = Date.now() + 20_000;
        for (;;) {
          const status = await fetch(`${worker_url}/api/v1/recharges/${created.order_id}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
          const record = (await status.json()) as { status?: string };
          if (record.status === 'pending_claim') break;
          if (Date.now() > claimable_by_ms || record.status !== 'unpaid') {
            count('refund races whose top-up never became claimable');
            return;
          }
          await sleep(50);
        }
        hot_card = holder.card_no;
        refunds_requested.add(created.order_id);
        const answer = await admin('POST', `/api/v1/admin/orders/${created.order_id}/refund`);
        count(`refund requests (${answer.status})`);
        if (answer.status >= 500) violation(`refund of ${created.order_id}: ${answer.status} ${await answer.text()}`);
        else await answer.body?.cancel();
      } catch (error) {
        // The race may fall inside another outage (the provider's cashier down): it is skipped.
        count('refund races cut by another fault');
        if (!isConnectionError(error) && !/ 503|too_many_open_orders|rate_limited| 429/.test(String(error))) violation(`refund race: ${(error as Error).message.slice(0, 200)}`);
      } finally {
        setTimeout(() => (hot_card = null), 1_500).unref();
      }
    };

    const setHubState = async (hub: HubHarness, state: string, reason: string) => {
      const answer = await admin('POST', `/api/v1/admin/hubs/${hub.options.hub_id}/state`, JSON.stringify({ state, reason }));
      if (answer.status >= 300) throw new Error(`hub ${hub.options.hub_id} → ${state}: ${answer.status} ${await answer.text()}`);
    };
    const handover = async () => {
      const standby = await startHub();
      const retiring = running_hub;
      await setHubState(retiring, 'retiring', 'chaos: planned handover');
      // Terminals keep tapping the retiring hub (it refuses loads) while it drains.
      const drained_by_ms = Date.now() + 60_000;
      // A card it froze keeps it from confirming (its credits may be on the card): the card
      // office settles the holds meanwhile.
      let office_at_ms = 0;
      while ((await retiring.health()).retire_confirmed !== true) {
        if (Date.now() > drained_by_ms) throw new Error(`${retiring.options.hub_id} did not confirm it drained within 60 s: ${JSON.stringify(await retiring.health())}`);
        if (Date.now() - office_at_ms > 1_000 && ((await retiring.health()).frozen_cards as number) > 0) {
          office_at_ms = Date.now();
          await settleHolds();
        }
        await sleep(200);
      }
      await setHubState(retiring, 'retired', 'chaos: drained');
      await setHubState(standby, 'active', 'chaos: takes over');
      hub_down = true;
      closeTerminals();
      running_hub = standby;
      openTerminals();
      hub_down = false;
      await retiring.stop();
      count('handovers completed');
    };

    // ---- the card office: settles the cards a hub froze (hub/README.md, "Backup and restore") --
    // It lists the open holds, reads each card at its desk (the card's load log), and names the
    // pending credits the loads no claim accounts for took. A hold it cannot decide from the card
    // is a finding: the money on the card could not be told.
    let office_busy = false;
    const office_findings = new Set<string>();
    const settleHolds = async (): Promise<number> => {
      if (office_busy) return 0;
      office_busy = true;
      let settled = 0;
      try {
        const listed = await admin('GET', `/api/v1/admin/card-holds?school_id=${SCHOOL}&status=open&limit=${HOLDS_PER_VISIT_MAX}`);
        if (listed.status !== 200) throw new Error(`card holds: ${listed.status} ${await listed.text()}`);
        const { holds } = (await listed.json()) as { holds: CardHoldView[] };
        for (const hold of holds) {
          const holder = holders.find((h) => h.card_no === hold.card_no);
          if (holder === undefined) continue;
          // The card is at the desk, not at a till: no tap may be half-way through it.
          const desk_by_ms = Date.now() + 10_000;
          while (holder.busy && Date.now() < desk_by_ms) await sleep(10);
          if (holder.busy) continue;
          const decision = officeDecision(hold, readCard(holder.chip), 'chaos card office');
          if (!decision.ok) {
            const finding = `card office cannot settle ${hold.hub_id}/${hold.card_no}: ${decision.reason}`;
            if (!office_findings.has(finding)) violation(finding);
            office_findings.add(finding);
            continue;
          }
          const answer = await admin('POST', `/api/v1/admin/card-holds/${hold.hub_id}/${hold.card_no}/settle`, JSON.stringify(decision.body));
          // 409: the hold moved on since it was listed (the hub re-reported it): the next visit.
          if (answer.status === 409) {
            count('card holds changed while the office read them');
            await answer.body?.cancel();
            continue;
          }
          if (answer.status !== 200) {
            violation(`card office settle of ${hold.hub_id}/${hold.card_no}: ${answer.status} ${await answer.text()}`);
            continue;
          }
          await answer.body?.cancel();
          settled += 1;
          count('card holds settled by the office');
          count('card holds settled (fen on the card)', decision.lost_fen);
        }
      } finally {
        office_busy = false;
      }
      return settled;
    };

    // From the admin API, not a `wrangler d1 execute` (seconds each on a busy machine).
    const durableCursorOf = async (hub: HubHarness): Promise<number> => {
      const answer = await admin('GET', `/api/v1/admin/hubs/${hub.options.hub_id!}`);
      if (answer.status !== 200) throw new Error(`hub ${hub.options.hub_id}: ${answer.status} ${await answer.text()}`);
      return ((await answer.json()) as { durable_cursor: number | null }).durable_cursor ?? 0;
    };
    const hubRestore = async (fault: Fault) => {
      const hub = running_hub;
      const copy_path = path.join(work_dir, `restore-${hub.options.hub_id}.db`);
      // SQLite's online backup of the running store, as an operator takes it.
      await copyStore(hub.db_path, copy_path, 'backup');
      const copy_cursor = Number(hub.query<{ value: string }>("SELECT value FROM meta WHERE key = 'cursor'")[0]?.value ?? 0);
      const started_ms = Date.now();
      // The Worker must have a change the copy is behind, so the restored store is refused as
      // regressed and re-syncs (without one, neither guard sees the loads it forgot on cards it
      // has no record of; hub/README.md says so). The payers' top-ups usually bring one within a
      // poll; if not, the office pays one itself.
      const cursorMoved = async (wait_ms: number) => {
        const by_ms = Date.now() + wait_ms;
        while ((await durableCursorOf(hub)) <= copy_cursor && Date.now() < by_ms) await sleep(200);
        return (await durableCursorOf(hub)) > copy_cursor;
      };
      if (!(await cursorMoved(RESTORE_CURSOR_QUICK_MS))) {
        try {
          const holder = random.pick(holders);
          const amount_fen = random.int(TOP_UP_FEN_MIN, TOP_UP_FEN_MAX);
          const created = await createTopUp(worker_url, { school_id: SCHOOL, name: holder.name, card_no: holder.card_no }, amount_fen);
          orders.set(created.order_id, { card_no: holder.card_no, amount_fen });
          await pressPay(created.pay_url);
        } catch (error) {
          count('restore top-ups refused');
          if (!isConnectionError(error) && !/ 503|too_many_open_orders|rate_limited| 429/.test(String(error))) violation(`restore top-up: ${(error as Error).message.slice(0, 200)}`);
        }
        await cursorMoved(RESTORE_CURSOR_WAIT_MS);
      }
      if ((await durableCursorOf(hub)) <= copy_cursor) count('restores without a change after the copy');
      const cut_ms = fault.link_cut_ms ?? 0;
      const rest_ms = started_ms + fault.duration_ms - cut_ms - Date.now();
      if (rest_ms > 0) await sleep(rest_ms);
      if (cut_ms > 0) {
        // Loads go on; their claims wait in the outbox the restore is about to throw away.
        link!.cut();
        await sleep(cut_ms);
        count('restores that lost the outbox');
      }
      hub_down = true;
      closeTerminals();
      await hub.kill();
      restoreStore(copy_path, hub.db_path);
      if (cut_ms > 0) link!.restore();
      await hub.start();
      openTerminals();
      hub_down = false;
      count('restores completed');
    };

    const applyFault = async (fault: Fault) => {
      log(`fault ${describeFault(fault)}`);
      count(`faults (${fault.kind})`);
      switch (fault.kind) {
        case 'notify_drop':
          await gateway('POST', '/sim/faults', { action: 'drop', count: 1 });
          return;
        case 'notify_duplicate':
          await gateway('POST', '/sim/faults', { action: 'duplicate', count: 2, copies: 2 });
          return;
        case 'notify_delay':
          await gateway('POST', '/sim/faults', { action: 'delay', count: 3, delay_ms: fault.duration_ms });
          return;
        case 'notify_reorder':
          await gateway('POST', '/sim/faults', { action: 'hold', count: 4 });
          await sleep(fault.duration_ms);
          await gateway('POST', '/sim/faults/release', { order: 'reverse' });
          return;
        case 'gateway_down':
          await gateway('PUT', '/sim/outage', { api_down: true });
          await sleep(fault.duration_ms);
          await gateway('PUT', '/sim/outage', { api_down: false });
          return;
        case 'worker_down':
          link!.cut();
          await sleep(fault.duration_ms);
          link!.restore();
          return;
        case 'hub_kill':
          hub_down = true;
          closeTerminals();
          await running_hub.kill();
          await sleep(fault.duration_ms);
          await running_hub.start();
          openTerminals();
          hub_down = false;
          return;
        case 'refund_race':
          await refundRace();
          return;
        case 'handover':
          await handover();
          return;
        case 'hub_restore':
          await hubRestore(fault);
          return;
      }
    };

    const started_ms = Date.now();
    const faulting = (async () => {
      for (const fault of faults) {
        const wait_ms = started_ms + fault.at_ms - Date.now();
        if (wait_ms > 0) await sleep(wait_ms);
        await applyFault(fault);
      }
    })();
    const workers = [payer(), ...terminals.map((_, i) => tapper(i))];
    await faulting;
    const rest_ms = started_ms + run_ms - Date.now();
    if (rest_ms > 0) await sleep(rest_ms);
    running = false;
    await Promise.all(workers);

    // ---- the drain: faults off, every paid top-up loaded or refunded --------------------------
    log('faults over; draining');
    link.restore();
    await gateway('PUT', '/sim/outage', { api_down: false });
    await gateway('DELETE', '/sim/faults');
    await gateway('POST', '/sim/faults/release', { order: 'fifo' });
    const drain_deadline_ms = Date.now() + DRAIN_TIMEOUT_MS;
    const waitFor = async (what: string, probe: () => Promise<boolean>) => {
      while (!(await probe())) {
        if (Date.now() > drain_deadline_ms) throw new Error(`drain: ${what} not reached within ${DRAIN_TIMEOUT_MS} ms`);
        await sleep(250);
      }
    };
    await waitFor('notifications delivered', async () => {
      const { deliveries } = (await gateway('GET', '/sim/deliveries')) as { deliveries: { state: string }[] };
      return deliveries.every((d) => d.state !== 'scheduled' && d.state !== 'held');
    });
    // Expired unpaid orders are asked about at the provider (a paid one whose notification was
    // lost becomes paid); refunds the provider did not answer are asked again.
    const cron = async () => {
      const answer = await fetch(`${worker_url}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`, { signal: AbortSignal.timeout(60_000) });
      await answer.body?.cancel();
    };
    await cron();
    const today = chinaDate(Date.now());
    const reconciled = await admin('POST', `/api/v1/admin/reconciliations/${today}`);
    if (reconciled.status !== 200) violation(`reconciliation of ${today}: ${reconciled.status} ${await reconciled.text()}`);
    else {
      const { days } = (await reconciled.json()) as { days: { repaired: unknown[] }[] };
      count('reconciliation repairs', days.reduce((sum, day) => sum + day.repaired.length, 0));
    }
    const head = async () => {
      const [rows] = await executeLocalSql(state_dir, `SELECT COALESCE(MAX(seq), 0) AS seq FROM changes WHERE school_id = ${sqlLiteral(SCHOOL)}`);
      return Number(rows![0]!.seq);
    };
    const latest_seq = await head();
    await waitFor('hub at the head of the feed', async () => ((await running_hub.health()).cursor as number) >= latest_seq);
    await settleHolds();
    const settler = terminals[0]!;
    for (const holder of holders) {
      let settled = false;
      for (let taps = 0; taps < DRAIN_TAPS_PER_CARD_MAX && !settled; taps++) {
        try {
          const tap = await settler.tap(holder.card_no, holder.chip);
          if (tap.committed !== null) count('loads committed in the drain');
          settled = tap.swipe.pending_fen === 0 && tap.swipe.settle === null && tap.swipe.offer_fen === 0;
        } catch (error) {
          if (!(error instanceof HubRequestError && EXPECTED_REFUSALS.has(error.code))) throw error;
          // Frozen at the hub: its hold reaches the card office, which settles it from the card.
          if (error.code === 'card_frozen') await settleHolds();
        }
        if (!settled) await sleep(WRITE_WINDOW_MS / 6);
      }
      if (!settled) violation(`card ${holder.card_no} still has money waiting after ${DRAIN_TAPS_PER_CARD_MAX} taps`);
    }
    await waitFor('refunds decided', async () => {
      await cron();
      const [rows] = await executeLocalSql(state_dir, `SELECT COUNT(*) AS n FROM refunds WHERE state IN ('requested', 'provider_pending')`);
      return Number(rows![0]!.n) === 0;
    });
    await waitFor('hub outbox drained', async () => ((await running_hub.health()).outbox_depth as number) === 0);

    // ---- the verdict ------------------------------------------------------------------------
    const audit = await auditLocalD1(state_dir);
    for (const v of audit.violations) violation(`audit invariant ${v.invariant} (${v.check}): ${v.description} ${v.ids} ${v.detail}`.slice(0, 300));
    const rerun = await admin('POST', `/api/v1/admin/reconciliations/${today}`);
    const { days } = (await rerun.json()) as { days: { school_id: string | null; channel: string; status: string; repaired: unknown[]; discrepancies: unknown[] }[] };
    for (const day of days.filter((d) => d.school_id === SCHOOL || d.school_id === null)) {
      if (day.status !== 'balanced') violation(`reconciliation ${today} ${day.school_id} ${day.channel}: ${day.status} ${JSON.stringify(day.discrepancies).slice(0, 200)}`);
    }
    for (const hub of hubs) {
      const hub_id = hub.options.hub_id!;
      // What the hub's store knows of: its own committed claims, and the claims a re-sync told it
      // of for loads a restore made it forget (kept on its credits). The card office's claims are
      // the settled holds' (their proof, credit_settlements, is the audit's invariant 7).
      const committed = hub.query<{ claim_id: string }>("SELECT claim_id FROM claims WHERE state = 'committed'");
      const learnt = hub.query<{ claim_id: string }>("SELECT DISTINCT claim_id FROM credits WHERE state = 'claimed' AND claim_id IS NOT NULL AND claim_id NOT IN ('worker', 'office')");
      // A restored store may commit a reservation it had released before the restore (the card's
      // serial is past it: another load wrote that serial): the Worker refuses that claim, its
      // credits being the other load's, and keeps it for the card office. The chips say whether
      // any money went astray; here it only has to be one the Worker refused.
      const [refused_rows] = await executeLocalSql(state_dir, `SELECT claim_id FROM claim_rejections WHERE hub_id = ${sqlLiteral(hub_id)}`);
      const refused = new Set(refused_rows!.map((row) => String(row.claim_id)));
      // And the Worker's claim of credits the restored store held in such a reservation: the
      // re-sync named it in a grey record (snapshot_conflict) for the card office.
      const noted = hub.query<{ claim_id: string }>(
        "SELECT DISTINCT json_extract(detail, '$.worker_claim_id') AS claim_id FROM grey_records WHERE reason = 'snapshot_conflict' AND json_extract(detail, '$.worker_claim_id') IS NOT NULL",
      );
      const known = [...new Set([...committed, ...learnt, ...noted].map((row) => row.claim_id))];
      count('claims the Worker refused after a restore', known.filter((id) => refused.has(id)).length);
      const hub_ids = known.filter((id) => !refused.has(id)).sort();
      const [worker_claims] = await executeLocalSql(state_dir, `SELECT id FROM claims WHERE hub_id = ${sqlLiteral(hub_id)} AND proof_kind <> 'office' ORDER BY id`);
      const worker_ids = worker_claims!.map((row) => String(row.id)).sort();
      if (worker_ids.join() !== hub_ids.join()) {
        const missing = worker_ids.filter((id) => !hub_ids.includes(id)).slice(0, 3);
        const extra = hub_ids.filter((id) => !worker_ids.includes(id)).slice(0, 3);
        violation(`Worker has ${worker_ids.length} claims of ${hub_id}, its store knows ${hub_ids.length}; they differ (not at the hub: ${missing.join(', ')}; not at the Worker: ${extra.join(', ')})`);
      }
    }
    const open_holds = (await (await admin('GET', `/api/v1/admin/card-holds?school_id=${SCHOOL}&status=open&limit=${HOLDS_PER_VISIT_MAX}`)).json()) as { holds: CardHoldView[] };
    for (const hold of open_holds.holds) violation(`card hold ${hold.hub_id}/${hold.card_no} still open after the drain`);
    // The chips are the truth: what each card holds now, against what was paid for it.
    const [money] = await executeLocalSql(
      state_dir,
      `SELECT o.card_no,
              SUM(CASE WHEN o.status IN ('paid', 'refunded') THEN o.amount_fen ELSE 0 END) AS paid_fen,
              SUM(CASE WHEN o.status = 'refunded' THEN o.amount_fen ELSE 0 END) AS refunded_fen,
              SUM(CASE WHEN cr.state = 'pending' THEN cr.amount_fen ELSE 0 END) AS pending_fen
         FROM orders o LEFT JOIN credits cr ON cr.order_id = o.id
        WHERE o.school_id = ${sqlLiteral(SCHOOL)} AND o.card_no LIKE '88%'
        GROUP BY o.card_no`,
    );
    const by_card = new Map(money!.map((row) => [String(row.card_no), { paid_fen: Number(row.paid_fen), refunded_fen: Number(row.refunded_fen), pending_fen: Number(row.pending_fen) }]));
    let paid_total_fen = 0;
    let refunded_total_fen = 0;
    let spent_total_fen = 0;
    let chips_total_fen = 0;
    for (const holder of holders) {
      const ledger = by_card.get(holder.card_no) ?? { paid_fen: 0, refunded_fen: 0, pending_fen: 0 };
      paid_total_fen += ledger.paid_fen;
      refunded_total_fen += ledger.refunded_fen;
      spent_total_fen += holder.spent_fen;
      const gained_fen = holder.chip.balance_fen - holder.start_fen;
      chips_total_fen += gained_fen;
      if (ledger.pending_fen !== 0) violation(`card ${holder.card_no}: ${ledger.pending_fen} fen still pending after the drain`);
      if (gained_fen !== ledger.paid_fen - ledger.refunded_fen - holder.spent_fen) {
        violation(`card ${holder.card_no}: the chip gained ${gained_fen} fen; paid ${ledger.paid_fen} − refunded ${ledger.refunded_fen} − spent ${holder.spent_fen} = ${ledger.paid_fen - ledger.refunded_fen - holder.spent_fen}`);
      }
    }
    const [refund_states] = await executeLocalSql(state_dir, `SELECT state, COUNT(*) AS n FROM refunds GROUP BY state`);
    for (const row of refund_states!) count(`refunds ended ${String(row.state)}`, Number(row.n));
    counts['paid (fen)'] = paid_total_fen;
    counts['refunded (fen)'] = refunded_total_fen;
    counts['spent (fen)'] = spent_total_fen;
    counts['chips gained (fen)'] = chips_total_fen;
    counts['orders created'] = orders.size;
    const verdict =
      violations.length === 0
        ? `chaos seed ${options.seed}: OK — ${faults.length} faults, ${counts.taps ?? 0} taps, ${orders.size} top-ups; chips = paid − refunded − spent (${chips_total_fen} = ${paid_total_fen} − ${refunded_total_fen} − ${spent_total_fen}); audit clean; Worker = hub; reconciliation balanced`
        : `chaos seed ${options.seed}: FAILED — ${violations.length} violation(s); replay with --seed ${options.seed}`;
    return { seed: options.seed, faults, counts, violations, verdict };
  } finally {
    for (const terminal of terminals.splice(0)) terminal.close();
    for (const hub of hubs) await hub.cleanup().catch(() => undefined);
    await link?.close().catch(() => undefined);
    await campus?.stop();
    rmSync(work_dir, { recursive: true, force: true });
  }
}
