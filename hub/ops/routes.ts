// Operations endpoints: /healthz (sync lag, outbox depth, last contact), /metrics
// (Prometheus), /grey-records (uncertain loads for the card office). The first two say nothing
// about any card and stay open on the LAN; grey records name cards, so they need the operator
// token, or, when none is configured, a connection on a loopback address.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { HubLedger } from '../ledger/index.ts';
import { sendError, sendJson, sendText } from '../http.ts';
import type { SyncClient } from '../sync/client.ts';
import type { HubMetrics } from './metrics.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { CheckpointerStatus } from '../store/checkpointer.ts';

export interface OpsDeps {
  ledger: HubLedger;
  group: GroupCommit;
  metrics: HubMetrics;
  sync: SyncClient | null;
  grey_after_ms: number;
  operator_token: string | null;
  started_at_ms: number;
  /** The WAL checkpointer's last report (hub/store/checkpointer.ts). */
  wal: () => CheckpointerStatus;
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined || isIP(address) === 0) return false;
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Null when the request may read grey records; else the refusal. */
function operatorRefusal(deps: OpsDeps, req: IncomingMessage): { status: 401 | 403; message: string } | null {
  if (deps.operator_token === null) {
    // The local address is loopback only for a connection from this machine.
    return isLoopback(req.socket.localAddress) ? null : { status: 403, message: 'grey records are served on loopback only unless HUB_OPERATOR_TOKEN is set' };
  }
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  // Hashes of equal length, so the comparison takes the same time whatever was sent.
  if (given === undefined || !timingSafeEqual(sha256(given), sha256(deps.operator_token))) {
    return { status: 401, message: 'send Authorization: Bearer <HUB_OPERATOR_TOKEN>' };
  }
  return null;
}

const GREY_RECORDS_MAX = 1000;

function health(deps: OpsDeps) {
  const now_ms = Date.now();
  const sync = deps.sync?.status() ?? null;
  const caught_up_at_ms = sync?.caught_up_at_ms ?? null;
  return {
    // Degraded: swipes are served, but the Worker has not been reached lately (sync failing).
    status: (sync?.consecutive_failures ?? 0) > 0 ? 'degraded' : 'ok',
    uptime_ms: now_ms - deps.started_at_ms,
    cursor: deps.ledger.cursor,
    sync_lag_ms: caught_up_at_ms === null ? null : now_ms - caught_up_at_ms,
    last_contact_at_ms: sync?.last_contact_at_ms ?? null,
    push_connected: sync?.push_connected ?? false,
    sync_failures: sync?.consecutive_failures ?? 0,
    // Whether loads are offered, and if not why (the hub's state at the Worker, a resync).
    ...deps.ledger.fleet(),
    ...deps.ledger.counts(),
  };
}

export function handleOps(deps: OpsDeps, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (path !== '/healthz' && path !== '/metrics' && path !== '/grey-records') return false;
  if (req.method !== 'GET') {
    sendError(res, 405, 'method_not_allowed', `${path} takes GET`);
    return true;
  }
  if (path === '/healthz') {
    sendJson(res, 200, health(deps));
  } else if (path === '/grey-records') {
    const refusal = operatorRefusal(deps, req);
    if (refusal !== null) {
      sendError(res, refusal.status, refusal.status === 401 ? 'unauthorized' : 'forbidden', refusal.message);
      return true;
    }
    sendJson(res, 200, { records: deps.ledger.greyRecords(deps.grey_after_ms, GREY_RECORDS_MAX) });
  } else {
    const h = health(deps);
    const text = deps.metrics.render({
      hub_outbox_depth: { help: 'Committed claims not yet acknowledged by the Worker.', value: h.outbox_depth },
      hub_sync_lag_seconds: { help: 'Seconds since the hub last caught up with the changes feed (-1: never).', value: h.sync_lag_ms === null ? -1 : h.sync_lag_ms / 1000 },
      hub_last_contact_age_seconds: { help: 'Seconds since the Worker last answered (-1: never).', value: h.last_contact_at_ms === null ? -1 : (Date.now() - h.last_contact_at_ms) / 1000 },
      hub_pending_credits: { help: 'Credits offerable at the next swipe of their card.', value: h.pending_credits },
      hub_open_claims: { help: 'Reservations whose MAC2 is out, waiting for the card\'s TAC, prove or next load.', value: h.open_claims },
      hub_cards: { help: 'Cards known to the hub.', value: h.cards },
      hub_push_connected: { help: '1 while the push channel is open.', value: h.push_connected ? 1 : 0 },
      hub_offering_loads: { help: '1 while the hub offers loads (active, not re-syncing); 0 for a standby, retiring, retired or dead hub, or during a resync.', value: h.not_offering === null ? 1 : 0 },
      hub_resyncing: { help: '1 while the hub re-reads its credits from the Worker after its store went back in time.', value: h.resyncing ? 1 : 0 },
      hub_void_answers_unsent: { help: 'Answers to refund requests not yet acknowledged by the Worker.', value: h.void_answers_unsent },
      hub_wal_frames: { help: 'Frames (pages) in the WAL at the checkpoint thread\'s last look.', value: deps.wal().log_frames },
      hub_wal_finished_checkpoints: { help: 'Checkpoints finished on the hub connection so the WAL could start over, since start (forced by the cap: hub_wal_forced_checkpoints).', value: deps.wal().finished },
      hub_wal_forced_checkpoints: { help: 'Of those, forced by the WAL length cap with more than a short tail left to copy.', value: deps.wal().forced },
      process_resident_memory_bytes: { help: 'Resident set size.', value: process.memoryUsage.rss() },
    });
    sendText(res, 200, 'text/plain; version=0.0.4; charset=utf-8', text);
  }
  return true;
}
