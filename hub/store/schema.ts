// The hub's durable store (node:sqlite, WAL). Everything a swipe, a commit or a sync changes
// is here before it is answered; the in-memory index is only a cache rebuilt from it at start.
import { DatabaseSync } from 'node:sqlite';

const SCHEMA_VERSION = 1;

const DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

CREATE TABLE IF NOT EXISTS cards (
  card_no TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('active','lost','frozen','closed')),
  kind TEXT NOT NULL,
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
  -- A void request arrived while the credit was reserved: answered when the claim resolves.
  void_requested INTEGER NOT NULL DEFAULT 0 CHECK (void_requested IN (0,1)),
  created_at_ms INTEGER NOT NULL,
  received_seq INTEGER NOT NULL,
  CHECK ((state IN ('reserved','claimed')) = (claim_id IS NOT NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS credits_pending ON credits(card_no) WHERE state = 'pending';

-- One row per load offered. open → committed (card written) | aborted (terminal said the
-- write failed) | released (the card's load counter said it was not written).
CREATE TABLE IF NOT EXISTS claims (
  claim_id TEXT PRIMARY KEY,
  card_no TEXT NOT NULL,
  terminal_id TEXT NOT NULL,
  amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
  credit_ids TEXT NOT NULL,
  balance_before_fen INTEGER NOT NULL,
  load_counter_before INTEGER NOT NULL,
  balance_after_fen INTEGER NOT NULL,
  load_counter_after INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open','committed','aborted','released')),
  reserved_at_ms INTEGER NOT NULL,
  resolved_at_ms INTEGER,
  resolved_by TEXT,
  CHECK ((state = 'open') = (resolved_at_ms IS NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_open ON claims(card_no) WHERE state = 'open';

-- Committed claims waiting to be sent to the Worker, in commit order.
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  claim_id TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS terminals (
  terminal_id TEXT PRIMARY KEY,
  key_hex TEXT NOT NULL CHECK (length(key_hex) = 64),
  txn_seq_high INTEGER NOT NULL DEFAULT -1,
  created_at_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The newest chip state seen per card; dirty = 1 until the Worker has it.
CREATE TABLE IF NOT EXISTS card_reports (
  card_no TEXT PRIMARY KEY,
  balance_fen INTEGER NOT NULL,
  load_counter INTEGER NOT NULL,
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

-- Which unresolved reservations the Worker has been told of, and in which status.
CREATE TABLE IF NOT EXISTS grey_reported (
  claim_id TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('open','resolved'))
) STRICT, WITHOUT ROWID;

-- Uncertain outcomes for the card office: a commit for a claim already released, or a
-- claim the Worker rejected. Open reservations never seen again are listed from claims.
CREATE TABLE IF NOT EXISTS grey_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  claim_id TEXT NOT NULL,
  card_no TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  at_ms INTEGER NOT NULL
) STRICT;
`;

export interface OpenOptions {
  path: string;
  /** Milliseconds a writer waits for another process (the CLI) holding the write lock. */
  busy_timeout_ms: number;
}

export function openDatabase(options: OpenOptions): DatabaseSync {
  const db = new DatabaseSync(options.path);
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busy_timeout_ms)}`);
  db.exec('PRAGMA journal_mode = WAL');
  // FULL: every commit syncs the WAL, so an answered swipe or commit survives power loss.
  // The group commit amortises that sync over every request of one event-loop turn.
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec(DDL);
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  if (row === undefined) {
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
  } else if (Number(row.value) !== SCHEMA_VERSION) {
    throw new Error(`hub database ${options.path} has schema ${row.value}, this hub knows ${SCHEMA_VERSION}`);
  }
  return db;
}
