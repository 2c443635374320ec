// The file-backed card key store: the school's master keys in `HUB_CARD_KEYS_FILE`, JSON
// `{"key_version": 1, "load_mk": "<32 hex>", "tac_mk": "<32 hex>"}`, mode 0600. Keys live in
// private fields only: nothing this module returns, throws, logs or serialises contains them.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { ALGORITHM_ID_3DES, LOAD_TRANSACTION_TYPE } from '../../protocol/pos.ts';
import { CARD_KEY_BYTES, computeMac1, computeMac2, computeTac, diversifyKey, macEquals, sessionLoadKey } from '../../protocol/pboc.ts';
import type { CardKeyStore, CardLoadSession, CardLoadWrite, KeyVerdict, Mac2Result } from './store.ts';

export const CARD_KEY_VERSION_DEFAULT = 1;
// The file is three short fields; anything longer is not ours and is not read further.
const CARD_KEYS_FILE_BYTES_MAX = 4096;
const MASTER_KEY_PATTERN = /^[0-9A-Fa-f]{32}$/;

/** A key file that cannot be used. Its message names the file and the field, never a value. */
export class CardKeysError extends Error {}

export interface CardMasterKeys {
  key_version: number;
  load_mk: Buffer;
  tac_mk: Buffer;
}

function parseCardKeys(text: string, file: string): CardMasterKeys {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault: it could quote a key.
    throw new CardKeysError(`${file} is not JSON; expected {"key_version": 1, "load_mk": "<32 hex>", "tac_mk": "<32 hex>"}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CardKeysError(`${file} must hold one JSON object`);
  const fields = json as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((name) => !['key_version', 'load_mk', 'tac_mk'].includes(name));
  if (unknown.length > 0) throw new CardKeysError(`${file} has unknown fields (${unknown.length}); expected key_version, load_mk, tac_mk`);
  const key_version = fields.key_version;
  if (typeof key_version !== 'number' || !Number.isInteger(key_version) || key_version < 0 || key_version > 255) {
    throw new CardKeysError(`${file}: key_version must be an integer 0–255`);
  }
  for (const name of ['load_mk', 'tac_mk'] as const) {
    const value = fields[name];
    if (typeof value !== 'string' || !MASTER_KEY_PATTERN.test(value)) throw new CardKeysError(`${file}: ${name} must be 32 hex digits`);
  }
  const load_mk = Buffer.from(fields.load_mk as string, 'hex');
  const tac_mk = Buffer.from(fields.tac_mk as string, 'hex');
  if (load_mk.equals(tac_mk)) throw new CardKeysError(`${file}: load_mk and tac_mk must differ`);
  return { key_version, load_mk, tac_mk };
}

/** Reads and validates the key file; refuses one that others can read, as ssh does. */
export function readCardKeysFile(file: string): CardMasterKeys {
  let stat;
  try {
    stat = statSync(file);
  } catch {
    throw new CardKeysError(`cannot read HUB_CARD_KEYS_FILE ${file}: run \`npm run hub -- card-keys init\` to create it`);
  }
  if (!stat.isFile()) throw new CardKeysError(`HUB_CARD_KEYS_FILE ${file} is not a file`);
  if ((stat.mode & 0o077) !== 0) throw new CardKeysError(`HUB_CARD_KEYS_FILE ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}): chmod 600 it`);
  if (stat.size > CARD_KEYS_FILE_BYTES_MAX) throw new CardKeysError(`HUB_CARD_KEYS_FILE ${file} is larger than ${CARD_KEYS_FILE_BYTES_MAX} bytes`);
  return parseCardKeys(readFileSync(file, 'utf8'), file);
}

/**
 * Writes fresh random master keys with mode 0600; never replaces an existing file, since
 * cards personalised from the old keys would stop loading.
 */
export function initCardKeysFile(file: string, options: { key_version: number }): void {
  if (!(Number.isInteger(options.key_version) && options.key_version >= 0 && options.key_version <= 255)) {
    throw new CardKeysError('key_version must be an integer 0–255');
  }
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let fd: number;
  try {
    // `wx`: created here or not at all, so two racing inits cannot both write.
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CardKeysError(`${file} exists; card keys are never overwritten (cards personalised from them would stop loading)`);
    throw new CardKeysError(`cannot create ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const load_mk = randomBytes(CARD_KEY_BYTES);
    let tac_mk = randomBytes(CARD_KEY_BYTES);
    while (tac_mk.equals(load_mk)) tac_mk = randomBytes(CARD_KEY_BYTES);
    const json = JSON.stringify({ key_version: options.key_version, load_mk: load_mk.toString('hex').toUpperCase(), tac_mk: tac_mk.toString('hex').toUpperCase() });
    writeSync(fd, `${json}\n`);
  } finally {
    closeSync(fd);
  }
}

export class FileCardKeyStore implements CardKeyStore {
  readonly key_version: number;
  readonly #load_mk: Buffer;
  readonly #tac_mk: Buffer;

  constructor(keys: CardMasterKeys) {
    if (!(keys.load_mk.length === CARD_KEY_BYTES && keys.tac_mk.length === CARD_KEY_BYTES)) throw new CardKeysError('master keys are 16 bytes');
    this.key_version = keys.key_version;
    this.#load_mk = Buffer.from(keys.load_mk);
    this.#tac_mk = Buffer.from(keys.tac_mk);
  }

  static open(file: string): FileCardKeyStore {
    return new FileCardKeyStore(readCardKeysFile(file));
  }

  #refusal(key_version: number, algorithm_id: number): KeyVerdict | null {
    if (key_version !== this.key_version) return { ok: false, reason: 'key_version_unknown' };
    if (algorithm_id !== ALGORITHM_ID_3DES) return { ok: false, reason: 'algorithm_unsupported' };
    return null;
  }

  #mac1Matches(session: CardLoadSession, mac1: string): boolean {
    const seslk = sessionLoadKey(diversifyKey(this.#load_mk, session.asn), session.random, session.online_serial);
    const expected = computeMac1(seslk, {
      balance_fen: session.balance_fen,
      amount_fen: session.amount_fen,
      transaction_type: LOAD_TRANSACTION_TYPE,
      card_terminal_id: session.card_terminal_id,
    });
    return macEquals(expected, mac1);
  }

  async verifyMac1(session: CardLoadSession, mac1: string): Promise<KeyVerdict> {
    const refusal = this.#refusal(session.key_version, session.algorithm_id);
    if (refusal !== null) return refusal;
    return this.#mac1Matches(session, mac1) ? { ok: true } : { ok: false, reason: 'mac_invalid' };
  }

  async makeMac2(session: CardLoadSession, mac1: string, terminal_time: string): Promise<Mac2Result> {
    const refusal = this.#refusal(session.key_version, session.algorithm_id);
    if (refusal !== null) return refusal as Mac2Result;
    if (!this.#mac1Matches(session, mac1)) return { ok: false, reason: 'mac_invalid' };
    const seslk = sessionLoadKey(diversifyKey(this.#load_mk, session.asn), session.random, session.online_serial);
    const mac2 = computeMac2(seslk, { amount_fen: session.amount_fen, transaction_type: LOAD_TRANSACTION_TYPE, card_terminal_id: session.card_terminal_id, terminal_time });
    return { ok: true, mac2 };
  }

  async verifyTac(write: CardLoadWrite, tac: string): Promise<KeyVerdict> {
    const refusal = this.#refusal(write.key_version, write.algorithm_id);
    if (refusal !== null) return refusal;
    const expected = computeTac(diversifyKey(this.#tac_mk, write.asn), {
      balance_after_fen: write.balance_after_fen,
      online_serial: write.online_serial,
      amount_fen: write.amount_fen,
      transaction_type: LOAD_TRANSACTION_TYPE,
      card_terminal_id: write.card_terminal_id,
      terminal_time: write.terminal_time,
    });
    return macEquals(expected, tac) ? { ok: true } : { ok: false, reason: 'mac_invalid' };
  }

  // A store that ends up in a log line or a debugger shows what it is, not what it holds.
  toJSON(): { key_version: number; keys: 'redacted' } {
    return { key_version: this.key_version, keys: 'redacted' };
  }

  [inspect.custom](): string {
    return `FileCardKeyStore { key_version: ${this.key_version}, keys: [redacted] }`;
  }
}
