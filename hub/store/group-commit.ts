// Group commit: every state change of one event-loop turn goes into one SQLite transaction,
// and all of their answers are released after that transaction is durable. A swipe is thus
// never answered before its reservation is on disk, yet the disk sync is paid once per turn
// (or less), not once per request.
//
// Two ways to be durable:
// - no `wal_path`: the connection syncs in its own COMMIT (synchronous=FULL). The event loop
//   waits for the disk. Used by one-shot tools (seeding, tests' store writes, the CLI).
// - `wal_path` (the hub): the connection does not sync on COMMIT (synchronous=NORMAL, see
//   schema.ts), and the group fdatasyncs the WAL file on libuv's thread pool before releasing
//   any answer of the transactions written before that sync began. While the disk works the
//   event loop goes on: swipes are answered, further requests run into the next transaction.
//   Durability is the same as FULL's: nothing is answered before its frames are on disk, and
//   the WAL is append-only between checkpoints, which sync it themselves before copying.
import { closeSync, fdatasync, openSync, type PathLike } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';

export interface GroupCommitOptions {
  /** Commit early once this many operations share a transaction, to bound latency. */
  ops_per_batch_max: number;
  /** Called once operations are durable, with how many and how long since their COMMIT began. */
  on_commit?: (ops: number, duration_ms: number) => void;
  /** The WAL file of a connection opened with `sync_on_commit: false`: synced here, off the event loop. */
  wal_path?: string;
  /** WAL syncs under way at once (with `wal_path`); default 1. */
  syncs_in_flight_max?: number;
}

interface Waiter {
  resolve: () => void;
}

/** A transaction written, not yet known to be on disk. */
interface Written {
  seq: number;
  waiters: Waiter[];
  commit_started_ms: number;
}

interface DurableWaiter {
  seq: number;
  resolve: () => void;
}

export class GroupCommit {
  readonly #db: DatabaseSync;
  readonly #options: GroupCommitOptions;
  #waiters: Waiter[] = [];
  #open = false;
  #scheduled = false;
  #wal_fd: number | null = null;
  /** Written transactions no sync under way covers yet, oldest first. */
  #written: Written[] = [];
  /** Written transactions a sync under way covers, not yet released, oldest first. */
  #syncing: Written[] = [];
  #syncs_in_flight = 0;
  readonly #syncs_in_flight_max: number;
  /** Transactions committed (written), and of those the newest known to be on disk. */
  #written_seq = 0;
  #durable_seq = 0;
  #durable_waiters: DurableWaiter[] = [];
  #idle_tasks: (() => void)[] = [];

  constructor(db: DatabaseSync, options: GroupCommitOptions) {
    if (!(options.ops_per_batch_max >= 1)) throw new Error('ops_per_batch_max must be at least 1');
    this.#syncs_in_flight_max = options.syncs_in_flight_max ?? 1;
    if (!(this.#syncs_in_flight_max >= 1)) throw new Error('syncs_in_flight_max must be at least 1');
    this.#db = db;
    this.#options = options;
  }

  /**
   * Runs `op` now, inside the open transaction, so operations apply in arrival order and
   * each sees the effects of the ones before it; resolves with its result once durable.
   * An exception from `op` leaves memory and disk possibly out of step, so it is fatal:
   * the process exits and the restart rebuilds memory from the last durable state.
   */
  run<T>(op: () => T): Promise<T> {
    if (!this.#open) {
      this.#db.exec('BEGIN IMMEDIATE');
      this.#open = true;
    }
    let result: T;
    try {
      result = op();
    } catch (error) {
      fatal('operation failed inside the group transaction', error);
    }
    const promise = new Promise<T>((resolve) => {
      this.#waiters.push({ resolve: () => resolve(result) });
    });
    if (this.#waiters.length >= this.#options.ops_per_batch_max) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      // setImmediate runs after the poll phase: every request read in this turn joins.
      setImmediate(() => this.#turnEnd());
    }
    return promise;
  }

  /**
   * The end of a turn with operations: committed, and its sync started at once, beside those
   * under way (a sync waiting for the one before it to end would double a durable answer's
   * wait whenever the disk is slow). At `syncs_in_flight_max` the transaction stays open and
   * the first sync to end commits it: one COMMIT for those turns writes each page they changed
   * once (less WAL, less to checkpoint, less CPU).
   */
  #turnEnd(): void {
    this.#scheduled = false;
    if (this.#options.wal_path !== undefined && this.#syncs_in_flight >= this.#syncs_in_flight_max) return;
    this.flush();
  }

  /**
   * Commits the open transaction now. Without `wal_path` that COMMIT syncs and every waiting
   * answer is released now; with it, the answers wait for the next fdatasync of the WAL.
   */
  flush(): void {
    this.#scheduled = false;
    if (this.#open) {
      const commit_started_ms = performance.now();
      try {
        this.#db.exec('COMMIT');
      } catch (error) {
        fatal('commit failed', error);
      }
      this.#open = false;
      const written = { seq: ++this.#written_seq, waiters: this.#waiters, commit_started_ms };
      this.#waiters = [];
      if (this.#options.wal_path === undefined) {
        this.#release(written);
        this.#durable_seq = written.seq;
      } else {
        this.#written.push(written);
        this.#startSync();
      }
    }
    this.#runIdleTasks();
  }

  /**
   * Runs `task` with no transaction open: now if none is, else right after the next COMMIT.
   * For work that must not join a request's transaction (a checkpoint).
   */
  whenIdle(task: () => void): void {
    this.#idle_tasks.push(task);
    if (!this.#open) this.#runIdleTasks();
  }

  /**
   * Commits what is open and resolves once everything committed so far is on disk. Whatever
   * leaves the hub on the strength of the store (claims, void answers to the Worker) is read
   * after this: the same connection sees rows written but not yet synced, and a void answer
   * sent for a void a crash then undid would let the credit be loaded after its refund.
   */
  durable(): Promise<void> {
    this.flush();
    const seq = this.#written_seq;
    if (this.#durable_seq >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#durable_waiters.push({ seq, resolve }));
  }

  /** After the connection is closed: the WAL file is SQLite's to delete. */
  close(): void {
    if (this.#wal_fd !== null) closeSync(this.#wal_fd);
    this.#wal_fd = null;
  }

  get pending_ops(): number {
    let ops = this.#waiters.length;
    for (const written of [...this.#written, ...this.#syncing]) ops += written.waiters.length;
    return ops;
  }

  /**
   * An fdatasync covers every transaction written before it began: when it ends, those and
   * every older one are durable (a later sync ending first covers the older ones too).
   */
  #startSync(): void {
    if (this.#syncs_in_flight >= this.#syncs_in_flight_max || this.#written.length === 0) return;
    // Opened on the first sync: by then a COMMIT has written frames, so the file exists. The
    // WAL keeps its inode while the connection is open (restarts rewrite it in place).
    this.#wal_fd ??= openWal(this.#options.wal_path!);
    const covered_seq = this.#written.at(-1)!.seq;
    this.#syncing.push(...this.#written);
    this.#written = [];
    this.#syncs_in_flight += 1;
    fdatasync(this.#wal_fd, (error) => {
      this.#syncs_in_flight -= 1;
      // The kernel may have dropped the pages it could not write: nothing written is known
      // durable any more, and no answer may claim it is.
      if (error !== null) fatal('WAL sync failed', error);
      this.#durable_seq = Math.max(this.#durable_seq, covered_seq);
      while (this.#syncing.length > 0 && this.#syncing[0]!.seq <= this.#durable_seq) this.#release(this.#syncing.shift()!);
      if (this.#durable_waiters.length > 0) {
        const still: DurableWaiter[] = [];
        for (const waiter of this.#durable_waiters) {
          if (waiter.seq <= this.#durable_seq) waiter.resolve();
          else still.push(waiter);
        }
        this.#durable_waiters = still;
      }
      // What ran while the disk worked: committed now, synced next.
      if (this.#open) this.flush();
      else this.#startSync();
    });
  }

  #release(written: Written): void {
    this.#options.on_commit?.(written.waiters.length, performance.now() - written.commit_started_ms);
    for (const waiter of written.waiters) waiter.resolve();
  }

  #runIdleTasks(): void {
    while (!this.#open && this.#idle_tasks.length > 0) {
      const task = this.#idle_tasks.shift()!;
      try {
        task();
      } catch (error) {
        fatal('idle task failed', error);
      }
    }
  }
}

function openWal(wal_path: PathLike): number {
  try {
    return openSync(wal_path, 'r');
  } catch (error) {
    fatal(`cannot open the WAL file ${String(wal_path)} to sync it`, error);
  }
}

function fatal(message: string, error: unknown): never {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', msg: message, error: String((error as Error)?.stack ?? error), at_ms: Date.now() })}\n`,
  );
  // Exit without answering anyone: nothing unanswered was promised, and memory is rebuilt.
  process.exit(70);
}
