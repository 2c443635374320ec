// The hub killed with SIGKILL (no shutdown code runs, as in a power cut): first between every
// pair of steps of one load (swipe, INITIALIZE FOR LOAD, load → MAC2, CREDIT FOR LOAD, commit),
// then at random points of a stream of taps from several terminals that die themselves. After
// each restart every credit is on exactly one chip exactly once, the hub's claims agree with
// the chips, and the outbox holds every committed claim. The random schedule's seed is printed
// (YIKATONG_TEST_SEED replays it).
import { afterAll, describe, expect, it } from 'vitest';
import { creditForLoadApdu, initializeForLoadApdu, LOAD_KEY_INDEX, parseInitForLoad, parseTac } from '../../sim/pos/apdu.ts';
import type { PurseCard } from '../../sim/pos/card.ts';
import { POS_PATH_LOADS } from '../../protocol/pos.ts';
import { DEATH_POINTS, Terminal, terminalTimeOf, type DeathPoint } from '../../sim/pos/terminal.ts';
import { seededRandom } from '../helpers/random.ts';
import { until } from '../helpers/wait.ts';
import { cardChange, creditChange, HubHarness, type RegisteredTerminal } from './helpers/hub.ts';

const WRITE_WINDOW_MS = 300;
const hub = new HubHarness({ write_window_ms: WRITE_WINDOW_MS });
const stream_hub = new HubHarness({ write_window_ms: WRITE_WINDOW_MS });

afterAll(async () => {
  await hub.cleanup();
  await stream_hub.cleanup();
});

/** A refusal of the connection by a hub that is dead or dying: the only error a kill explains. */
function isKillError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || (error as Error).message === 'socket hang up';
}

/** Settles a card fully: taps until the hub has nothing to offer or settle for it. */
async function settle(terminal: Terminal, card_no: string, card: PurseCard): Promise<void> {
  await until(`${card_no} settled`, async () => {
    const tap = await terminal.tap(card_no, card);
    return tap.swipe.offer_fen === 0 && tap.swipe.settle === null && tap.swipe.pending_fen === 0 ? true : null;
  });
}

function expectHubAgreesWithChips(hub: HubHarness, chips: Map<string, PurseCard>, seeded: Map<string, { card_no: string; amount_fen: number }>, start: { balance_fen: number; online_serial: number }): void {
  const committed = hub.query<{ claim_id: string; card_no: string; amount_fen: number; credit_ids: string }>(
    "SELECT claim_id, card_no, amount_fen, credit_ids FROM claims WHERE state = 'committed'",
  );
  for (const [card_no, chip] of chips) {
    const expected_fen = [...seeded.values()].filter((credit) => credit.card_no === card_no).reduce((sum, credit) => sum + credit.amount_fen, 0);
    expect(chip.balance_fen - start.balance_fen, card_no).toBe(expected_fen);
    const mine = committed.filter((claim) => claim.card_no === card_no);
    expect(mine.reduce((sum, claim) => sum + claim.amount_fen, 0), card_no).toBe(expected_fen);
    expect(mine.length, card_no).toBe(chip.online_serial - start.online_serial);
  }
  // Sum of balances = paid − spent (nothing refunded or spent here).
  const paid_fen = [...seeded.values()].reduce((sum, credit) => sum + credit.amount_fen, 0);
  expect([...chips.values()].reduce((sum, chip) => sum + chip.balance_fen - start.balance_fen, 0)).toBe(paid_fen);
  expect(hub.query("SELECT claim_id FROM claims WHERE state = 'open'")).toEqual([]);
  const claimed_in = new Map<string, string>();
  for (const claim of committed) {
    for (const credit_id of JSON.parse(claim.credit_ids) as string[]) {
      expect(claimed_in.has(credit_id), credit_id).toBe(false);
      claimed_in.set(credit_id, claim.claim_id);
    }
  }
  const rows = hub.query<{ credit_id: string; state: string; claim_id: string }>('SELECT credit_id, state, claim_id FROM credits');
  expect(rows).toHaveLength(seeded.size);
  for (const row of rows) expect(row).toEqual({ credit_id: row.credit_id, state: 'claimed', claim_id: claimed_in.get(row.credit_id) });
  // The Worker was never reachable: the outbox holds every committed claim, once.
  const outbox = hub.query<{ claim_id: string }>('SELECT claim_id FROM outbox');
  expect(outbox.map((row) => row.claim_id).sort()).toEqual(committed.map((claim) => claim.claim_id).sort());
}

const KILL_POINTS = ['after_swipe', 'after_init', 'after_mac2', 'after_credit', 'after_commit'] as const;

const registered = new Map<HubHarness, RegisteredTerminal[]>();
const txn_seqs = new Map<string, number>();
async function register(h: HubHarness): Promise<void> {
  await h.init();
  const list: RegisteredTerminal[] = [];
  for (let i = 0; i < 4; i++) list.push(await h.addTerminal(`pos-${i}`));
  registered.set(h, list);
}
/** Fires once, when the `after`-th load of a round goes on the wire: the moment to kill the hub mid-tap. */
interface LoadTrigger {
  after: number;
  fire: () => void;
}
/** A terminal that tells the trigger each time it sends a load (its swipe was answered). */
class WatchedTerminal extends Terminal {
  trigger: LoadTrigger | null = null;
  override post<T>(path: string, body: string, headers?: Record<string, string>): Promise<T> {
    if (path === POS_PATH_LOADS && this.trigger !== null) {
      this.trigger.after -= 1;
      if (this.trigger.after === 0) this.trigger.fire();
    }
    return super.post<T>(path, body, headers);
  }
}
function watchedTerminals(h: HubHarness, trigger: LoadTrigger): WatchedTerminal[] {
  return registered.get(h)!.map((reg) => {
    const terminal = new WatchedTerminal({ hub_url: h.url, ...reg, txn_seq_start: txn_seqs.get(`${h.dir}/${reg.terminal_id}`) ?? 0 });
    terminal.trigger = trigger;
    return terminal;
  });
}
function terminals(h: HubHarness): Terminal[] {
  return registered.get(h)!.map((reg) => h.terminal(reg, txn_seqs.get(`${h.dir}/${reg.terminal_id}`) ?? 0));
}
function remember(h: HubHarness, list: Terminal[]): void {
  for (const t of list) {
    txn_seqs.set(`${h.dir}/${t.terminal_id}`, t.txn_seq);
    t.close();
  }
}

describe('SIGKILL between every pair of steps of one load', () => {
  it('each kill point, restart, then the load goes on or the card settles it: exactly one load', async () => {
    await register(hub);
    const chips = new Map<string, PurseCard>();
    const seeded = new Map<string, { card_no: string; amount_fen: number }>();
    for (const point of KILL_POINTS) {
      const card_no = `KP-${point}`;
      const credit = creditChange(card_no, 1_000 + point.length);
      seeded.set(credit.credit_id, { card_no, amount_fen: credit.amount_fen });
      hub.seedChanges([cardChange(card_no), credit]);
      chips.set(card_no, hub.card(card_no));
    }
    for (const point of KILL_POINTS) {
      const card_no = `KP-${point}`;
      const card = chips.get(card_no)!;
      await hub.start();
      const [a, b] = terminals(hub);
      const read = a!.readCard(card);
      const swipe = await a!.swipe(card_no, read);
      if (point === 'after_swipe') await hub.kill();
      const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: swipe.offer_fen, card_terminal_id: a!.card_terminal_id })).data);
      if (point === 'after_init') await hub.kill();
      const terminal_time = terminalTimeOf(Date.now());
      let load = null;
      if (hub.service !== null) load = await a!.load({ card_no, asn: read.asn, amount_fen: swipe.offer_fen, init, terminal_time });
      if (point === 'after_mac2') await hub.kill();
      let tac: string | null = null;
      if (load !== null) tac = parseTac(card.transmit(creditForLoadApdu({ terminal_time, mac2: load.mac2 })).data).tac;
      if (point === 'after_credit') await hub.kill();
      if (load !== null && tac !== null && hub.service !== null) {
        expect(await a!.commit(load.claim_id, tac)).toMatchObject({ status: 'committed' });
        await hub.kill();
      }
      expect(hub.service).toBeNull();
      remember(hub, [a!, b!]);
      // Restarted from the store alone.
      await hub.start();
      const [a2, b2] = terminals(hub);
      if (point === 'after_mac2' || point === 'after_credit') {
        // The terminal comes back and retries its commit: the reservation was durable.
        expect(await a2!.commit(load!.claim_id, tac!)).toMatchObject({ status: 'committed' });
      }
      // The card at another terminal: nothing more, or the one load it never got.
      await settle(b2!, card_no, card);
      expect(card.online_serial, point).toBe(1);
      remember(hub, [a2!, b2!]);
      await hub.kill();
    }
    expectHubAgreesWithChips(hub, chips, seeded, { balance_fen: 0, online_serial: 0 });
  }, 120_000);
});

describe('SIGKILL at random points of a stream of taps', () => {
  const CARDS = 16;
  const ROUNDS = 6;
  const TAPS_PER_ROUND_MAX = 2_000;

  it('loses and doubles nothing; the kill lands mid-tap', async () => {
    const hub = stream_hub;
    await register(hub);
    const schedule = seededRandom('crash.test');
    const random = schedule.next;
    const pick = schedule.pick;
    const death = (): DeathPoint => (random() < 0.35 ? pick(DEATH_POINTS.slice(1)) : 'none');
    const card_nos = Array.from({ length: CARDS }, (_, i) => `K${i}`);
    const start = { balance_fen: 500, online_serial: 20 };
    const chips = new Map(card_nos.map((card_no) => [card_no, hub.card(card_no, start)]));
    const seeded = new Map<string, { card_no: string; amount_fen: number }>();
    hub.seedChanges(card_nos.map((card_no) => cardChange(card_no)));

    let mid_tap_kills = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // While the hub is down, the Worker's feed brings new money for some cards.
      const credits = Array.from({ length: 24 }, () => creditChange(pick(card_nos), 1 + Math.floor(random() * 5_000)));
      for (const credit of credits) seeded.set(credit.credit_id, { card_no: credit.card_no, amount_fen: credit.amount_fen });
      hub.seedChanges(credits);
      await hub.start();
      let alive = true;
      let taps = 0;
      let interrupted = 0;
      const busy = new Set<string>();
      // The kill comes as the 1st to 4th load of the round is sent: after a swipe was answered,
      // while the load (and the rest of its tap) is still to come. Each round seeds 24 credits.
      let kill_now = false;
      const list = watchedTerminals(hub, { after: 1 + Math.floor(random() * 4), fire: () => (kill_now = true) });
      const work = list.map(async (terminal) => {
        // Bounded: the kill ends it long before the cap.
        while (alive && taps < TAPS_PER_ROUND_MAX) {
          taps += 1;
          // A card is physically at one terminal at a time.
          const free = card_nos.filter((card_no) => !busy.has(card_no));
          if (free.length === 0) {
            await new Promise((resolve) => setTimeout(resolve, 1));
            continue;
          }
          const card_no = pick(free);
          busy.add(card_no);
          const requests_before = terminal.txn_seq;
          try {
            await terminal.tap(card_no, chips.get(card_no)!, death());
          } catch (error) {
            // Only the kill may stop a tap; anything else (a refusal, a card error, a bug) fails the test.
            if (!isKillError(error)) throw error;
            interrupted += 1;
            // The swipe was answered and a later request of the same tap met the kill.
            if (terminal.txn_seq - requests_before >= 2) mid_tap_kills += 1;
          } finally {
            busy.delete(card_no);
          }
        }
      });
      // Traffic first (a positive signal, not a guess at how fast a loaded machine is), then
      // the kill at a random moment of it.
      await until('the kill moment (a load sent)', () => kill_now, { timeout_ms: 30_000, interval_ms: 1 });
      await hub.kill();
      alive = false;
      await Promise.all(work);
      remember(hub, list);
      expect(interrupted, `round ${round}: the kill interrupted taps`).toBeGreaterThan(0);
    }
    process.stdout.write(`crash.test: ${mid_tap_kills} taps killed after their swipe was answered\n`);
    expect(mid_tap_kills).toBeGreaterThan(0);

    // Settle every card after the write window, at one terminal.
    await hub.start();
    const [settler] = terminals(hub);
    for (const card_no of card_nos) await settle(settler!, card_no, chips.get(card_no)!);
    remember(hub, [settler!]);
    await hub.stop();
    expectHubAgreesWithChips(hub, chips, seeded, start);
  }, 180_000);
});
