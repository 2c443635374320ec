// The hub's durable store (node:sqlite, WAL). Everything a load, a commit or a sync changes is
// here before it is answered; the in-memory index is only a cache rebuilt from it at start.
import { DatabaseSync } from 'node:sqlite';

// 2: POS v2 (PBOC loads: cards carry their asn, reservations their MAC1 session, terminals
// their card_terminal_id). Nothing ran v1 in production, so a v1 store is refused, not migrated.
export const SCHEMA_VERSION = 2;

const DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

-- last_online_serial: the card's online serial after the last load this hub committed; a
-- MAC1-verified serial ahead of it means loads this hub forgot (a restored store): frozen = 1.
CREATE TABLE IF NOT EXISTS cards (
  card_no TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('active','lost','frozen','closed')),
  kind TEXT NOT NULL,
  asn TEXT CHECK (asn IS NULL OR (length(asn) = 16 AND asn NOT GLOB '*[^0-9A-F]*')),
  last_online_serial INTEGER CHECK (last_online_serial BETWEEN 0 AND 65535),
  frozen INTEGER NOT NULL DEFAULT 0 CHECK (frozen IN (0,1)),
  updated_seq INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- pending: offerable; reserved: held by one open claim; claimed/voided: final.
CREATE TABLE IF NOT EXISTS credits (
  credit_id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL,
  card_no TEXT NOT NULL,
  amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
  state TEXT NOT NULL CHECK (state IN ('pending','reserved','claimed','voided')),
  claim_id TEXT,
  -- A void request arrived while the credit was reserved: answered when the claim settles.
  void_requested INTEGER NOT NULL DEFAULT 0 CHECK (void_requested IN (0,1)),
  created_at_ms INTEGER NOT NULL,
  received_seq INTEGER NOT NULL,
  CHECK ((state IN ('reserved','claimed')) = (claim_id IS NOT NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS credits_pending ON credits(card_no) WHERE state = 'pending';

-- One row per MAC2 released. open → committed (the card's TAC, its transaction prove, or its
-- serial seen past the load) | released (the card's MAC1-verified serial said not written).
CREATE TABLE IF NOT EXISTS claims (
  claim_id TEXT PRIMARY KEY,
  card_no TEXT NOT NULL,
  asn TEXT NOT NULL,
  key_version INTEGER NOT NULL,
  terminal_id TEXT NOT NULL,
  card_terminal_id TEXT NOT NULL,
  amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
  credit_ids TEXT NOT NULL,
  balance_before_fen INTEGER NOT NULL CHECK (balance_before_fen BETWEEN 0 AND 4294967295),
  online_serial_before INTEGER NOT NULL CHECK (online_serial_before BETWEEN 0 AND 65534),
  balance_after_fen INTEGER NOT NULL CHECK (balance_after_fen BETWEEN 1 AND 4294967295),
  random TEXT NOT NULL,
  terminal_time TEXT NOT NULL,
  mac2 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open','committed','released')),
  proof_kind TEXT CHECK (proof_kind IN ('tac','prove','serial')),
  proof_value TEXT,
  reserved_at_ms INTEGER NOT NULL,
  resolved_at_ms INTEGER,
  resolved_by TEXT,
  CHECK ((state = 'open') = (resolved_at_ms IS NULL)),
  CHECK ((state = 'committed') = (proof_kind IS NOT NULL))
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS claims_open ON claims(card_no) WHERE state = 'open';
-- One INITIALIZE FOR LOAD answer makes at most one reservation: a replayed one is refused.
CREATE UNIQUE INDEX IF NOT EXISTS claims_session ON claims(card_no, online_serial_before, random);

-- Committed claims waiting to be sent to the Worker, in commit order.
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  claim_id TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS terminals (
  terminal_id TEXT PRIMARY KEY,
  key_hex TEXT NOT NULL CHECK (length(key_hex) = 64),
  card_terminal_id TEXT NOT NULL UNIQUE CHECK (length(card_terminal_id) = 12 AND card_terminal_id NOT GLOB '*[^0-9A-F]*'),
  txn_seq_high INTEGER NOT NULL DEFAULT -1,
  created_at_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The newest chip state seen per card; dirty = 1 until the Worker has it.
CREATE TABLE IF NOT EXISTS card_reports (
  card_no TEXT PRIMARY KEY,
  balance_fen INTEGER NOT NULL,
  online_serial INTEGER NOT NULL,
  seen_at_ms INTEGER NOT NULL,
  dirty INTEGER NOT NULL CHECK (dirty IN (0,1))
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS card_reports_dirty ON card_reports(seen_at_ms) WHERE dirty = 1;

-- Answers to the Worker's void requests; sent = 0 until the Worker has acknowledged them.
CREATE TABLE IF NOT EXISTS void_answers (
  credit_id TEXT PRIMARY KEY,
  result TEXT NOT NULL CHECK (result IN ('voided','already_claimed')),
  claim_id TEXT,
  answered_at_ms INTEGER NOT NULL,
  sent INTEGER NOT NULL CHECK (sent IN (0,1))
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS void_answers_unsent ON void_answers(answered_at_ms) WHERE sent = 0;

-- Which open reservations the Worker has been told of, and in which status.
CREATE TABLE IF NOT EXISTS grey_reported (
  claim_id TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('open','resolved'))
) STRICT, WITHOUT ROWID;

-- Credits a snapshot page named, while a resync (the Worker refused a pull as regressed) pages
-- through every credit this hub owns: once the last page is in, a pending credit not named here
-- is not this hub's any more. Emptied when a resync starts and when it ends.
CREATE TABLE IF NOT EXISTS resync_seen (credit_id TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;

-- A card the serial guard froze (its MAC1-verified serial ran ahead of last_online_serial): the
-- highest serial it showed and this hub's record then, for the card office (sent = 0 until the
-- Worker has it). 'resolved': a re-sync accounted for every serial up to the one shown;
-- 'settled': the card office's decision came through the feed. A later freeze opens it again.
CREATE TABLE IF NOT EXISTS card_holds (
  card_no TEXT PRIMARY KEY,
  online_serial_seen INTEGER NOT NULL CHECK (online_serial_seen BETWEEN 1 AND 65535),
  online_serial_recorded INTEGER NOT NULL CHECK (online_serial_recorded BETWEEN 0 AND 65534),
  balance_fen INTEGER NOT NULL CHECK (balance_fen BETWEEN 0 AND 4294967295),
  at_ms INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open','resolved','settled')),
  sent INTEGER NOT NULL CHECK (sent IN (0,1)),
  CHECK (online_serial_seen > online_serial_recorded)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS card_holds_unsent ON card_holds(at_ms) WHERE sent = 0;
CREATE INDEX IF NOT EXISTS cards_frozen ON cards(card_no) WHERE frozen = 1;

-- Events for the card office: a card that could not make MAC1 or presented another card's
-- number, a TAC that did not verify, a card whose serial ran ahead of this hub's record, a
-- claim the Worker rejected. Open reservations are listed from claims.
CREATE TABLE IF NOT EXISTS grey_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  claim_id TEXT,
  card_no TEXT NOT NULL,
  terminal_id TEXT,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  at_ms INTEGER NOT NULL
) STRICT;
`;

export interface OpenOptions {
  path: string;
  /** Milliseconds a writer waits for another process (the CLI) holding the write lock. */
  busy_timeout_ms: number;
  /**
   * False: a COMMIT only writes the WAL (synchronous=NORMAL) and nothing counts as durable until
   * the caller has synced the WAL file (GroupCommit with `wal_path`). Default true: every
   * COMMIT syncs (synchronous=FULL).
   */
  sync_on_commit?: boolean;
  /** False: no checkpoint runs inside a COMMIT; the caller checkpoints (checkpointer.ts). Default true. */
  auto_checkpoint?: boolean;
}

/** SQLite's WAL file beside the database (the name SQLite gives it). */
export function walPathOf(db_path: string): string {
  return `${db_path}-wal`;
}

export class StoreVersionError extends Error {}

export function openDatabase(options: OpenOptions): DatabaseSync {
  const db = new DatabaseSync(options.path);
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busy_timeout_ms)}`);
  db.exec('PRAGMA journal_mode = WAL');
  // FULL: every commit syncs the WAL, so an answered load or commit survives power loss.
  // NORMAL (the hub): the same, but the group commit syncs the WAL itself, off the event loop,
  // before it answers; checkpoints sync in both modes before and after copying pages.
  db.exec(`PRAGMA synchronous = ${options.sync_on_commit === false ? 'NORMAL' : 'FULL'}`);
  // 0: a COMMIT never runs a checkpoint (copying pages and syncing the database file while
  // the event loop waits); the checkpointer does it on its own thread.
  if (options.auto_checkpoint === false) db.exec('PRAGMA wal_autocheckpoint = 0');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT');
  // Checked before the DDL: a v1 store has tables of the same names and other columns.
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  if (row !== undefined && Number(row.value) !== SCHEMA_VERSION) {
    db.close();
    throw new StoreVersionError(
      `hub database ${options.path} has schema ${row.value}, this hub knows ${SCHEMA_VERSION} (POS v2). ` +
        'A v1 store cannot load PBOC cards and is not migrated: move it aside and start with an empty HUB_DB; ' +
        'the hub re-syncs from the Worker.',
    );
  }
  db.exec(DDL);
  if (row === undefined) db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
  return db;
}
