// The hub killed with SIGKILL at random points during a stream of swipes and commits from
// several terminals (some of which die themselves), restarted each time: afterwards every
// credit is on exactly one card exactly once, the chips agree with the hub's claims, and the
// outbox holds every committed claim.
import { afterAll, expect, it } from 'vitest';
import { Chip } from '../../sim/pos/chip.ts';
import { HubRequestError, Terminal, type FailurePoint } from '../../sim/pos/terminal.ts';
import { cardChange, creditChange, HubHarness } from './helpers/hub.ts';

const CARDS = 24;
const TERMINALS = 4;
const ROUNDS = 8;
const WRITE_WINDOW_MS = 300;
const TAPS_PER_ROUND_MAX = 2_000;

const hub = new HubHarness({ write_window_ms: WRITE_WINDOW_MS });

afterAll(async () => {
  await hub.cleanup();
});

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function failure(): FailurePoint {
  const r = Math.random();
  if (r < 0.1) return 'die_after_write';
  if (r < 0.2) return 'die_before_write';
  if (r < 0.25) return 'write_fails';
  return 'none';
}

it('loses and doubles nothing across SIGKILLs at random points', async () => {
  await hub.keygen();
  const keys = new Map<string, string>();
  for (let i = 0; i < TERMINALS; i++) keys.set(`pos-${i}`, await hub.addTerminal(`pos-${i}`));
  const card_nos = Array.from({ length: CARDS }, (_, i) => `K${i}`);
  const chips = new Map(card_nos.map((card_no) => [card_no, new Chip({ balance_fen: 0, load_counter: 0 })]));
  const seeded = new Map<string, { card_no: string; amount_fen: number }>();
  const txn_seq = new Map([...keys.keys()].map((id) => [id, 0]));
  hub.seedChanges(card_nos.map((card_no) => cardChange(card_no)));

  let kills_during_traffic = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // While the hub is down, the Worker's feed brings new money for some cards.
    const credits = Array.from({ length: 12 }, () => creditChange(pick(card_nos), 1 + Math.floor(Math.random() * 50_000)));
    for (const credit of credits) seeded.set(credit.credit_id, { card_no: credit.card_no, amount_fen: credit.amount_fen });
    hub.seedChanges(credits);
    await hub.start();

    let alive = true;
    let taps = 0;
    const busy = new Set<string>();
    const terminals = [...keys].map(
      ([id, key_hex]) => new Terminal({ hub_url: hub.url, terminal_id: id, key_hex, txn_seq_start: txn_seq.get(id)! }),
    );
    const work = terminals.map(async (terminal) => {
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
        try {
          await terminal.tap(card_no, chips.get(card_no)!, failure());
        } catch (error) {
          // 4xx would be a hub bug here; network errors are the kill.
          if (error instanceof HubRequestError) throw error;
        } finally {
          busy.delete(card_no);
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 80 + Math.random() * 400));
    if (taps > 0) kills_during_traffic += 1;
    await hub.kill();
    alive = false;
    await Promise.all(work);
    for (const terminal of terminals) txn_seq.set(terminal.terminal_id, terminal.txn_seq);
  }
  expect(kills_during_traffic).toBe(ROUNDS);

  // Settle: every card swiped until the hub has nothing more for it, after the write window.
  await hub.start();
  await new Promise((resolve) => setTimeout(resolve, WRITE_WINDOW_MS + 50));
  const settle = new Terminal({ hub_url: hub.url, terminal_id: 'pos-0', key_hex: keys.get('pos-0')!, txn_seq_start: txn_seq.get('pos-0')! });
  for (const card_no of card_nos) {
    const chip = chips.get(card_no)!;
    await settle.tap(card_no, chip);
    expect((await settle.tap(card_no, chip)).swipe.load).toBeNull();
  }
  await hub.stop();

  // Every seeded fen is on a chip exactly once.
  const seeded_fen = [...seeded.values()].reduce((sum, credit) => sum + credit.amount_fen, 0);
  const chip_fen = [...chips.values()].reduce((sum, chip) => sum + chip.balance_fen, 0);
  expect(chip_fen).toBe(seeded_fen);
  for (const card_no of card_nos) {
    const expected = [...seeded.values()].filter((credit) => credit.card_no === card_no).reduce((sum, credit) => sum + credit.amount_fen, 0);
    expect(chips.get(card_no)!.balance_fen, card_no).toBe(expected);
  }

  // The hub agrees with the chips: its committed claims per card are the chip's loads.
  const committed = hub.query<{ claim_id: string; card_no: string; amount_fen: number; credit_ids: string; load_counter_after: number }>(
    "SELECT claim_id, card_no, amount_fen, credit_ids, load_counter_after FROM claims WHERE state = 'committed'",
  );
  for (const card_no of card_nos) {
    const mine = committed.filter((claim) => claim.card_no === card_no);
    expect(mine.reduce((sum, claim) => sum + claim.amount_fen, 0), card_no).toBe(chips.get(card_no)!.balance_fen);
    expect(mine.length, card_no).toBe(chips.get(card_no)!.load_counter);
  }
  expect(hub.query("SELECT claim_id FROM claims WHERE state = 'open'")).toEqual([]);

  // No credit in two claims; every credit claimed, by the claim that lists it.
  const claimed_in = new Map<string, string>();
  for (const claim of committed) {
    let sum = 0;
    for (const credit_id of JSON.parse(claim.credit_ids) as string[]) {
      expect(claimed_in.has(credit_id), credit_id).toBe(false);
      claimed_in.set(credit_id, claim.claim_id);
      sum += seeded.get(credit_id)!.amount_fen;
    }
    expect(sum).toBe(claim.amount_fen);
  }
  expect(claimed_in.size).toBe(seeded.size);
  const rows = hub.query<{ credit_id: string; state: string; claim_id: string }>('SELECT credit_id, state, claim_id FROM credits');
  expect(rows).toHaveLength(seeded.size);
  for (const row of rows) expect(row).toEqual({ credit_id: row.credit_id, state: 'claimed', claim_id: claimed_in.get(row.credit_id) });

  // The Worker was never reachable: the outbox holds every committed claim, once.
  const outbox = hub.query<{ claim_id: string }>('SELECT claim_id FROM outbox ORDER BY seq');
  expect(outbox.map((row) => row.claim_id).sort()).toEqual(committed.map((claim) => claim.claim_id).sort());
}, 120_000);
