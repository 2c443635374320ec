// Group commit: every state change of one event-loop turn goes into one SQLite transaction,
// and all of their answers are released after that single (synced) COMMIT. A swipe is thus
// never answered before its reservation is on disk, yet the disk sync is paid once per turn,
// not once per request.
import type { DatabaseSync } from 'node:sqlite';

export interface GroupCommitOptions {
  /** Commit early once this many operations share a transaction, to bound latency. */
  ops_per_batch_max: number;
  /** Called after every commit with how many operations it carried (metrics). */
  on_commit?: (ops: number, duration_ms: number) => void;
}

interface Waiter {
  resolve: () => void;
}

export class GroupCommit {
  readonly #db: DatabaseSync;
  readonly #options: GroupCommitOptions;
  #waiters: Waiter[] = [];
  #open = false;
  #scheduled = false;

  constructor(db: DatabaseSync, options: GroupCommitOptions) {
    if (!(options.ops_per_batch_max >= 1)) throw new Error('ops_per_batch_max must be at least 1');
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
      setImmediate(() => this.flush());
    }
    return promise;
  }

  /** Commits the open transaction (one WAL sync) and releases every waiting answer. */
  flush(): void {
    this.#scheduled = false;
    if (!this.#open) return;
    const started_ms = performance.now();
    try {
      this.#db.exec('COMMIT');
    } catch (error) {
      fatal('commit failed', error);
    }
    this.#open = false;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#options.on_commit?.(waiters.length, performance.now() - started_ms);
    for (const waiter of waiters) waiter.resolve();
  }

  get pending_ops(): number {
    return this.#waiters.length;
  }
}

function fatal(message: string, error: unknown): never {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', msg: message, error: String((error as Error)?.stack ?? error), at_ms: Date.now() })}\n`,
  );
  // Exit without answering anyone: nothing unanswered was promised, and memory is rebuilt.
  process.exit(70);
}
