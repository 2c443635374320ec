// Per-test data for the public and admin API tests. Every test gets its own school id and client
// address, because the rate limiter's buckets (per address, per school:card) outlive one test:
// sharing them would make tests depend on each other's request counts.
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import type { Env } from '../../../worker/env.ts';
import { holderNameKey, type CardKind, type CardStatus } from '../../../protocol/card.ts';
import { DEMO_CARDS } from '../../../sim/demo-campus.ts';
import { api } from './seed.ts';

let counter = 0;

function randomTag(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A client address no other test uses, for `CF-Connecting-IP`. */
export function uniqueIp(): string {
  const bytes = crypto.getRandomValues(new Uint16Array(4));
  return `2001:db8:${Array.from(bytes, (b) => b.toString(16)).join(':')}::${(++counter).toString(16)}`;
}

export interface TestCard {
  card_no: string;
  holder_name: string;
  kind?: CardKind;
  status?: CardStatus;
  balance_fen?: number | null;
  balance_as_of_ms?: number | null;
  asn?: string | null;
}

/**
 * A new school with the demo campus's cards of 北京交通大学威海校区 (张三 20230001, 陈挂失 lost,
 * visitor 999, F000999 …) plus `extra` cards; returns its id.
 */
export async function freshSchool(options: { max_amount_fen?: number; extra?: TestCard[]; name?: string } = {}): Promise<string> {
  const school_id = `t-${randomTag()}`;
  const now_ms = Date.now();
  const statements: D1PreparedStatement[] = [
    env.DB.prepare(
      `INSERT INTO schools (id, name, city, initial, max_amount_fen, created_at_ms, updated_at_ms) VALUES (?, ?, '威海', 'T', ?, ?, ?)`,
    ).bind(school_id, options.name ?? `测试学校${school_id}`, options.max_amount_fen ?? 100_000, now_ms, now_ms),
  ];
  const demo: TestCard[] = DEMO_CARDS.filter((card) => card.school_id === 'bjtu-weihai');
  for (const card of [...demo, ...(options.extra ?? [])]) {
    statements.push(
      env.DB.prepare(
        `INSERT INTO cards (school_id, card_no, holder_name, holder_name_key, kind, status, balance_fen, balance_as_of_ms, asn, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).bind(
        school_id,
        card.card_no,
        card.holder_name,
        holderNameKey(card.holder_name),
        card.kind ?? 'student',
        card.status ?? 'active',
        card.balance_fen ?? null,
        card.balance_as_of_ms ?? null,
        card.asn ?? null,
        now_ms,
      ),
    );
  }
  await env.DB.batch(statements);
  return school_id;
}

/** A JSON POST from one client address. */
export function postFrom(ip: string, path: string, body: unknown): Promise<Response> {
  return api(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export interface LedgerOrder {
  order_id: string;
  school_id: string;
  card_no: string;
  amount_fen: number;
  status: 'unpaid' | 'paid' | 'closed' | 'refunded';
  created_at_ms: number;
  paid_at_ms?: number | null;
  closed_at_ms?: number | null;
  refunded_at_ms?: number | null;
  channel?: 'alipay' | 'wechat';
}

export async function insertOrder(order: LedgerOrder): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO orders (id, school_id, card_no, amount_fen, channel, status, created_at_ms, expires_at_ms, paid_at_ms, closed_at_ms, refunded_at_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(
      order.order_id,
      order.school_id,
      order.card_no,
      order.amount_fen,
      order.channel ?? 'alipay',
      order.status,
      order.created_at_ms,
      order.created_at_ms + 900_000,
      order.paid_at_ms ?? null,
      order.closed_at_ms ?? null,
      order.refunded_at_ms ?? null,
    )
    .run();
}

/**
 * The credit a paid order mints, with what the ledger's invariants require around it (every
 * workerd test file ends with the audit): a claimed credit gets a claim from a hub registered
 * for its school; a voided credit of an order still paid gets the refund waiting for the
 * provider that explains it.
 */
export async function insertCredit(
  order: LedgerOrder,
  credit: { state: 'pending' | 'claimed' | 'voided'; claimed_at_ms?: number; terminal_id?: string; voided_at_ms?: number },
): Promise<string> {
  const credit_id = `C${order.order_id.slice(1)}`;
  const claim_id = credit.state === 'claimed' ? `K${order.order_id.slice(1)}` : null;
  const statements: D1PreparedStatement[] = [];
  if (claim_id !== null) {
    const hub_id = `hub-${order.school_id}`.slice(0, 48);
    statements.push(
      env.DB.prepare(
        // A key is unique to its hub (hubs_public_key), so each fixture hub has its own.
        // A school has one active hub at most: a fixture hub beside a registered one is a standby.
        `INSERT OR IGNORE INTO hubs (id, school_id, public_key, created_at_ms, updated_at_ms, state)
         SELECT ?1, ?2, 'fixture-' || ?1, 0, 0,
                CASE WHEN EXISTS (SELECT 1 FROM hubs WHERE school_id = ?2 AND state = 'active') THEN 'standby' ELSE 'active' END`,
      ).bind(hub_id, order.school_id),
      env.DB.prepare(
        `INSERT INTO claims (id, school_id, card_no, hub_id, terminal_id, amount_fen, online_serial_after, card_terminal_id,
                             proof_kind, proof_tac, committed_at_ms, received_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, 1, '0000000000A1', 'tac', '0A1B2C3D', ?, ?)`,
      ).bind(claim_id, order.school_id, order.card_no, hub_id, credit.terminal_id ?? 'POS-1', order.amount_fen, credit.claimed_at_ms ?? 0, credit.claimed_at_ms ?? 0),
    );
  }
  if (credit.state === 'voided' && order.status === 'paid') {
    const at_ms = credit.voided_at_ms ?? order.created_at_ms;
    statements.push(
      env.DB.prepare(
        `INSERT INTO refunds (id, order_id, credit_id, school_id, amount_fen, state, route, created_at_ms, updated_at_ms, voided_at_ms)
         VALUES (?, ?, ?, ?, ?, 'provider_pending', 'hub', ?, ?, ?)`,
      ).bind(`R${order.order_id.slice(1)}`, order.order_id, credit_id, order.school_id, order.amount_fen, at_ms, at_ms, at_ms),
    );
  }
  statements.push(
    env.DB.prepare(
      // A claimed credit is owned by the hub that claimed it (DESIGN invariant 6).
      `INSERT INTO credits (id, order_id, school_id, card_no, amount_fen, state, claim_id, created_at_ms, claimed_at_ms, voided_at_ms, owner_hub_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT hub_id FROM claims WHERE id = ?7))`,
    ).bind(
      credit_id,
      order.order_id,
      order.school_id,
      order.card_no,
      order.amount_fen,
      credit.state,
      claim_id,
      order.paid_at_ms ?? order.created_at_ms,
      credit.claimed_at_ms ?? null,
      credit.voided_at_ms ?? null,
    ),
  );
  await env.DB.batch(statements);
  return credit_id;
}

/** Order ids for direct inserts: the real shape (`Y` + time + random), unique per call. */
export function testOrderId(at_ms: number): string {
  const stamp = new Date(at_ms + 8 * 3_600_000).toISOString().replace(/[^0-9]/g, '');
  return `Y${stamp}${randomTag()}`;
}

/** Row counts of the ledger tables: "nothing changed" is these staying equal. */
export async function ledgerCounts(): Promise<Record<string, number>> {
  const tables = ['schools', 'cards', 'orders', 'credits', 'claims', 'changes', 'notifications', 'hubs'];
  const out: Record<string, number> = {};
  for (const table of tables) {
    const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>();
    out[table] = row?.n ?? 0;
  }
  return out;
}

/**
 * The real Worker app on this test's D1 and rate limiters, with some configuration changed: how
 * a test runs the top-up path against a channel configured differently from the test pool's.
 */
export async function fetchWithConfig(overrides: Partial<Env>, path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const { app } = await import('../../../worker/app.ts');
  const res = await app.fetch(new Request(`http://yikatong.test${path}`, init), { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/**
 * The real D1, with `interleave` run once just before the first batch the code under test sends:
 * another writer getting in between that code's read and its write, at exactly that point.
 */
export function beforeFirstBatch(d1: D1Database, interleave: () => Promise<void>): D1Database {
  let fired = false;
  return new Proxy(d1, {
    get(target, property) {
      if (property === 'batch') {
        return async (statements: D1PreparedStatement[]) => {
          if (!fired) {
            fired = true;
            await interleave();
          }
          return target.batch(statements);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
