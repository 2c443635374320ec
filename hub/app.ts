// Builds the hub: store, ledger, group commit, POS and ops routes, sync. Listening is
// server.ts's job, so tests and the CLI build the same app.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubConfig } from './config.ts';
import { sendError, sendJson } from './http.ts';
import type { CardKeyStore } from './keys/store.ts';
import { HubLedger } from './ledger/index.ts';
import type { Logger } from './log.ts';
import { HubMetrics } from './ops/metrics.ts';
import { handleOps } from './ops/routes.ts';
import { handlePos, isPosPath } from './pos/routes.ts';
import { Checkpointer } from './store/checkpointer.ts';
import { GroupCommit } from './store/group-commit.ts';
import { openDatabase, walPathOf } from './store/schema.ts';
import { SyncClient } from './sync/client.ts';
import type { HubSigner } from './sync/signer.ts';

// Bounds one transaction, so one turn with a flood of requests still answers in slices.
const OPS_PER_BATCH_MAX = 2_000;
const BUSY_TIMEOUT_MS = 5_000;
// What swipes leave behind (chip reports, txn_seq) is written this often: a read-only swipe
// pays no disk sync of its own.
const SWIPE_FLUSH_INTERVAL_MS = 1_000;
// Chip reports written per event-loop turn: at 500 swipes a second one flush is 500 upserts
// into a B-tree keyed by card, tens of milliseconds in one piece, which every request arriving
// meanwhile would wait for. In slices, requests are served between them.
const SWIPE_FLUSH_SLICE_MAX = 64;
// WAL checkpoints (checkpointer.ts), in pages of 4 KiB: the thread's pace, the WAL length
// (4 MiB, as SQLite's own automatic checkpoint) at which it starts over, the most the event
// loop copies to make that happen, and the hard cap (64 MiB). A WAL that starts over often
// is rewritten in place instead of growing: an fdatasync then has no file size to journal,
// 2-3 times faster on the development VM (0.15 against 0.4 ms p50, 0.7-3.5 against 4.1-4.5
// ms p99).
const CHECKPOINT_INTERVAL_MS = 100;
const WAL_RESTART_FRAMES = 1_024;
const WAL_TAIL_FRAMES_MAX = 256;
const WAL_HARD_FRAMES = 16_384;
// WAL syncs under way at once. One: the transaction stays open while it runs, so a burst
// costs two syncs and one COMMIT a sync. Three (overlapping syncs) could not be told apart
// from one on the shared development VM, whose disk set both (fdatasync p99 30-50 ms).
const WAL_SYNCS_IN_FLIGHT_MAX = 1;

export interface HubApp {
  handle(req: IncomingMessage, res: ServerResponse): void;
  start(): void;
  close(): Promise<void>;
  ledger: HubLedger;
}

export interface HubAppOptions {
  config: HubConfig;
  signer: HubSigner | null;
  log: Logger;
  push_path: string;
  backoff_max_ms: number;
  /** The school's card keys (hub/keys/): MAC1 verified, MAC2 made, TAC verified. */
  keys: CardKeyStore;
}

export function buildHubApp(options: HubAppOptions): HubApp {
  const { config, log } = options;
  // The group commit syncs the WAL itself, off the event loop, and checkpoints run on their
  // own thread: no COMMIT of this connection waits for the disk.
  const db = openDatabase({ path: config.db_path, busy_timeout_ms: BUSY_TIMEOUT_MS, sync_on_commit: false, auto_checkpoint: false });
  const metrics = new HubMetrics();
  let sync: SyncClient | null = null;
  const ledger = new HubLedger(db, {
    write_window_ms: config.write_window_ms,
    purse_limit_fen: config.purse_limit_fen,
    now_ms: Date.now,
    on_reserved: (reserved_at_ms: number) => sync?.scheduleGrey(reserved_at_ms),
    on_held: () => sync?.wakeReports(),
  });
  const group = new GroupCommit(db, {
    ops_per_batch_max: OPS_PER_BATCH_MAX,
    wal_path: walPathOf(config.db_path),
    syncs_in_flight_max: WAL_SYNCS_IN_FLIGHT_MAX,
    on_commit: (ops) => {
      metrics.group_commits += 1;
      metrics.group_commit_ops += ops;
      if (ledger.outboxDepth > 0) sync?.wake();
    },
  });
  if (config.worker_url !== null && options.signer !== null) {
    sync = new SyncClient({
      ledger,
      group,
      signer: options.signer,
      metrics,
      log,
      options: {
        worker_url: config.worker_url,
        push_path: options.push_path,
        poll_interval_ms: config.poll_interval_ms,
        backoff_base_ms: 250,
        backoff_max_ms: options.backoff_max_ms,
        request_timeout_ms: 10_000,
        grey_after_ms: config.grey_after_ms,
      },
    });
  }
  const checkpointer = new Checkpointer({
    db_path: config.db_path,
    db,
    group,
    log,
    interval_ms: CHECKPOINT_INTERVAL_MS,
    restart_frames: WAL_RESTART_FRAMES,
    tail_frames_max: WAL_TAIL_FRAMES_MAX,
    hard_frames: WAL_HARD_FRAMES,
  });
  const deps = { ledger, group, keys: options.keys, metrics, now_ms: Date.now };
  const ops = {
    ledger,
    group,
    metrics,
    sync,
    grey_after_ms: config.grey_after_ms,
    operator_token: config.operator_token,
    started_at_ms: Date.now(),
    wal: () => checkpointer.status(),
  };

  log.log('info', 'hub store open', { db: config.db_path, cursor: ledger.cursor, ...ledger.fleet(), ...ledger.counts() });

  // One slice a turn until none is left; a flush still under way when the timer fires again
  // is not started twice.
  let swipe_flushing = false;
  const flushSwipeSlice = () => {
    if (!ledger.swipesPending) {
      swipe_flushing = false;
      return;
    }
    void group.run(() => ledger.flushSwipes(SWIPE_FLUSH_SLICE_MAX));
    setImmediate(flushSwipeSlice);
  };
  const flushSwipes = () => {
    if (swipe_flushing || !ledger.swipesPending) return;
    swipe_flushing = true;
    flushSwipeSlice();
  };
  let swipe_timer: NodeJS.Timeout | null = null;

  return {
    ledger,
    handle(req, res) {
      const path = (req.url ?? '/').split('?')[0]!;
      if (isPosPath(path)) {
        handlePos(deps, req, res, path).catch((error: unknown) => {
          log.log('error', 'unhandled POS error', { path, error: String((error as Error)?.stack ?? error) });
          // A bug of ours, not bad input: said as such, and logged above.
          if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: 'internal error' } });
        });
        return;
      }
      if (handleOps(ops, req, res, path)) return;
      sendError(res, 404, 'not_found', `no route ${req.method} ${path}`);
    },
    start() {
      swipe_timer = setInterval(flushSwipes, SWIPE_FLUSH_INTERVAL_MS);
      swipe_timer.unref();
      void checkpointer.start();
      sync?.start();
    },
    async close() {
      if (swipe_timer !== null) clearInterval(swipe_timer);
      await sync?.stop();
      // Everything at once: nothing is answered any more.
      if (ledger.swipesPending) void group.run(() => ledger.flushSwipes(Infinity));
      await group.durable();
      await checkpointer.stop();
      db.close();
      group.close();
    },
  };
}
