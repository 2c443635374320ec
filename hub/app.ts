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
import { GroupCommit } from './store/group-commit.ts';
import { openDatabase } from './store/schema.ts';
import { SyncClient } from './sync/client.ts';
import type { HubSigner } from './sync/signer.ts';

// Bounds one transaction, so one turn with a flood of requests still answers in slices.
const OPS_PER_BATCH_MAX = 2_000;
const BUSY_TIMEOUT_MS = 5_000;
// What swipes leave behind (chip reports, txn_seq) is written this often, in one transaction:
// a read-only swipe pays no disk sync of its own.
const SWIPE_FLUSH_INTERVAL_MS = 1_000;

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
  const db = openDatabase({ path: config.db_path, busy_timeout_ms: BUSY_TIMEOUT_MS });
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
  const deps = { ledger, group, keys: options.keys, metrics, now_ms: Date.now };
  const ops = { ledger, group, metrics, sync, grey_after_ms: config.grey_after_ms, operator_token: config.operator_token, started_at_ms: Date.now() };
  log.log('info', 'hub store open', { db: config.db_path, cursor: ledger.cursor, ...ledger.fleet(), ...ledger.counts() });

  const flushSwipes = () => {
    if (ledger.swipesPending) void group.run(() => ledger.flushSwipes());
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
      sync?.start();
    },
    async close() {
      if (swipe_timer !== null) clearInterval(swipe_timer);
      await sync?.stop();
      flushSwipes();
      group.flush();
      db.close();
    },
  };
}
