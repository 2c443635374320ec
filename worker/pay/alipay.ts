// Alipay over its OpenAPI (RSA2): the signed `alipay.trade.wap.pay` URL the payer's browser
// opens, and trade query / close / refund whose answers are verified with Alipay's public key
// before a single field is believed. The simulated gateway answers the same protocol.
import {
  alipaySign,
  extractResponseNode,
  formatChinaTime,
  parseChinaTime,
  responseKeyOf,
  ALIPAY_RESPONSE_BYTES_MAX,
} from '../../protocol/alipay.ts';
import { fenToYuan, yuanToFen } from '../../protocol/money.ts';
import { importRsaPrivateKey, importRsaPublicKey, rsaVerify } from '../../protocol/rsa.ts';
import { readBounded } from '../http/read-bounded.ts';
import {
  ProviderError,
  type PaymentChannel,
  type PaymentOrder,
  type PaymentUrls,
  type RefundRequest,
  type RefundState,
  type TradeState,
} from './channel.ts';

/** The configuration names this channel reads (DESIGN section 5), so it also runs in Node. */
export interface AlipayVars {
  ALIPAY_APP_ID?: string;
  ALIPAY_SELLER_ID?: string;
  ALIPAY_PUBLIC_KEY?: string;
  ALIPAY_PRIVATE_KEY?: string;
  ALIPAY_GATEWAY?: string;
}

export interface AlipayConfig {
  app_id: string;
  seller_id: string | null;
  gateway: string;
  private_key: string;
  public_key: string;
}

// Alipay answers in well under a second; past this the cron or the caller tries again later.
const REQUEST_TIMEOUT_MS = 10_000;
// Imported keys per isolate: a handful of configurations at most (tests rotate keys).
const KEY_CACHE_MAX = 8;
const privateKeys = new Map<string, Promise<CryptoKey>>();
const publicKeys = new Map<string, Promise<CryptoKey>>();

function cached(cache: Map<string, Promise<CryptoKey>>, text: string, load: (text: string) => Promise<CryptoKey>): Promise<CryptoKey> {
  let key = cache.get(text);
  if (key === undefined) {
    if (cache.size >= KEY_CACHE_MAX) cache.delete(cache.keys().next().value!);
    key = load(text);
    // A key that does not import must not stay cached as a rejected promise.
    key.catch(() => cache.delete(text));
    cache.set(text, key);
  }
  return key;
}

async function alipayPrivateKey(config: AlipayConfig): Promise<CryptoKey> {
  try {
    return await cached(privateKeys, config.private_key, importRsaPrivateKey);
  } catch {
    throw new ProviderError('alipay', 'not_configured', 'ALIPAY_PRIVATE_KEY is not a PKCS#8 RSA key', false);
  }
}

/** Alipay's public key, for notifications and responses. */
export async function alipayPublicKey(config: Pick<AlipayConfig, 'public_key'>): Promise<CryptoKey> {
  try {
    return await cached(publicKeys, config.public_key, importRsaPublicKey);
  } catch {
    throw new ProviderError('alipay', 'not_configured', 'ALIPAY_PUBLIC_KEY is not an SPKI RSA key', false);
  }
}

/** The configuration, or ProviderError 'not_configured' naming what is missing. */
export function alipayConfig(env: AlipayVars): AlipayConfig {
  const missing = (['ALIPAY_APP_ID', 'ALIPAY_PRIVATE_KEY', 'ALIPAY_PUBLIC_KEY', 'ALIPAY_GATEWAY'] as const).filter(
    (name) => !env[name],
  );
  if (missing.length > 0) {
    throw new ProviderError('alipay', 'not_configured', `alipay is not configured: ${missing.join(', ')} missing`, false);
  }
  return {
    app_id: env.ALIPAY_APP_ID!,
    seller_id: env.ALIPAY_SELLER_ID || null,
    gateway: env.ALIPAY_GATEWAY!,
    private_key: env.ALIPAY_PRIVATE_KEY!,
    public_key: env.ALIPAY_PUBLIC_KEY!,
  };
}

export async function signedParams(
  config: AlipayConfig,
  method: string,
  biz: Record<string, unknown>,
  extra: Record<string, string>,
  now_ms: number,
): Promise<Record<string, string>> {
  const params: Record<string, string> = {
    app_id: config.app_id,
    method,
    format: 'JSON',
    charset: 'utf-8',
    sign_type: 'RSA2',
    timestamp: formatChinaTime(now_ms),
    version: '1.0',
    ...extra,
    biz_content: JSON.stringify(biz),
  };
  params.sign = await alipaySign(await alipayPrivateKey(config), params, 'request');
  return params;
}

export type ResponseNode = Record<string, unknown> & { code?: unknown; sub_code?: unknown; sub_msg?: unknown; msg?: unknown };

/** Calls one OpenAPI method and returns its response node once its signature checks out. */
export async function call(
  config: AlipayConfig,
  method: string,
  biz: Record<string, unknown>,
  extra: Record<string, string> = {},
): Promise<ResponseNode> {
  const params = await signedParams(config, method, biz, extra, Date.now());
  let raw: string;
  try {
    const response = await fetch(config.gateway, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    raw = await response.text();
    if (!response.ok) throw new ProviderError('alipay', `http_${response.status}`, `alipay answered HTTP ${response.status}`, true);
  } catch (err) {
    if (err instanceof ProviderError) throw err;
    throw new ProviderError('alipay', 'unreachable', `alipay unreachable: ${String(err)}`, true);
  }
  if (raw.length > ALIPAY_RESPONSE_BYTES_MAX) throw new ProviderError('alipay', 'bad_response', 'alipay response too large', true);
  const node_text = extractResponseNode(raw, responseKeyOf(method)) ?? extractResponseNode(raw, 'error_response');
  let sign: unknown;
  try {
    sign = (JSON.parse(raw) as { sign?: unknown }).sign;
  } catch {
    sign = undefined;
  }
  if (node_text === null || typeof sign !== 'string') {
    throw new ProviderError('alipay', 'bad_response', 'alipay response without a signed response node', true);
  }
  // An answer we cannot verify could be anyone's: never act on it, and try again later.
  if (!(await rsaVerify(await alipayPublicKey(config), node_text, sign))) {
    throw new ProviderError('alipay', 'bad_signature', 'alipay response signature does not verify', true);
  }
  return JSON.parse(node_text) as ResponseNode;
}

export function refusal(node: ResponseNode, what: string): ProviderError {
  const code = String(node.sub_code ?? node.code ?? 'unknown');
  // 20000 is Alipay's "service unavailable"; ACQ.SYSTEM_ERROR its "try again".
  const transient = node.code === '20000' || code === 'ACQ.SYSTEM_ERROR' || code === 'aop.ACQ.SYSTEM_ERROR';
  return new ProviderError('alipay', code, `alipay refused ${what}: ${String(node.sub_msg ?? node.msg ?? code)}`, transient);
}

function isNotExist(node: ResponseNode): boolean {
  return node.code === '40004' && node.sub_code === 'ACQ.TRADE_NOT_EXIST';
}

export function text(node: ResponseNode, name: string): string | null {
  const value = node[name];
  return typeof value === 'string' && value.length > 0 ? value : null;
}

// Alipay's qr_code is a short https URL (https://qr.alipay.com/bax0…); a long one is not it.
const QR_CODE_CHARS_MAX = 512;

/** `alipay.trade.precreate`: the face-to-face QR code a desktop payer scans with a phone. */
async function precreate(config: AlipayConfig, order: PaymentOrder, urls: PaymentUrls): Promise<{ qr_code: string }> {
  if (!Number.isSafeInteger(order.amount_fen) || order.amount_fen <= 0) throw new RangeError('amount must be positive fen');
  const node = await call(
    config,
    'alipay.trade.precreate',
    {
      out_trade_no: order.order_id,
      total_amount: fenToYuan(order.amount_fen),
      subject: order.subject,
      product_code: 'FACE_TO_FACE_PAYMENT',
      time_expire: formatChinaTime(order.expires_at_ms),
    },
    { notify_url: urls.notify_url },
  );
  if (node.code !== '10000') throw refusal(node, 'precreate');
  const qr_code = text(node, 'qr_code');
  if (text(node, 'out_trade_no') !== order.order_id) {
    throw new ProviderError('alipay', 'bad_response', 'alipay answered about another trade', true);
  }
  if (qr_code === null || qr_code.length > QR_CODE_CHARS_MAX || !/^https?:\/\/\S+$/.test(qr_code)) {
    throw new ProviderError('alipay', 'bad_response', 'precreate answer without a qr_code URL', true);
  }
  return { qr_code };
}

/**
 * `alipay.trade.refund` answered 10000. `fund_change: Y` means this call moved the money: done.
 * `N` means it did not (a repeat of an earlier request, or one still being processed), and
 * Alipay's own advice is to ask `alipay.trade.fastpay.refund.query` before believing either.
 */
async function alipayRefundAnswer(config: AlipayConfig, node: ResponseNode, input: RefundRequest): Promise<RefundState> {
  if (text(node, 'out_trade_no') !== input.order_id) {
    throw new ProviderError('alipay', 'bad_response', 'alipay answered about another trade', true);
  }
  if (node.fund_change === 'Y') {
    const refunded_at_ms = parseChinaTime(text(node, 'gmt_refund_pay') ?? '');
    if (refunded_at_ms === null) throw new ProviderError('alipay', 'bad_response', 'refund answer without gmt_refund_pay', true);
    return { state: 'succeeded', provider_refund_no: text(node, 'trade_no'), bill_at_ms: refunded_at_ms, refunded_at_ms };
  }
  return alipayRefundQuery(config, input);
}

/**
 * `alipay.trade.fastpay.refund.query`: `refund_status: REFUND_SUCCESS` is the only proof of a
 * finished refund. Without it Alipay has either not received the request or not finished it;
 * both are `processing` here, and the next follow-up submits the same request again, which
 * Alipay answers idempotently by out_request_no.
 */
async function alipayRefundQuery(config: AlipayConfig, input: RefundRequest): Promise<RefundState> {
  const node = await call(config, 'alipay.trade.fastpay.refund.query', {
    out_trade_no: input.order_id,
    out_request_no: input.refund_id,
    query_options: ['gmt_refund_pay'],
  });
  if (isNotExist(node)) return { state: 'not_found' };
  if (node.code !== '10000') throw refusal(node, 'refund query');
  if (node.refund_status !== 'REFUND_SUCCESS') {
    // An empty answer names neither trade nor request: Alipay has no such refund (yet).
    if (text(node, 'out_request_no') === null) return { state: 'not_found' };
    return { state: 'processing', provider_refund_no: text(node, 'trade_no'), bill_at_ms: null };
  }
  if (text(node, 'out_trade_no') !== input.order_id || text(node, 'out_request_no') !== input.refund_id) {
    throw new ProviderError('alipay', 'bad_response', 'refund query answered about another refund', true);
  }
  const amount_fen = yuanToFen(text(node, 'refund_amount') ?? '');
  if (amount_fen !== input.amount_fen) {
    throw new ProviderError('alipay', 'amount_mismatch', `alipay refunded ${String(node.refund_amount)}, we asked ${input.amount_fen} fen`, false);
  }
  const refunded_at_ms = parseChinaTime(text(node, 'gmt_refund_pay') ?? '');
  if (refunded_at_ms === null) throw new ProviderError('alipay', 'bad_response', 'finished refund without gmt_refund_pay', true);
  return { state: 'succeeded', provider_refund_no: text(node, 'trade_no'), bill_at_ms: refunded_at_ms, refunded_at_ms };
}

export function alipayChannelWith(config: AlipayConfig): PaymentChannel {
  return {
    channel: 'alipay',

    async createPayment(order: PaymentOrder, urls: PaymentUrls) {
      if (!Number.isSafeInteger(order.amount_fen) || order.amount_fen <= 0) throw new RangeError('amount must be positive fen');
      const params = await signedParams(
        config,
        'alipay.trade.wap.pay',
        {
          out_trade_no: order.order_id,
          total_amount: fenToYuan(order.amount_fen),
          subject: order.subject,
          product_code: 'QUICK_WAP_WAY',
          time_expire: formatChinaTime(order.expires_at_ms),
          quit_url: urls.return_url,
        },
        { notify_url: urls.notify_url, return_url: urls.return_url },
        Date.now(),
      );
      const url = new URL(config.gateway);
      for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
      return { pay_url: url.toString() };
    },

    createQrPayment: (order, urls) => precreate(config, order, urls),

    async queryTrade(order_id: string): Promise<TradeState> {
      const node = await call(config, 'alipay.trade.query', { out_trade_no: order_id });
      if (isNotExist(node)) return { state: 'not_found' };
      if (node.code !== '10000') throw refusal(node, 'trade query');
      if (text(node, 'out_trade_no') !== order_id) {
        throw new ProviderError('alipay', 'bad_response', 'alipay answered about another trade', true);
      }
      switch (node.trade_status) {
        case 'WAIT_BUYER_PAY':
          return { state: 'unpaid' };
        case 'TRADE_CLOSED':
          return { state: 'closed' };
        case 'TRADE_SUCCESS':
        case 'TRADE_FINISHED': {
          const amount_fen = yuanToFen(text(node, 'total_amount') ?? '');
          const provider_trade_no = text(node, 'trade_no');
          if (amount_fen === null || amount_fen <= 0 || provider_trade_no === null) {
            throw new ProviderError('alipay', 'bad_response', 'paid trade without amount or trade_no', true);
          }
          const paid_at_ms = parseChinaTime(text(node, 'send_pay_date') ?? '') ?? Date.now();
          return { state: 'paid', amount_fen, provider_trade_no, paid_at_ms };
        }
        default:
          throw new ProviderError('alipay', 'bad_response', `unknown trade_status ${String(node.trade_status)}`, true);
      }
    },

    async closeTrade(order_id: string): Promise<void> {
      const node = await call(config, 'alipay.trade.close', { out_trade_no: order_id });
      // A wap trade the payer never opened does not exist at Alipay: nothing left to pay.
      if (node.code === '10000' || isNotExist(node)) return;
      throw refusal(node, 'trade close');
    },

    async refund(input) {
      if (!Number.isSafeInteger(input.amount_fen) || input.amount_fen <= 0 || input.amount_fen > input.total_fen) {
        throw new RangeError('refund amount must be positive fen, at most the total');
      }
      const node = await call(config, 'alipay.trade.refund', {
        out_trade_no: input.order_id,
        refund_amount: fenToYuan(input.amount_fen),
        out_request_no: input.refund_id,
      });
      if (node.code !== '10000') throw refusal(node, 'refund');
      return alipayRefundAnswer(config, node, input);
    },

    queryRefund: (input) => alipayRefundQuery(config, input),
  };
}

export function alipayChannel(env: AlipayVars): PaymentChannel {
  // Configuration errors surface on use, as ProviderError 'not_configured', like the other channel.
  let config: AlipayConfig;
  try {
    config = alipayConfig(env);
  } catch (err) {
    const refuse = async (): Promise<never> => {
      throw err;
    };
    return { channel: 'alipay', createPayment: refuse, createQrPayment: refuse, queryTrade: refuse, closeTrade: refuse, refund: refuse, queryRefund: refuse };
  }
  return alipayChannelWith(config);
}

// A day's bill is a few MB at most; the download is refused past this.
const ALIPAY_BILL_BYTES_MAX = 16 * 1024 * 1024;

/**
 * The `trade` bill of one China calendar day, as the zip Alipay serves: the signed answer of
 * `alipay.data.dataservice.bill.downloadurl.query` gives a short-lived URL, fetched at once.
 * null when Alipay has no bill for the day (no trades: `isp.bill_not_exist`).
 */
export async function alipayTradeBill(config: AlipayConfig, bill_date: string): Promise<Uint8Array | null> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(bill_date)) throw new RangeError(`bill_date ${bill_date}`);
  const node = await call(config, 'alipay.data.dataservice.bill.downloadurl.query', { bill_type: 'trade', bill_date });
  if (node.code === '40004' && node.sub_code === 'isp.bill_not_exist') return null;
  if (node.code !== '10000') throw refusal(node, 'bill download URL');
  const url = text(node, 'bill_download_url');
  if (url === null || !/^https?:\/\/\S+$/.test(url)) throw new ProviderError('alipay', 'bad_response', 'answer without a bill_download_url', true);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS * 3) });
  } catch (err) {
    throw new ProviderError('alipay', 'unreachable', `bill download failed: ${String(err).slice(0, 200)}`, true);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new ProviderError('alipay', `http_${response.status}`, `bill download answered HTTP ${response.status}`, true);
  }
  const bytes = await readBounded(response, ALIPAY_BILL_BYTES_MAX);
  if (bytes === null) throw new ProviderError('alipay', 'bad_response', `bill larger than ${ALIPAY_BILL_BYTES_MAX} bytes`, false);
  return bytes;
}
