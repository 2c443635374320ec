// Void requests (refunds) as the hub sees them in the changes feed: a pending credit is voided
// at once; a reserved one waits for the card to settle its reservation, then is answered by
// what the card says; a claimed one is answered already_claimed. Restarts in between, since
// the feed only arrives while the hub runs its sync.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HubChange } from '../../protocol/hub.ts';
import { Chip } from '../../sim/pos/chip.ts';
import { Terminal } from '../../sim/pos/terminal.ts';
import { cardChange, creditChange, HubHarness, nextSeq } from './helpers/hub.ts';

const hub = new HubHarness({ write_window_ms: 10_000 });
let key_hex = '';
let txn_seq = 0;

function voidChange(credit: { credit_id: string; card_no: string }): HubChange {
  return { seq: nextSeq(), kind: 'void', credit_id: credit.credit_id, card_no: credit.card_no };
}

async function terminal(): Promise<Terminal> {
  await hub.start();
  const t = new Terminal({ hub_url: hub.url, terminal_id: 'till-1', key_hex, txn_seq_start: txn_seq });
  return t;
}

async function restartWith(changes: HubChange[], t: Terminal): Promise<Terminal> {
  txn_seq = t.txn_seq;
  await hub.stop();
  hub.seedChanges(changes);
  return terminal();
}

function answers() {
  return hub.query<{ credit_id: string; result: string; claim_id: string | null }>('SELECT credit_id, result, claim_id FROM void_answers ORDER BY credit_id');
}

beforeAll(async () => {
  await hub.keygen();
  key_hex = await hub.addTerminal('till-1');
  hub.seedChanges([cardChange('V1'), cardChange('V2'), cardChange('V3'), cardChange('V4')]);
});

afterAll(async () => {
  await hub.cleanup();
});

it('a pending credit is voided at once and never offered', async () => {
  const credit = creditChange('V1', 1_000);
  hub.seedChanges([credit, voidChange(credit)]);
  const t = await terminal();
  expect((await t.tap('V1', new Chip())).swipe.load).toBeNull();
  txn_seq = t.txn_seq;
  await hub.stop();
  expect(answers()).toContainEqual({ credit_id: credit.credit_id, result: 'voided', claim_id: null });
});

it('a reserved credit not written: the void waits, then is voided when the card says so', async () => {
  const credit = creditChange('V2', 2_000);
  const other = creditChange('V2', 500);
  hub.seedChanges([credit, other]);
  let t = await terminal();
  const chip = new Chip({ balance_fen: 0, load_counter: 4 });
  const died = await t.tap('V2', chip, 'die_before_write');
  expect(died.swipe.load?.amount_fen).toBe(2_500);
  t = await restartWith([voidChange(credit)], t);
  // The reservation stands (the terminal may be writing); no answer yet.
  expect(answers().some((a) => a.credit_id === credit.credit_id)).toBe(false);
  // The card comes back unwritten: released; the refunded credit is voided, the other offered.
  const next = await t.tap('V2', chip);
  expect(next.swipe.load?.amount_fen).toBe(500);
  expect(chip.read()).toEqual({ balance_fen: 500, load_counter: 5 });
  txn_seq = t.txn_seq;
  await hub.stop();
  expect(answers()).toContainEqual({ credit_id: credit.credit_id, result: 'voided', claim_id: null });
  expect(hub.query('SELECT state FROM credits WHERE credit_id = ?', credit.credit_id)).toEqual([{ state: 'voided' }]);
});

it('a reserved credit that was written: the void is answered already_claimed', async () => {
  const credit = creditChange('V3', 3_000);
  hub.seedChanges([credit]);
  let t = await terminal();
  const chip = new Chip({ balance_fen: 10, load_counter: 0 });
  const died = await t.tap('V3', chip, 'die_after_write');
  t = await restartWith([voidChange(credit)], t);
  expect(answers().some((a) => a.credit_id === credit.credit_id)).toBe(false);
  expect((await t.tap('V3', chip)).swipe.load).toBeNull();
  txn_seq = t.txn_seq;
  await hub.stop();
  expect(answers()).toContainEqual({ credit_id: credit.credit_id, result: 'already_claimed', claim_id: died.swipe.load!.claim_id });
  expect(chip.read()).toEqual({ balance_fen: 3_010, load_counter: 1 });
});

it('a claimed credit is answered already_claimed; a repeated void gets the same answer', async () => {
  const credit = creditChange('V4', 4_000);
  hub.seedChanges([credit]);
  let t = await terminal();
  const tap = await t.tap('V4', new Chip());
  expect(tap.outcome?.status).toBe('committed');
  t = await restartWith([voidChange(credit), voidChange(credit)], t);
  txn_seq = t.txn_seq;
  await hub.stop();
  expect(answers()).toContainEqual({ credit_id: credit.credit_id, result: 'already_claimed', claim_id: tap.swipe.load!.claim_id });
});
