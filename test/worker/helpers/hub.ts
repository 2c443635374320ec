// A campus hub as the Worker sees one, for tests: a real Ed25519 key pair, registered through
// the admin API, signing every request exactly as protocol/hub.ts says. Each test file makes
// its own school, so feeds and balances are not shared with other files' tests.
import { SELF, env } from 'cloudflare:test';
import { holderNameKey } from '../../../protocol/card.ts';
import { bytesToBase64, utf8 } from '../../../protocol/encoding.ts';
import {
  HUB_HEADER_ID,
  HUB_HEADER_NONCE,
  HUB_HEADER_SIGNATURE,
  HUB_HEADER_TIMESTAMP,
  hubSigningString,
  type ChangesResponse,
  type HubChange,
  type HubClaim,
} from '../../../protocol/hub.ts';
import { openDb } from '../../../worker/db/client.ts';
import { applyPaid, creditIdForOrder } from '../../../worker/ledger/payment.ts';
import { ADMIN_AUTH } from './seed.ts';

export const ORIGIN = 'http://yikatong.test';

export interface TestHub {
  hub_id: string;
  school_id: string;
  public_key: string;
  private_key: CryptoKey;
}

export function randomSuffix(bytes = 6): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function newNonce(): string {
  return `n${randomSuffix(12)}`;
}

/** The asn of a test school's i-th card: unique within the school, as the registry insists. */
export function testAsn(i: number): string {
  return `A5${i.toString(16).toUpperCase().padStart(14, '0')}`;
}

/** A school of its own with a few active cards (and one lost one), straight into D1. */
export async function createSchool(prefix: string, card_nos: readonly string[]): Promise<string> {
  const school_id = `${prefix}-${randomSuffix(4)}`;
  const now_ms = Date.now();
  const statements = [
    env.DB.prepare(
      `INSERT INTO schools (id, name, city, initial, max_amount_fen, created_at_ms, updated_at_ms)
       VALUES (?, ?, '威海', 'T', 100000, ?, ?)`,
    ).bind(school_id, `测试学校 ${school_id}`, now_ms, now_ms),
    ...card_nos.map((card_no, i) =>
      env.DB.prepare(
        `INSERT INTO cards (school_id, card_no, holder_name, holder_name_key, kind, status, asn, updated_at_ms)
         VALUES (?, ?, ?, ?, 'student', 'active', ?, ?)`,
      ).bind(school_id, card_no, `持卡人${i}`, holderNameKey(`持卡人${i}`), testAsn(i), now_ms),
    ),
  ];
  await env.DB.batch(statements);
  return school_id;
}

export async function generateHubKey(): Promise<{ public_key: string; private_key: CryptoKey }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey('spki', pair.publicKey)) as ArrayBuffer);
  return { public_key: bytesToBase64(spki), private_key: pair.privateKey };
}

export function putHub(hub_id: string, body: unknown, headers: Record<string, string> = ADMIN_AUTH): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/admin/hubs/${hub_id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Registers a new hub for the school through the admin API, as an operator would. */
export async function registerHub(school_id: string): Promise<TestHub> {
  const hub_id = `hub-${randomSuffix(5)}`;
  const key = await generateHubKey();
  const response = await putHub(hub_id, { school_id, public_key: key.public_key });
  if (response.status !== 201) throw new Error(`hub registration: ${response.status} ${await response.text()}`);
  return { hub_id, school_id, ...key };
}

export interface SignOptions {
  timestamp_ms?: number;
  nonce?: string;
  /** Sign with this key instead of the hub's own (a forger's). */
  signing_key?: CryptoKey;
  /** Sign this body but send `body` (tampering in transit). */
  signed_body?: string;
  /** Sign as this hub id but send the hub's own in X-Hub-Id. */
  signed_hub_id?: string;
}

export async function signedHeaders(
  hub: TestHub,
  method: string,
  path_and_query: string,
  body: string,
  options: SignOptions = {},
): Promise<Record<string, string>> {
  const timestamp_ms = options.timestamp_ms ?? Date.now();
  const nonce = options.nonce ?? newNonce();
  const text = await hubSigningString({
    hub_id: options.signed_hub_id ?? hub.hub_id,
    method,
    path_and_query,
    timestamp_ms,
    nonce,
    body: options.signed_body ?? body,
  });
  const signature = await crypto.subtle.sign({ name: 'Ed25519' }, options.signing_key ?? hub.private_key, utf8(text));
  return {
    [HUB_HEADER_ID]: hub.hub_id,
    [HUB_HEADER_TIMESTAMP]: String(timestamp_ms),
    [HUB_HEADER_NONCE]: nonce,
    [HUB_HEADER_SIGNATURE]: bytesToBase64(new Uint8Array(signature)),
  };
}

/** A signed hub request through the Worker's real fetch handler. */
export async function hubFetch(
  hub: TestHub,
  method: 'GET' | 'POST',
  path_and_query: string,
  body: unknown = undefined,
  options: SignOptions = {},
): Promise<Response> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers = await signedHeaders(hub, method, path_and_query, text, options);
  return SELF.fetch(`${ORIGIN}${path_and_query}`, {
    method,
    headers: method === 'POST' ? { 'content-type': 'application/json', ...headers } : headers,
    body: method === 'POST' ? text : undefined,
  });
}

/** A paid top-up: an order, then the money path's own applyPaid, as a notification does it. */
export async function paidTopup(school_id: string, card_no: string, amount_fen: number): Promise<{ order_id: string; credit_id: string }> {
  const order_id = `Y${Date.now()}${randomSuffix(5).toUpperCase()}`;
  const now_ms = Date.now();
  await env.DB.prepare(
    `INSERT INTO orders (id, school_id, card_no, amount_fen, channel, status, created_at_ms, expires_at_ms)
     VALUES (?, ?, ?, ?, 'alipay', 'unpaid', ?, ?)`,
  )
    .bind(order_id, school_id, card_no, amount_fen, now_ms, now_ms + 900_000)
    .run();
  const verdict = await applyPaid(
    openDb(env.DB),
    { channel: 'alipay', order_id, amount_fen, provider_trade_no: `T${order_id}`, paid_at_ms: now_ms },
    null,
    now_ms,
  );
  if (verdict !== 'applied') throw new Error(`payment not applied: ${verdict}`);
  return { order_id, credit_id: creditIdForOrder(order_id) };
}

export async function creditRow(credit_id: string) {
  return env.DB.prepare('SELECT * FROM credits WHERE id = ?').bind(credit_id).first<{
    state: string;
    claim_id: string | null;
    void_requested_at_ms: number | null;
    amount_fen: number;
  }>();
}

export async function orderStatus(order_id: string): Promise<string | undefined> {
  return (await env.DB.prepare('SELECT status FROM orders WHERE id = ?').bind(order_id).first<{ status: string }>())?.status;
}

/** The cursor the hub last confirmed durable (0 before its first pull). */
export async function durableCursor(hub: TestHub): Promise<number> {
  const row = await env.DB.prepare('SELECT durable_cursor FROM hubs WHERE id = ?').bind(hub.hub_id).first<{ durable_cursor: number | null }>();
  return row?.durable_cursor ?? 0;
}

/**
 * Pulls the hub's feed to its end from where it stands, as a hub does before it can load (and
 * so claim) a credit: an active hub becomes the owner of every pending credit it is handed.
 */
export async function syncFeed(hub: TestHub): Promise<{ changes: HubChange[]; cursor: number; hub_state: string }> {
  let cursor = await durableCursor(hub);
  const changes: HubChange[] = [];
  // Ends with a pull from the final cursor that brings nothing new, as a hub's next poll does:
  // that pull is what confirms the cursor durable at the Worker.
  for (let pages = 0; pages < 100; pages++) {
    const response = await hubFetch(hub, 'GET', `/api/v1/hub/changes?after=${cursor}&limit=1000`);
    if (response.status !== 200) throw new Error(`changes pull: ${response.status} ${await response.text()}`);
    const page = (await response.json()) as ChangesResponse;
    changes.push(...page.changes);
    if (page.next_after === cursor) return { changes, cursor, hub_state: page.hub_state };
    cursor = page.next_after;
  }
  throw new Error('feed did not end');
}

/** The card office changes a hub's state through the admin API. */
export function setHubState(hub_id: string, state: string, reason = 'test'): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/api/v1/admin/hubs/${hub_id}/state`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...ADMIN_AUTH },
    body: JSON.stringify({ state, reason }),
  });
}

/** A claim as a hub sends it after a load, proved by a TAC; `extra` sets any field. */
export function hubClaimOf(card_no: string, credit_ids: string[], amount_fen: number, extra: Partial<HubClaim> = {}): HubClaim {
  return {
    claim_id: `K${randomSuffix(8)}`,
    card_no,
    terminal_id: 'pos-01',
    amount_fen,
    credit_ids,
    card_terminal_id: '0000000000A1',
    balance_after_fen: amount_fen,
    online_serial_after: 2,
    committed_at_ms: Date.now(),
    proof: { kind: 'tac', tac: '1A2B3C4D' },
    ...extra,
  };
}
