// WeChat Pay API v3 as a PaymentChannel: H5 order, query, close and refund by out_trade_no.
// Every request is signed with the merchant key; every answer's Wechatpay-* signature is checked
// against the platform public key before a byte of it is believed, because the Worker marks
// orders paid or closed on these answers.
//
// Depends only on the configuration names it reads (not on worker/env.ts), so the same code runs
// in workerd and, for tests against the simulator, in Node.
import { ORDER_ID_PATTERN } from '../../protocol/api.ts';
import { importRsaPrivateKey, importRsaPublicKey } from '../../protocol/rsa.ts';
import {
  formatWechatTime,
  importApiV3Key,
  parseWechatTime,
  readSignatureHeaders,
  signRequest,
  verifySignedBody,
  wechatRefund,
  wechatTransaction,
  WECHATPAY_API_ORIGIN,
  type SignatureVerdict,
} from '../../protocol/wechat.ts';
import { readBounded } from '../http/read-bounded.ts';
import { sha1Hex } from '../recon/wechat-bill.ts';
import {
  ProviderError,
  type PaymentChannel,
  type PaymentOrder,
  type PaymentUrls,
  type RefundRequest,
  type RefundState,
  type TradeState,
} from './channel.ts';

/** The configuration this channel and the notification route read (DESIGN section 5 names). */
export interface WechatVars {
  WECHATPAY_MCH_ID?: string;
  WECHATPAY_APP_ID?: string;
  WECHATPAY_API_V3_KEY?: string;
  WECHATPAY_PUBLIC_KEY?: string;
  WECHATPAY_PUBLIC_KEY_ID?: string;
  WECHATPAY_PRIVATE_KEY?: string;
  WECHATPAY_SERIAL_NO?: string;
  // Not in DESIGN's list: the API host, so the simulated gateway can stand in for WeChat Pay.
  WECHATPAY_GATEWAY?: string;
}

// A provider that hangs must not hold a request (or the cron) for long: the caller retries later.
export const WECHATPAY_REQUEST_TIMEOUT_MS = 10_000;
// WeChat Pay's answers are a few hundred bytes; anything near this is not one.
const RESPONSE_BODY_CHARS_MAX = 64 * 1024;
// WeChat Pay's limit on `description`.
const DESCRIPTION_CHARS_MAX = 127;
const H5_URL_CHARS_MAX = 2048;
// A Native code_url is `weixin://wxpay/bizpayurl?pr=` and a short token.
const CODE_URL_CHARS_MAX = 256;
// One deployment holds one key of each kind; a few entries cover key rotation and tests.
const KEY_CACHE_ENTRIES_MAX = 16;

const keyCache = new Map<string, Promise<CryptoKey>>();

/** Imports once per isolate: RSA key import costs more than the request it signs. */
function cachedKey(kind: 'rsa_private' | 'rsa_public' | 'aes', text: string): Promise<CryptoKey> {
  const cache_key = `${kind}\n${text}`;
  const found = keyCache.get(cache_key);
  if (found !== undefined) return found;
  if (keyCache.size >= KEY_CACHE_ENTRIES_MAX) keyCache.clear();
  const imported =
    kind === 'rsa_private' ? importRsaPrivateKey(text) : kind === 'rsa_public' ? importRsaPublicKey(text) : importApiV3Key(text);
  keyCache.set(cache_key, imported);
  // A key that fails to import is a configuration error; do not pin the failure.
  imported.catch(() => keyCache.delete(cache_key));
  return imported;
}

function notConfigured(what: string): ProviderError {
  return new ProviderError('wechat', 'not_configured', `wechat is not configured: ${what}`, false);
}

function required(value: string | undefined, name: string): string {
  const trimmed = value?.trim() ?? '';
  if (trimmed.length === 0) throw notConfigured(`${name} is missing`);
  return trimmed;
}

/** The platform public key and API v3 key the notification route needs, imported and cached. */
export interface WechatNotifyKeys {
  mch_id: string;
  app_id: string;
  public_key_id: string;
  platform_public_key: CryptoKey;
  api_v3_key: CryptoKey;
}

/** Throws ProviderError 'not_configured' when a name is missing or a key does not import. */
export async function wechatNotifyKeys(vars: WechatVars): Promise<WechatNotifyKeys> {
  const mch_id = required(vars.WECHATPAY_MCH_ID, 'WECHATPAY_MCH_ID');
  const app_id = required(vars.WECHATPAY_APP_ID, 'WECHATPAY_APP_ID');
  const public_key_id = required(vars.WECHATPAY_PUBLIC_KEY_ID, 'WECHATPAY_PUBLIC_KEY_ID');
  const public_key_text = required(vars.WECHATPAY_PUBLIC_KEY, 'WECHATPAY_PUBLIC_KEY');
  const api_v3_key_text = required(vars.WECHATPAY_API_V3_KEY, 'WECHATPAY_API_V3_KEY');
  try {
    const [platform_public_key, api_v3_key] = await Promise.all([
      cachedKey('rsa_public', public_key_text),
      cachedKey('aes', api_v3_key_text),
    ]);
    return { mch_id, app_id, public_key_id, platform_public_key, api_v3_key };
  } catch (error) {
    throw notConfigured(`a key does not import (${String(error).slice(0, 120)})`);
  }
}

interface ApiConfig {
  mch_id: string;
  app_id: string;
  serial_no: string;
  public_key_id: string;
  origin: string;
  private_key: CryptoKey;
  platform_public_key: CryptoKey;
}

async function apiConfig(vars: WechatVars): Promise<ApiConfig> {
  const mch_id = required(vars.WECHATPAY_MCH_ID, 'WECHATPAY_MCH_ID');
  const app_id = required(vars.WECHATPAY_APP_ID, 'WECHATPAY_APP_ID');
  const serial_no = required(vars.WECHATPAY_SERIAL_NO, 'WECHATPAY_SERIAL_NO');
  const public_key_id = required(vars.WECHATPAY_PUBLIC_KEY_ID, 'WECHATPAY_PUBLIC_KEY_ID');
  const private_key_text = required(vars.WECHATPAY_PRIVATE_KEY, 'WECHATPAY_PRIVATE_KEY');
  const public_key_text = required(vars.WECHATPAY_PUBLIC_KEY, 'WECHATPAY_PUBLIC_KEY');
  const origin = (vars.WECHATPAY_GATEWAY?.trim() || WECHATPAY_API_ORIGIN).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+$/.test(origin)) throw notConfigured('WECHATPAY_GATEWAY must be an origin such as https://api.mch.weixin.qq.com');
  try {
    const [private_key, platform_public_key] = await Promise.all([
      cachedKey('rsa_private', private_key_text),
      cachedKey('rsa_public', public_key_text),
    ]);
    return { mch_id, app_id, serial_no, public_key_id, origin, private_key, platform_public_key };
  } catch (error) {
    throw notConfigured(`a key does not import (${String(error).slice(0, 120)})`);
  }
}

interface VerifiedAnswer {
  status: number;
  body: string;
  /** Parsed JSON for a non-empty body; undefined for 204 and for a body that is not JSON. */
  json: unknown;
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorOf(json: unknown): { code: string; message: string } {
  const value = json as { code?: unknown; message?: unknown } | undefined;
  return {
    code: typeof value?.code === 'string' ? value.code.slice(0, 64) : 'UNKNOWN',
    message: typeof value?.message === 'string' ? value.message.slice(0, 200) : 'no message',
  };
}

/**
 * One signed call. Answers whose signature does not verify are never returned: a forged
 * "paid" or "order does not exist" would move money, so it is a transient provider failure.
 */
async function call(
  config: ApiConfig,
  method: 'GET' | 'POST',
  path_and_query: string,
  payload: object | null,
): Promise<VerifiedAnswer> {
  const body = payload === null ? '' : JSON.stringify(payload);
  const authorization = await signRequest(
    config.private_key,
    { mchid: config.mch_id, serial_no: config.serial_no },
    { method, path_and_query, body },
    Date.now(),
  );
  const headers: Record<string, string> = {
    authorization,
    accept: 'application/json',
    'user-agent': 'yikatong-worker/0.1',
  };
  if (payload !== null) headers['content-type'] = 'application/json';
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${config.origin}${path_and_query}`, {
      method,
      headers,
      body: payload === null ? undefined : body,
      signal: AbortSignal.timeout(WECHATPAY_REQUEST_TIMEOUT_MS),
    });
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > RESPONSE_BODY_CHARS_MAX) {
      await response.body?.cancel();
      throw new ProviderError('wechat', 'response_too_large', `answer of ${declared} bytes`, true);
    }
    text = await response.text();
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    throw new ProviderError('wechat', 'network', `WeChat Pay unreachable: ${String(error).slice(0, 200)}`, true);
  }
  if (text.length > RESPONSE_BODY_CHARS_MAX) throw new ProviderError('wechat', 'response_too_large', 'answer too large', true);
  const verdict: SignatureVerdict = await verifySignedBody(
    config.platform_public_key,
    config.public_key_id,
    readSignatureHeaders((name) => response.headers.get(name)),
    text,
    Date.now(),
  );
  const json = parseJson(text);
  if (!verdict.ok) {
    // WeChat Pay leaves some refusals (a request it could not authenticate) unsigned; those we
    // may still report, since a refusal moves no money.
    if (response.status >= 400 && response.status !== 404) {
      const error = errorOf(json);
      throw new ProviderError('wechat', error.code, `${response.status} (unsigned): ${error.message}`, response.status >= 500);
    }
    throw new ProviderError('wechat', 'response_signature_invalid', `answer not signed by WeChat Pay: ${verdict.reason}`, true);
  }
  return { status: response.status, body: text, json };
}

function refusal(answer: VerifiedAnswer): ProviderError {
  const error = errorOf(answer.json);
  const transient = answer.status >= 500 || answer.status === 429 || error.code === 'SYSTEM_ERROR' || error.code === 'FREQUENCY_LIMITED';
  return new ProviderError('wechat', error.code, `${answer.status}: ${error.message}`, transient);
}

function assertOrderId(order_id: string): void {
  if (!ORDER_ID_PATTERN.test(order_id)) throw new RangeError(`not an order id: ${order_id}`);
}

function clip(text: string, chars_max: number): string {
  const chars = Array.from(text);
  return chars.length <= chars_max ? text : chars.slice(0, chars_max).join('');
}

/** What every WeChat Pay order request carries, H5 and Native alike. */
function orderFields(config: ApiConfig, order: PaymentOrder, urls: PaymentUrls) {
  return {
    appid: config.app_id,
    mchid: config.mch_id,
    description: clip(order.subject, DESCRIPTION_CHARS_MAX),
    out_trade_no: order.order_id,
    time_expire: formatWechatTime(order.expires_at_ms),
    notify_url: urls.notify_url,
    amount: { total: order.amount_fen, currency: 'CNY' },
  };
}

export function wechatChannel(vars: WechatVars): PaymentChannel {
  async function createPayment(
    order: PaymentOrder,
    urls: PaymentUrls,
  ): Promise<{ pay_url: string }> {
    assertOrderId(order.order_id);
    if (!Number.isSafeInteger(order.amount_fen) || order.amount_fen <= 0) throw new RangeError(`amount_fen ${order.amount_fen}`);
    const config = await apiConfig(vars);
    const answer = await call(config, 'POST', '/v3/pay/transactions/h5', {
      ...orderFields(config, order, urls),
      scene_info: { payer_client_ip: order.payer_client_ip ?? '127.0.0.1', h5_info: { type: 'Wap' } },
    });
    if (answer.status !== 200) throw refusal(answer);
    const h5_url = (answer.json as { h5_url?: unknown } | undefined)?.h5_url;
    if (typeof h5_url !== 'string' || h5_url.length > H5_URL_CHARS_MAX || !/^https?:\/\/\S+$/.test(h5_url)) {
      throw new ProviderError('wechat', 'bad_response', 'order answer without an h5_url', true);
    }
    // WeChat Pay's H5 flow: the merchant appends where the payer returns to after paying.
    const separator = h5_url.includes('?') ? '&' : '?';
    return { pay_url: `${h5_url}${separator}redirect_url=${encodeURIComponent(urls.return_url)}` };
  }

  /** Native: WeChat Pay's `weixin://wxpay/bizpayurl?pr=…` for a desktop payer to scan. */
  async function createQrPayment(order: PaymentOrder, urls: PaymentUrls): Promise<{ qr_code: string }> {
    assertOrderId(order.order_id);
    if (!Number.isSafeInteger(order.amount_fen) || order.amount_fen <= 0) throw new RangeError(`amount_fen ${order.amount_fen}`);
    const config = await apiConfig(vars);
    const answer = await call(config, 'POST', '/v3/pay/transactions/native', {
      ...orderFields(config, order, urls),
      ...(order.payer_client_ip ? { scene_info: { payer_client_ip: order.payer_client_ip } } : {}),
    });
    if (answer.status !== 200) throw refusal(answer);
    const code_url = (answer.json as { code_url?: unknown } | undefined)?.code_url;
    if (typeof code_url !== 'string' || code_url.length > CODE_URL_CHARS_MAX || !/^weixin:\/\/wxpay\/bizpayurl\?pr=[0-9A-Za-z]+$/.test(code_url)) {
      throw new ProviderError('wechat', 'bad_response', 'native order answer without a code_url', true);
    }
    return { qr_code: code_url };
  }

  async function queryTrade(order_id: string): Promise<TradeState> {
    assertOrderId(order_id);
    const config = await apiConfig(vars);
    const path = `/v3/pay/transactions/out-trade-no/${encodeURIComponent(order_id)}?mchid=${encodeURIComponent(config.mch_id)}`;
    const answer = await call(config, 'GET', path, null);
    if (answer.status === 404 && errorOf(answer.json).code === 'ORDER_NOT_EXIST') return { state: 'not_found' };
    if (answer.status !== 200) throw refusal(answer);
    const parsed = wechatTransaction.safeParse(answer.json);
    if (!parsed.success) throw new ProviderError('wechat', 'bad_response', 'query answer is not a transaction', true);
    const trade = parsed.data;
    if (trade.out_trade_no !== order_id || trade.mchid !== config.mch_id || trade.appid !== config.app_id) {
      throw new ProviderError('wechat', 'response_mismatch', `query answer is about ${trade.mchid}/${trade.out_trade_no}`, false);
    }
    switch (trade.trade_state) {
      // REFUND means it was paid first: the money arrived, and the refund path owns the rest.
      case 'SUCCESS':
      case 'REFUND': {
        const paid_at_ms = trade.success_time === undefined ? null : parseWechatTime(trade.success_time);
        if (trade.amount === undefined || !trade.transaction_id || paid_at_ms === null) {
          throw new ProviderError('wechat', 'bad_response', 'paid trade without amount, transaction_id or success_time', true);
        }
        return { state: 'paid', amount_fen: trade.amount.total, provider_trade_no: trade.transaction_id, paid_at_ms };
      }
      case 'NOTPAY':
      case 'USERPAYING':
      case 'ACCEPT':
        return { state: 'unpaid' };
      case 'CLOSED':
      case 'REVOKED':
      case 'PAYERROR':
        return { state: 'closed' };
    }
  }

  async function closeTrade(order_id: string): Promise<void> {
    assertOrderId(order_id);
    const config = await apiConfig(vars);
    const path = `/v3/pay/transactions/out-trade-no/${encodeURIComponent(order_id)}/close`;
    const answer = await call(config, 'POST', path, { mchid: config.mch_id });
    if (answer.status === 204 || answer.status === 200) return;
    // A trade WeChat Pay never saw can never be paid: closed is what the caller wants to know.
    if (answer.status === 404 && errorOf(answer.json).code === 'ORDER_NOT_EXIST') return;
    throw refusal(answer);
  }

  async function refund(input: RefundRequest): Promise<RefundState> {
    assertOrderId(input.order_id);
    if (!Number.isSafeInteger(input.amount_fen) || input.amount_fen <= 0 || input.amount_fen > input.total_fen) {
      throw new RangeError(`refund of ${input.amount_fen} fen out of ${input.total_fen}`);
    }
    if (!REFUND_ID_PATTERN.test(input.refund_id)) throw new RangeError(`not a refund id: ${input.refund_id}`);
    const config = await apiConfig(vars);
    const answer = await call(config, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: input.order_id,
      out_refund_no: input.refund_id,
      ...(input.notify_url ? { notify_url: input.notify_url } : {}),
      amount: { refund: input.amount_fen, total: input.total_fen, currency: 'CNY' },
    });
    if (answer.status !== 200) throw refusal(answer);
    return refundStateOf(answer, input);
  }

  async function queryRefund(input: RefundRequest): Promise<RefundState> {
    if (!REFUND_ID_PATTERN.test(input.refund_id)) throw new RangeError(`not a refund id: ${input.refund_id}`);
    const config = await apiConfig(vars);
    const answer = await call(config, 'GET', `/v3/refund/domestic/refunds/${encodeURIComponent(input.refund_id)}`, null);
    if (answer.status === 404 && errorOf(answer.json).code === 'RESOURCE_NOT_EXISTS') return { state: 'not_found' };
    if (answer.status !== 200) throw refusal(answer);
    return refundStateOf(answer, input);
  }

  return { channel: 'wechat', createPayment, createQrPayment, queryTrade, closeTrade, refund, queryRefund };
}

const REFUND_ID_PATTERN = /^[0-9A-Za-z_\-|*@]{1,64}$/;

/**
 * A refund answer (create or query) as a RefundState. PROCESSING is not done: WeChat Pay may
 * still end it ABNORMAL (the payer's bank card was closed) or CLOSED, and then nobody has the
 * money; only SUCCESS, from the API or a REFUND.SUCCESS notification, finishes a refund.
 */
function refundStateOf(answer: VerifiedAnswer, input: RefundRequest): RefundState {
  const parsed = wechatRefund.safeParse(answer.json);
  if (!parsed.success) throw new ProviderError('wechat', 'bad_response', 'refund answer is not a refund', true);
  const made = parsed.data;
  if (made.out_refund_no !== input.refund_id || made.amount.refund !== input.amount_fen) {
    throw new ProviderError('wechat', 'response_mismatch', `refund answer is about ${made.out_refund_no}`, false);
  }
  const created_at_ms = made.create_time === undefined ? null : parseWechatTime(made.create_time);
  switch (made.status) {
    case 'SUCCESS': {
      const refunded_at_ms = made.success_time === undefined ? null : parseWechatTime(made.success_time);
      if (refunded_at_ms === null) throw new ProviderError('wechat', 'bad_response', 'finished refund without success_time', true);
      return { state: 'succeeded', provider_refund_no: made.refund_id, bill_at_ms: created_at_ms ?? refunded_at_ms, refunded_at_ms };
    }
    case 'PROCESSING':
      return { state: 'processing', provider_refund_no: made.refund_id, bill_at_ms: created_at_ms };
    case 'ABNORMAL':
    case 'CLOSED':
      return { state: 'failed', provider_status: made.status, provider_refund_no: made.refund_id, bill_at_ms: created_at_ms };
  }
}

const WECHAT_BILL_BYTES_MAX = 16 * 1024 * 1024;

/** A day's trade bill: the file and the SHA-1 the signed tradebill answer gave for it. */
export interface WechatTradeBill {
  bytes: Uint8Array;
  hash_value: string;
  mch_id: string;
}

/**
 * `GET /v3/bill/tradebill?bill_date=&bill_type=ALL`, then the signed GET of its download_url.
 * The file itself is not signed: it is believed only when its SHA-1 equals the `hash_value`
 * of the signed answer, and refused otherwise (ProviderError 'bill_hash_mismatch'). null when
 * WeChat Pay has no bill for the day (NO_STATEMENT_EXIST: no trades).
 */
export async function wechatTradeBill(vars: WechatVars, bill_date: string): Promise<WechatTradeBill | null> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(bill_date)) throw new RangeError(`bill_date ${bill_date}`);
  const config = await apiConfig(vars);
  const answer = await call(config, 'GET', `/v3/bill/tradebill?bill_date=${bill_date}&bill_type=ALL`, null);
  if (answer.status === 400 && errorOf(answer.json).code === 'NO_STATEMENT_EXIST') return null;
  if (answer.status !== 200) throw refusal(answer);
  const found = answer.json as { hash_type?: unknown; hash_value?: unknown; download_url?: unknown } | undefined;
  if (found?.hash_type !== 'SHA1' || typeof found.hash_value !== 'string' || !/^[0-9a-f]{40}$/i.test(found.hash_value) || typeof found.download_url !== 'string') {
    throw new ProviderError('wechat', 'bad_response', 'tradebill answer without SHA1 hash and download_url', true);
  }
  // The download is a signed request to WeChat Pay's own host, never to wherever a URL points.
  const url = new URL(found.download_url);
  if (url.origin !== config.origin) throw new ProviderError('wechat', 'bad_response', `download_url on ${url.origin}`, false);
  const path_and_query = url.pathname + url.search;
  const authorization = await signRequest(config.private_key, { mchid: config.mch_id, serial_no: config.serial_no }, { method: 'GET', path_and_query, body: '' }, Date.now());
  let response: Response;
  try {
    response = await fetch(`${config.origin}${path_and_query}`, {
      headers: { authorization, 'user-agent': 'yikatong-worker/0.1' },
      signal: AbortSignal.timeout(WECHATPAY_REQUEST_TIMEOUT_MS * 3),
    });
  } catch (error) {
    throw new ProviderError('wechat', 'network', `bill download failed: ${String(error).slice(0, 200)}`, true);
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new ProviderError('wechat', `http_${response.status}`, `bill download answered ${response.status}`, response.status >= 500);
  }
  const bytes = await readBounded(response, WECHAT_BILL_BYTES_MAX);
  if (bytes === null) throw new ProviderError('wechat', 'bad_response', `bill larger than ${WECHAT_BILL_BYTES_MAX} bytes`, false);
  const hash = await sha1Hex(bytes);
  if (hash !== found.hash_value.toLowerCase()) {
    throw new ProviderError('wechat', 'bill_hash_mismatch', `bill SHA-1 ${hash} is not the ${found.hash_value} WeChat Pay signed`, false);
  }
  return { bytes, hash_value: hash, mch_id: config.mch_id };
}
