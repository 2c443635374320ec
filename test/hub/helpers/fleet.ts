// Several hubs of one school against the real Worker (`wrangler dev`, local D1, the simulated
// gateway), for the fleet tests: hubs registered and started as an operator would, sharing the
// school's card master keys (one key set per school, as the card issuer personalised the cards),
// admin calls, the card office's state changes, and the checks every fleet test ends with.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { HubState } from '../../../protocol/hub.ts';
import { HubSigner, importPrivateKeyPem } from '../../../hub/sync/signer.ts';
import { auditLocalD1 } from '../../../scripts/audit.ts';
import { executeLocalSql, sqlLiteral } from '../../../scripts/lib/local-d1.ts';
import type { Campus } from '../../../scripts/start.ts';
import { DEMO_CARDS } from '../../../sim/demo-campus.ts';
import type { PurseCard } from '../../../sim/pos/card.ts';
import { personaliseCard } from '../../../sim/pos/personalise.ts';
import type { Terminal } from '../../../sim/pos/terminal.ts';
import { adminRequest, registerHub, startTestCampus, until } from './campus.ts';
import { HubHarness, type HubHarnessOptions, type RegisteredTerminal } from './hub.ts';
import { Link } from './link.ts';

export { CARDS, SCHOOL, until, WAIT_MS, type CardRef } from './campus.ts';

export interface FleetHub {
  hub_id: string;
  harness: HubHarness;
  /** The hub's campus link to the Worker, which a test can cut. */
  link: Link;
  till: RegisteredTerminal;
  terminal: Terminal;
}

export class Fleet {
  readonly work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-fleet-'));
  readonly state_dir = path.join(this.work_dir, 'state');
  campus!: Campus;
  readonly hubs: FleetHub[] = [];
  /** One chip per card for the whole file, as in a wallet, personalised from the school's keys. */
  readonly #wallet = new Map<string, PurseCard>();
  #card_keys_file: string | null = null;

  async start(): Promise<void> {
    this.campus = await startTestCampus(this.work_dir, { notify_retry_schedule_ms: [0, 1_000, 2_000] });
  }

  /**
   * Registers and starts a hub: the school's first is its active hub, later ones standbys.
   * Every hub of the school holds the same card master keys.
   */
  async addHub(hub_id: string, options: HubHarnessOptions = {}): Promise<FleetHub> {
    const link = new Link(Number(new URL(this.campus.worker_url).port));
    const via_link = await link.open();
    const harness = new HubHarness({ poll_interval_ms: 1_000, backoff_max_ms: 400, ...options, worker_url: via_link, hub_id });
    await harness.keygen();
    if (this.#card_keys_file === null) {
      await harness.cli(['card-keys', 'init']);
      this.#card_keys_file = harness.card_keys_file;
    } else {
      copyFileSync(this.#card_keys_file, harness.card_keys_file);
    }
    await registerHub(this.campus, hub_id, harness.public_key);
    const till = await harness.addTerminal(`till-${hub_id}`);
    await harness.start();
    const hub: FleetHub = { hub_id, harness, link, till, terminal: harness.terminal(till) };
    this.hubs.push(hub);
    // The first pull brings the school's card registry.
    await until(`${hub_id} caught up`, async () => ((await harness.health()).cards as number) >= 5);
    return hub;
  }

  /** Restarts a hub's process (its store as it is on disk now), its terminal continuing its txn_seq. */
  async restart(hub: FleetHub, how: 'stop' | 'kill' = 'stop'): Promise<void> {
    const txn_seq = hub.terminal.txn_seq;
    hub.terminal.close();
    if (how === 'kill') await hub.harness.kill();
    else await hub.harness.stop();
    await hub.harness.start();
    hub.terminal = hub.harness.terminal(hub.till, txn_seq);
  }

  chip(card_no: string, state = { balance_fen: 0, online_serial: 20 }): PurseCard {
    let held = this.#wallet.get(card_no);
    if (held === undefined) {
      const demo = DEMO_CARDS.find((card) => card.card_no === card_no);
      if (demo === undefined || this.hubs[0] === undefined) throw new Error(`no demo card ${card_no} or no hub yet`);
      held = personaliseCard(this.hubs[0].harness.master(), demo.asn, state);
      this.#wallet.set(card_no, held);
    }
    return held;
  }

  /** What the chips hold above where they started: the money that reached cards. */
  chipTotalFen(start_fen: ReadonlyMap<string, number>): number {
    let total = 0;
    for (const [card_no, chip] of this.#wallet) total += chip.balance_fen - (start_fen.get(card_no) ?? 0);
    return total;
  }

  chipBalances(): Map<string, number> {
    return new Map([...this.#wallet].map(([card_no, chip]) => [card_no, chip.balance_fen]));
  }

  admin(method: string, pathname: string, body?: unknown): Promise<Response> {
    return adminRequest(this.campus, method, pathname, body);
  }

  /** The card office moves a hub to another state. */
  async setState(hub_id: string, state: HubState, reason: string): Promise<void> {
    const response = await this.admin('POST', `/api/v1/admin/hubs/${hub_id}/state`, { state, reason });
    expect(response.status, await response.clone().text()).toBeLessThan(300);
  }

  #d1_file: string | null = null;

  /**
   * A read of the Worker's local D1, straight from the SQLite file workerd keeps it in (read
   * only, WAL): a `wrangler d1 execute` per probe costs seconds on a busy machine. Falls back
   * to wrangler when the file is not where this wrangler version keeps it.
   */
  async sql(query: string): Promise<Record<string, unknown>[]> {
    this.#d1_file ??= findD1File(path.join(this.state_dir, 'v3', 'd1'));
    if (this.#d1_file === null) {
      const [rows] = await executeLocalSql(this.state_dir, query);
      return rows ?? [];
    }
    const db = new DatabaseSync(this.#d1_file, { readOnly: true });
    try {
      return db.prepare(query).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }

  async creditOf(order_id: string): Promise<{ id: string; state: string; owner_hub_id: string | null; claim_id: string | null }> {
    const [row] = await this.sql(`SELECT id, state, owner_hub_id, claim_id FROM credits WHERE order_id = ${sqlLiteral(order_id)}`);
    if (row === undefined) throw new Error(`no credit for ${order_id}`);
    return row as { id: string; state: string; owner_hub_id: string | null; claim_id: string | null };
  }

  /** A request signed with a hub's own key, as that hub would send it. */
  async signedAs(hub: FleetHub, method: 'GET' | 'POST', path_and_query: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const signer = new HubSigner(hub.hub_id, await importPrivateKeyPem(readFileSync(hub.harness.key_file, 'utf8')));
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = await signer.headers(method, path_and_query, text);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.campus.worker_url}${path_and_query}`, { method, headers, body: body === undefined ? undefined : text, signal: AbortSignal.timeout(15_000) });
    return { status: response.status, body: await response.json() };
  }

  /** The hub's grey records (its operator page, on loopback). */
  async greyAt(hub: FleetHub): Promise<{ reason: string; card_no: string; claim_id: string | null; detail?: Record<string, unknown> }[]> {
    const response = await fetch(`${hub.harness.url}/grey-records`, { signal: AbortSignal.timeout(5_000) });
    return ((await response.json()) as { records: { reason: string; card_no: string; claim_id: string | null; detail?: Record<string, unknown> }[] }).records;
  }

  /**
   * The Worker agrees with the hub: every credit the hub holds has the same state at both
   * (a hub's `reserved` is the Worker's `pending`), and the ledger audit is clean.
   */
  async expectAgreement(hub: FleetHub): Promise<void> {
    const local = hub.harness.query<{ credit_id: string; state: string }>('SELECT credit_id, state FROM credits WHERE order_id <> ?', '');
    const ids = local.map((row) => sqlLiteral(row.credit_id)).join(',');
    const worker = ids === '' ? [] : await this.sql(`SELECT id, state FROM credits WHERE id IN (${ids})`);
    const at_worker = new Map(worker.map((row) => [row.id as string, row.state as string]));
    for (const row of local) expect(`${row.credit_id} ${at_worker.get(row.credit_id)}`).toBe(`${row.credit_id} ${row.state === 'reserved' ? 'pending' : row.state}`);
  }

  async expectAuditClean(): Promise<void> {
    const report = await auditLocalD1(this.state_dir);
    expect(report.violations).toEqual([]);
  }

  async stop(): Promise<void> {
    if (process.env.HUB_TEST_DEBUG !== undefined) {
      for (const hub of this.hubs) process.stderr.write(`--- ${hub.hub_id} output ---\n${hub.harness.service?.output() ?? ''}\n`);
    }
    for (const hub of this.hubs) {
      hub.terminal.close();
      await hub.harness.cleanup();
      await hub.link.close();
    }
    await this.campus?.stop();
    rmSync(this.work_dir, { recursive: true, force: true });
  }
}

/** The D1 database file under wrangler's local state: the .sqlite file holding the ledger. */
function findD1File(dir: string): string | null {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!entry.endsWith('.sqlite') || entry.endsWith('metadata.sqlite')) continue;
    const file = path.join(dir, entry);
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'credits'").get() !== undefined) return file;
    } catch {
      // Not a database of ours.
    } finally {
      db.close();
    }
  }
  return null;
}
