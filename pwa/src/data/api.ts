// The Worker's public API (DESIGN section 10), typed by protocol/api.ts. Only types come from
// there: its zod schemas would add tens of KB to the shell, and the Worker validates anyway.
// Every failure becomes an ApiFailure whose code the UI turns into a sentence.
import type {
  CardLookupRequest,
  CardLookupResponse,
  RechargeCreated,
  RechargeRecord,
  RechargeRecordsResponse,
  RechargeRequest,
  SchoolsResponse,
} from '../../../protocol/api.ts';
import type { ReportLostResponse } from '../../../protocol/card-replace.ts';
import type { AnyErrorCode } from '../i18n.ts';

export class ApiFailure extends Error {
  readonly code: AnyErrorCode | string;
  readonly status: number;

  constructor(code: AnyErrorCode | string, status: number, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

// A phone on a train either answers within this or not at all; the user can retry.
export const REQUEST_TIMEOUT_MS = 15_000;
const RESPONSE_BYTES_MAX = 1024 * 1024;

let base = '';
/** Tests and `vite dev` point the client at a running Worker; in the app it is same-origin. */
export function setApiBase(origin: string): void {
  base = origin.replace(/\/$/, '');
}

export async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiFailure(navigator.onLine === false ? 'offline' : 'network', 0, String(err));
  }
  const text = await response.text().catch(() => '');
  if (text.length > RESPONSE_BYTES_MAX) throw new ApiFailure('unexpected', response.status, 'response too large');
  let value: unknown = null;
  try {
    value = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    value = null;
  }
  if (!response.ok) {
    const error = (value as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof error?.code === 'string' ? error.code : 'unexpected';
    throw new ApiFailure(code, response.status, typeof error?.message === 'string' ? error.message : `HTTP ${response.status}`);
  }
  if (value === null || typeof value !== 'object') throw new ApiFailure('unexpected', response.status, 'response is not JSON');
  return value as T;
}

export function fetchSchools(query: { q?: string; city?: string } = {}): Promise<SchoolsResponse> {
  const params = new URLSearchParams();
  if (query.q) params.set('q', query.q);
  if (query.city) params.set('city', query.city);
  const search = params.toString();
  return request('GET', `/api/v1/schools${search ? `?${search}` : ''}`);
}

export function lookupCard(body: CardLookupRequest): Promise<CardLookupResponse> {
  return request('POST', '/api/v1/cards/lookup', body);
}

export function createRecharge(body: RechargeRequest): Promise<RechargeCreated> {
  return request('POST', '/api/v1/recharges', body);
}

export function fetchRecharge(order_id: string): Promise<RechargeRecord> {
  return request('GET', `/api/v1/recharges/${encodeURIComponent(order_id)}`);
}

export function fetchRecharges(card_token: string): Promise<RechargeRecordsResponse> {
  return request('GET', `/api/v1/recharges?card_token=${encodeURIComponent(card_token)}`);
}

/** 挂失: the saved card becomes lost; only the card office can make it active again. */
export function reportLost(card_token: string): Promise<ReportLostResponse> {
  return request('POST', '/api/v1/cards/report-lost', { card_token });
}
