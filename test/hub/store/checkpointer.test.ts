// The hub's store as the hub opens it (hub/store/): COMMITs that do not sync, the group commit
// syncing the WAL itself before any answer, and checkpoints on a thread of their own. Under
// writers that always keep a transaction open, the WAL stays bounded (a checkpoint thread
// alone never lets it start over: the first attempt at this grew it by every commit), every
// answered write is in the store after it is closed and reopened, and answers come in the
// order the writes ran.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, expect, it } from 'vitest';
import { jsonLogger } from '../../../hub/log.ts';
import { Checkpointer } from '../../../hub/store/checkpointer.ts';
import { GroupCommit } from '../../../hub/store/group-commit.ts';
import { openDatabase, walPathOf } from '../../../hub/store/schema.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Small thresholds, so a second of writes crosses them many times over (frames of 4 KiB).
const RESTART_FRAMES = 128;
const TAIL_FRAMES_MAX = 32;
const HARD_FRAMES = 512;
const FRAME_BYTES = 4096 + 24;
// Writers in flight at once: a transaction is open nearly all the time, as on a busy hub.
const WRITERS = 8;
const WRITES_PER_WRITER = 400;
// A row of about a page, at a random place in the table's B-tree.
const ROW_BYTES = 3_000;

interface Run {
  wal_bytes_max: number;
  /** Resolution order of the answers, as the writes' sequence numbers. */
  answered: number[];
  finished: number;
}

async function writeUnderLoad(db_path: string, with_checkpointer: boolean): Promise<Run> {
  const db = openDatabase({ path: db_path, busy_timeout_ms: 1_000, sync_on_commit: false, auto_checkpoint: false });
  db.exec('CREATE TABLE IF NOT EXISTS rows (k TEXT PRIMARY KEY, n INTEGER NOT NULL, v BLOB NOT NULL) STRICT');
  const insert = db.prepare('INSERT INTO rows (k, n, v) VALUES (?, ?, randomblob(?))');
  const wal_path = walPathOf(db_path);
  let wal_bytes_max = 0;
  const group = new GroupCommit(db, { ops_per_batch_max: 2_000, wal_path, on_commit: () => (wal_bytes_max = Math.max(wal_bytes_max, statSync(wal_path).size)) });
  const checkpointer = new Checkpointer({
    db_path,
    db,
    group,
    log: jsonLogger({ quiet_below: process.env.DEBUG_CKPT ? 'debug' : 'error' }),
    interval_ms: 5,
    restart_frames: RESTART_FRAMES,
    tail_frames_max: TAIL_FRAMES_MAX,
    hard_frames: HARD_FRAMES,
  });
  if (with_checkpointer) await checkpointer.start();
  const answered: number[] = [];
  let n = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (let i = 0; i < WRITES_PER_WRITER; i++) {
        const seq = ++n;
        await group.run(() => insert.run(`${Math.random()}`, seq, ROW_BYTES));
        answered.push(seq);
      }
    }),
  );
  await group.durable();
  const finished = checkpointer.status().finished;
  await checkpointer.stop();
  db.close();
  group.close();
  return { wal_bytes_max, answered, finished };
}

it('keeps the WAL bounded under writers that never let it rest, and loses nothing answered', async () => {
  const db_path = path.join(dir, 'checkpointed.db');
  const run = await writeUnderLoad(db_path, true);
  // The hard cap, plus what can be appended between the thread's report and the finish: on a
  // machine busy with other test files the thread reports late (a clean-clone CI run saw 3.7×
  // the cap). Unchecked, the same writes pass 6× (about 3,200 frames), so 5× still tells them apart.
  expect(run.wal_bytes_max).toBeLessThan(5 * HARD_FRAMES * FRAME_BYTES);
  expect(run.finished).toBeGreaterThan(0);
  // Each writer awaits its own answers in turn, and answers are released in commit order.
  expect(run.answered).toHaveLength(WRITERS * WRITES_PER_WRITER);
  expect(run.answered).toEqual([...run.answered].sort((a, b) => a - b));

  const reopened = new DatabaseSync(db_path, { readOnly: true });
  try {
    expect(reopened.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    expect(reopened.prepare('SELECT count(*) AS n, min(n) AS lo, max(n) AS hi FROM rows').get()).toEqual({ n: WRITERS * WRITES_PER_WRITER, lo: 1, hi: WRITERS * WRITES_PER_WRITER });
  } finally {
    reopened.close();
  }
});

it('without the checkpointer the same writes grow the WAL far past that bound (what the cap is for)', async () => {
  const run = await writeUnderLoad(path.join(dir, 'unchecked.db'), false);
  expect(run.finished).toBe(0);
  expect(run.wal_bytes_max).toBeGreaterThan(4 * HARD_FRAMES * FRAME_BYTES);
});
