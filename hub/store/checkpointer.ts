// WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside a COMMIT once
// the WAL passes 1,000 pages: it copies them into the database file and syncs it while the
// event loop waits, tens of milliseconds on a busy disk, in front of every swipe queued
// behind it. The hub turns it off (schema.ts, auto_checkpoint: false) and checkpoints here:
//
// - a worker thread (checkpoint-worker.ts) runs a PASSIVE checkpoint every `interval_ms` on its
//   own connection: the page copies and their syncs happen there, beside the commits;
// - but a checkpoint running beside commits never backfills the very last frames, and SQLite
//   rewrites the WAL from its start only when a write transaction begins with every frame
//   backfilled: without more, the WAL would grow with every commit. So once the WAL passes
//   `restart_frames` and the thread has copied all but a short tail, the hub's own connection
//   checkpoints between two transactions (GroupCommit.whenIdle): only the tail is copied on
//   the event loop, and the next transaction starts the WAL over;
// - the hard cap: past `hard_frames` the hub checkpoints on its connection whatever the tail,
//   so a thread that falls behind (a slow disk) cannot let the WAL grow without bound. If the
//   thread dies, SQLite's automatic checkpoint is turned back on.
import { Worker } from 'node:worker_threads';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from '../log.ts';
import type { GroupCommit } from './group-commit.ts';

export interface CheckpointWorkerData {
  db_path: string;
  interval_ms: number;
}

/** What the thread's last checkpoint found: frames in the WAL, and how many are in the database file. */
export interface CheckpointReport {
  log_frames: number;
  checkpointed_frames: number;
  duration_ms: number;
}

export interface CheckpointerOptions {
  db_path: string;
  /** The hub's connection (the one GroupCommit writes on). */
  db: DatabaseSync;
  group: GroupCommit;
  log: Logger;
  interval_ms: number;
  /** WAL length at which the hub finishes a checkpoint itself, so the WAL starts over. */
  restart_frames: number;
  /** The most frames the hub copies on the event loop to finish one. */
  tail_frames_max: number;
  /** WAL length at which the hub checkpoints whatever is left to copy. */
  hard_frames: number;
}

// SQLite's own default, for a hub whose checkpoint thread has died.
const AUTO_CHECKPOINT_PAGES = 1_000;
// A WAL a reader keeps from starting over (a long read by the CLI) is not re-checkpointed on
// every report: once in this long.
const FINISH_INTERVAL_MS_MIN = 1_000;

export interface CheckpointerStatus {
  log_frames: number;
  checkpointed_frames: number;
  /** Checkpoints finished on the hub's connection (WAL restarts made possible). */
  finished: number;
  /** Of those, forced by the hard cap with more than the tail left. */
  forced: number;
}

export class Checkpointer {
  readonly #options: CheckpointerOptions;
  readonly #finish: ReturnType<DatabaseSync['prepare']>;
  #worker: Worker | null = null;
  #stopping = false;
  #finish_queued = false;
  #finished_at_ms = -Infinity;
  /** The WAL's length when the hub last finished a checkpoint; Infinity once it started over. */
  #finished_log_frames = Infinity;
  #status: CheckpointerStatus = { log_frames: 0, checkpointed_frames: 0, finished: 0, forced: 0 };

  constructor(options: CheckpointerOptions) {
    if (!(options.tail_frames_max >= 0 && options.restart_frames > options.tail_frames_max && options.hard_frames >= options.restart_frames)) {
      throw new RangeError('checkpointer needs tail_frames_max < restart_frames <= hard_frames');
    }
    if (!(options.interval_ms > 0)) throw new RangeError(`interval_ms must be positive: ${options.interval_ms}`);
    this.#options = options;
    this.#finish = options.db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
  }

  /** Starts the thread; resolves once it runs (the hub does not wait for that). */
  start(): Promise<void> {
    if (this.#worker !== null) return Promise.resolve();
    const data: CheckpointWorkerData = { db_path: this.#options.db_path, interval_ms: this.#options.interval_ms };
    const worker = new Worker(new URL('./checkpoint-worker.ts', import.meta.url), { workerData: data });
    this.#worker = worker;
    const online = new Promise<void>((resolve) => worker.once('online', () => resolve()));
    worker.on('message', (report: CheckpointReport) => this.#report(report));
    worker.on('error', (error) => this.#lost(String(error.stack ?? error)));
    worker.on('exit', (code) => {
      if (!this.#stopping) this.#lost(`exit code ${code}`);
    });
    return online;
  }

  async stop(): Promise<void> {
    const worker = this.#worker;
    if (worker === null) return;
    this.#stopping = true;
    this.#worker = null;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('stop');
    await exited;
  }

  status(): CheckpointerStatus {
    return { ...this.#status };
  }

  #report(report: CheckpointReport): void {
    this.#status.log_frames = report.log_frames;
    this.#status.checkpointed_frames = report.checkpointed_frames;
    // Shorter than when the hub last finished a checkpoint: the WAL has started over since.
    if (report.log_frames < this.#finished_log_frames) this.#finished_log_frames = Infinity;
    const { restart_frames, tail_frames_max, hard_frames } = this.#options;
    if (report.log_frames < restart_frames) return;
    const tail_frames = report.log_frames - report.checkpointed_frames;
    const forced = tail_frames > tail_frames_max;
    if (forced && report.log_frames < hard_frames) return;
    if (this.#finish_queued) return;
    // Finished, yet not started over: a reader holds an old snapshot. Not again at every report.
    if (this.#finished_log_frames !== Infinity && performance.now() - this.#finished_at_ms < FINISH_INTERVAL_MS_MIN) return;
    this.#finish_queued = true;
    this.#options.group.whenIdle(() => {
      this.#finish_queued = false;
      const started_ms = performance.now();
      const row = this.#finish.get() as { busy: number; log: number; checkpointed: number };
      // busy: the thread holds the checkpoint lock right now; its next report asks again.
      if (row.busy !== 0) return;
      this.#finished_at_ms = performance.now();
      this.#finished_log_frames = row.log;
      this.#status.finished += 1;
      if (forced) this.#status.forced += 1;
      this.#options.log.log(forced ? 'warn' : 'debug', 'WAL checkpoint finished on the hub connection', {
        log_frames: row.log,
        checkpointed_frames: row.checkpointed,
        tail_frames,
        forced,
        duration_ms: Math.round((this.#finished_at_ms - started_ms) * 100) / 100,
      });
    });
  }

  #lost(reason: string): void {
    if (this.#stopping) return;
    this.#worker = null;
    this.#options.log.log('error', 'checkpoint thread died: SQLite checkpoints inside commits again', { reason });
    this.#options.group.whenIdle(() => this.#options.db.exec(`PRAGMA wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`));
  }
}
