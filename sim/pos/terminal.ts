// A POS terminal as vendors build it against hub/openapi.yaml: signs every request with its
// key, numbers swipes with a rising txn_seq, writes the card, then commits or aborts — and
// can be made to fail at each of those steps.
import { createHmac } from 'node:crypto';
import type { ClaimOutcome, LoadOffer, SwipeRequest, SwipeResponse } from '../../protocol/pos.ts';
import {
  TERMINAL_HEADER_ID,
  TERMINAL_HEADER_SIGNATURE,
  TERMINAL_HEADER_TIMESTAMP,
  terminalSigningString,
} from '../../protocol/pos.ts';
import type { Chip } from './chip.ts';

/**
 * Where a load goes wrong:
 * - `none`: write, commit.
 * - `write_fails`: the card write fails (card pulled away); the terminal aborts.
 * - `die_before_write`: the terminal dies after the swipe answer; no write, no abort.
 * - `die_after_write`: the card is written, the terminal dies before the commit.
 */
export type FailurePoint = 'none' | 'write_fails' | 'die_before_write' | 'die_after_write';

export interface TapResult {
  swipe: SwipeResponse;
  written: boolean;
  outcome: ClaimOutcome | null;
}

export class HubRequestError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

export interface TerminalOptions {
  hub_url: string;
  terminal_id: string;
  key_hex: string;
  /** The first txn_seq to use; a terminal that restarts must continue above its last one. */
  txn_seq_start: number;
  /** Clock offset for tests of stale requests. */
  clock_skew_ms?: number;
}

export class Terminal {
  readonly terminal_id: string;
  readonly #hub_url: string;
  readonly #key: Buffer;
  readonly #skew_ms: number;
  txn_seq: number;

  constructor(options: TerminalOptions) {
    if (!/^[0-9a-fA-F]{64}$/.test(options.key_hex)) throw new Error('terminal key must be 64 hex characters');
    this.terminal_id = options.terminal_id;
    this.#hub_url = options.hub_url.replace(/\/+$/, '');
    this.#key = Buffer.from(options.key_hex, 'hex');
    this.#skew_ms = options.clock_skew_ms ?? 0;
    this.txn_seq = options.txn_seq_start;
  }

  /** Signed headers for `body`, exactly as the hub checks them. */
  sign(body: string, timestamp_ms = Date.now() + this.#skew_ms): Record<string, string> {
    const signature = createHmac('sha256', this.#key).update(terminalSigningString(timestamp_ms, body)).digest('hex');
    return {
      'content-type': 'application/json',
      [TERMINAL_HEADER_ID]: this.terminal_id,
      [TERMINAL_HEADER_TIMESTAMP]: String(timestamp_ms),
      [TERMINAL_HEADER_SIGNATURE]: signature,
    };
  }

  async post<T>(path: string, body: string, headers = this.sign(body)): Promise<T> {
    const response = await fetch(`${this.#hub_url}${path}`, { method: 'POST', headers, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HubRequestError(response.status, 'not_json', text.slice(0, 200));
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new HubRequestError(response.status, error?.code ?? 'unknown', error?.message ?? text.slice(0, 200));
    }
    return parsed as T;
  }

  swipeBody(card_no: string, chip: Chip): string {
    this.txn_seq += 1;
    const request: SwipeRequest = { terminal_id: this.terminal_id, txn_seq: this.txn_seq, card_no, chip: chip.read() };
    return JSON.stringify(request);
  }

  swipe(card_no: string, chip: Chip): Promise<SwipeResponse> {
    return this.post<SwipeResponse>('/pos/v1/swipe', this.swipeBody(card_no, chip));
  }

  commit(claim_id: string, chip: Chip): Promise<ClaimOutcome> {
    const body = JSON.stringify({ terminal_id: this.terminal_id, chip: chip.read() });
    return this.post<ClaimOutcome>(`/pos/v1/claims/${encodeURIComponent(claim_id)}/commit`, body);
  }

  abort(claim_id: string): Promise<ClaimOutcome> {
    return this.post<ClaimOutcome>(`/pos/v1/claims/${encodeURIComponent(claim_id)}/abort`, JSON.stringify({ terminal_id: this.terminal_id }));
  }

  /** One tap of a card: swipe, and if a load is offered, write and commit (or fail at `fail`). */
  async tap(card_no: string, chip: Chip, fail: FailurePoint = 'none'): Promise<TapResult> {
    const swipe = await this.swipe(card_no, chip);
    const load: LoadOffer | null = swipe.load;
    if (load === null) return { swipe, written: false, outcome: null };
    if (fail === 'die_before_write') return { swipe, written: false, outcome: null };
    if (fail === 'write_fails') return { swipe, written: false, outcome: await this.abort(load.claim_id) };
    chip.load(load);
    if (fail === 'die_after_write') return { swipe, written: true, outcome: null };
    return { swipe, written: true, outcome: await this.commit(load.claim_id, chip) };
  }
}
