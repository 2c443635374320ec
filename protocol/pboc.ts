// Card cryptography of a PBOC 2.0 electronic purse load (DESIGN section 6, JR/T 0025), shared
// by the hub's key store and the card simulator, so both sides compute the same bytes. It runs
// on node:crypto's 3DES: the Worker never loads a card and never imports this module.
//
// Every input has already been bounded at the edge (protocol/pos.ts); a value out of range
// here is our own bug, so it is an assertion, never an answer to a terminal.
import { createCipheriv, timingSafeEqual } from 'node:crypto';

export const DES_BLOCK_BYTES = 8;
export const CARD_KEY_BYTES = 16;
export const SESSION_KEY_BYTES = 8;
export const ASN_BYTES = 8;
export const CARD_TERMINAL_ID_BYTES = 6;
export const RANDOM_BYTES = 4;
export const MAC_BYTES = 4;
// The MAC input is at most 24 bytes (TAC); a bound keeps the CBC loop finite by construction.
const MAC_DATA_BYTES_MAX = 64;

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`pboc: assertion failed: ${message}`);
}

function tripleDesEcb(key: Uint8Array, block: Uint8Array): Buffer {
  assert(key.length === CARD_KEY_BYTES, 'a 3DES key is 16 bytes (K1 ‖ K2)');
  assert(block.length === DES_BLOCK_BYTES, 'one DES block');
  const cipher = createCipheriv('des-ede-ecb', key, null);
  cipher.setAutoPadding(false);
  const out = Buffer.concat([cipher.update(block), cipher.final()]);
  assert(out.length === DES_BLOCK_BYTES, 'one block in, one block out');
  return out;
}

/** Single DES, as 3DES with K ‖ K (OpenSSL 3 keeps plain DES in its legacy provider only). */
function singleDesEcb(key: Uint8Array, block: Uint8Array): Buffer {
  assert(key.length === SESSION_KEY_BYTES, 'a DES key is 8 bytes');
  return tripleDesEcb(Buffer.concat([key, key]), block);
}

function hexBytes(hex: string, bytes: number, what: string): Buffer {
  assert(hex.length === bytes * 2 && /^[0-9A-Fa-f]*$/.test(hex), `${what} is ${bytes * 2} hex digits`);
  return Buffer.from(hex, 'hex');
}

function uint32(value: number, what: string): Buffer {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff, `${what} fits the card's 4 bytes`);
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function uint16(value: number, what: string): Buffer {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffff, `${what} fits the card's 2 bytes`);
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

function uint8(value: number, what: string): Buffer {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xff, `${what} is one byte`);
  return Buffer.from([value]);
}

/** `80` then `00` up to a multiple of 8 bytes: always at least one byte of padding. */
export function padIso9797m2(data: Uint8Array): Buffer {
  const padded_bytes = (Math.floor(data.length / DES_BLOCK_BYTES) + 1) * DES_BLOCK_BYTES;
  const out = Buffer.alloc(padded_bytes);
  out.set(data);
  out[data.length] = 0x80;
  assert(out.length % DES_BLOCK_BYTES === 0 && out.length > data.length, 'padding fills to a whole block');
  return out;
}

/** DESIGN's MAC(K, D): single-DES CBC-MAC, zero IV, padded D; first 4 bytes of the last block. */
export function pbocMac(key: Uint8Array, data: Uint8Array): Buffer {
  assert(key.length === SESSION_KEY_BYTES, 'a MAC key is 8 bytes');
  assert(data.length <= MAC_DATA_BYTES_MAX, 'MAC input is a short card record');
  const padded = padIso9797m2(data);
  let chain: Buffer = Buffer.alloc(DES_BLOCK_BYTES);
  for (let offset = 0; offset < padded.length; offset += DES_BLOCK_BYTES) {
    const block = Buffer.alloc(DES_BLOCK_BYTES);
    for (let i = 0; i < DES_BLOCK_BYTES; i++) block[i] = chain[i]! ^ padded[offset + i]!;
    chain = singleDesEcb(key, block);
  }
  return chain.subarray(0, MAC_BYTES);
}

/**
 * A card's key (DLK or DTK) from the school's master key and the chip's application serial:
 * `left = 3DES_ECB(MK, asn)`, `right = 3DES_ECB(MK, NOT asn)`, key = `left ‖ right`.
 */
export function diversifyKey(master_key: Uint8Array, asn_hex: string): Buffer {
  assert(master_key.length === CARD_KEY_BYTES, 'a master key is 16 bytes');
  const asn = hexBytes(asn_hex, ASN_BYTES, 'asn');
  const asn_not = Buffer.from(asn.map((byte) => ~byte & 0xff));
  const key = Buffer.concat([tripleDesEcb(master_key, asn), tripleDesEcb(master_key, asn_not)]);
  assert(key.length === CARD_KEY_BYTES, 'a card key is 16 bytes');
  return key;
}

/** `SESLK = 3DES_ECB(DLK, random(4) ‖ online_serial(2) ‖ 8000)`: one key per load. */
export function sessionLoadKey(dlk: Uint8Array, random_hex: string, online_serial: number): Buffer {
  assert(dlk.length === CARD_KEY_BYTES, 'a DLK is 16 bytes');
  const block = Buffer.concat([hexBytes(random_hex, RANDOM_BYTES, 'random'), uint16(online_serial, 'online serial'), Buffer.from([0x80, 0x00])]);
  return tripleDesEcb(dlk, block);
}

/** The TAC key: `DTK_left XOR DTK_right`. */
export function tacKey(dtk: Uint8Array): Buffer {
  assert(dtk.length === CARD_KEY_BYTES, 'a DTK is 16 bytes');
  const key = Buffer.alloc(SESSION_KEY_BYTES);
  for (let i = 0; i < SESSION_KEY_BYTES; i++) key[i] = dtk[i]! ^ dtk[i + SESSION_KEY_BYTES]!;
  return key;
}

/** `YYYYMMDDhhmmss` as the card's 4-byte BCD date and 3-byte BCD time. */
export function bcdDateTime(terminal_time: string): { date: Buffer; time: Buffer } {
  assert(/^[0-9]{14}$/.test(terminal_time), 'terminal time is YYYYMMDDhhmmss');
  // Decimal digits read as hex digits are exactly their BCD nibbles.
  const bytes = Buffer.from(terminal_time, 'hex');
  return { date: bytes.subarray(0, 4), time: bytes.subarray(4, 7) };
}

export interface Mac1Input {
  /** The card's balance before the load. */
  balance_fen: number;
  amount_fen: number;
  /** 02 for a load to an electronic purse; the published example uses 01. */
  transaction_type: number;
  card_terminal_id: string;
}

/** `MAC1 = MAC(SESLK, balance(4) ‖ amount(4) ‖ type(1) ‖ terminal(6))`, as upper-case hex. */
export function computeMac1(seslk: Uint8Array, input: Mac1Input): string {
  const data = Buffer.concat([
    uint32(input.balance_fen, 'balance'),
    uint32(input.amount_fen, 'amount'),
    uint8(input.transaction_type, 'transaction type'),
    hexBytes(input.card_terminal_id, CARD_TERMINAL_ID_BYTES, 'card terminal id'),
  ]);
  assert(data.length === 15, 'MAC1 input is 15 bytes');
  return pbocMac(seslk, data).toString('hex').toUpperCase();
}

export interface Mac2Input {
  amount_fen: number;
  transaction_type: number;
  card_terminal_id: string;
  /** `YYYYMMDDhhmmss`, the date and time CREDIT FOR LOAD carries. */
  terminal_time: string;
}

/** `MAC2 = MAC(SESLK, amount(4) ‖ type(1) ‖ terminal(6) ‖ date(4) ‖ time(3))`. */
export function computeMac2(seslk: Uint8Array, input: Mac2Input): string {
  const { date, time } = bcdDateTime(input.terminal_time);
  const data = Buffer.concat([
    uint32(input.amount_fen, 'amount'),
    uint8(input.transaction_type, 'transaction type'),
    hexBytes(input.card_terminal_id, CARD_TERMINAL_ID_BYTES, 'card terminal id'),
    date,
    time,
  ]);
  assert(data.length === 18, 'MAC2 input is 18 bytes');
  return pbocMac(seslk, data).toString('hex').toUpperCase();
}

export interface TacInput {
  balance_after_fen: number;
  /** The card's online serial BEFORE the load. */
  online_serial: number;
  amount_fen: number;
  transaction_type: number;
  card_terminal_id: string;
  terminal_time: string;
}

/** `TAC = MAC(DTK_left XOR DTK_right, balance_after(4) ‖ serial(2) ‖ amount(4) ‖ type(1) ‖ terminal(6) ‖ date(4) ‖ time(3))`. */
export function computeTac(dtk: Uint8Array, input: TacInput): string {
  const { date, time } = bcdDateTime(input.terminal_time);
  const data = Buffer.concat([
    uint32(input.balance_after_fen, 'balance after'),
    uint16(input.online_serial, 'online serial'),
    uint32(input.amount_fen, 'amount'),
    uint8(input.transaction_type, 'transaction type'),
    hexBytes(input.card_terminal_id, CARD_TERMINAL_ID_BYTES, 'card terminal id'),
    date,
    time,
  ]);
  assert(data.length === 24, 'TAC input is 24 bytes');
  return pbocMac(tacKey(dtk), data).toString('hex').toUpperCase();
}

/** Compares two MACs as hex without an early exit; a malformed one never matches. */
export function macEquals(expected_hex: string, presented_hex: string): boolean {
  const pattern = /^[0-9A-Fa-f]{8}$/;
  if (!pattern.test(expected_hex) || !pattern.test(presented_hex)) return false;
  return timingSafeEqual(Buffer.from(expected_hex, 'hex'), Buffer.from(presented_hex, 'hex'));
}
