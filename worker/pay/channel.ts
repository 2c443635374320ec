// What the Worker needs of a payment provider. Alipay and WeChat Pay each implement it over
// their real protocol; the simulated gateway in sim/ answers the same protocol, so tests and
// `npm start` run this exact code with only the gateway URL and keys changed.
import type { Channel } from '../../protocol/api.ts';

export interface PaymentOrder {
  order_id: string;
  amount_fen: number;
  /** Shown on the provider's cashier page, e.g. "北京交通大学威海校区 校园卡充值". */
  subject: string;
  expires_at_ms: number;
  /** The payer's address: WeChat Pay H5 refuses a payment from a network other than the order's. */
  payer_client_ip?: string | null;
}

export interface PaymentUrls {
  notify_url: string;
  /** Where the provider sends the payer back: the PWA's order page. */
  return_url: string;
}

/** The provider's view of one trade, from a query. */
export type TradeState =
  | { state: 'paid'; amount_fen: number; provider_trade_no: string; paid_at_ms: number }
  | { state: 'unpaid' }
  | { state: 'closed' }
  // The provider never saw the trade (an Alipay wap order the payer never opened).
  | { state: 'not_found' };

/**
 * The provider's view of one refund. `bill_at_ms` is when the provider's daily bill files it
 * (Alipay: when it completed; WeChat Pay: when it was initiated), for reconciliation.
 */
export type RefundState =
  | { state: 'succeeded'; provider_refund_no: string | null; bill_at_ms: number; refunded_at_ms: number }
  // Accepted, money not yet back with the payer: ask again later (or wait for the notification).
  | { state: 'processing'; provider_refund_no: string | null; bill_at_ms: number | null }
  // WeChat Pay's ABNORMAL (the payer's account refused it) or CLOSED: the money is still owed.
  | { state: 'failed'; provider_status: 'ABNORMAL' | 'CLOSED'; provider_refund_no: string | null; bill_at_ms: number | null }
  // The provider has no such refund: it never arrived, so submitting it again is safe.
  | { state: 'not_found' };

export interface RefundRequest {
  order_id: string;
  refund_id: string;
  amount_fen: number;
  total_fen: number;
  /** Where WeChat Pay sends REFUND.* notifications; without it, the merchant platform's setting. */
  notify_url?: string | null;
}

export interface PaymentChannel {
  readonly channel: Channel;
  /** The URL the payer's browser goes to. Throws ProviderError when the provider refuses. */
  createPayment(order: PaymentOrder, urls: PaymentUrls): Promise<{ pay_url: string }>;
  /**
   * The provider's QR code for a desktop payer to scan with a phone (Alipay precreate, WeChat
   * Pay Native): the text to encode. Throws ProviderError when the provider refuses.
   */
  createQrPayment(order: PaymentOrder, urls: PaymentUrls): Promise<{ qr_code: string }>;
  queryTrade(order_id: string): Promise<TradeState>;
  /** Closes an unpaid trade so it can no longer be paid; a trade the provider never saw is closed. */
  closeTrade(order_id: string): Promise<void>;
  /** Submits the refund (idempotent by refund_id); never answers `not_found`. */
  refund(input: RefundRequest): Promise<RefundState>;
  /** Asks where a submitted refund stands. */
  queryRefund(input: RefundRequest): Promise<RefundState>;
}

/** A provider's refusal or an unreachable provider: the caller decides whether to retry. */
export class ProviderError extends Error {
  readonly channel: Channel;
  readonly provider_code: string;
  readonly transient: boolean;

  constructor(channel: Channel, provider_code: string, message: string, transient: boolean) {
    super(message);
    this.channel = channel;
    this.provider_code = provider_code;
    this.transient = transient;
  }
}
