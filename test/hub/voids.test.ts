// Void requests (refunds) as the hub sees them in the changes feed: a pending credit is voided
// at once; a reserved one waits for the card to settle its reservation, then is answered by
// what the card says (its verified serial at the next load, or its transaction prove); a
// claimed one is answered already_claimed. Restarts in between, since the feed only arrives
// while the hub runs its sync.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HubChange } from '../../protocol/hub.ts';
import type { Terminal } from '../../sim/pos/terminal.ts';
import { cardChange, creditChange, HubHarness, nextSeq, type RegisteredTerminal } from './helpers/hub.ts';

const hub = new HubHarness({ write_window_ms: 10_000 });
let reg: RegisteredTerminal;
let txn_seq = 0;

function voidChange(credit: { credit_id: string; card_no: string }): HubChange {
  return { seq: nextSeq(), kind: 'void', credit_id: credit.credit_id, card_no: credit.card_no };
}

async function terminal(): Promise<Terminal> {
  await hub.start();
  return hub.terminal(reg, txn_seq);
}

async function restartWith(changes: HubChange[], t: Terminal): Promise<Terminal> {
  txn_seq = t.txn_seq;
  t.close();
  await hub.stop();
  hub.seedChanges(changes);
  return terminal();
}

function answers() {
  return hub.query<{ credit_id: string; result: string; claim_id: string | null }>('SELECT credit_id, result, claim_id FROM void_answers ORDER BY credit_id');
}

beforeAll(async () => {
  await hub.init();
  reg = await hub.addTerminal('till-1');
  hub.seedChanges([cardChange('V1'), cardChange('V2'), cardChange('V3'), cardChange('V4')]);
});

afterAll(async () => {
  await hub.cleanup();
});

it('a pending credit is voided at once and never offered', async () => {
  const credit = creditChange('V1', 1_000);
  hub.seedChanges([credit, voidChange(credit)]);
  const t = await terminal();
  expect((await t.tap('V1', hub.card('V1'))).swipe).toMatchObject({ pending_fen: 0, offer_fen: 0 });
  txn_seq = t.txn_seq;
  t.close();
  await hub.stop();
  expect(answers()).toContainEqual({ credit_id: credit.credit_id, result: 'voided', claim_id: null });
});

it('a reserved credit not written: the void waits, then is voided when the card says so', async () => {
  const credit = creditChange('V2', 2_000);
  const other = creditChange('V2', 500);
  hub.seedChanges([credit, other]);
  let t = await terminal();
  const chip = hub.card('V2', { balance_fen: 0, online_serial: 4 });
  const died = await t.tap('V2', chip, 'after_mac2');
  expect(died.load?.amount_fen).toBe(2_500);
  t = await restartWith([voidChange(credit)], t);
  // The reservation stands (MAC2 is out, the card may be written); no answer yet.
  expect(answers().some((a) => a.credit_id === credit.credit_id)).toBe(false);
  // The card comes back unwritten; the swipe still counts the refunded credit (only the
  // card's verified serial at the load releases it), so the terminal's load is told the offer
  // changed; swiped again, only the other credit is offered.
  await expect(t.tap('V2', chip)).rejects.toMatchObject({ status: 409, code: 'offer_changed' });
  const next = await t.tap('V2', chip);
  expect(next.load?.amount_fen).toBe(500);
  expect([chip.balance_fen, chip.online_serial]).toEqual([500, 5]);
  txn_seq = t.txn_seq;
  t.close();
  await hub.stop();
  expect(answers()).toContainEqual({ credit_id: credit.credit_id, result: 'voided', claim_id: null });
  expect(hub.query('SELECT state FROM credits WHERE credit_id = ?', credit.credit_id)).toEqual([{ state: 'voided' }]);
});

it('a reserved credit that was written: the void is answered already_claimed', async () => {
  const credit = creditChange('V3', 3_000);
  hub.seedChanges([credit]);
  let t = await terminal();
  const chip = hub.card('V3', { balance_fen: 10, online_serial: 0 });
  const died = await t.tap('V3', chip, 'after_credit');
  t = await restartWith([voidChange(credit)], t);
  expect(answers().some((a) => a.credit_id === credit.credit_id)).toBe(false);
  // The card comes back written: the swipe asks for its prove, which commits the claim.
  const next = await t.tap('V3', chip);
  expect(next.settled).toMatchObject({ claim_id: died.load!.claim_id, status: 'committed' });
  expect(next.swipe.offer_fen).toBe(0);
  txn_seq = t.txn_seq;
  t.close();
  await hub.stop();
  expect(answers()).toContainEqual({ credit_id: credit.credit_id, result: 'already_claimed', claim_id: died.load!.claim_id });
  expect([chip.balance_fen, chip.online_serial]).toEqual([3_010, 1]);
});

it('a claimed credit is answered already_claimed; a repeated void gets the same answer', async () => {
  const credit = creditChange('V4', 4_000);
  hub.seedChanges([credit]);
  let t = await terminal();
  const tap = await t.tap('V4', hub.card('V4'));
  expect(tap.committed?.status).toBe('committed');
  t = await restartWith([voidChange(credit), voidChange(credit)], t);
  txn_seq = t.txn_seq;
  t.close();
  await hub.stop();
  expect(answers()).toContainEqual({ credit_id: credit.credit_id, result: 'already_claimed', claim_id: tap.load!.claim_id });
});
