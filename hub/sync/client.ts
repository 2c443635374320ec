// Sync with the Worker (DESIGN section 6): pull the changes feed after the durable cursor,
// send committed claims from the outbox in order, answer void requests, send coalesced card
// reports. Two loops (lane.ts): the changes feed, woken by the push channel, and the outbound
// stages, woken by new commits; both poll as the fallback, with exponential backoff and jitter
// while the Worker is unreachable. Swipes never wait for either.
import {
  CARD_HOLDS_BATCH_MAX,
  CARD_REPORTS_BATCH_MAX,
  CLAIMS_BATCH_BYTES_MAX,
  CLAIMS_BATCH_MAX,
  GREY_RECORDS_BATCH_MAX,
  SNAPSHOT_LIMIT_DEFAULT,
  VOIDS_BATCH_MAX,
} from '../../protocol/hub.ts';
import type {
  CardReportsRequest,
  HubState,
  RetireConfirmRequest,
  RetireConfirmResponse,
  ClaimsRequest,
  ClaimsResponse,
  HubPushMessage,
  VoidsRequest,
  VoidsResponse,
} from '../../protocol/hub.ts';
import type { HubLedger } from '../ledger/index.ts';
import type { Logger } from '../log.ts';
import type { HubMetrics } from '../ops/metrics.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { parseChangesPage, parseSnapshotPage } from './feed.ts';
import { SyncLane, type WakeCause } from './lane.ts';
import type { HubSigner } from './signer.ts';

export interface SyncOptions {
  worker_url: string;
  push_path: string;
  poll_interval_ms: number;
  backoff_base_ms: number;
  backoff_max_ms: number;
  request_timeout_ms: number;
  /** An open reservation this old, its card not seen since, is reported as grey. */
  grey_after_ms: number;
}

// Bounds on one round, so a huge backlog still lets the loop check for stop and push wakes.
const PAGES_PER_ROUND_MAX = 200;
// Changes asked for per pull: a page is checked and applied in one synchronous step on the
// event loop, about 20 µs a change; the Worker's default of 500 would hold every swipe for
// 10-15 ms per page of a backlog (DESIGN section 9: a swipe's p99 is 5 ms). A pull that is
// not a backlog carries a few changes either way.
const CHANGES_PAGE_LIMIT = 100;
const BATCHES_PER_ROUND_MAX = 200;
// A resync reads every credit the hub owns; 10,000 pages of 500 is far beyond any school's.
const SNAPSHOT_PAGES_MAX = 10_000;
// Proxies close WebSockets idle for about 100 s; the Durable Object answers "ping" without
// waking (its auto-response), so this keeps the channel open for free.
const PUSH_PING_INTERVAL_MS = 30_000;
// A grey record due in the past (its report failed) is retried by the stage's own backoff;
// this only keeps the loop from spinning on it.
const GREY_CHECK_MS_MIN = 250;

export interface SyncStatus {
  cursor: number;
  last_contact_at_ms: number | null;
  caught_up_at_ms: number | null;
  push_connected: boolean;
  consecutive_failures: number;
}

class WorkerError extends Error {
  readonly status: number;
  /** The `error.code` of the Worker's answer, when it had one. */
  readonly code: string | null;
  constructor(status: number, code: string | null, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function errorCode(reply: string): string | null {
  try {
    const code = (JSON.parse(reply) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

export class SyncClient {
  readonly #ledger: HubLedger;
  readonly #group: GroupCommit;
  readonly #signer: HubSigner;
  readonly #metrics: HubMetrics;
  readonly #log: Logger;
  readonly #options: SyncOptions;
  #stopped = false;
  // Inbound (the changes feed, woken by the push channel) and outbound (claims, void answers,
  // card reports, woken by commits) run side by side: a push never waits behind a claims
  // batch, and a slow pull never holds back the claims that settle money.
  readonly #inbound: SyncLane;
  readonly #outbound: SyncLane;
  #started = false;
  #greyTimer: NodeJS.Timeout | null = null;
  #greyDueAtMs = Infinity;
  #push: WebSocket | null = null;
  #pushTimer: NodeJS.Timeout | null = null;
  #pushFailures = 0;
  #status: SyncStatus = { cursor: 0, last_contact_at_ms: null, caught_up_at_ms: null, push_connected: false, consecutive_failures: 0 };

  constructor(deps: { ledger: HubLedger; group: GroupCommit; signer: HubSigner; metrics: HubMetrics; log: Logger; options: SyncOptions }) {
    this.#ledger = deps.ledger;
    this.#group = deps.group;
    this.#signer = deps.signer;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#options = deps.options;
    const lane = { poll_interval_ms: this.#options.poll_interval_ms, backoff: (failures: number) => this.#backoff(failures), log: this.#log, on_failure: () => void (this.#metrics.sync_errors += 1) };
    this.#inbound = new SyncLane({ ...lane, name: 'inbound', stages: [{ name: 'changes', run: () => this.#pull() }] });
    this.#outbound = new SyncLane({
      ...lane,
      name: 'outbound',
      stages: [
        { name: 'claims', run: () => this.#sendClaims() },
        { name: 'voids', run: () => this.#sendVoids() },
        { name: 'card-reports', run: () => this.#sendReports() },
        { name: 'retire', run: () => this.#confirmRetired() },
      ],
      after_round: () => {
        // Open reservations from before a restart (or not yet due) get their grey timer here.
        // Past-due ones were just sent, or their stage is failing and retries on its own backoff.
        const grey_due_at_ms = this.#ledger.nextGreyDueAt(this.#options.grey_after_ms);
        if (grey_due_at_ms !== null && grey_due_at_ms > Date.now()) this.scheduleGrey(grey_due_at_ms - this.#options.grey_after_ms);
      },
    });
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#inbound.start();
    this.#outbound.start();
    this.#connectPush();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#greyTimer !== null) clearTimeout(this.#greyTimer);
    if (this.#pushTimer !== null) clearTimeout(this.#pushTimer);
    this.#push?.close();
    await Promise.all([this.#inbound.stop(), this.#outbound.stop()]);
  }

  /** New commits to send (claims in the outbox); cheap to call often. */
  wake(): void {
    this.#outbound.wake('commit');
  }

  /** Asks the lane that runs stage `name` for a round of it alone. */
  #wakeStage(name: string, cause: WakeCause = 'changes'): void {
    if (name === 'changes') this.#inbound.wakeStage(name, cause);
    else this.#outbound.wakeStage(name, cause);
  }

  /** A card hold for the card office: sent with the card reports at once (after its commit). */
  wakeReports(): void {
    this.#wakeStage('card-reports', 'grey');
  }

  /** A reservation made at `reserved_at_ms` becomes grey later: report it when it does. */
  scheduleGrey(reserved_at_ms: number): void {
    const due_at_ms = reserved_at_ms + this.#options.grey_after_ms;
    if (this.#stopped || due_at_ms >= this.#greyDueAtMs) return;
    if (this.#greyTimer !== null) clearTimeout(this.#greyTimer);
    this.#greyDueAtMs = due_at_ms;
    this.#greyTimer = setTimeout(() => {
      this.#greyTimer = null;
      this.#greyDueAtMs = Infinity;
      this.#wakeStage('card-reports', 'grey');
    }, Math.max(0, due_at_ms - Date.now()) + GREY_CHECK_MS_MIN);
    this.#greyTimer.unref();
  }

  status(): SyncStatus {
    return { ...this.#status, cursor: this.#ledger.cursor, consecutive_failures: Math.max(this.#inbound.consecutive_failures, this.#outbound.consecutive_failures) };
  }

  #backoff(failures: number): number {
    const exp = Math.min(this.#options.backoff_max_ms, this.#options.backoff_base_ms * 2 ** Math.min(failures - 1, 20));
    // Full jitter on the upper half: many hubs coming back at once do not all retry together.
    return Math.round(exp / 2 + Math.random() * (exp / 2));
  }

  async #request<T>(method: 'GET' | 'POST', path_and_query: string, body: unknown): Promise<T> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = await this.#signer.headers(method, path_and_query, text);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.#options.worker_url}${path_and_query}`, {
      method,
      headers,
      body: body === undefined ? undefined : text,
      signal: AbortSignal.timeout(this.#options.request_timeout_ms),
    });
    const reply = await response.text();
    this.#status.last_contact_at_ms = Date.now();
    if (!response.ok) throw new WorkerError(response.status, errorCode(reply), `${method} ${path_and_query.split('?')[0]} → ${response.status} ${reply.slice(0, 300)}`);
    return JSON.parse(reply) as T;
  }

  async #pull(): Promise<void> {
    // A resync cut short (a failed page, a restart) starts again: offers stay off meanwhile.
    if (this.#ledger.resyncRequired) await this.#resync();
    for (let page = 0; page < PAGES_PER_ROUND_MAX && !this.#stopped; page++) {
      const after = this.#ledger.cursor;
      let body: unknown;
      try {
        body = await this.#request<unknown>('GET', `/api/v1/hub/changes?after=${after}&limit=${CHANGES_PAGE_LIMIT}`, undefined);
      } catch (error) {
        if (!(error instanceof WorkerError && error.status === 409 && error.code === 'hub_state_regressed')) throw error;
        // This store is older than what it once told the Worker it held: restored from a
        // backup, a rolled-back VM, a copy without its WAL. What it holds as pending may be
        // on cards already, so nothing is offered until every credit is re-read.
        this.#log.log('error', 'store went back in time: offers stopped, re-syncing from the Worker', { cursor: after });
        await this.#resync();
        continue;
      }
      const feed = parseChangesPage(body, after);
      this.#metrics.sync_pulls += 1;
      // The cursor moves in the same transaction as the changes: a crash loses neither.
      const { applied, state } = await this.#group.run(() => ({ ...this.#ledger.applyChanges(feed.changes, feed.next_after), state: this.#ledger.confirmPull(feed.hub_state) }));
      if (state !== null) this.#stateChanged(state.changed_from, feed.hub_state!);
      if (applied > 0) {
        this.#log.log('info', 'changes applied', { applied, cursor: this.#ledger.cursor, woken_by: this.#inbound.round_causes });
        // Void requests among them are answered by the outbound lane.
        this.#outbound.wake('changes');
      }
      if (!feed.has_more) {
        this.#status.caught_up_at_ms = Date.now();
        return;
      }
    }
  }

  #stateChanged(from: HubState, to: HubState): void {
    this.#log.log(to === 'active' ? 'info' : 'warn', 'hub state changed at the Worker', { from, to, ...this.#ledger.fleet() });
    // A retiring hub confirms as soon as it is drained.
    if (to === 'retiring') this.#outbound.wakeStage('retire', 'changes');
  }

  /** Pages through every credit the hub owns, one page per transaction; the last sets the cursor. */
  async #resync(): Promise<void> {
    const since = this.#ledger.cursor;
    await this.#group.run(() => this.#ledger.beginResync());
    const total = { pages: 0, credits: 0, forgotten_loads: 0, conflicts: 0, dropped: 0, released_holds: 0 };
    let cursor: string | null = null;
    let resume_after: number | null = null;
    for (let page = 0; page < SNAPSHOT_PAGES_MAX && !this.#stopped; page++) {
      const query: string = cursor === null ? `since=${since}` : `cursor=${encodeURIComponent(cursor)}`;
      const snapshot = parseSnapshotPage(await this.#request<unknown>('GET', `/api/v1/hub/snapshot?${query}&limit=${SNAPSHOT_LIMIT_DEFAULT}`, undefined), resume_after);
      resume_after = snapshot.resume_after;
      const { tally, state } = await this.#group.run(() => ({ tally: this.#ledger.applySnapshotPage(snapshot), state: this.#ledger.setHubState(snapshot.hub_state) }));
      if (state !== null) this.#stateChanged(state.changed_from, snapshot.hub_state);
      total.pages += 1;
      total.credits += tally.credits;
      total.forgotten_loads += tally.forgotten_loads;
      total.conflicts += tally.conflicts;
      total.dropped += tally.dropped;
      total.released_holds += tally.released_holds;
      if (snapshot.next_cursor === null) {
        this.#log.log(total.forgotten_loads + total.conflicts > 0 ? 'warn' : 'info', 're-sync done: offers resume', { since, resume_after, ...total, ...this.#ledger.fleet() });
        return;
      }
      cursor = snapshot.next_cursor;
    }
    if (!this.#stopped) throw new Error(`snapshot did not end within ${SNAPSHOT_PAGES_MAX} pages`);
  }

  /** A retiring hub, drained, tells the Worker, which hands its pending credits on. */
  async #confirmRetired(): Promise<void> {
    // What the Worker is told is drained must be so on disk (GroupCommit.durable).
    await this.#group.durable();
    const fleet = this.#ledger.fleet();
    if (fleet.hub_state !== 'retiring' || fleet.retire_confirmed || !this.#ledger.drained()) return;
    const request: RetireConfirmRequest = { outbox_depth: 0, open_reservations: 0 };
    const reply = await this.#request<RetireConfirmResponse>('POST', '/api/v1/hub/retire-confirm', request);
    this.#log.log('warn', 'retiring hub drained and confirmed: the card office may retire it now', {
      released_credits: reply.released_credits,
      voided_credits: reply.voided_credits,
      hub_state: reply.hub_state,
    });
    const state = await this.#group.run(() => {
      const changed = this.#ledger.setHubState(reply.hub_state);
      if (reply.hub_state === 'retiring') this.#ledger.markRetireConfirmed();
      return changed;
    });
    if (state !== null) this.#stateChanged(state.changed_from, reply.hub_state);
  }

  async #sendClaims(): Promise<void> {
    for (let batch = 0; batch < BATCHES_PER_ROUND_MAX && !this.#stopped; batch++) {
      // Only claims on disk leave the hub (GroupCommit.durable).
      await this.#group.durable();
      const claims = this.#ledger.outboxBatch(CLAIMS_BATCH_MAX, CLAIMS_BATCH_BYTES_MAX);
      if (claims.length === 0) return;
      const request: ClaimsRequest = { claims };
      const reply = await this.#request<ClaimsResponse>('POST', '/api/v1/hub/claims', request);
      const card_of = new Map(claims.map((claim) => [claim.claim_id, claim.card_no]));
      const sent = new Set(claims.map((claim) => claim.claim_id));
      const results = (reply.results ?? []).filter((result) => sent.has(result.claim_id));
      for (const result of results) {
        if (result.status === 'rejected') this.#log.log('error', 'claim rejected by the Worker', { ...result });
      }
      await this.#group.run(() => this.#ledger.ackOutbox(results, card_of));
      this.#metrics.claims_sent += results.length;
      // An answer that acknowledged nothing would make this loop spin on the same batch.
      if (results.length === 0) throw new Error('claims batch answered without results');
    }
  }

  async #sendVoids(): Promise<void> {
    for (let batch = 0; batch < BATCHES_PER_ROUND_MAX && !this.#stopped; batch++) {
      // A void answer sent before its void is on disk could be undone by a crash, and the
      // credit loaded after its refund (GroupCommit.durable).
      await this.#group.durable();
      const answers = this.#ledger.voidAnswersBatch(VOIDS_BATCH_MAX);
      if (answers.length === 0) return;
      const request: VoidsRequest = {
        answers: answers.map((a) => (a.claim_id === null ? { credit_id: a.credit_id, result: a.result } : { credit_id: a.credit_id, result: a.result, claim_id: a.claim_id })),
      };
      const reply = await this.#request<VoidsResponse>('POST', '/api/v1/hub/voids', request);
      const results = reply.results ?? [];
      for (const result of results) {
        if (result.status === 'rejected') this.#log.log('error', 'void answer rejected by the Worker', { ...result });
      }
      await this.#group.run(() => this.#ledger.markVoidAnswersSent(answers, results));
    }
  }

  async #sendReports(): Promise<void> {
    for (let batch = 0; batch < BATCHES_PER_ROUND_MAX && !this.#stopped; batch++) {
      await this.#group.durable();
      const reports = this.#ledger.cardReportsBatch(CARD_REPORTS_BATCH_MAX);
      // Grey records ride along (protocol/hub.ts): DESIGN's four routes have no other place.
      const grey = this.#ledger.greyBatch(this.#options.grey_after_ms, GREY_RECORDS_BATCH_MAX / 2);
      // Card holds too (protocol/hub.ts, "Card holds"), sent again until acknowledged.
      const holds = this.#ledger.holdsBatch(CARD_HOLDS_BATCH_MAX / 2);
      if (reports.length === 0 && grey.length === 0 && holds.length === 0) return;
      const request: CardReportsRequest = { reports, ...(grey.length > 0 ? { grey } : {}), ...(holds.length > 0 ? { holds } : {}) };
      await this.#request<unknown>('POST', '/api/v1/hub/card-reports', request);
      await this.#group.run(() => {
        this.#ledger.markCardReportsSent(reports);
        this.#ledger.markGreySent(grey);
        this.#ledger.markHoldsSent(holds);
      });
      if (holds.length > 0) this.#log.log('warn', 'card holds sent to the card office', { holds: holds.map((hold) => `${hold.card_no}:${hold.status ?? 'open'}@${hold.online_serial_seen}`) });
    }
  }

  // ---- push channel ---------------------------------------------------------------------

  #connectPush(): void {
    if (this.#stopped) return;
    void this.#openPush().catch((error) => {
      this.#log.log('warn', 'push channel failed to open', { error: String((error as Error).message ?? error) });
      this.#schedulePush();
    });
  }

  #schedulePush(): void {
    if (this.#stopped) return;
    this.#pushFailures += 1;
    const delay_ms = this.#backoff(this.#pushFailures);
    this.#pushTimer = setTimeout(() => this.#connectPush(), delay_ms);
  }

  async #openPush(): Promise<void> {
    const url = new URL(this.#options.push_path, this.#options.worker_url);
    const headers = await this.#signer.headers('GET', `${url.pathname}${url.search}`, '');
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    // Node's (undici) WebSocket takes request headers; the DOM typing does not know that.
    const socket = new WebSocket(url, { headers } as unknown as string[]);
    this.#push = socket;
    let ping: NodeJS.Timeout | null = null;
    socket.addEventListener('open', () => {
      ping = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send('ping');
      }, PUSH_PING_INTERVAL_MS);
      this.#status.push_connected = true;
      this.#pushFailures = 0;
      this.#log.log('info', 'push channel open', {});
      // Whatever happened while the channel was down, in both directions.
      this.#inbound.wake('push');
      this.#outbound.wake('push');
    });
    socket.addEventListener('message', (event) => {
      let message: HubPushMessage | null = null;
      try {
        message = JSON.parse(String(event.data)) as HubPushMessage;
      } catch {
        return;
      }
      if (event.data === 'pong') return;
      this.#log.log('debug', 'push message', { data: String(event.data).slice(0, 64), cursor: this.#ledger.cursor });
      if (message?.type === 'changes' && !(message.seq <= this.#ledger.cursor)) this.#inbound.wake('push');
    });
    socket.addEventListener('close', (event) => {
      if (ping !== null) clearInterval(ping);
      this.#log.log('info', 'push channel closed', { code: event.code, reason: event.reason });
      this.#status.push_connected = false;
      if (this.#push === socket) this.#push = null;
      this.#schedulePush();
    });
    socket.addEventListener('error', () => {
      // 'close' follows and reconnects.
    });
  }
}
