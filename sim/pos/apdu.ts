// The command and response APDUs of a PBOC 2.0 electronic purse load (JR/T 0025), as bytes,
// shared by the card simulator (sim/pos/card.ts) and the terminal (sim/pos/terminal.ts), so
// both read the same layout and a vendor can follow it in hub/README.md.

export const SW_OK = 0x9000;
export const SW_WRONG_LENGTH = 0x6700;
export const SW_CONDITIONS_NOT_SATISFIED = 0x6985;
export const SW_COMMAND_NOT_ALLOWED = 0x6901;
export const SW_WRONG_DATA = 0x6a80;
export const SW_FILE_NOT_FOUND = 0x6a82;
export const SW_RECORD_NOT_FOUND = 0x6a83;
export const SW_WRONG_P1P2 = 0x6a86;
export const SW_INS_NOT_SUPPORTED = 0x6d00;
export const SW_CLA_NOT_SUPPORTED = 0x6e00;
export const SW_MAC_INVALID = 0x9302;
export const SW_INSUFFICIENT_FUNDS = 0x9401;
export const SW_SERIAL_AT_MAX = 0x9402;
export const SW_KEY_INDEX_UNSUPPORTED = 0x9403;
export const SW_MAC_UNAVAILABLE = 0x9406;

/** The load key index a terminal asks for; the simulator's cards hold one DLK, at index 01. */
export const LOAD_KEY_INDEX = 0x01;
/** P2 of purse commands: 02 is the electronic purse (01 would be the electronic passbook). */
export const P2_ELECTRONIC_PURSE = 0x02;
/** SFI 0x15, the public information file, carrying the application serial number (asn). */
export const PUBLIC_INFO_BYTES = 30;
/** In the 30-byte 0015 file the 10-byte application serial sits at bytes 10–19; asn is its right 8. */
const PUBLIC_INFO_ASN_OFFSET = 12;

export interface ResponseApdu {
  data: Buffer;
  /** Status word, e.g. 0x9000. */
  sw: number;
}

export function hexOfSw(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

/** READ BINARY of the public information file (`00 B0 95 00 1E`), where the asn is. */
export function readPublicInfoApdu(): Buffer {
  return Buffer.from([0x00, 0xb0, 0x95, 0x00, PUBLIC_INFO_BYTES]);
}
export function parsePublicInfo(data: Buffer): { asn: string } {
  if (data.length !== PUBLIC_INFO_BYTES) throw new Error(`public info is ${PUBLIC_INFO_BYTES} bytes, got ${data.length}`);
  return { asn: data.subarray(PUBLIC_INFO_ASN_OFFSET, PUBLIC_INFO_ASN_OFFSET + 8).toString('hex').toUpperCase() };
}
export function publicInfo(asn_hex: string): Buffer {
  const data = Buffer.alloc(PUBLIC_INFO_BYTES);
  data.write('A000000333010101', 0, 'hex'); // issuer id (8)
  data[8] = 0x01; // application type: purse
  data[9] = 0x01; // application version
  data.write(asn_hex, PUBLIC_INFO_ASN_OFFSET, 'hex');
  data.write('2023090120330831', 20, 'hex'); // valid from, valid to (BCD)
  return data;
}

/**
 * GET BALANCE (`80 5C 00 02 04`): the 4-byte balance. With Le = 06 the simulator also answers
 * the 2-byte online serial after it, standing in for the terminal's read of the card's
 * transaction records (a real terminal reads the serial from the 0018 record file).
 */
export function getBalanceApdu(options: { with_online_serial: boolean }): Buffer {
  return Buffer.from([0x80, 0x5c, 0x00, P2_ELECTRONIC_PURSE, options.with_online_serial ? 0x06 : 0x04]);
}
export function parseBalance(data: Buffer): { balance_fen: number; online_serial: number | null } {
  if (data.length !== 4 && data.length !== 6) throw new Error(`GET BALANCE answers 4 or 6 bytes, got ${data.length}`);
  return { balance_fen: data.readUInt32BE(0), online_serial: data.length === 6 ? data.readUInt16BE(4) : null };
}

/** INITIALIZE FOR LOAD: `80 50 00 02 0B` key index(1) ‖ amount(4) ‖ terminal(6), Le 10. */
export function initializeForLoadApdu(input: { key_index: number; amount_fen: number; card_terminal_id: string }): Buffer {
  const out = Buffer.alloc(5 + 11 + 1);
  out.set([0x80, 0x50, 0x00, P2_ELECTRONIC_PURSE, 0x0b], 0);
  out[5] = input.key_index;
  out.writeUInt32BE(input.amount_fen, 6);
  out.write(input.card_terminal_id, 10, 'hex');
  out[16] = 0x10;
  return out;
}
export interface InitForLoadAnswer {
  balance_fen: number;
  online_serial: number;
  key_version: number;
  algorithm_id: number;
  random: string;
  mac1: string;
}
/** The 16 answer bytes: balance(4) ‖ online serial(2) ‖ key version(1) ‖ algorithm(1) ‖ random(4) ‖ MAC1(4). */
export function parseInitForLoad(data: Buffer): InitForLoadAnswer {
  if (data.length !== 16) throw new Error(`INITIALIZE FOR LOAD answers 16 bytes, got ${data.length}`);
  return {
    balance_fen: data.readUInt32BE(0),
    online_serial: data.readUInt16BE(4),
    key_version: data[6]!,
    algorithm_id: data[7]!,
    random: data.subarray(8, 12).toString('hex').toUpperCase(),
    mac1: data.subarray(12, 16).toString('hex').toUpperCase(),
  };
}

/** CREDIT FOR LOAD: `80 52 00 00 0B` date(4 BCD) ‖ time(3 BCD) ‖ MAC2(4), Le 04; answers the TAC. */
export function creditForLoadApdu(input: { terminal_time: string; mac2: string }): Buffer {
  const out = Buffer.alloc(5 + 11 + 1);
  out.set([0x80, 0x52, 0x00, 0x00, 0x0b], 0);
  out.write(input.terminal_time, 5, 'hex');
  out.write(input.mac2, 12, 'hex');
  out[16] = 0x04;
  return out;
}
export function parseTac(data: Buffer): { tac: string } {
  if (data.length !== 4) throw new Error(`CREDIT FOR LOAD answers a 4-byte TAC, got ${data.length}`);
  return { tac: data.toString('hex').toUpperCase() };
}

/** GET TRANSACTION PROVE: `80 5A 00 02 02` serial(2), Le 08; answers MAC2(4) ‖ TAC(4) of that load. */
export function getTransactionProveApdu(input: { online_serial: number }): Buffer {
  const out = Buffer.alloc(5 + 2 + 1);
  out.set([0x80, 0x5a, 0x00, P2_ELECTRONIC_PURSE, 0x02], 0);
  out.writeUInt16BE(input.online_serial, 5);
  out[7] = 0x08;
  return out;
}
export function parseProve(data: Buffer): { mac2: string; tac: string } {
  if (data.length !== 8) throw new Error(`GET TRANSACTION PROVE answers 8 bytes, got ${data.length}`);
  return { mac2: data.subarray(0, 4).toString('hex').toUpperCase(), tac: data.subarray(4, 8).toString('hex').toUpperCase() };
}

/**
 * PURCHASE, for demos only: `80 54 01 00 04` amount(4), Le 06; a plain debit answering the
 * balance after(4) ‖ offline serial(2). (A real purchase is INITIALIZE FOR PURCHASE and DEBIT
 * FOR PURCHASE with a PSAM's MAC1; the hub takes no part in purchases.)
 */
export function purchaseApdu(input: { amount_fen: number }): Buffer {
  const out = Buffer.alloc(5 + 4 + 1);
  out.set([0x80, 0x54, 0x01, 0x00, 0x04], 0);
  out.writeUInt32BE(input.amount_fen, 5);
  out[9] = 0x06;
  return out;
}
export function parsePurchase(data: Buffer): { balance_fen: number; offline_serial: number } {
  if (data.length !== 6) throw new Error(`PURCHASE answers 6 bytes, got ${data.length}`);
  return { balance_fen: data.readUInt32BE(0), offline_serial: data.readUInt16BE(4) };
}

/**
 * SFI 0x18, the transaction detail file: the card's last transactions, newest first (JR/T 0025).
 * The simulated purse records its loads there (not its demo purchases): the office's load log.
 */
export const TRANSACTION_LOG_SFI = 0x18;
/** What a PBOC purse keeps in its cyclic 0018 file: older records are overwritten. */
export const TRANSACTION_LOG_RECORDS_MAX = 10;
export const TRANSACTION_RECORD_BYTES = 23;
/** Transaction types in a record: 02 a load (圈存), 06 a purchase. */
export const RECORD_TYPE_LOAD = 0x02;
export const RECORD_TYPE_PURCHASE = 0x06;

export interface TransactionRecord {
  /** The online serial before a load (or the offline serial before a purchase). */
  serial: number;
  amount_fen: number;
  type: number;
  card_terminal_id: string;
  /** YYYYMMDDhhmmss as the terminal sent it (zeros for the demo purchase, which carries none). */
  terminal_time: string;
}

/** READ RECORD of the transaction detail file: `00 B2 <record, 1 = newest> C4 17`. */
export function readRecordApdu(record_no: number): Buffer {
  if (!(Number.isInteger(record_no) && record_no >= 1 && record_no <= 0xff)) throw new RangeError(`record ${record_no}`);
  return Buffer.from([0x00, 0xb2, record_no, (TRANSACTION_LOG_SFI << 3) | 0x04, TRANSACTION_RECORD_BYTES]);
}

/** serial(2) ‖ overdraft limit(3) ‖ amount(4) ‖ type(1) ‖ terminal(6) ‖ date(4 BCD) ‖ time(3 BCD). */
export function transactionRecordBytes(record: TransactionRecord): Buffer {
  const data = Buffer.alloc(TRANSACTION_RECORD_BYTES);
  data.writeUInt16BE(record.serial, 0);
  data.writeUInt32BE(record.amount_fen, 5);
  data[9] = record.type;
  data.write(record.card_terminal_id, 10, 'hex');
  data.write(record.terminal_time, 16, 'hex');
  return data;
}

export function parseTransactionRecord(data: Buffer): TransactionRecord {
  if (data.length !== TRANSACTION_RECORD_BYTES) throw new Error(`a transaction record is ${TRANSACTION_RECORD_BYTES} bytes, got ${data.length}`);
  return {
    serial: data.readUInt16BE(0),
    amount_fen: data.readUInt32BE(5),
    type: data[9]!,
    card_terminal_id: data.subarray(10, 16).toString('hex').toUpperCase(),
    terminal_time: data.subarray(16, 23).toString('hex'),
  };
}
