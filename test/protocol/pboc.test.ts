// The card cryptography against DESIGN section 6's published worked example, and against
// itself: a one-bit change in any input of any function changes the answer (except a DES key's
// parity bits, which DES ignores by definition).
import { createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  bcdDateTime,
  computeMac1,
  computeMac2,
  computeTac,
  diversifyKey,
  macEquals,
  padIso9797m2,
  pbocMac,
  sessionLoadKey,
  tacKey,
} from '../../protocol/pboc.ts';

const DLK = Buffer.from('11223344556677888877665544332211', 'hex');
const KNOWN = {
  random: '11223344',
  online_serial: 0,
  balance_fen: 0,
  amount_fen: 0x1000,
  transaction_type: 0x01,
  card_terminal_id: '001122334455',
  terminal_time: '20111221214822',
};

function flipBit(bytes: Uint8Array, bit: number): Buffer {
  const out = Buffer.from(bytes);
  out[bit >> 3]! ^= 0x80 >> (bit & 7);
  return out;
}
function flipHexBit(hex: string, bit: number): string {
  return flipBit(Buffer.from(hex, 'hex'), bit).toString('hex').toUpperCase();
}
/** Every bit of a DES key that DES reads: the low bit of each byte is parity. */
function keyBits(bytes: number): number[] {
  return Array.from({ length: bytes * 8 }, (_, bit) => bit).filter((bit) => (bit & 7) !== 7);
}
/** A decimal digit changed by one bit stays a digit (0↔1, …, 8↔9): a one-bit change of the BCD. */
function flipDigit(text: string, index: number): string {
  return text.slice(0, index) + String(Number(text[index]) ^ 1) + text.slice(index + 1);
}
function numberVariants(value: number, bits: number): number[] {
  return Array.from({ length: bits }, (_, bit) => (value ^ (2 ** bit)) >>> 0);
}

describe('known answers (DESIGN section 6)', () => {
  it('reproduces SESLK, MAC1 and MAC2 of the published example', () => {
    const seslk = sessionLoadKey(DLK, KNOWN.random, KNOWN.online_serial);
    expect(seslk.toString('hex').toUpperCase()).toBe('9B1D924E05595603');
    expect(computeMac1(seslk, KNOWN)).toBe('2988AE5A');
    expect(computeMac2(seslk, KNOWN)).toBe('3A845BF0');
  });

  it('diversifies a card key that decrypts back to the asn and to NOT asn', () => {
    const master_key = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
    const asn = '1234567890ABCDEF';
    const key = diversifyKey(master_key, asn);
    expect(key.length).toBe(16);
    const decrypt = (block: Buffer) => {
      const decipher = createDecipheriv('des-ede-ecb', master_key, null);
      decipher.setAutoPadding(false);
      return Buffer.concat([decipher.update(block), decipher.final()]).toString('hex').toUpperCase();
    };
    expect(decrypt(key.subarray(0, 8))).toBe(asn);
    expect(decrypt(key.subarray(8, 16))).toBe('EDCBA9876F543210');
  });

  it('lays out MAC1, MAC2 and the TAC input exactly as DESIGN writes them', () => {
    const seslk = sessionLoadKey(DLK, KNOWN.random, KNOWN.online_serial);
    const load = { ...KNOWN, balance_fen: 0x0102_0304, amount_fen: 2_000, transaction_type: 0x02, card_terminal_id: 'A1B2C3D4E5F6' };
    expect(computeMac1(seslk, load)).toBe(pbocMac(seslk, Buffer.from('01020304' + '000007D0' + '02' + 'A1B2C3D4E5F6', 'hex')).toString('hex').toUpperCase());
    expect(computeMac2(seslk, load)).toBe(pbocMac(seslk, Buffer.from('000007D0' + '02' + 'A1B2C3D4E5F6' + '20111221' + '214822', 'hex')).toString('hex').toUpperCase());
    const dtk = Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex');
    expect(tacKey(dtk).toString('hex').toUpperCase()).toBe('FFFFFFFFFFFFFFFF');
    const tac = computeTac(dtk, { ...load, balance_after_fen: 0x0102_0ad4, online_serial: 0x00ab });
    expect(tac).toBe(pbocMac(Buffer.alloc(8, 0xff), Buffer.from('01020AD4' + '00AB' + '000007D0' + '02' + 'A1B2C3D4E5F6' + '20111221' + '214822', 'hex')).toString('hex').toUpperCase());
  });

  it('pads with 80 then 00 to whole blocks, a full block included', () => {
    expect(padIso9797m2(Buffer.alloc(0)).toString('hex')).toBe('8000000000000000');
    expect(padIso9797m2(Buffer.from('AABBCCDDEEFF00', 'hex')).toString('hex')).toBe('aabbccddeeff0080');
    expect(padIso9797m2(Buffer.from('0102030405060708', 'hex')).toString('hex')).toBe('01020304050607088000000000000000');
  });

  it('writes the terminal time as BCD', () => {
    const { date, time } = bcdDateTime('20261201191733');
    expect(date.toString('hex')).toBe('20261201');
    expect(time.toString('hex')).toBe('191733');
  });
});

describe('a one-bit change anywhere changes the answer', () => {
  const master_key = Buffer.from('404142434445464748494A4B4C4D4E4F', 'hex');
  const asn = '0000000000000001';
  const dtk = diversifyKey(Buffer.from('505152535455565758595A5B5C5D5E5F', 'hex'), asn);
  const seslk = sessionLoadKey(DLK, KNOWN.random, 7);
  const load = { balance_fen: 12_345, amount_fen: 10_000, transaction_type: 0x02, card_terminal_id: '0000000000A1', terminal_time: '20261201191733' };
  const tac_input = { ...load, balance_after_fen: 22_345, online_serial: 7 };

  function expectAllDiffer(reference: string, variants: string[]): void {
    expect(variants.length).toBeGreaterThan(0);
    for (const variant of variants) expect(variant).not.toBe(reference);
  }

  it('diversifyKey: every key bit DES reads, every asn bit', () => {
    const reference = diversifyKey(master_key, asn).toString('hex');
    expectAllDiffer(reference, keyBits(16).map((bit) => diversifyKey(flipBit(master_key, bit), asn).toString('hex')));
    expectAllDiffer(reference, Array.from({ length: 64 }, (_, bit) => diversifyKey(master_key, flipHexBit(asn, bit)).toString('hex')));
    // The parity bits are the exception DES itself makes: a key differing there is the same key.
    expect(diversifyKey(flipBit(master_key, 7), asn).toString('hex')).toBe(reference);
  });

  it('sessionLoadKey: every DLK bit DES reads, every random bit, every serial bit', () => {
    const reference = sessionLoadKey(DLK, KNOWN.random, 7).toString('hex');
    expectAllDiffer(reference, keyBits(16).map((bit) => sessionLoadKey(flipBit(DLK, bit), KNOWN.random, 7).toString('hex')));
    expectAllDiffer(reference, Array.from({ length: 32 }, (_, bit) => sessionLoadKey(DLK, flipHexBit(KNOWN.random, bit), 7).toString('hex')));
    expectAllDiffer(reference, numberVariants(7, 16).map((serial) => sessionLoadKey(DLK, KNOWN.random, serial).toString('hex')));
  });

  it('pbocMac: every key bit DES reads, every data bit, the data length', () => {
    const data = Buffer.from('0102030405060708090A0B0C0D0E0F', 'hex');
    const reference = pbocMac(seslk, data).toString('hex');
    expectAllDiffer(reference, keyBits(8).map((bit) => pbocMac(flipBit(seslk, bit), data).toString('hex')));
    expectAllDiffer(reference, Array.from({ length: data.length * 8 }, (_, bit) => pbocMac(seslk, flipBit(data, bit)).toString('hex')));
    // Padding makes a trailing 80 differ from the message without it.
    expect(pbocMac(seslk, Buffer.concat([data, Buffer.from([0x80])])).toString('hex')).not.toBe(reference);
  });

  it('computeMac1: every bit of key, balance, amount, type and terminal', () => {
    const reference = computeMac1(seslk, load);
    expectAllDiffer(reference, keyBits(8).map((bit) => computeMac1(flipBit(seslk, bit), load)));
    expectAllDiffer(reference, numberVariants(load.balance_fen, 32).map((balance_fen) => computeMac1(seslk, { ...load, balance_fen })));
    expectAllDiffer(reference, numberVariants(load.amount_fen, 32).map((amount_fen) => computeMac1(seslk, { ...load, amount_fen })));
    expectAllDiffer(reference, numberVariants(load.transaction_type, 8).map((transaction_type) => computeMac1(seslk, { ...load, transaction_type })));
    expectAllDiffer(reference, Array.from({ length: 48 }, (_, bit) => computeMac1(seslk, { ...load, card_terminal_id: flipHexBit(load.card_terminal_id, bit) })));
  });

  it('computeMac2: every bit of key, amount, type, terminal, date and time', () => {
    const reference = computeMac2(seslk, load);
    expectAllDiffer(reference, keyBits(8).map((bit) => computeMac2(flipBit(seslk, bit), load)));
    expectAllDiffer(reference, numberVariants(load.amount_fen, 32).map((amount_fen) => computeMac2(seslk, { ...load, amount_fen })));
    expectAllDiffer(reference, numberVariants(load.transaction_type, 8).map((transaction_type) => computeMac2(seslk, { ...load, transaction_type })));
    expectAllDiffer(reference, Array.from({ length: 48 }, (_, bit) => computeMac2(seslk, { ...load, card_terminal_id: flipHexBit(load.card_terminal_id, bit) })));
    expectAllDiffer(reference, Array.from({ length: 14 }, (_, index) => computeMac2(seslk, { ...load, terminal_time: flipDigit(load.terminal_time, index) })));
  });

  it('computeTac: every bit of the DTK, balance after, serial, amount, type, terminal, date and time', () => {
    const reference = computeTac(dtk, tac_input);
    // A bit of the DTK changes the XOR of its halves, whichever half it is in.
    expectAllDiffer(reference, keyBits(16).map((bit) => computeTac(flipBit(dtk, bit), tac_input)));
    expectAllDiffer(reference, numberVariants(tac_input.balance_after_fen, 32).map((balance_after_fen) => computeTac(dtk, { ...tac_input, balance_after_fen })));
    expectAllDiffer(reference, numberVariants(tac_input.online_serial, 16).map((online_serial) => computeTac(dtk, { ...tac_input, online_serial })));
    expectAllDiffer(reference, numberVariants(tac_input.amount_fen, 32).map((amount_fen) => computeTac(dtk, { ...tac_input, amount_fen })));
    expectAllDiffer(reference, numberVariants(tac_input.transaction_type, 8).map((transaction_type) => computeTac(dtk, { ...tac_input, transaction_type })));
    expectAllDiffer(reference, Array.from({ length: 48 }, (_, bit) => computeTac(dtk, { ...tac_input, card_terminal_id: flipHexBit(tac_input.card_terminal_id, bit) })));
    expectAllDiffer(reference, Array.from({ length: 14 }, (_, index) => computeTac(dtk, { ...tac_input, terminal_time: flipDigit(tac_input.terminal_time, index) })));
  });

  it('macEquals: equal only for the same four bytes, never for malformed hex', () => {
    const mac = computeMac1(seslk, load);
    expect(macEquals(mac, mac)).toBe(true);
    expect(macEquals(mac, mac.toLowerCase())).toBe(true);
    for (let bit = 0; bit < 32; bit++) expect(macEquals(mac, flipHexBit(mac, bit))).toBe(false);
    expect(macEquals(mac, mac.slice(0, 7))).toBe(false);
    expect(macEquals(mac, `${mac}00`)).toBe(false);
    expect(macEquals(mac, 'ZZZZZZZZ')).toBe(false);
  });
});
