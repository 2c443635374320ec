// The write window and grey records on the hub itself: a reservation is never released by a
// timer, only by the card's own evidence at its next load; inside the window another terminal
// is refused (the first may be writing the card right now); a TAC for a reservation the card's
// serial had released is refused and kept for the card office.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { computeTac, diversifyKey } from '../../protocol/pboc.ts';
import { LOAD_TRANSACTION_TYPE } from '../../protocol/pos.ts';
import { initializeForLoadApdu, LOAD_KEY_INDEX, parseInitForLoad } from '../../sim/pos/apdu.ts';
import { HubRequestError, terminalTimeOf, type Terminal } from '../../sim/pos/terminal.ts';
import { until } from '../helpers/wait.ts';
import { asnOf, cardChange, creditChange, HubHarness, type RegisteredTerminal } from './helpers/hub.ts';

const WRITE_WINDOW_MS = 300;
const hub = new HubHarness({ write_window_ms: WRITE_WINDOW_MS, grey_after_ms: 400 });
let ra: RegisteredTerminal;
let a: Terminal;
let b: Terminal;

beforeAll(async () => {
  await hub.init();
  ra = await hub.addTerminal('a');
  const rb = await hub.addTerminal('b');
  hub.seedChanges([cardChange('W1'), cardChange('W2'), creditChange('W1', 700), creditChange('W2', 900)]);
  await hub.start();
  a = hub.terminal(ra);
  b = hub.terminal(rb);
});

afterAll(() => hub.cleanup());

async function grey(): Promise<{ reason: string; claim_id: string | null }[]> {
  return ((await (await fetch(`${hub.url}/grey-records`)).json()) as { records: { reason: string; claim_id: string | null }[] }).records;
}

it('keeps a reservation past its window until the card comes back; another terminal is refused inside the window', async () => {
  const card = hub.card('W1', { balance_fen: 0, online_serial: 2 });
  const died = await a.tap('W1', card, 'after_mac2');
  const claim_id = died.load!.claim_id;
  // b at once: the card is busy (a may be writing it), for the swipe and for a load alike.
  expect((await b.tap('W1', card)).swipe).toMatchObject({ pending_fen: 700, offer_fen: 0 });
  const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 700, card_terminal_id: b.card_terminal_id })).data);
  const early = b.load({ card_no: 'W1', asn: card.asn, amount_fen: 700, init, terminal_time: terminalTimeOf(Date.now()) });
  await expect(early).rejects.toMatchObject({ status: 409, code: 'card_busy' });
  // Listed for the card office once it is older than the grey delay: a positive signal that
  // time has passed, after which it is still open (no timer released it).
  await until('listed as grey', async () => ((await grey()).some((record) => record.claim_id === claim_id) ? true : null));
  expect((await hub.health()).open_claims).toBe(1);
  // b after the window: the card's verified serial says not written: released, loaded once.
  const tap = await b.tap('W1', card);
  expect(tap.committed).toMatchObject({ status: 'committed', online_serial_after: 3 });
  expect([card.balance_fen, card.online_serial]).toEqual([700, 3]);
  expect((await a.tap('W1', card)).swipe.offer_fen).toBe(0);
  expect((await grey()).some((record) => record.claim_id === claim_id)).toBe(false);
  expect(hub.query('SELECT state, resolved_by FROM claims WHERE claim_id = ?', claim_id)).toEqual([{ state: 'released', resolved_by: 'load:b' }]);
});

it('a TAC for a reservation the card\'s serial released is refused and kept as a grey record', async () => {
  const card = hub.card('W2', { balance_fen: 50, online_serial: 8 });
  const read = a.readCard(card);
  const swipe = await a.swipe('W2', read);
  const init = parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: swipe.offer_fen, card_terminal_id: a.card_terminal_id })).data);
  const terminal_time = terminalTimeOf(Date.now());
  const load = await a.load({ card_no: 'W2', asn: read.asn, amount_fen: swipe.offer_fen, init, terminal_time });
  // The card moves on unwritten; after the window b settles it by the serial and loads it.
  const tap = await until('loaded at b', async () => {
    const next = await b.tap('W2', card);
    return next.committed === null ? null : next;
  });
  expect(tap.committed?.status).toBe('committed');
  // Then a TAC for the released reservation arrives, genuine for its values: a card that
  // proves a write its serial had denied. (Made with the issuer's keys: no real card could.)
  const tac = computeTac(diversifyKey(hub.master().tac_mk, asnOf('W2')), {
    balance_after_fen: 950,
    online_serial: 8,
    amount_fen: 900,
    transaction_type: LOAD_TRANSACTION_TYPE,
    card_terminal_id: ra.card_terminal_id,
    terminal_time,
  });
  const late = await a.commit(load.claim_id, tac).catch((error: unknown) => error);
  expect(late).toBeInstanceOf(HubRequestError);
  expect(late).toMatchObject({ status: 409, code: 'claim_conflict' });
  expect(await grey()).toContainEqual(expect.objectContaining({ claim_id: load.claim_id, reason: 'tac_after_release' }));
  expect(card.balance_fen).toBe(950);
});
