// A terminal dying at every step of a load, then the card at another terminal: exactly one
// load reaches the chip, or the reservation is the right grey record. And two terminals with
// one card at the same instant. The chips are the truth: their balances are summed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditForLoadApdu, initializeForLoadApdu, LOAD_KEY_INDEX, parseInitForLoad, SW_MAC_INVALID, SW_OK } from '../../sim/pos/apdu.ts';
import type { PurseCard } from '../../sim/pos/card.ts';
import { HubRequestError, terminalTimeOf, type DeathPoint, type Terminal } from '../../sim/pos/terminal.ts';
import { until } from '../helpers/wait.ts';
import { cardChange, creditChange, HubHarness } from './helpers/hub.ts';

const WRITE_WINDOW_MS = 400;
const GREY_AFTER_MS = 300;
const hub = new HubHarness({ write_window_ms: WRITE_WINDOW_MS, grey_after_ms: GREY_AFTER_MS });
let a: Terminal;
let b: Terminal;
const DEATHS: DeathPoint[] = ['before_init', 'after_init', 'after_mac2', 'credit_torn_unwritten', 'credit_torn_written', 'after_credit'];
const RACE_ROUNDS = 12;
const AMOUNT_FEN = 2_500;

beforeAll(async () => {
  await hub.init();
  const ra = await hub.addTerminal('a');
  const rb = await hub.addTerminal('b');
  const cards = [...DEATHS.map((death) => `D-${death}`), 'GREY1', ...Array.from({ length: RACE_ROUNDS }, (_, i) => `RACE${i}`)];
  hub.seedChanges([...cards.map((card_no) => cardChange(card_no)), ...cards.map((card_no) => creditChange(card_no, AMOUNT_FEN))]);
  await hub.start();
  a = hub.terminal(ra);
  b = hub.terminal(rb);
});

afterAll(() => hub.cleanup());

function claims(card_no: string) {
  return hub.query<{ state: string; proof_kind: string | null; terminal_id: string }>('SELECT state, proof_kind, terminal_id FROM claims WHERE card_no = ? ORDER BY reserved_at_ms', card_no);
}

describe('a terminal dies at every step; the card goes to another terminal', () => {
  for (const death of DEATHS) {
    it(`dies ${death}: exactly one load, settled by the card's own evidence`, async () => {
      const card_no = `D-${death}`;
      const card = hub.card(card_no, { balance_fen: 100, online_serial: 11 });
      const died = await a.tap(card_no, card, death);
      expect(died.died).toBe(death);
      const written = death === 'credit_torn_written' || death === 'after_credit';
      expect(card.balance_fen).toBe(written ? 100 + AMOUNT_FEN : 100);
      const reserved = !['before_init', 'after_init'].includes(death);
      expect(claims(card_no).map((claim) => claim.state)).toEqual(reserved ? ['open'] : []);

      // At terminal b at once. A written card settles now, by its transaction prove; an
      // unwritten one waits while a may still be writing it, then b loads it.
      const first = await b.tap(card_no, card);
      if (written) {
        expect(first.swipe.settle).toEqual({ claim_id: died.load!.claim_id, online_serial: 11 });
        expect(first.settled).toMatchObject({ claim_id: died.load!.claim_id, status: 'committed' });
        expect(first.swipe.offer_fen).toBe(0);
        expect(claims(card_no)).toEqual([{ state: 'committed', proof_kind: 'prove', terminal_id: 'a' }]);
      } else if (reserved) {
        expect(first.swipe).toMatchObject({ pending_fen: AMOUNT_FEN, offer_fen: 0, settle: null });
        const later = await until('write window over', async () => {
          const tap = await b.tap(card_no, card);
          return tap.committed === null ? null : tap;
        });
        expect(later.committed).toMatchObject({ status: 'committed', online_serial_after: 12 });
        expect(claims(card_no)).toEqual([
          { state: 'released', proof_kind: null, terminal_id: 'a' },
          { state: 'committed', proof_kind: 'tac', terminal_id: 'b' },
        ]);
      } else {
        expect(first.committed).toMatchObject({ status: 'committed' });
        expect(claims(card_no)).toEqual([{ state: 'committed', proof_kind: 'tac', terminal_id: 'b' }]);
      }
      // Exactly one load on the chip, whatever comes next.
      expect([card.balance_fen, card.online_serial]).toEqual([100 + AMOUNT_FEN, 12]);
      expect((await a.tap(card_no, card)).swipe).toMatchObject({ pending_fen: 0, offer_fen: 0, settle: null });
      expect(card.balance_fen).toBe(100 + AMOUNT_FEN);
      expect(hub.query('SELECT 1 FROM outbox o JOIN claims c ON c.claim_id = o.claim_id WHERE c.card_no = ?', card_no)).toHaveLength(1);
    });
  }

  it('a reservation whose card never comes back stays open, no timer releases it, and it is a grey record', async () => {
    const card = hub.card('GREY1');
    const died = await a.tap('GREY1', card, 'after_mac2');
    const grey = await until('listed as grey', async () => {
      // No token configured: the hub serves grey records on loopback connections.
      const body = (await (await fetch(`${hub.url}/grey-records`)).json()) as { records: { reason: string; claim_id: string | null; online_serial?: number }[] };
      return body.records.find((record) => record.claim_id === died.load!.claim_id) ?? null;
    });
    expect(grey).toMatchObject({ reason: 'open_reservation', online_serial: 0 });
    // Long past the window and the grey delay: still open, still reserved.
    expect(claims('GREY1')).toEqual([{ state: 'open', proof_kind: null, terminal_id: 'a' }]);
    expect(hub.query<{ state: string }>("SELECT state FROM credits WHERE card_no = 'GREY1'")).toEqual([{ state: 'reserved' }]);
  });
});

describe('two terminals, one card, the same instant', () => {
  it('both are offered the load, both INITIALIZE, both ask for MAC2 at once: the card takes at most one, and ends with exactly one', async () => {
    let loaded_fen = 0;
    const cards: PurseCard[] = [];
    for (let round = 0; round < RACE_ROUNDS; round++) {
      const card_no = `RACE${round}`;
      const card = hub.card(card_no, { balance_fen: 0, online_serial: 3 });
      cards.push(card);
      const read = { balance_fen: 0, online_serial: 3 };
      const [sa, sb] = await Promise.all([a.swipe(card_no, read), b.swipe(card_no, read)]);
      expect([sa.offer_fen, sb.offer_fen]).toEqual([AMOUNT_FEN, AMOUNT_FEN]);
      // The card answers both INITs in turn; only the later session can take a CREDIT.
      const [first, second] = round % 2 === 0 ? [a, b] : [b, a];
      const inits = [first, second].map((t) => ({
        t,
        init: parseInitForLoad(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: AMOUNT_FEN, card_terminal_id: t.card_terminal_id })).data),
      }));
      const terminal_time = terminalTimeOf(Date.now());
      const asn = card.asn;
      const loads = await Promise.allSettled(inits.map(({ t, init }) => t.load({ card_no, asn, amount_fen: AMOUNT_FEN, init, terminal_time })));
      const granted = loads.filter((load) => load.status === 'fulfilled');
      // One reservation: the other terminal is told the card is busy.
      expect(granted).toHaveLength(1);
      const refused = loads.find((load) => load.status === 'rejected')!;
      expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(HubRequestError);
      expect(((refused as PromiseRejectedResult).reason as HubRequestError).code).toBe('card_busy');
      const winner = inits[loads.findIndex((load) => load.status === 'fulfilled')]!;
      const mac2 = (granted[0] as PromiseFulfilledResult<{ mac2: string; claim_id: string }>).value;
      const credit = card.transmit(creditForLoadApdu({ terminal_time, mac2: mac2.mac2 }));
      if (winner === inits[1]) {
        // The MAC2 is for the card's live session: written, committed by its TAC.
        expect(credit.sw).toBe(SW_OK);
        expect(await winner.t.commit(mac2.claim_id, credit.data.toString('hex').toUpperCase())).toMatchObject({ status: 'committed' });
      } else {
        // The MAC2 is for a session the card already replaced: the card refuses it.
        expect(credit.sw).toBe(SW_MAC_INVALID);
        expect(card.balance_fen).toBe(0);
        // The next tap after the window settles it by the card's serial and loads once.
        await until('loaded after the window', async () => ((await b.tap(card_no, card)).committed === null ? null : true));
      }
      expect([card.balance_fen, card.online_serial]).toEqual([AMOUNT_FEN, 4]);
      loaded_fen += AMOUNT_FEN;
      const [again_a, again_b] = await Promise.all([a.swipe(card_no, t0(card)), b.swipe(card_no, t0(card))]);
      expect([again_a.offer_fen, again_b.offer_fen]).toEqual([0, 0]);
    }
    expect(cards.reduce((sum, card) => sum + card.balance_fen, 0)).toBe(loaded_fen);
  });
});

function t0(card: PurseCard): { balance_fen: number; online_serial: number } {
  return { balance_fen: card.balance_fen, online_serial: card.online_serial };
}
