// The write window and grey records on the hub itself: a reservation is never released by a
// timer alone, only by the card's next swipe; once the window has passed, another terminal's
// swipe settles it by the counter; one never seen again is listed for the card office.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Chip } from '../../sim/pos/chip.ts';
import { Terminal } from '../../sim/pos/terminal.ts';
import { cardChange, creditChange, HubHarness } from './helpers/hub.ts';

const WRITE_WINDOW_MS = 300;
const hub = new HubHarness({ write_window_ms: WRITE_WINDOW_MS, grey_after_ms: 400 });
let a: Terminal;
let b: Terminal;

beforeAll(async () => {
  await hub.keygen();
  const key_a = await hub.addTerminal('a');
  const key_b = await hub.addTerminal('b');
  hub.seedChanges([cardChange('W1'), cardChange('W2'), creditChange('W1', 700), creditChange('W2', 900)]);
  await hub.start();
  a = new Terminal({ hub_url: hub.url, terminal_id: 'a', key_hex: key_a, txn_seq_start: 0 });
  b = new Terminal({ hub_url: hub.url, terminal_id: 'b', key_hex: key_b, txn_seq_start: 0 });
});

afterAll(async () => {
  await hub.cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('keeps a reservation past its window until the card comes back, then lets the counter decide', async () => {
  const chip = new Chip({ balance_fen: 0, load_counter: 2 });
  const died = await a.tap('W1', chip, 'die_before_write');
  const claim_id = died.swipe.load!.claim_id;
  await sleep(WRITE_WINDOW_MS * 3);
  const health = await hub.health();
  expect(health.open_claims).toBe(1);
  // Listed for the card office while nobody has seen the card.
  const grey = (await (await fetch(`${hub.url}/grey-records`)).json()) as { records: { claim_id: string; reason: string }[] };
  expect(grey.records).toContainEqual(expect.objectContaining({ claim_id, reason: 'unresolved_reservation' }));
  // Another terminal, after the window: not written, so released and offered to it, once.
  const tap = await b.tap('W1', chip);
  expect(tap.swipe.load).toMatchObject({ amount_fen: 700, load_counter_after: 3 });
  expect(chip.read()).toEqual({ balance_fen: 700, load_counter: 3 });
  expect((await a.tap('W1', chip)).swipe.load).toBeNull();
  const after = (await (await fetch(`${hub.url}/grey-records`)).json()) as { records: { claim_id: string }[] };
  expect(after.records.some((record) => record.claim_id === claim_id)).toBe(false);
});

it('a late commit for a reservation the card already released is refused and kept as a grey record', async () => {
  const chip = new Chip({ balance_fen: 50, load_counter: 8 });
  const first = await a.swipe('W2', chip);
  const offer = first.load!;
  await sleep(WRITE_WINDOW_MS + 100);
  // The card moved on unwritten; b settles it by the counter and loads it.
  const tap = await b.tap('W2', chip);
  expect(tap.swipe.load?.amount_fen).toBe(900);
  // a claims it wrote the card after all: the chip it shows has the counter of its offer.
  const lying = new Chip({ balance_fen: offer.balance_after_fen, load_counter: offer.load_counter_after });
  await expect(a.commit(offer.claim_id, lying)).rejects.toMatchObject({ status: 409, code: 'claim_conflict' });
  const grey = (await (await fetch(`${hub.url}/grey-records`)).json()) as { records: { claim_id: string; reason: string }[] };
  expect(grey.records).toContainEqual(expect.objectContaining({ claim_id: offer.claim_id, reason: 'commit_after_release' }));
});
