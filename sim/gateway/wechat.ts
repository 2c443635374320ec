// The simulated WeChat Pay API v3, answering as the real one does: it checks the merchant's
// request signature, keeps trades in memory, signs every answer with the platform key, shows a
// cashier page for H5 orders, and sends the encrypted, signed TRANSACTION.SUCCESS notification
// when a trade is paid. Routes under /sim/wechat/ are the simulator's own controls (pay, cancel,
// show the notification) for the cashier page, tests and the demo.
import { chinaDayStartMs, formatChinaTime } from '../../protocol/alipay.ts';
import { bytesToHex } from '../../protocol/encoding.ts';
import { fenToYuan } from '../../protocol/money.ts';
import { buildWechatBill, type WechatBillTrade } from './wechat-bill.ts';
import { importRsaPrivateKey, importRsaPublicKey } from '../../protocol/rsa.ts';
import {
  encryptResource,
  formatWechatTime,
  importApiV3Key,
  parseAuthorization,
  parseWechatTime,
  randomNonce,
  signBody,
  timestampWithin,
  verifyRequest,
  wechatOrderRequest,
  wechatRefundRequest,
  WECHATPAY_SIGNATURE_WINDOW_S,
  type TradeStateCode,
  type WechatErrorBody,
  type WechatOrderRequest,
  type WechatTransaction,
} from '../../protocol/wechat.ts';
import type {
  GatewayContext,
  GatewayRequest,
  GatewayResponse,
  HandlerFactory,
  OutgoingNotification,
} from './types.ts';

// Bounds on what one simulator process holds: a test run creates hundreds of trades, not more.
const TRADES_MAX = 20_000;
const REFUNDS_PER_TRADE_MAX = 50;
const REQUEST_BODY_CHARS_MAX = 64 * 1024;

export type WechatRefundStatus = 'SUCCESS' | 'PROCESSING' | 'ABNORMAL' | 'CLOSED';

interface Refund {
  refund_id: string;
  out_refund_no: string;
  refund_fen: number;
  created_at_ms: number;
  status: WechatRefundStatus;
  /** The status the refund had when it was initiated: the one its trade-bill row shows, for good. */
  initial_status: WechatRefundStatus;
  success_time_ms: number | null;
  notify_url: string | null;
}

interface Trade {
  kind: 'h5' | 'jsapi' | 'native';
  /** The order request with sorted keys: a repeat with the same content gets the same answer. */
  request_key: string;
  request: WechatOrderRequest;
  prepay_id: string;
  state: TradeStateCode;
  transaction_id: string | null;
  success_time_ms: number | null;
  expires_at_ms: number | null;
  openid: string;
  refunds: Map<string, Refund>;
  refunded_fen: number;
  /** How this trade's next refunds begin: SUCCESS at once (the default) or PROCESSING. */
  refund_mode: 'SUCCESS' | 'PROCESSING';
}

interface Keys {
  merchant_public: CryptoKey;
  platform_private: CryptoKey;
  api_v3: CryptoKey;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function digits(count: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(count));
  let out = '';
  for (const byte of bytes) out += String(byte % 10);
  return out;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function header(request: GatewayRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(request.headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

const TRADE_STATE_DESC: Record<TradeStateCode, string> = {
  SUCCESS: '支付成功',
  REFUND: '转入退款',
  NOTPAY: '未支付',
  CLOSED: '已关闭',
  REVOKED: '已撤销',
  USERPAYING: '用户支付中',
  PAYERROR: '支付失败',
  ACCEPT: '已接收，等待扣款',
};

export interface WechatSimulator {
  handle(request: GatewayRequest): Promise<GatewayResponse | null>;
  /** The notification a paid trade sends, freshly encrypted and signed; null if not paid. */
  notificationFor(out_trade_no: string, now_ms: number): Promise<OutgoingNotification | null>;
}

export function createWechatSimulator(ctx: GatewayContext): WechatSimulator {
  const identity = ctx.config.keys.wechat;
  const trades = new Map<string, Trade>();
  const byPrepayId = new Map<string, string>();
  let keysPromise: Promise<Keys> | null = null;

  function keys(): Promise<Keys> {
    keysPromise ??= (async () => ({
      merchant_public: await importRsaPublicKey(identity.merchant_public_key),
      platform_private: await importRsaPrivateKey(identity.platform_private_key),
      api_v3: await importApiV3Key(identity.api_v3_key),
    }))();
    return keysPromise;
  }

  /** Every API answer is signed, errors included, as WeChat Pay does once it knows the merchant. */
  async function answer(status: number, body: object | null): Promise<GatewayResponse> {
    const text = body === null ? '' : JSON.stringify(body);
    const signed = await signBody((await keys()).platform_private, identity.platform_public_key_id, text, Date.now());
    const headers: Record<string, string> = { ...signed, 'request-id': `08${digits(20)}` };
    if (body !== null) headers['content-type'] = 'application/json; charset=utf-8';
    return { status, headers, body: text };
  }

  function fail(status: number, code: string, message: string): Promise<GatewayResponse> {
    const body: WechatErrorBody = { code, message };
    return answer(status, body);
  }

  function transactionOf(trade: Trade): WechatTransaction {
    const paid = trade.state === 'SUCCESS' || trade.state === 'REFUND';
    const transaction: WechatTransaction = {
      appid: trade.request.appid,
      mchid: trade.request.mchid,
      out_trade_no: trade.request.out_trade_no,
      trade_type: trade.kind === 'h5' ? 'MWEB' : trade.kind === 'native' ? 'NATIVE' : 'JSAPI',
      trade_state: trade.state,
      trade_state_desc: TRADE_STATE_DESC[trade.state],
      amount: { total: trade.request.amount.total, currency: 'CNY' },
    };
    if (trade.request.attach !== undefined) transaction.attach = trade.request.attach;
    if (paid) {
      transaction.transaction_id = trade.transaction_id!;
      transaction.bank_type = 'OTHERS';
      transaction.success_time = formatWechatTime(trade.success_time_ms!);
      transaction.payer = { openid: trade.openid };
      transaction.amount = { total: trade.request.amount.total, payer_total: trade.request.amount.total, currency: 'CNY', payer_currency: 'CNY' };
    }
    return transaction;
  }

  async function notificationFor(out_trade_no: string, now_ms: number): Promise<OutgoingNotification | null> {
    const trade = trades.get(out_trade_no);
    if (trade === undefined || trade.state !== 'SUCCESS') return null;
    const k = await keys();
    const resource = await encryptResource(k.api_v3, JSON.stringify(transactionOf(trade)), 'transaction', 'transaction');
    const body = JSON.stringify({
      id: crypto.randomUUID(),
      create_time: formatWechatTime(now_ms),
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource,
    });
    const signed = await signBody(k.platform_private, identity.platform_public_key_id, body, now_ms);
    return {
      channel: 'wechat',
      out_trade_no,
      url: trade.request.notify_url,
      headers: { 'content-type': 'application/json', ...signed },
      body,
      resign: async (resign_at_ms) => {
        const fresh = await notificationFor(out_trade_no, resign_at_ms);
        if (fresh === null) return { headers: { 'content-type': 'application/json', ...signed }, body };
        return { headers: fresh.headers, body: fresh.body };
      },
    };
  }

  /** Null when the request is signed by the merchant we know; otherwise WeChat Pay's refusal. */
  async function checkAuthorization(request: GatewayRequest): Promise<GatewayResponse | null> {
    const authorization = parseAuthorization(header(request, 'authorization'));
    if (authorization === null) return fail(401, 'SIGN_ERROR', 'Authorization 头缺失或格式错误');
    if (authorization.mchid !== identity.mch_id) return fail(401, 'SIGN_ERROR', '商户号不存在');
    if (authorization.serial_no !== identity.merchant_serial_no) return fail(401, 'SIGN_ERROR', '商户证书序列号有误');
    if (!timestampWithin(authorization.timestamp, Date.now(), WECHATPAY_SIGNATURE_WINDOW_S)) {
      return fail(401, 'SIGN_ERROR', '时间戳超出有效范围');
    }
    const good = await verifyRequest((await keys()).merchant_public, authorization, {
      method: request.method,
      path_and_query: request.url.pathname + request.url.search,
      body: request.body,
    });
    return good ? null : fail(401, 'SIGN_ERROR', '签名错误');
  }

  function parseJson(body: string): unknown {
    try {
      return JSON.parse(body);
    } catch {
      return undefined;
    }
  }

  async function createOrder(request: GatewayRequest, kind: Trade['kind']): Promise<GatewayResponse> {
    const parsed = wechatOrderRequest.safeParse(parseJson(request.body));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return fail(400, 'PARAM_ERROR', `参数错误: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
    }
    const order = parsed.data;
    if (order.mchid !== identity.mch_id) return fail(400, 'MCH_NOT_EXISTS', '商户号不存在');
    if (order.appid !== identity.app_id) return fail(400, 'APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
    if (kind === 'h5' && order.scene_info?.h5_info === undefined) return fail(400, 'PARAM_ERROR', '参数错误: scene_info.h5_info 必填');
    if (kind === 'jsapi' && order.payer === undefined) return fail(400, 'PARAM_ERROR', '参数错误: payer.openid 必填');
    let expires_at_ms: number | null = null;
    if (order.time_expire !== undefined) {
      expires_at_ms = parseWechatTime(order.time_expire);
      if (expires_at_ms === null) return fail(400, 'PARAM_ERROR', '参数错误: time_expire 格式错误');
    }
    const request_key = canonicalJson({ kind, ...order });
    const existing = trades.get(order.out_trade_no);
    if (existing !== undefined) {
      if (existing.state === 'SUCCESS' || existing.state === 'REFUND') return fail(400, 'ORDERPAID', '该订单已支付');
      if (existing.state === 'CLOSED') return fail(400, 'ORDER_CLOSED', '该订单已关闭');
      if (existing.request_key !== request_key) return fail(400, 'INVALID_REQUEST', '201 商户订单号重复');
      return answerOrder(existing);
    }
    if (trades.size >= TRADES_MAX) return fail(500, 'SYSTEM_ERROR', '系统繁忙，请稍后重试');
    const trade: Trade = {
      kind,
      request_key,
      request: order,
      prepay_id: `wx${formatWechatTime(Date.now()).replace(/[^0-9]/g, '').slice(0, 14)}${digits(20)}`,
      state: 'NOTPAY',
      transaction_id: null,
      success_time_ms: null,
      expires_at_ms,
      openid: order.payer?.openid ?? `o${randomNonce(27)}`,
      refunds: new Map(),
      refunded_fen: 0,
      refund_mode: 'SUCCESS',
    };
    trades.set(order.out_trade_no, trade);
    byPrepayId.set(trade.prepay_id, order.out_trade_no);
    return answerOrder(trade);
  }

  function answerOrder(trade: Trade): Promise<GatewayResponse> {
    if (trade.kind === 'jsapi') return answer(200, { prepay_id: trade.prepay_id });
    if (trade.kind === 'native') return answer(200, { code_url: codeUrlOf(trade) });
    const h5_url = `${ctx.origin()}/sim/wechat/h5?prepay_id=${encodeURIComponent(trade.prepay_id)}`;
    return answer(200, { h5_url });
  }

  async function queryOrder(request: GatewayRequest, out_trade_no: string): Promise<GatewayResponse> {
    const mchid = request.url.searchParams.get('mchid');
    if (mchid === null) return fail(400, 'PARAM_ERROR', '参数错误: mchid 必填');
    if (mchid !== identity.mch_id) return fail(400, 'MCH_NOT_EXISTS', '商户号不存在');
    const trade = trades.get(out_trade_no);
    if (trade === undefined) return fail(404, 'ORDER_NOT_EXIST', '订单不存在');
    return answer(200, transactionOf(trade));
  }

  async function closeOrder(request: GatewayRequest, out_trade_no: string): Promise<GatewayResponse> {
    const body = parseJson(request.body) as { mchid?: unknown } | undefined;
    if (typeof body !== 'object' || body === null || typeof body.mchid !== 'string') {
      return fail(400, 'PARAM_ERROR', '参数错误: mchid 必填');
    }
    if (body.mchid !== identity.mch_id) return fail(400, 'MCH_NOT_EXISTS', '商户号不存在');
    const trade = trades.get(out_trade_no);
    if (trade === undefined) return fail(404, 'ORDER_NOT_EXIST', '订单不存在');
    if (trade.state === 'SUCCESS' || trade.state === 'REFUND') return fail(400, 'ORDERPAID', '该订单已支付');
    trade.state = 'CLOSED';
    return answer(204, null);
  }

  function refundBody(trade: Trade, refund: Refund): object {
    return {
      refund_id: refund.refund_id,
      out_refund_no: refund.out_refund_no,
      transaction_id: trade.transaction_id,
      out_trade_no: trade.request.out_trade_no,
      channel: 'ORIGINAL',
      user_received_account: '支付用户零钱',
      ...(refund.success_time_ms === null ? {} : { success_time: formatWechatTime(refund.success_time_ms) }),
      create_time: formatWechatTime(refund.created_at_ms),
      status: refund.status,
      funds_account: 'AVAILABLE',
      amount: {
        total: trade.request.amount.total,
        refund: refund.refund_fen,
        payer_total: trade.request.amount.total,
        payer_refund: refund.refund_fen,
        settlement_total: trade.request.amount.total,
        settlement_refund: refund.refund_fen,
        discount_refund: 0,
        currency: 'CNY',
      },
    };
  }

  async function refund(request: GatewayRequest): Promise<GatewayResponse> {
    const parsed = wechatRefundRequest.safeParse(parseJson(request.body));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return fail(400, 'PARAM_ERROR', `参数错误: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
    }
    const input = parsed.data;
    let trade: Trade | undefined;
    if (input.out_trade_no !== undefined) trade = trades.get(input.out_trade_no);
    else if (input.transaction_id !== undefined) {
      for (const candidate of trades.values()) {
        if (candidate.transaction_id === input.transaction_id) trade = candidate;
      }
    } else return fail(400, 'PARAM_ERROR', '参数错误: out_trade_no 与 transaction_id 必填其一');
    if (trade === undefined) return fail(404, 'RESOURCE_NOT_EXISTS', '订单不存在');
    const previous = trade.refunds.get(input.out_refund_no);
    if (previous !== undefined) {
      if (previous.refund_fen !== input.amount.refund) return fail(400, 'INVALID_REQUEST', '退款单号重复，退款金额不一致');
      return answer(200, refundBody(trade, previous));
    }
    if (trade.state !== 'SUCCESS' && trade.state !== 'REFUND') return fail(400, 'INVALID_REQUEST', '订单未支付，不能退款');
    if (input.amount.total !== trade.request.amount.total) return fail(400, 'PARAM_ERROR', '订单金额与原订单不一致');
    if (trade.refunded_fen + input.amount.refund > trade.request.amount.total) {
      return fail(400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额');
    }
    if (trade.refunds.size >= REFUNDS_PER_TRADE_MAX) return fail(403, 'FREQUENCY_LIMITED', '退款次数超过限制');
    const now_ms = Date.now();
    const made: Refund = {
      refund_id: `50${digits(27)}`,
      out_refund_no: input.out_refund_no,
      refund_fen: input.amount.refund,
      created_at_ms: now_ms,
      status: trade.refund_mode,
      initial_status: trade.refund_mode,
      success_time_ms: trade.refund_mode === 'SUCCESS' ? now_ms : null,
      notify_url: input.notify_url ?? null,
    };
    trade.refunds.set(made.out_refund_no, made);
    trade.refunded_fen += made.refund_fen;
    trade.state = 'REFUND';
    return answer(200, refundBody(trade, made));
  }

  async function queryRefund(out_refund_no: string): Promise<GatewayResponse> {
    for (const trade of trades.values()) {
      const found = trade.refunds.get(out_refund_no);
      if (found !== undefined) return answer(200, refundBody(trade, found));
    }
    return fail(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
  }

  // Bill links are short-lived, as WeChat Pay's are; a handful is all a test run asks for.
  const billLinks = new Map<string, { bytes: Uint8Array; expires_at_ms: number }>();
  const BILL_LINKS_MAX = 100;
  const BILL_LINK_TTL_MS = 30 * 60_000;
  // Dates whose next bill download is to be corrupted (`POST /sim/wechat/bills/{date}/tamper`).
  const tamperNext = new Set<string>();

  function billTrades(): WechatBillTrade[] {
    return [...trades.values()].map((trade) => ({
      appid: trade.request.appid,
      mchid: trade.request.mchid,
      out_trade_no: trade.request.out_trade_no,
      transaction_id: trade.transaction_id,
      openid: trade.openid,
      trade_type: trade.kind === 'h5' ? 'MWEB' : 'JSAPI',
      description: trade.request.description,
      attach: trade.request.attach ?? '',
      amount_fen: trade.request.amount.total,
      success_time_ms: trade.success_time_ms,
      refunds: [...trade.refunds.values()].map((r) => ({ refund_id: r.refund_id, out_refund_no: r.out_refund_no, refund_fen: r.refund_fen, created_at_ms: r.created_at_ms, initial_status: r.initial_status })),
    }));
  }

  /** `GET /v3/bill/tradebill`: the signed answer with the file's SHA-1 and a download link. */
  async function tradeBill(request: GatewayRequest): Promise<GatewayResponse> {
    const bill_date = request.url.searchParams.get('bill_date') ?? '';
    const bill_type = request.url.searchParams.get('bill_type') ?? 'ALL';
    if (!/^\d{4}-\d{2}-\d{2}$/.test(bill_date) || chinaDayStartMs(bill_date) === null) return fail(400, 'PARAM_ERROR', '参数错误: bill_date 格式应为 yyyy-MM-dd');
    if (bill_type !== 'ALL') return fail(400, 'PARAM_ERROR', '参数错误: 模拟网关仅支持 bill_type=ALL');
    const csv = bill_date > formatChinaTime(Date.now()).slice(0, 10) ? null : buildWechatBill(billTrades(), bill_date);
    if (csv === null) return fail(400, 'NO_STATEMENT_EXIST', '账单文件不存在');
    const bytes = new TextEncoder().encode(csv);
    const hash_value = bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-1', bytes)));
    let served = bytes;
    if (tamperNext.delete(bill_date)) {
      // One amount digit changed after the hash was taken: what a corrupted download looks like.
      served = new TextEncoder().encode(csv.replace(/(`[0-9]+\.[0-9])([0-9])/, (_m, head: string, digit: string) => `${head}${(Number(digit) + 1) % 10}`));
    }
    const now_ms = Date.now();
    for (const [token, link] of billLinks) if (link.expires_at_ms <= now_ms) billLinks.delete(token);
    while (billLinks.size >= BILL_LINKS_MAX) billLinks.delete(billLinks.keys().next().value!);
    const token = bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
    billLinks.set(token, { bytes: served, expires_at_ms: now_ms + BILL_LINK_TTL_MS });
    return answer(200, { hash_type: 'SHA1', hash_value, download_url: `${ctx.origin()}/v3/billdownload/file?token=${token}` });
  }

  /** `GET /v3/billdownload/file`: the file itself, unsigned (its hash is in the signed answer). */
  function downloadBill(request: GatewayRequest): GatewayResponse | Promise<GatewayResponse> {
    const link = billLinks.get(request.url.searchParams.get('token') ?? '');
    if (link === undefined || link.expires_at_ms <= Date.now()) return fail(404, 'RESOURCE_NOT_EXISTS', '账单链接不存在或已过期');
    return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: link.bytes };
  }

  async function api(request: GatewayRequest): Promise<GatewayResponse> {
    if (request.body.length > REQUEST_BODY_CHARS_MAX) return fail(400, 'PARAM_ERROR', '请求体过大');
    const refused = await checkAuthorization(request);
    if (refused !== null) return refused;
    const path = request.url.pathname;
    const method = request.method.toUpperCase();
    let match: RegExpExecArray | null;
    if (method === 'POST' && path === '/v3/pay/transactions/h5') return createOrder(request, 'h5');
    if (method === 'POST' && path === '/v3/pay/transactions/jsapi') return createOrder(request, 'jsapi');
    if (method === 'POST' && path === '/v3/pay/transactions/native') return createOrder(request, 'native');
    if (method === 'GET' && (match = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)$/.exec(path))) {
      return queryOrder(request, decodeURIComponent(match[1]!));
    }
    if (method === 'POST' && (match = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)\/close$/.exec(path))) {
      return closeOrder(request, decodeURIComponent(match[1]!));
    }
    if (method === 'POST' && path === '/v3/refund/domestic/refunds') return refund(request);
    if (method === 'GET' && (match = /^\/v3\/refund\/domestic\/refunds\/([^/]+)$/.exec(path))) {
      return queryRefund(decodeURIComponent(match[1]!));
    }
    if (method === 'GET' && path === '/v3/bill/tradebill') return tradeBill(request);
    if (method === 'GET' && path === '/v3/billdownload/file') return downloadBill(request);
    return fail(404, 'NOT_FOUND', '请求的资源不存在');
  }

  // -------------------------------------------------------------------------------------------
  // The simulator's own controls: the cashier page and the buttons behind it.

  function page(status: number, title: string, inner: string): GatewayResponse {
    const html =
      `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">` +
      `<meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title>` +
      `<style>body{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;text-align:center}` +
      `button{display:block;width:100%;padding:.8rem;margin:.6rem 0;font-size:1.1rem}` +
      `.pay{background:#07c160;color:#fff;border:0}.amount{font-size:2rem;margin:1rem 0}</style></head>` +
      `<body>${inner}</body></html>`;
    return { status, headers: { 'content-type': 'text/html; charset=utf-8' }, body: html };
  }

  // Native's code_url is `weixin://wxpay/bizpayurl?pr=TOKEN`, which only the WeChat app opens;
  // the token here is the prepay_id's tail, and /sim/wechat/native?pr=TOKEN is what the phone
  // that scanned it shows: the same cashier as H5.
  function codeUrlOf(trade: Trade): string {
    return `weixin://wxpay/bizpayurl?pr=${trade.prepay_id.slice(-20)}`;
  }

  function scanned(request: GatewayRequest): GatewayResponse {
    const pr = request.url.searchParams.get('pr') ?? '';
    for (const [prepay_id, out_trade_no] of byPrepayId) {
      const trade = trades.get(out_trade_no);
      if (trade?.kind === 'native' && /^[0-9]{20}$/.test(pr) && prepay_id.endsWith(pr)) {
        const url = new URL(request.url);
        url.searchParams.set('prepay_id', prepay_id);
        return cashier({ ...request, url });
      }
    }
    return page(404, '二维码无效', '<h1>二维码无效</h1>');
  }

  function cashier(request: GatewayRequest): GatewayResponse {
    const prepay_id = request.url.searchParams.get('prepay_id') ?? '';
    const out_trade_no = byPrepayId.get(prepay_id);
    const trade = out_trade_no === undefined ? undefined : trades.get(out_trade_no);
    if (trade === undefined || out_trade_no === undefined) return page(404, '订单不存在', '<h1>订单不存在</h1>');
    const redirect_url = request.url.searchParams.get('redirect_url') ?? '';
    const hidden = `<input type="hidden" name="redirect_url" value="${escapeHtml(redirect_url)}">`;
    const base = `/sim/wechat/trades/${encodeURIComponent(out_trade_no)}`;
    const expired = trade.state === 'NOTPAY' && trade.expires_at_ms !== null && Date.now() > trade.expires_at_ms;
    const heading =
      `<h1>微信支付（模拟）</h1><p>${escapeHtml(trade.request.description)}</p>` +
      `<p class="amount">¥${fenToYuan(trade.request.amount.total)}</p><p>商户订单号 ${escapeHtml(out_trade_no)}</p>`;
    // Only a payable trade offers the buttons, as the real cashier does.
    if (trade.state !== 'NOTPAY' || expired) {
      const state = expired ? '订单已过期' : `订单${TRADE_STATE_DESC[trade.state]}`;
      return page(200, '微信支付', `${heading}<p class="state">${escapeHtml(state)}</p>`);
    }
    return page(
      200,
      '微信支付',
      heading +
        `<form method="post" action="${base}/pay">${hidden}<button class="pay" type="submit">确认支付</button></form>` +
        `<form method="post" action="${base}/cancel">${hidden}<button type="submit">取消支付</button></form>`,
    );
  }

  function controlJson(status: number, body: object): GatewayResponse {
    return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body) };
  }

  /** Form posts come from the cashier page and go back to the merchant; everything else is JSON. */
  function controlAnswer(request: GatewayRequest, status: number, body: object, title: string): GatewayResponse {
    if (!/^application\/x-www-form-urlencoded\b/i.test(header(request, 'content-type') ?? '')) return controlJson(status, body);
    const redirect_url = new URLSearchParams(request.body).get('redirect_url') ?? '';
    if (status < 400 && /^https?:\/\//.test(redirect_url)) {
      return { status: 303, headers: { location: redirect_url, 'content-type': 'text/plain; charset=utf-8' }, body: '' };
    }
    return page(status, title, `<h1>${escapeHtml(title)}</h1>`);
  }

  async function pay(request: GatewayRequest, out_trade_no: string): Promise<GatewayResponse> {
    const trade = trades.get(out_trade_no);
    if (trade === undefined) return controlAnswer(request, 404, { code: 'ORDER_NOT_EXIST', message: '订单不存在' }, '订单不存在');
    const now_ms = Date.now();
    if (trade.state === 'NOTPAY') {
      if (trade.expires_at_ms !== null && now_ms > trade.expires_at_ms) {
        return controlAnswer(request, 400, { code: 'ORDER_EXPIRED', message: '订单已过期' }, '订单已过期');
      }
      trade.state = 'SUCCESS';
      trade.transaction_id = `4200${digits(24)}`;
      trade.success_time_ms = now_ms;
    } else if (trade.state !== 'SUCCESS') {
      return controlAnswer(request, 400, { code: 'ORDER_CLOSED', message: `订单${TRADE_STATE_DESC[trade.state]}` }, '订单已关闭');
    }
    const notification = await notificationFor(out_trade_no, now_ms);
    if (notification === null) throw new Error('a paid trade must have a notification');
    // `?send=0` lets a test take the notification and deliver it itself.
    if (request.url.searchParams.get('send') !== '0') ctx.notify(notification);
    return controlAnswer(
      request,
      200,
      { out_trade_no, trade_state: trade.state, transaction_id: trade.transaction_id, notification },
      '支付成功',
    );
  }

  function cancel(request: GatewayRequest, out_trade_no: string): GatewayResponse {
    const trade = trades.get(out_trade_no);
    if (trade === undefined) return controlAnswer(request, 404, { code: 'ORDER_NOT_EXIST', message: '订单不存在' }, '订单不存在');
    if (trade.state === 'SUCCESS' || trade.state === 'REFUND') {
      return controlAnswer(request, 400, { code: 'ORDERPAID', message: '该订单已支付' }, '该订单已支付');
    }
    // WeChat Pay sends no notification for a trade that ends unpaid; the merchant learns it by
    // querying, as the expiry cron does.
    trade.state = 'CLOSED';
    return controlAnswer(request, 200, { out_trade_no, trade_state: trade.state }, '已取消支付');
  }

  /** The REFUND.* notification for a refund that has ended, encrypted and signed afresh. */
  async function refundNotificationFor(trade: Trade, refund: Refund, now_ms: number): Promise<OutgoingNotification | null> {
    if (refund.status === 'PROCESSING') return null;
    const k = await keys();
    const plaintext = {
      mchid: trade.request.mchid,
      out_trade_no: trade.request.out_trade_no,
      transaction_id: trade.transaction_id,
      out_refund_no: refund.out_refund_no,
      refund_id: refund.refund_id,
      refund_status: refund.status,
      ...(refund.success_time_ms === null ? {} : { success_time: formatWechatTime(refund.success_time_ms) }),
      user_received_account: '支付用户零钱',
      amount: { total: trade.request.amount.total, refund: refund.refund_fen, payer_total: trade.request.amount.total, payer_refund: refund.refund_fen },
    };
    const resource = await encryptResource(k.api_v3, JSON.stringify(plaintext), 'refund', 'refund');
    const summary = refund.status === 'SUCCESS' ? '退款成功' : refund.status === 'ABNORMAL' ? '退款异常' : '退款关闭';
    const body = JSON.stringify({
      id: crypto.randomUUID(),
      create_time: formatWechatTime(now_ms),
      resource_type: 'encrypt-resource',
      event_type: `REFUND.${refund.status}`,
      summary,
      resource,
    });
    const signed = await signBody(k.platform_private, identity.platform_public_key_id, body, now_ms);
    return {
      channel: 'wechat',
      out_trade_no: trade.request.out_trade_no,
      // Without a notify_url in the refund request WeChat Pay uses the merchant platform's;
      // the simulator stands in the payment's for it.
      url: refund.notify_url ?? trade.request.notify_url,
      headers: { 'content-type': 'application/json', ...signed },
      body,
      resign: async (resign_at_ms) => {
        const fresh = await refundNotificationFor(trade, refund, resign_at_ms);
        return fresh === null ? { headers: { 'content-type': 'application/json', ...signed }, body } : { headers: fresh.headers, body: fresh.body };
      },
    };
  }

  function findRefund(out_refund_no: string): { trade: Trade; refund: Refund } | undefined {
    for (const trade of trades.values()) {
      const refund = trade.refunds.get(out_refund_no);
      if (refund !== undefined) return { trade, refund };
    }
    return undefined;
  }

  /**
   * The refund controls: `POST /sim/wechat/trades/{no}/refund-mode {status}` makes the trade's
   * next refunds begin SUCCESS or PROCESSING; `POST /sim/wechat/refunds/{no}/finish {status}`
   * ends a PROCESSING refund SUCCESS, ABNORMAL or CLOSED and sends its REFUND.* notification
   * (`?send=0`: returns it unsent); `GET /sim/wechat/refunds/{no}/notification` builds it again.
   */
  async function refundControl(request: GatewayRequest, path: string, method: string): Promise<GatewayResponse | null> {
    let match = /^\/sim\/wechat\/trades\/([^/]+)\/refund-mode$/.exec(path);
    if (match !== null && method === 'POST') {
      const trade = trades.get(decodeURIComponent(match[1]!));
      if (trade === undefined) return controlJson(404, { code: 'ORDER_NOT_EXIST', message: '订单不存在' });
      const status = (parseJson(request.body) as { status?: unknown } | undefined)?.status;
      if (status !== 'SUCCESS' && status !== 'PROCESSING') return controlJson(400, { code: 'PARAM_ERROR', message: 'status is SUCCESS or PROCESSING' });
      trade.refund_mode = status;
      return controlJson(200, { out_trade_no: trade.request.out_trade_no, refund_mode: status });
    }
    match = /^\/sim\/wechat\/refunds\/([^/]+)\/(finish|notification)$/.exec(path);
    if (match === null) return null;
    const found = findRefund(decodeURIComponent(match[1]!));
    if (found === undefined) return controlJson(404, { code: 'RESOURCE_NOT_EXISTS', message: '退款单不存在' });
    const { trade, refund } = found;
    const now_ms = Date.now();
    if (match[2] === 'notification' && method === 'GET') {
      const notification = await refundNotificationFor(trade, refund, now_ms);
      return notification === null ? controlJson(409, { code: 'REFUND_PROCESSING', message: '退款处理中' }) : controlJson(200, notification);
    }
    if (match[2] !== 'finish' || method !== 'POST') return null;
    const status = (parseJson(request.body) as { status?: unknown } | undefined)?.status;
    if (status !== 'SUCCESS' && status !== 'ABNORMAL' && status !== 'CLOSED') {
      return controlJson(400, { code: 'PARAM_ERROR', message: 'status is SUCCESS, ABNORMAL or CLOSED' });
    }
    if (refund.status !== 'PROCESSING') return controlJson(409, { code: 'INVALID_REQUEST', message: `退款已是 ${refund.status}` });
    refund.status = status;
    if (status === 'SUCCESS') refund.success_time_ms = now_ms;
    // A closed refund gives the money back to the merchant; an abnormal one has left it.
    if (status === 'CLOSED') trade.refunded_fen -= refund.refund_fen;
    const notification = await refundNotificationFor(trade, refund, now_ms);
    if (notification === null) throw new Error('a finished refund must have a notification');
    if (request.url.searchParams.get('send') !== '0') ctx.notify(notification);
    return controlJson(200, { refund: refundBody(trade, refund), notification });
  }

  async function control(request: GatewayRequest): Promise<GatewayResponse | null> {
    const path = request.url.pathname;
    const method = request.method.toUpperCase();
    if (method === 'GET' && path === '/sim/wechat/h5') return cashier(request);
    if (method === 'GET' && path === '/sim/wechat/native') return scanned(request);
    const refund_answer = await refundControl(request, path, method);
    if (refund_answer !== null) return refund_answer;
    const tamper = /^\/sim\/wechat\/bills\/(\d{4}-\d{2}-\d{2})\/tamper$/.exec(path);
    if (tamper !== null && method === 'POST') {
      tamperNext.add(tamper[1]!);
      return controlJson(200, { bill_date: tamper[1], tampered: 'next download' });
    }
    const match = /^\/sim\/wechat\/trades\/([^/]+)(?:\/(pay|cancel|notification))?$/.exec(path);
    if (match === null) return null;
    const out_trade_no = decodeURIComponent(match[1]!);
    const action = match[2];
    if (action === undefined && method === 'GET') {
      const trade = trades.get(out_trade_no);
      if (trade === undefined) return controlJson(404, { code: 'ORDER_NOT_EXIST', message: '订单不存在' });
      return controlJson(200, {
        ...transactionOf(trade),
        notify_url: trade.request.notify_url,
        prepay_id: trade.prepay_id,
        scene_info: trade.request.scene_info,
      });
    }
    if (action === 'pay' && method === 'POST') return pay(request, out_trade_no);
    if (action === 'cancel' && method === 'POST') return cancel(request, out_trade_no);
    if (action === 'notification' && (method === 'GET' || method === 'POST')) {
      // Another delivery of the same payment: a fresh id, nonce and signature, as a WeChat retry.
      const notification = await notificationFor(out_trade_no, Date.now());
      if (notification === null) return controlJson(404, { code: 'ORDER_NOT_PAID', message: '订单未支付' });
      return controlJson(200, notification);
    }
    return null;
  }

  async function handle(request: GatewayRequest): Promise<GatewayResponse | null> {
    if (request.url.pathname.startsWith('/v3/')) return api(request);
    if (request.url.pathname.startsWith('/sim/wechat/')) return control(request);
    return null;
  }

  return { handle, notificationFor };
}

export const createWechatHandler: HandlerFactory = (ctx) => createWechatSimulator(ctx).handle;
