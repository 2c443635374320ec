// The simulated PBOC purse at APDU level, loaded through the hub's file key store exactly as a
// terminal would drive it: what it writes, what it refuses, how it tears, what it remembers.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileCardKeyStore, type CardMasterKeys } from '../../hub/keys/file.ts';
import type { CardLoadSession } from '../../hub/keys/store.ts';
import { ONLINE_SERIAL_MAX, PURSE_BALANCE_FEN_MAX } from '../../protocol/pos.ts';
import {
  creditForLoadApdu,
  getBalanceApdu,
  getTransactionProveApdu,
  hexOfSw,
  initializeForLoadApdu,
  LOAD_KEY_INDEX,
  parseBalance,
  parseInitForLoad,
  parseProve,
  parsePublicInfo,
  parsePurchase,
  parseTac,
  purchaseApdu,
  readPublicInfoApdu,
  readRecordApdu,
  RECORD_TYPE_LOAD,
  type ResponseApdu,
  SW_FILE_NOT_FOUND,
  SW_RECORD_NOT_FOUND,
  TRANSACTION_LOG_RECORDS_MAX,
  SW_COMMAND_NOT_ALLOWED,
  SW_INSUFFICIENT_FUNDS,
  SW_KEY_INDEX_UNSUPPORTED,
  SW_MAC_INVALID,
  SW_MAC_UNAVAILABLE,
  SW_OK,
  SW_SERIAL_AT_MAX,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../sim/pos/apdu.ts';
import { CardTornError, PROVES_KEPT_MAX, PurseCard } from '../../sim/pos/card.ts';
import { loadCard, personaliseCards, readCardsFile, saveCard } from '../../sim/pos/cards-file.ts';
import { foreignCard, personalise, personaliseCard } from '../../sim/pos/personalise.ts';
import { loadsSince, readCard } from '../../sim/pos/reader.ts';

const master: CardMasterKeys = { key_version: 1, load_mk: randomBytes(16), tac_mk: randomBytes(16) };
const store = new FileCardKeyStore(master);
const ASN = '2023000100000001';
const TERMINAL = '0000000000A1';
const TIME = '20261201120000';

function ok(answer: ResponseApdu): Buffer {
  expect(hexOfSw(answer.sw)).toBe('9000');
  return answer.data;
}

/** What the hub does for one load: MAC1 verified against the registered asn, then MAC2. */
async function hostLoad(card: PurseCard, amount_fen: number, options: { registered_asn?: string; terminal_time?: string } = {}) {
  const init = parseInitForLoad(ok(card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen, card_terminal_id: TERMINAL }))));
  const session: CardLoadSession = {
    asn: options.registered_asn ?? ASN,
    key_version: init.key_version,
    algorithm_id: init.algorithm_id,
    random: init.random,
    online_serial: init.online_serial,
    balance_fen: init.balance_fen,
    amount_fen,
    card_terminal_id: TERMINAL,
  };
  const terminal_time = options.terminal_time ?? TIME;
  const mac1 = await store.verifyMac1(session, init.mac1);
  const mac2 = await store.makeMac2(session, init.mac1, terminal_time);
  return { init, session, mac1, mac2, terminal_time };
}

describe('a load, APDU by APDU, through the file key store', () => {
  it('writes balance and serial once, answers a TAC the store verifies, and proves it later', async () => {
    const card = personaliseCard(master, ASN, { balance_fen: 1_234, online_serial: 7 });
    expect(parsePublicInfo(ok(card.transmit(readPublicInfoApdu()))).asn).toBe(ASN);
    expect(parseBalance(ok(card.transmit(getBalanceApdu({ with_online_serial: true }))))).toEqual({ balance_fen: 1_234, online_serial: 7 });

    const { init, mac1, mac2 } = await hostLoad(card, 10_000);
    expect(init).toMatchObject({ balance_fen: 1_234, online_serial: 7, key_version: 1, algorithm_id: 0 });
    expect(mac1).toEqual({ ok: true });
    if (!mac2.ok) throw new Error('MAC2 refused');
    const { tac } = parseTac(ok(card.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: mac2.mac2 }))));
    expect(parseBalance(ok(card.transmit(getBalanceApdu({ with_online_serial: true }))))).toEqual({ balance_fen: 11_234, online_serial: 8 });

    const write = { asn: ASN, key_version: 1, algorithm_id: 0, balance_after_fen: 11_234, online_serial: 7, amount_fen: 10_000, card_terminal_id: TERMINAL, terminal_time: TIME };
    expect(await store.verifyTac(write, tac)).toEqual({ ok: true });
    expect(await store.verifyTac({ ...write, amount_fen: 10_001 }, tac)).toEqual({ ok: false, reason: 'mac_invalid' });
    expect(await store.verifyTac({ ...write, online_serial: 8 }, tac)).toEqual({ ok: false, reason: 'mac_invalid' });

    const prove = parseProve(ok(card.transmit(getTransactionProveApdu({ online_serial: 7 }))));
    expect(prove).toEqual({ mac2: mac2.mac2, tac });
    expect(card.transmit(getTransactionProveApdu({ online_serial: 8 })).sw).toBe(SW_MAC_UNAVAILABLE);

    // The same MAC2 again: the session is gone, nothing is written twice.
    expect(card.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: mac2.mac2 })).sw).toBe(SW_COMMAND_NOT_ALLOWED);
    expect(card.balance_fen).toBe(11_234);
  });

  it('refuses a MAC2 for another amount, time or session, and writes nothing', async () => {
    const card = personaliseCard(master, ASN);
    const first = await hostLoad(card, 5_000);
    if (!first.mac2.ok) throw new Error('MAC2 refused');
    // A MAC2 made for a later time does not verify for this one.
    expect(card.transmit(creditForLoadApdu({ terminal_time: '20261201120001', mac2: first.mac2.mac2 })).sw).toBe(SW_MAC_INVALID);
    // A MAC2 of an earlier session (another random) does not verify in a new one.
    const second = await hostLoad(card, 5_000);
    if (!second.mac2.ok) throw new Error('MAC2 refused');
    expect(card.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: first.mac2.mac2 })).sw).toBe(SW_MAC_INVALID);
    // A MAC2 for 50.00 cannot load 500.00.
    card.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 50_000, card_terminal_id: TERMINAL }));
    expect(card.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: second.mac2.mac2 })).sw).toBe(SW_MAC_INVALID);
    expect(card.toState()).toMatchObject({ balance_fen: 0, online_serial: 0, proves: [] });
  });

  it('is refused by the store when its keys are not ours or not its number\'s', async () => {
    const stranger = foreignCard(ASN);
    const foreign = await hostLoad(stranger, 1_000);
    expect(foreign.mac1).toEqual({ ok: false, reason: 'mac_invalid' });
    expect(foreign.mac2).toEqual({ ok: false, reason: 'mac_invalid' });
    // A genuine card of our own, presented under another card's number: the hub derives the
    // keys from the asn registered for that number, and the MAC1 does not verify.
    const own = personaliseCard(master, '2023000200000002');
    const borrowed = await hostLoad(own, 1_000, { registered_asn: ASN });
    expect(borrowed.mac1).toEqual({ ok: false, reason: 'mac_invalid' });
    expect(borrowed.mac2.ok).toBe(false);
    // A key version the store does not hold is named as such.
    const old = new PurseCard({ ...personalise(master, ASN), key_version: 2 });
    expect((await hostLoad(old, 1_000)).mac1).toEqual({ ok: false, reason: 'key_version_unknown' });
  });

  it('tears during CREDIT FOR LOAD with or without the write, and then tells which by its serial', async () => {
    const unwritten = personaliseCard(master, ASN);
    const a = await hostLoad(unwritten, 2_000);
    if (!a.mac2.ok) throw new Error('MAC2 refused');
    const mac2_a = a.mac2.mac2;
    unwritten.tearNextCredit('before_write');
    expect(() => unwritten.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: mac2_a }))).toThrow(CardTornError);
    expect(parseBalance(ok(unwritten.transmit(getBalanceApdu({ with_online_serial: true }))))).toEqual({ balance_fen: 0, online_serial: 0 });
    expect(unwritten.transmit(getTransactionProveApdu({ online_serial: 0 })).sw).toBe(SW_MAC_UNAVAILABLE);

    const written = personaliseCard(master, ASN);
    const b = await hostLoad(written, 2_000);
    if (!b.mac2.ok) throw new Error('MAC2 refused');
    const mac2_b = b.mac2.mac2;
    written.tearNextCredit('after_write');
    expect(() => written.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: mac2_b }))).toThrow(CardTornError);
    expect(parseBalance(ok(written.transmit(getBalanceApdu({ with_online_serial: true }))))).toEqual({ balance_fen: 2_000, online_serial: 1 });
    // Any terminal reads the proof of the torn load and the store accepts it.
    const { tac } = parseProve(ok(written.transmit(getTransactionProveApdu({ online_serial: 0 }))));
    const write = { asn: ASN, key_version: 1, algorithm_id: 0, balance_after_fen: 2_000, online_serial: 0, amount_fen: 2_000, card_terminal_id: TERMINAL, terminal_time: TIME };
    expect(await store.verifyTac(write, tac)).toEqual({ ok: true });
  });

  it('stops loading at serial 0xFFFF and at the 4-byte balance, with the card\'s status words', () => {
    const full = personaliseCard(master, ASN, { balance_fen: 0, online_serial: ONLINE_SERIAL_MAX });
    expect(full.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 100, card_terminal_id: TERMINAL })).sw).toBe(SW_SERIAL_AT_MAX);
    const rich = personaliseCard(master, ASN, { balance_fen: PURSE_BALANCE_FEN_MAX - 10, online_serial: 0 });
    expect(rich.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 11, card_terminal_id: TERMINAL })).sw).toBe(SW_WRONG_DATA);
    expect(rich.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 10, card_terminal_id: TERMINAL })).sw).toBe(SW_OK);
    expect(rich.transmit(initializeForLoadApdu({ key_index: 0x02, amount_fen: 10, card_terminal_id: TERMINAL })).sw).toBe(SW_KEY_INDEX_UNSUPPORTED);
    expect(rich.transmit(initializeForLoadApdu({ key_index: LOAD_KEY_INDEX, amount_fen: 0, card_terminal_id: TERMINAL })).sw).toBe(SW_WRONG_DATA);
    expect(rich.transmit(Buffer.from('805000020B01', 'hex')).sw).toBe(SW_WRONG_LENGTH);
    expect(rich.transmit(Buffer.from('80', 'hex')).sw).toBe(SW_WRONG_LENGTH);
    expect(rich.balance_fen).toBe(PURSE_BALANCE_FEN_MAX - 10);
  });

  it('debits a purchase with its own serial, never below zero, leaving the online serial alone', () => {
    const card = personaliseCard(master, ASN, { balance_fen: 1_000, online_serial: 3 });
    expect(parsePurchase(ok(card.transmit(purchaseApdu({ amount_fen: 250 }))))).toEqual({ balance_fen: 750, offline_serial: 1 });
    expect(card.transmit(purchaseApdu({ amount_fen: 751 })).sw).toBe(SW_INSUFFICIENT_FUNDS);
    expect(parseBalance(ok(card.transmit(getBalanceApdu({ with_online_serial: true }))))).toEqual({ balance_fen: 750, online_serial: 3 });
    expect(parseBalance(ok(card.transmit(getBalanceApdu({ with_online_serial: false }))))).toEqual({ balance_fen: 750, online_serial: null });
  });

  it('saves to JSON and loads back with balance, serials and proofs, keeping only the newest proofs', async () => {
    const card = personaliseCard(master, ASN);
    const loads = PROVES_KEPT_MAX + 2;
    for (let i = 0; i < loads; i++) {
      const { mac2 } = await hostLoad(card, 1);
      if (!mac2.ok) throw new Error('MAC2 refused');
      ok(card.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: mac2.mac2 })));
    }
    card.transmit(purchaseApdu({ amount_fen: 2 }));
    const again = new PurseCard(JSON.parse(JSON.stringify(card.toState())));
    expect(again.toState()).toEqual(card.toState());
    expect(again.toState()).toMatchObject({ balance_fen: loads - 2, online_serial: loads, offline_serial: 1 });
    expect(again.toState().proves).toHaveLength(PROVES_KEPT_MAX);
    expect(again.transmit(getTransactionProveApdu({ online_serial: 0 })).sw).toBe(SW_MAC_UNAVAILABLE);
    ok(again.transmit(getTransactionProveApdu({ online_serial: loads - 1 })));
    // The reloaded card goes on loading under the same keys.
    const next = await hostLoad(again, 5);
    expect(next.mac1).toEqual({ ok: true });
  });
});

describe('the transaction detail file the card office reads', () => {
  it('keeps the last ten loads, newest first, with their serials and amounts; older ones are gone', async () => {
    const card = personaliseCard(master, ASN, { balance_fen: 500, online_serial: 7 });
    expect(readCard(card)).toEqual({ asn: ASN, balance_fen: 500, online_serial: 7, records: [] });
    const load = async (amount_fen: number) => {
      const { mac2 } = await hostLoad(card, amount_fen);
      if (!mac2.ok) throw new Error('MAC2 refused');
      ok(card.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: mac2.mac2 })));
    };
    await load(100);
    await load(250);
    // A purchase at the till writes no load record.
    card.transmit(purchaseApdu({ amount_fen: 30 }));
    const reading = readCard(card);
    expect(reading).toMatchObject({ balance_fen: 820, online_serial: 9 });
    expect(reading.records.map((record) => [record.type, record.serial, record.amount_fen])).toEqual([
      [RECORD_TYPE_LOAD, 8, 250],
      [RECORD_TYPE_LOAD, 7, 100],
    ]);
    expect(reading.records[1]).toMatchObject({ card_terminal_id: TERMINAL, terminal_time: TIME });
    // The loads since serial 7, oldest first; from 6 the log cannot tell (no record of serial 6).
    expect(loadsSince(reading, 7)?.map((record) => record.amount_fen)).toEqual([100, 250]);
    expect(loadsSince(reading, 9)).toEqual([]);
    expect(loadsSince(reading, 6)).toBeNull();
    // Cyclic: after ten more loads the first two are gone from it.
    for (let i = 0; i < TRANSACTION_LOG_RECORDS_MAX; i++) await load(1);
    expect(readCard(card).records).toHaveLength(TRANSACTION_LOG_RECORDS_MAX);
    expect(loadsSince(readCard(card), 7)).toBeNull();
    expect(loadsSince(readCard(card), 9)).toHaveLength(TRANSACTION_LOG_RECORDS_MAX);
    expect(card.transmit(readRecordApdu(TRANSACTION_LOG_RECORDS_MAX + 1)).sw).toBe(SW_RECORD_NOT_FOUND);
    expect(card.transmit(Buffer.from('00B201BC17', 'hex')).sw).toBe(SW_FILE_NOT_FOUND);
    expect(new PurseCard(JSON.parse(JSON.stringify(card.toState()))).toState()).toEqual(card.toState());
  });
});

describe('the cards file `npm run pos` keeps its cards in', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-pos-cards-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('personalises each card once, keeps what a swipe left on it, and re-issues it for new keys', async () => {
    const file = path.join(dir, 'cards.json');
    const demo = [
      { card_no: '20230001', asn: ASN },
      { card_no: '20230002', asn: '2023000200000002' },
    ];
    expect(personaliseCards(file, master, demo)).toEqual(['20230001', '20230002']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const card = loadCard(file, '20230001')!;
    const { mac2 } = await hostLoad(card, 700);
    if (!mac2.ok) throw new Error('MAC2 refused');
    ok(card.transmit(creditForLoadApdu({ terminal_time: TIME, mac2: mac2.mac2 })));
    saveCard(file, '20230001', card);

    // `npm start` again: the same keys keep every card as the last swipe left it.
    expect(personaliseCards(file, master, demo)).toEqual([]);
    expect(loadCard(file, '20230001')!.toState()).toMatchObject({ balance_fen: 700, online_serial: 1 });
    expect(loadCard(file, '20230003')).toBeNull();

    // Other master keys (a new key file): the cards are issued afresh, or no MAC1 would verify.
    const other: CardMasterKeys = { key_version: 1, load_mk: randomBytes(16), tac_mk: randomBytes(16) };
    expect(personaliseCards(file, other, demo)).toEqual(['20230001', '20230002']);
    expect(readCardsFile(file).cards['20230001']).toMatchObject({ balance_fen: 0, online_serial: 0 });
  });
});
