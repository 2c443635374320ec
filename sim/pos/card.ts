// A PBOC 2.0 electronic purse at APDU level (JR/T 0025), as a campus CPU card is: command
// APDUs in as bytes, response data and status word out. It keeps its balance (4 bytes) and
// online serial (2 bytes), writes a load only for a MAC2 made with its load key, and answers a
// TAC over what it wrote. It is the truth about what was written: tests sum its balances.
import { randomBytes } from 'node:crypto';
import { ALGORITHM_ID_3DES, LOAD_TRANSACTION_TYPE, ONLINE_SERIAL_MAX, PURSE_BALANCE_FEN_MAX } from '../../protocol/pos.ts';
import { computeMac1, computeMac2, computeTac, macEquals, sessionLoadKey } from '../../protocol/pboc.ts';
import {
  LOAD_KEY_INDEX,
  P2_ELECTRONIC_PURSE,
  publicInfo,
  type ResponseApdu,
  SW_CLA_NOT_SUPPORTED,
  SW_COMMAND_NOT_ALLOWED,
  SW_FILE_NOT_FOUND,
  SW_INS_NOT_SUPPORTED,
  SW_INSUFFICIENT_FUNDS,
  SW_KEY_INDEX_UNSUPPORTED,
  SW_MAC_INVALID,
  SW_MAC_UNAVAILABLE,
  SW_OK,
  SW_RECORD_NOT_FOUND,
  SW_SERIAL_AT_MAX,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
  SW_WRONG_P1P2,
  RECORD_TYPE_LOAD,
  TRANSACTION_LOG_RECORDS_MAX,
  TRANSACTION_LOG_SFI,
  TRANSACTION_RECORD_BYTES,
  transactionRecordBytes,
  type TransactionRecord,
} from './apdu.ts';

// A card keeps the proofs of its recent loads for GET TRANSACTION PROVE; older ones are gone,
// as on a real card whose record file is cyclic.
export const PROVES_KEPT_MAX = 32;
const OFFLINE_SERIAL_MAX = 0xffff;

export interface PurseProve {
  /** The online serial before the load. */
  online_serial: number;
  mac2: string;
  tac: string;
}

/** Everything the card holds; `dlk` / `dtk` are its personalised keys (32 hex each). */
export interface PurseCardState {
  asn: string;
  key_version: number;
  dlk: string;
  dtk: string;
  balance_fen: number;
  online_serial: number;
  offline_serial: number;
  proves: PurseProve[];
  /** The load records of the transaction detail file (0018), newest last; absent in cards saved before it. */
  log?: TransactionRecord[];
}

/** How the card loses power in the middle of CREDIT FOR LOAD. */
export type CreditTear = 'before_write' | 'after_write';

/** The card left the field: no answer at all reaches the terminal. */
export class CardTornError extends Error {
  readonly wrote: boolean;
  constructor(wrote: boolean) {
    super(`card torn during CREDIT FOR LOAD (${wrote ? 'written' : 'not written'})`);
    this.wrote = wrote;
  }
}

interface LoadSession {
  seslk: Buffer;
  amount_fen: number;
  card_terminal_id: string;
  balance_fen: number;
  online_serial: number;
}

interface Command {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data: Buffer;
  le: number | null;
}

function parseCommand(apdu: Uint8Array): Command | null {
  const bytes = Buffer.from(apdu);
  if (bytes.length < 4) return null;
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  if (bytes.length === 4) return { cla, ins, p1, p2, data: Buffer.alloc(0), le: null };
  if (bytes.length === 5) return { cla, ins, p1, p2, data: Buffer.alloc(0), le: bytes[4]! };
  const lc = bytes[4]!;
  if (bytes.length === 5 + lc) return { cla, ins, p1, p2, data: bytes.subarray(5, 5 + lc), le: null };
  if (bytes.length === 6 + lc) return { cla, ins, p1, p2, data: bytes.subarray(5, 5 + lc), le: bytes[5 + lc]! };
  return null;
}

const status = (sw: number, data: Buffer = Buffer.alloc(0)): ResponseApdu => ({ data, sw });

function isBcdTime(bytes: Buffer): boolean {
  return /^[0-9]{14}$/.test(bytes.toString('hex'));
}

export class PurseCard {
  readonly asn: string;
  readonly key_version: number;
  readonly #dlk: Buffer;
  readonly #dtk: Buffer;
  #balance_fen: number;
  #online_serial: number;
  #offline_serial: number;
  #proves: PurseProve[];
  #log: TransactionRecord[];
  #session: LoadSession | null = null;
  #tear: CreditTear | null = null;
  readonly #random: () => Buffer;

  constructor(state: PurseCardState, options: { random?: () => Buffer } = {}) {
    if (!/^[0-9A-F]{16}$/.test(state.asn)) throw new Error('asn is 16 upper-case hex digits');
    if (!(/^[0-9A-Fa-f]{32}$/.test(state.dlk) && /^[0-9A-Fa-f]{32}$/.test(state.dtk))) throw new Error('card keys are 32 hex digits');
    if (!(Number.isInteger(state.balance_fen) && state.balance_fen >= 0 && state.balance_fen <= PURSE_BALANCE_FEN_MAX)) throw new Error('balance fits 4 bytes');
    if (!(Number.isInteger(state.online_serial) && state.online_serial >= 0 && state.online_serial <= ONLINE_SERIAL_MAX)) throw new Error('online serial fits 2 bytes');
    this.asn = state.asn;
    this.key_version = state.key_version;
    this.#dlk = Buffer.from(state.dlk, 'hex');
    this.#dtk = Buffer.from(state.dtk, 'hex');
    this.#balance_fen = state.balance_fen;
    this.#online_serial = state.online_serial;
    this.#offline_serial = state.offline_serial;
    this.#proves = state.proves.slice(-PROVES_KEPT_MAX).map((prove) => ({ ...prove }));
    this.#log = (state.log ?? []).slice(-TRANSACTION_LOG_RECORDS_MAX).map((record) => ({ ...record }));
    this.#random = options.random ?? (() => randomBytes(4));
  }

  /** What the card holds, for saving it between runs of `npm run pos`. */
  toState(): PurseCardState {
    return {
      asn: this.asn,
      key_version: this.key_version,
      dlk: this.#dlk.toString('hex').toUpperCase(),
      dtk: this.#dtk.toString('hex').toUpperCase(),
      balance_fen: this.#balance_fen,
      online_serial: this.#online_serial,
      offline_serial: this.#offline_serial,
      proves: this.#proves.map((prove) => ({ ...prove })),
      log: this.#log.map((record) => ({ ...record })),
    };
  }

  /** The chip's balance, read directly (a test's view of the truth, not a terminal's). */
  get balance_fen(): number {
    return this.#balance_fen;
  }
  get online_serial(): number {
    return this.#online_serial;
  }

  /** The next CREDIT FOR LOAD loses power: before the card writes, or after it wrote. */
  tearNextCredit(tear: CreditTear): void {
    this.#tear = tear;
  }

  /** Power off: a load session does not survive it. */
  reset(): void {
    this.#session = null;
  }

  transmit(apdu: Uint8Array): ResponseApdu {
    const command = parseCommand(apdu);
    if (command === null) {
      this.#session = null;
      return status(SW_WRONG_LENGTH);
    }
    // A load session lasts exactly until the next command: CREDIT FOR LOAD must follow INIT.
    const session = this.#session;
    this.#session = null;
    if (command.cla === 0x00 && command.ins === 0xb0) return this.#readBinary(command);
    if (command.cla === 0x00 && command.ins === 0xb2) return this.#readRecord(command);
    if (command.cla !== 0x80) return status(SW_CLA_NOT_SUPPORTED);
    switch (command.ins) {
      case 0x50:
        return this.#initializeForLoad(command);
      case 0x52:
        return this.#creditForLoad(command, session);
      case 0x5a:
        return this.#getTransactionProve(command);
      case 0x5c:
        return this.#getBalance(command);
      case 0x54:
        return this.#purchase(command);
      default:
        return status(SW_INS_NOT_SUPPORTED);
    }
  }

  #readBinary(command: Command): ResponseApdu {
    // P1 = 0x80 | SFI: only the public information file 0015 is readable here.
    if (command.p1 !== 0x95 || command.p2 !== 0x00) return status(SW_FILE_NOT_FOUND);
    if (command.data.length !== 0 || command.le !== 30) return status(SW_WRONG_LENGTH);
    return status(SW_OK, publicInfo(this.asn));
  }

  /**
   * READ RECORD of the transaction detail file: record 1 is the newest. The simulator keeps the
   * loads there (the demo purchase, which stands in for a PSAM's, writes no record), so the card
   * office can always read the last ten loads back.
   */
  #readRecord(command: Command): ResponseApdu {
    if (command.p2 !== ((TRANSACTION_LOG_SFI << 3) | 0x04)) return status(SW_FILE_NOT_FOUND);
    if (command.data.length !== 0 || command.le !== TRANSACTION_RECORD_BYTES) return status(SW_WRONG_LENGTH);
    const record = this.#log[this.#log.length - command.p1];
    if (command.p1 === 0 || record === undefined) return status(SW_RECORD_NOT_FOUND);
    return status(SW_OK, transactionRecordBytes(record));
  }

  #record(record: TransactionRecord): void {
    this.#log.push(record);
    if (this.#log.length > TRANSACTION_LOG_RECORDS_MAX) this.#log.shift();
  }

  #getBalance(command: Command): ResponseApdu {
    if (command.p1 !== 0x00 || command.p2 !== P2_ELECTRONIC_PURSE) return status(SW_WRONG_P1P2);
    if (command.data.length !== 0 || (command.le !== 4 && command.le !== 6)) return status(SW_WRONG_LENGTH);
    const data = Buffer.alloc(command.le);
    data.writeUInt32BE(this.#balance_fen, 0);
    if (command.le === 6) data.writeUInt16BE(this.#online_serial, 4);
    return status(SW_OK, data);
  }

  #initializeForLoad(command: Command): ResponseApdu {
    if (command.p1 !== 0x00 || command.p2 !== P2_ELECTRONIC_PURSE) return status(SW_WRONG_P1P2);
    if (command.data.length !== 11 || (command.le !== null && command.le !== 0x10)) return status(SW_WRONG_LENGTH);
    if (command.data[0] !== LOAD_KEY_INDEX) return status(SW_KEY_INDEX_UNSUPPORTED);
    const amount_fen = command.data.readUInt32BE(1);
    const card_terminal_id = command.data.subarray(5, 11).toString('hex').toUpperCase();
    if (amount_fen === 0 || this.#balance_fen + amount_fen > PURSE_BALANCE_FEN_MAX) return status(SW_WRONG_DATA);
    // The serial after this load must still fit its 2 bytes: the card is full of loads.
    if (this.#online_serial >= ONLINE_SERIAL_MAX) return status(SW_SERIAL_AT_MAX);
    const random = this.#random();
    if (random.length !== 4) throw new Error('the card random is 4 bytes');
    const random_hex = random.toString('hex').toUpperCase();
    const seslk = sessionLoadKey(this.#dlk, random_hex, this.#online_serial);
    const mac1 = computeMac1(seslk, { balance_fen: this.#balance_fen, amount_fen, transaction_type: LOAD_TRANSACTION_TYPE, card_terminal_id });
    this.#session = { seslk, amount_fen, card_terminal_id, balance_fen: this.#balance_fen, online_serial: this.#online_serial };
    const data = Buffer.alloc(16);
    data.writeUInt32BE(this.#balance_fen, 0);
    data.writeUInt16BE(this.#online_serial, 4);
    data[6] = this.key_version;
    data[7] = ALGORITHM_ID_3DES;
    random.copy(data, 8);
    data.write(mac1, 12, 'hex');
    return status(SW_OK, data);
  }

  #creditForLoad(command: Command, session: LoadSession | null): ResponseApdu {
    if (command.p1 !== 0x00 || command.p2 !== 0x00) return status(SW_WRONG_P1P2);
    if (command.data.length !== 11 || (command.le !== null && command.le !== 0x04)) return status(SW_WRONG_LENGTH);
    if (session === null) return status(SW_COMMAND_NOT_ALLOWED);
    const time_bytes = command.data.subarray(0, 7);
    if (!isBcdTime(time_bytes)) return status(SW_WRONG_DATA);
    const terminal_time = time_bytes.toString('hex');
    const mac2 = command.data.subarray(7, 11).toString('hex').toUpperCase();
    const expected = computeMac2(session.seslk, { amount_fen: session.amount_fen, transaction_type: LOAD_TRANSACTION_TYPE, card_terminal_id: session.card_terminal_id, terminal_time });
    if (!macEquals(expected, mac2)) return status(SW_MAC_INVALID);
    const tear = this.#tear;
    this.#tear = null;
    if (tear === 'before_write') throw new CardTornError(false);
    const balance_after_fen = session.balance_fen + session.amount_fen;
    const tac = computeTac(this.#dtk, {
      balance_after_fen,
      online_serial: session.online_serial,
      amount_fen: session.amount_fen,
      transaction_type: LOAD_TRANSACTION_TYPE,
      card_terminal_id: session.card_terminal_id,
      terminal_time,
    });
    // All or nothing: balance, serial and the proof move together.
    this.#balance_fen = balance_after_fen;
    this.#online_serial = session.online_serial + 1;
    this.#proves.push({ online_serial: session.online_serial, mac2, tac });
    if (this.#proves.length > PROVES_KEPT_MAX) this.#proves.shift();
    this.#record({ serial: session.online_serial, amount_fen: session.amount_fen, type: RECORD_TYPE_LOAD, card_terminal_id: session.card_terminal_id, terminal_time });
    if (tear === 'after_write') throw new CardTornError(true);
    return status(SW_OK, Buffer.from(tac, 'hex'));
  }

  #getTransactionProve(command: Command): ResponseApdu {
    if (command.p1 !== 0x00 || command.p2 !== LOAD_TRANSACTION_TYPE) return status(SW_WRONG_P1P2);
    if (command.data.length !== 2 || (command.le !== null && command.le !== 0x08)) return status(SW_WRONG_LENGTH);
    const online_serial = command.data.readUInt16BE(0);
    const prove = this.#proves.find((entry) => entry.online_serial === online_serial);
    if (prove === undefined) return status(SW_MAC_UNAVAILABLE);
    return status(SW_OK, Buffer.from(prove.mac2 + prove.tac, 'hex'));
  }

  #purchase(command: Command): ResponseApdu {
    if (command.p1 !== 0x01 || command.p2 !== 0x00) return status(SW_WRONG_P1P2);
    if (command.data.length !== 4 || (command.le !== null && command.le !== 0x06)) return status(SW_WRONG_LENGTH);
    const amount_fen = command.data.readUInt32BE(0);
    if (amount_fen === 0) return status(SW_WRONG_DATA);
    if (amount_fen > this.#balance_fen) return status(SW_INSUFFICIENT_FUNDS);
    if (this.#offline_serial >= OFFLINE_SERIAL_MAX) return status(SW_SERIAL_AT_MAX);
    this.#balance_fen -= amount_fen;
    this.#offline_serial += 1;
    const data = Buffer.alloc(6);
    data.writeUInt32BE(this.#balance_fen, 0);
    data.writeUInt16BE(this.#offline_serial, 4);
    return status(SW_OK, data);
  }
}

