// The simulated payment gateway is one HTTP server; each provider module (alipay.ts,
// wechat.ts, control.ts) is a handler that answers the requests it recognises.
import type { SandboxKeys } from '../keys.ts';

export interface GatewayRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** The raw body, decoded as UTF-8 (both providers' protocols are UTF-8). */
  body: string;
}

export interface GatewayResponse {
  status: number;
  headers?: Record<string, string>;
  body: string | Uint8Array;
}

/** Answers the request, or returns null to let the next handler try. */
export type GatewayHandler = (request: GatewayRequest) => Promise<GatewayResponse | null>;

export interface GatewayConfig {
  keys: SandboxKeys;
  /** Alipay's retry schedule, in ms after the first attempt, compressible for tests. */
  notify_retry_schedule_ms: number[];
}

// Alipay retries an unanswered notification 8 times over about 25 hours:
// 4m, 10m, 10m, 1h, 2h, 6h, 15h after the first attempt (cumulative offsets below).
export const ALIPAY_RETRY_SCHEDULE_MS: readonly number[] = [
  0, 4 * 60_000, 14 * 60_000, 24 * 60_000, 84 * 60_000, 204 * 60_000, 564 * 60_000, 1464 * 60_000,
];

/** A notification the gateway sends to a merchant's notify URL, with retries and faults. */
export interface OutgoingNotification {
  channel: 'alipay' | 'wechat';
  out_trade_no: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  /**
   * Signs the notification afresh for a retry. WeChat Pay signs each delivery with the time of
   * sending, and merchants refuse signatures older than five minutes, so a retry hours later
   * must not resend the first attempt's headers.
   */
  resign?: (now_ms: number) => Promise<{ headers: Record<string, string>; body: string }>;
}

/** What every provider handler gets from the server that hosts it. */
export interface GatewayContext {
  config: GatewayConfig;
  /** Queues the notification for delivery on the provider's retry schedule. */
  notify(notification: OutgoingNotification): void;
  /** The origin the gateway listens on, for cashier page links (`http://127.0.0.1:PORT`). */
  origin(): string;
}

/**
 * A provider outage, switched by the control API: while `api_down`, every provider route (the
 * Worker's orders, queries, refunds and bill downloads, and Alipay's cashier) answers 503, as a
 * provider's gateway does in an incident. The simulator's own /sim/ routes stay up (WeChat's
 * simulated H5 cashier among them). Notifications already queued still go out.
 */
export interface Outage {
  api_down: boolean;
}

export type HandlerFactory = (ctx: GatewayContext) => GatewayHandler;
