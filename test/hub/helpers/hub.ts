// Runs the real hub as a child process on a free port with its own SQLite file and keys, the
// way an operator would: `keygen`, `card-keys init`, `terminal add`, `start` through the CLI.
// Cards are personalised from the hub's master keys as the card issuer would (sim/pos).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { runCommand, signalGroup, startService, type Service } from '../../../scripts/lib/processes.ts';
import { readCardKeysFile, type CardMasterKeys } from '../../../hub/keys/file.ts';
import { HubLedger } from '../../../hub/ledger/index.ts';
import { GroupCommit } from '../../../hub/store/group-commit.ts';
import { openDatabase } from '../../../hub/store/schema.ts';
import type { CardKind } from '../../../protocol/card.ts';
import type { HubChange } from '../../../protocol/hub.ts';
import { PURSE_LIMIT_FEN_DEFAULT } from '../../../protocol/pos.ts';
import type { PurseCard } from '../../../sim/pos/card.ts';
import { personaliseCard } from '../../../sim/pos/personalise.ts';
import { Terminal } from '../../../sim/pos/terminal.ts';
import { unreachableOrigin } from '../../helpers/ports.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const MAIN = path.join(ROOT, 'hub/main.ts');
const NODE_ARGS = ['--disable-warning=ExperimentalWarning', MAIN];

export interface HubHarnessOptions {
  /** Where the hub syncs; unset: a port bound and closed (a campus link that is down). */
  worker_url?: string;
  hub_id?: string;
  write_window_ms?: number;
  poll_interval_ms?: number;
  backoff_max_ms?: number;
  grey_after_ms?: number;
  operator_token?: string;
  purse_limits?: string;
}

export interface RegisteredTerminal {
  terminal_id: string;
  key_hex: string;
  card_terminal_id: string;
}

export class HubHarness {
  readonly dir: string;
  readonly db_path: string;
  readonly key_file: string;
  readonly card_keys_file: string;
  readonly options: HubHarnessOptions;
  service: Service | null = null;
  url = '';
  #unreachable = '';
  public_key = '';

  constructor(options: HubHarnessOptions = {}) {
    this.options = options;
    this.dir = mkdtempSync(path.join(tmpdir(), 'yikatong-hub-'));
    this.db_path = path.join(this.dir, 'hub.db');
    this.key_file = path.join(this.dir, 'hub-key.pem');
    this.card_keys_file = path.join(this.dir, 'card-keys.json');
  }

  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HUB_WORKER_URL: this.options.worker_url ?? this.#unreachable,
      HUB_ID: this.options.hub_id ?? 'test-hub',
      HUB_KEY_FILE: this.key_file,
      HUB_DB: this.db_path,
      HUB_CARD_KEYS_FILE: this.card_keys_file,
      ...(this.options.operator_token === undefined ? {} : { HUB_OPERATOR_TOKEN: this.options.operator_token }),
      ...(this.options.purse_limits === undefined ? {} : { HUB_PURSE_LIMITS: this.options.purse_limits }),
      HUB_LISTEN: '127.0.0.1:0',
      HUB_WRITE_WINDOW_MS: String(this.options.write_window_ms ?? 10_000),
      HUB_POLL_INTERVAL_MS: String(this.options.poll_interval_ms ?? 5_000),
      HUB_BACKOFF_MAX_MS: String(this.options.backoff_max_ms ?? 1_000),
      HUB_GREY_AFTER_MS: String(this.options.grey_after_ms ?? 600_000),
      HUB_LOG_LEVEL: 'warn',
    };
  }

  async #resolveWorker(): Promise<void> {
    if (this.options.worker_url === undefined && this.#unreachable === '') this.#unreachable = await unreachableOrigin();
  }

  async cli(args: string[]): Promise<string> {
    await this.#resolveWorker();
    return runCommand(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: this.env(), timeout_ms: 30_000 });
  }

  /** `keygen`: returns the public key (the CLI's last line). */
  async keygen(): Promise<string> {
    const out = await this.cli(['keygen']);
    this.public_key = out.trim().split('\n').at(-1)!;
    return this.public_key;
  }

  /** `keygen` and `card-keys init`: what every hub needs before `start`. */
  async init(): Promise<void> {
    await this.keygen();
    await this.cli(['card-keys', 'init']);
  }

  /** `terminal add <id>`: its key (the CLI's last line) and card_terminal_id. */
  async addTerminal(terminal_id: string, card_terminal_id?: string): Promise<RegisteredTerminal> {
    const out = await this.cli(['terminal', 'add', terminal_id, ...(card_terminal_id === undefined ? [] : ['--card-terminal-id', card_terminal_id])]);
    const lines = out.trim().split('\n');
    const id_line = lines.find((line) => line.startsWith('card_terminal_id '));
    if (id_line === undefined) throw new Error(`terminal add printed no card_terminal_id:\n${out}`);
    return { terminal_id, key_hex: lines.at(-1)!, card_terminal_id: id_line.slice('card_terminal_id '.length) };
  }

  readonly #terminals = new Set<Terminal>();
  /** A terminal simulator for a registered terminal, talking to the running hub; cleanup() closes it. */
  terminal(registered: RegisteredTerminal, txn_seq_start = 0, options: { keep_sent?: boolean; clock_skew_ms?: number } = {}): Terminal {
    const terminal = new Terminal({ hub_url: this.url, ...registered, txn_seq_start, ...options });
    this.#terminals.add(terminal);
    return terminal;
  }

  #master: CardMasterKeys | null = null;
  /** The school's master keys, as the card issuer holds them. */
  master(): CardMasterKeys {
    this.#master ??= readCardKeysFile(this.card_keys_file);
    return this.#master;
  }

  /** A card of `card_no` personalised as the issuer would: keys diversified by its asn. */
  card(card_no: string, state: { balance_fen: number; online_serial: number } = { balance_fen: 0, online_serial: 0 }, asn = asnOf(card_no)): PurseCard {
    return personaliseCard(this.master(), asn, state);
  }

  async health(): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    return (await response.json()) as Record<string, unknown>;
  }

  async start(): Promise<string> {
    if (this.service !== null) throw new Error('hub already running');
    await this.#resolveWorker();
    this.service = await startService({
      name: 'hub',
      command: process.execPath,
      args: [...NODE_ARGS, 'start'],
      cwd: ROOT,
      env: { ...this.env(), HUB_LOG_LEVEL: process.env.HUB_LOG_LEVEL ?? 'info' },
      ready: /"msg":"hub listening".*"port":(\d+)/,
      ready_timeout_ms: 30_000,
    });
    this.url = `http://127.0.0.1:${this.service.ready_match[1]}`;
    return this.url;
  }

  /** SIGKILL: no shutdown code runs, exactly like a power cut of the process. */
  async kill(): Promise<void> {
    const service = this.service;
    if (service === null) return;
    this.service = null;
    signalGroup(service.pid, 'SIGKILL');
    await service.exited();
  }

  async stop(): Promise<void> {
    const service = this.service;
    if (service === null) return;
    this.service = null;
    await service.stop();
  }

  /**
   * Puts changes into the hub's store while the hub is stopped, through the same ledger code
   * the sync client applies the Worker's feed with. For tests of the POS side that should not
   * depend on a Worker; the sync tests feed the hub from the real Worker instead.
   */
  seedChanges(changes: HubChange[]): void {
    if (this.service !== null) throw new Error('seed only while the hub is stopped');
    const db = openDatabase({ path: this.db_path, busy_timeout_ms: 5_000 });
    const purse_limit_fen = { student: PURSE_LIMIT_FEN_DEFAULT, staff: PURSE_LIMIT_FEN_DEFAULT, visitor: PURSE_LIMIT_FEN_DEFAULT };
    const ledger = new HubLedger(db, { write_window_ms: 10_000, purse_limit_fen, now_ms: Date.now });
    const group = new GroupCommit(db, { ops_per_batch_max: 1 });
    const next_after = Math.max(ledger.cursor, ...changes.map((change) => change.seq));
    void group.run(() => ledger.applyChanges(changes, next_after));
    group.flush();
    db.close();
  }

  /** A write into the store while the hub is stopped: a test playing a corrupted or foreign store. */
  write(sql: string, ...params: (string | number)[]): void {
    if (this.service !== null) throw new Error('write only while the hub is stopped');
    const db = new DatabaseSync(this.db_path);
    try {
      db.prepare(sql).run(...params);
    } finally {
      db.close();
    }
  }

  /** Read-only look at the durable store, for assertions after the hub stopped or died. */
  query<T>(sql: string, ...params: (string | number)[]): T[] {
    const db = new DatabaseSync(this.db_path, { readOnly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  /** Closes every terminal made here (closing one twice is harmless), stops the hub, removes its files. */
  async cleanup(): Promise<void> {
    for (const terminal of this.#terminals) terminal.close();
    this.#terminals.clear();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let seq_counter = 0;
/** The next feed sequence number; every change a test makes takes one, so they stay ordered. */
export function nextSeq(): number {
  seq_counter += 1;
  return seq_counter;
}

/** The asn a test card of `card_no` was issued with (16 upper-case hex, fixed per number). */
export function asnOf(card_no: string): string {
  return createHash('sha256').update(`asn:${card_no}`).digest('hex').slice(0, 16).toUpperCase();
}

/** Changes feed entries the way the Worker writes them (seq rises across a test file). */
export function cardChange(
  card_no: string,
  status: 'active' | 'lost' | 'frozen' | 'closed' = 'active',
  options: { card_kind?: CardKind; asn?: string | null } = {},
): HubChange {
  seq_counter += 1;
  return { seq: seq_counter, kind: 'card', card_no, status, card_kind: options.card_kind ?? 'student', asn: options.asn === undefined ? asnOf(card_no) : options.asn };
}

export function creditChange(card_no: string, amount_fen: number): HubChange & { kind: 'credit' } {
  seq_counter += 1;
  return {
    seq: seq_counter,
    kind: 'credit',
    credit_id: `cr_${seq_counter}_${Math.random().toString(36).slice(2, 8)}`,
    order_id: `ord_${seq_counter}`,
    card_no,
    amount_fen,
    state: 'pending',
    created_at_ms: Date.now() + seq_counter,
  };
}
