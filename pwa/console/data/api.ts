// The console's only door to the Worker: every route under /api/v1/console/ (protocol/console.ts
// types them; its zod schemas stay on the Worker's side, as in the app's data/api.ts). The
// session is a cookie; every state-changing request carries the CSRF token the session gave.
// Every failure becomes an ApiFailure whose code the page turns into a sentence.
import type { CardImportResponse } from '../../../protocol/api.ts';
import type { CardReplacementView } from '../../../protocol/card-replace.ts';
import type {
  ConsoleAgreementsResponse,
  ConsoleAuditResponse,
  ConsoleCard,
  ConsoleCardsResponse,
  ConsoleChartsResponse,
  ConsoleGreyRecordsResponse,
  ConsoleGreySettleRequest,
  ConsoleCreditSettleRequest,
  ConsoleHub,
  ConsoleHubsResponse,
  ConsoleNoticesResponse,
  ConsoleOrdersResponse,
  ConsoleOrderStory,
  ConsoleOverview,
  ConsolePendingResponse,
  ConsoleReconciliationsResponse,
  ConsoleRefund,
  ConsoleRefundsResponse,
  ConsoleSession,
  ConsoleSessionsResponse,
} from '../../../protocol/console.ts';

export class ApiFailure extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, status: number, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const PREFIX = '/api/v1/console';
// protocol/console.ts CONSOLE_CSRF_HEADER; a value import would bring zod into the page.
const CSRF_HEADER = 'X-Console-CSRF';
// An office's network answers within this or not at all; the operator can retry.
export const REQUEST_TIMEOUT_MS = 20_000;
// A registry of 50,000 rows takes the Worker a while to check and write.
export const IMPORT_TIMEOUT_MS = 120_000;
const RESPONSE_BYTES_MAX = 4 * 1024 * 1024;
/** Rows a page asks for: a screenful, never a whole table. */
export const PAGE_ROWS = 50;

let csrf_token: string | null = null;
const unauthorized_listeners = new Set<() => void>();

/** Called when any request finds the session gone (expired, revoked): the app shows sign-in. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorized_listeners.add(listener);
  return () => unauthorized_listeners.delete(listener);
}

type QueryValue = string | number | undefined | null;

function withQuery(path: string, query: Record<string, QueryValue> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const search = params.toString();
  return `${PREFIX}${path}${search ? `?${search}` : ''}`;
}

function parseAnswer<T>(status: number, text: string, ok: boolean): T {
  if (text.length > RESPONSE_BYTES_MAX) throw new ApiFailure('unexpected', status, 'response too large');
  let value: unknown = null;
  try {
    value = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    value = null;
  }
  if (!ok) {
    const error = (value as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof error?.code === 'string' ? error.code : 'unexpected';
    if (status === 401) {
      csrf_token = null;
      for (const listener of unauthorized_listeners) listener();
    }
    throw new ApiFailure(code, status, typeof error?.message === 'string' ? error.message : `HTTP ${status}`);
  }
  if (value === null || typeof value !== 'object') throw new ApiFailure('unexpected', status, 'response is not JSON');
  return value as T;
}

async function request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf_token !== null) headers[CSRF_HEADER] = csrf_token;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new ApiFailure(navigator.onLine === false ? 'offline' : 'network', 0, String(err));
  }
  const text = await response.text().catch(() => '');
  return parseAnswer<T>(response.status, text, response.ok);
}

// ---- Session ----

function remember(session: ConsoleSession): ConsoleSession {
  csrf_token = session.csrf_token;
  return session;
}

export async function signIn(operator_id: string, password: string): Promise<ConsoleSession> {
  return remember(await request<ConsoleSession>('POST', withQuery('/session'), { operator_id, password }));
}

/** Behind Cloudflare Access: the Access assertion the edge adds is the credential. */
export async function signInWithAccess(): Promise<ConsoleSession> {
  return remember(await request<ConsoleSession>('POST', withQuery('/session'), { access: true }));
}

/** The session this browser holds, or null when it has none. */
export async function currentSession(): Promise<ConsoleSession | null> {
  try {
    return remember(await request<ConsoleSession>('GET', withQuery('/session')));
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 401) return null;
    throw err;
  }
}

export async function signOut(): Promise<void> {
  try {
    await request('DELETE', withQuery('/session'));
  } finally {
    csrf_token = null;
  }
}

export function listSessions(): Promise<ConsoleSessionsResponse> {
  return request('GET', withQuery('/sessions'));
}

export function revokeSession(session_id: string): Promise<{ revoked: boolean }> {
  return request('POST', withQuery(`/sessions/${encodeURIComponent(session_id)}/revoke`));
}

// ---- Reads of one school ----

export interface Paged {
  cursor?: string | null;
  limit?: number;
}

export function fetchOverview(school_id: string): Promise<ConsoleOverview> {
  return request('GET', withQuery('/overview', { school_id }));
}

export interface OrderSearch {
  card_no?: string;
  order_id?: string;
  provider_trade_no?: string;
  date?: string;
}

export function listOrders(school_id: string, search: OrderSearch, page: Paged): Promise<ConsoleOrdersResponse> {
  return request('GET', withQuery('/orders', { school_id, ...search, limit: page.limit ?? PAGE_ROWS, cursor: page.cursor }));
}

export function fetchOrderStory(school_id: string, order_id: string): Promise<ConsoleOrderStory> {
  return request('GET', withQuery(`/orders/${encodeURIComponent(order_id)}`, { school_id }));
}

export function fetchPending(school_id: string, page: Paged): Promise<ConsolePendingResponse> {
  return request('GET', withQuery('/pending', { school_id, limit: page.limit ?? PAGE_ROWS, cursor: page.cursor }));
}

export function listRefunds(school_id: string, state: string | undefined, page: Paged): Promise<ConsoleRefundsResponse> {
  return request('GET', withQuery('/refunds', { school_id, state, limit: page.limit ?? PAGE_ROWS, cursor: page.cursor }));
}

export function listGreyRecords(school_id: string, state: 'open' | 'resolved' | 'all', page: Paged): Promise<ConsoleGreyRecordsResponse> {
  return request('GET', withQuery('/grey-records', { school_id, state, limit: page.limit ?? PAGE_ROWS, cursor: page.cursor }));
}

export function listHubs(school_id: string): Promise<ConsoleHubsResponse> {
  return request('GET', withQuery('/hubs', { school_id }));
}

/** The card office moves a hub (activate, retire, mark retired, declare dead); the reason goes into the audit trail. */
export function setHubState(hub_id: string, state: ConsoleHub['state'], reason: string): Promise<ConsoleHub> {
  return request('POST', withQuery(`/hubs/${encodeURIComponent(hub_id)}/state`), { state, reason });
}

/** A dead hub's frozen credit, settled with what the card shows. */
export function settleFrozenCredit(credit_id: string, settlement: ConsoleCreditSettleRequest): Promise<unknown> {
  return request('POST', withQuery(`/credits/${encodeURIComponent(credit_id)}/settle`), settlement);
}

export function listReconciliations(school_id: string, range: { from?: string; to?: string }): Promise<ConsoleReconciliationsResponse> {
  return request('GET', withQuery('/reconciliations', { school_id, from: range.from, to: range.to }));
}

export function listAgreements(school_id: string, page: Paged): Promise<ConsoleAgreementsResponse> {
  return request('GET', withQuery('/agreements', { school_id, limit: page.limit ?? PAGE_ROWS, cursor: page.cursor }));
}

export function listNotices(school_id: string, state: string | undefined, page: Paged): Promise<ConsoleNoticesResponse> {
  return request('GET', withQuery('/notices', { school_id, state, limit: page.limit ?? PAGE_ROWS, cursor: page.cursor }));
}

export function listAudit(school_id: string, page: Paged): Promise<ConsoleAuditResponse> {
  return request('GET', withQuery('/audit', { school_id, limit: page.limit ?? PAGE_ROWS, cursor: page.cursor }));
}

export function listCards(school_id: string, q: string | undefined, page: Paged): Promise<ConsoleCardsResponse> {
  return request('GET', withQuery('/cards', { school_id, q, limit: page.limit ?? PAGE_ROWS, cursor: page.cursor }));
}

export function fetchCharts(school_id: string, days: number): Promise<ConsoleChartsResponse> {
  return request('GET', withQuery('/charts', { school_id, days }));
}

// ---- Actions (each one an audit-trail entry at the Worker) ----

export function startRefund(order_id: string, reason: string): Promise<ConsoleRefund> {
  return request('POST', withQuery('/refunds'), { order_id, reason });
}

export function settleGreyRecord(grey_id: string, settlement: ConsoleGreySettleRequest): Promise<unknown> {
  return request('POST', withQuery(`/grey-records/${encodeURIComponent(grey_id)}/settle`), settlement);
}

export function rerunReconciliation(school_id: string, date: string): Promise<ConsoleReconciliationsResponse> {
  return request('POST', withQuery(`/reconciliations/${encodeURIComponent(date)}`), { school_id });
}

export function setCardStatus(school_id: string, card_no: string, status: 'active' | 'lost' | 'frozen'): Promise<ConsoleCard> {
  return request('POST', withQuery(`/cards/${encodeURIComponent(card_no)}/status`), { school_id, status });
}

/** 补卡: the old number is closed, the new card (with its chip's asn) takes its pending money. */
export function replaceCard(school_id: string, card_no: string, new_card_no: string, new_asn: string): Promise<CardReplacementView> {
  return request('POST', withQuery(`/cards/${encodeURIComponent(card_no)}/replace`), { school_id, new_card_no, new_asn });
}

export interface ImportProgress {
  /** Bytes of the file sent so far, and in all. */
  sent_bytes: number;
  total_bytes: number;
}

/**
 * The registry as one CSV body, so the Worker sees the whole file (duplicates across it, line
 * numbers of the file itself). XMLHttpRequest, because fetch reports no upload progress.
 */
export function importCards(school_id: string, csv: Blob, onProgress: (progress: ImportProgress) => void): Promise<CardImportResponse> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', withQuery('/cards/import', { school_id }));
    xhr.setRequestHeader('content-type', 'text/csv; charset=utf-8');
    xhr.setRequestHeader('accept', 'application/json');
    if (csrf_token !== null) xhr.setRequestHeader(CSRF_HEADER, csrf_token);
    xhr.withCredentials = true;
    xhr.timeout = IMPORT_TIMEOUT_MS;
    xhr.upload.onprogress = (event) => onProgress({ sent_bytes: event.loaded, total_bytes: event.lengthComputable ? event.total : csv.size });
    xhr.onload = () => {
      try {
        resolve(parseAnswer<CardImportResponse>(xhr.status, xhr.responseText, xhr.status >= 200 && xhr.status < 300));
      } catch (err) {
        reject(err);
      }
    };
    const failed = () => reject(new ApiFailure(navigator.onLine === false ? 'offline' : 'network', 0, 'import request failed'));
    xhr.onerror = failed;
    xhr.ontimeout = failed;
    xhr.send(csv);
  });
}
