// The simulated Alipay OpenAPI: `/gateway.do` with the merchant's RSA2-signed requests
// (wap pay, trade query / close / refund, bill download URL), trades held in memory, and
// signed asynchronous notifications handed to the notifier. Everything Alipay signs is signed
// with Alipay's private key from the sandbox keys, so the Worker verifies exactly as in
// production.
import {
  alipaySign,
  alipayVerify,
  chinaDate,
  chinaDayStartMs,
  formatChinaTime,
  parseChinaTime,
  parseTimeoutExpress,
  signedResponseBody,
} from '../../protocol/alipay.ts';
import { fenToYuan, yuanToFen } from '../../protocol/money.ts';
import { importRsaPrivateKey, importRsaPublicKey } from '../../protocol/rsa.ts';
import { bytesToHex } from '../../protocol/encoding.ts';
import { buildTradeBill, billFileName } from './bill.ts';
import { cashierPage, messagePage } from './cashier.ts';
import { AGREEMENT_PAGE_SIGN, createAgreementSim } from './alipay-agreement.ts';
import type { GatewayContext, GatewayHandler, GatewayRequest, GatewayResponse, OutgoingNotification } from './types.ts';

export type AlipayTradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED' | 'TRADE_FINISHED';

export interface AlipayRefund {
  out_request_no: string;
  amount_fen: number;
  /** null while the refund is still being processed (a trade in refund mode `processing`). */
  refunded_at_ms: number | null;
}

export interface AlipayTrade {
  out_trade_no: string;
  trade_no: string;
  app_id: string;
  subject: string;
  body: string | null;
  total_amount_fen: number;
  notify_url: string | null;
  return_url: string | null;
  status: AlipayTradeStatus;
  created_at_ms: number;
  expire_at_ms: number;
  paid_at_ms: number | null;
  closed_at_ms: number | null;
  buyer_id: string;
  buyer_logon_id: string;
  refunds: AlipayRefund[];
  refunded_fen: number;
  /** The token of its precreate QR code, once one was made. */
  qr_token: string | null;
  /**
   * `sync` (the default): a refund is done in the call that asks for it. `processing`: Alipay
   * takes the request (fund_change N) and finishes it only when the control API settles it.
   */
  refund_mode?: 'sync' | 'processing';
}

// A sandbox, not a bank: enough trades for a long `npm start` session or a test suite. When
// full, finished trades are forgotten oldest first; open ones are never dropped silently.
export const ALIPAY_TRADES_MAX = 10_000;
const REFUNDS_PER_TRADE_MAX = 50;
const BILL_LINKS_MAX = 100;
const BILL_LINK_TTL_MS = 30 * 60_000;
// Alipay's default when the merchant gives no expiry: 15 days.
const DEFAULT_EXPIRY_MS = 15 * 86_400_000;

export const WAP_PAY = 'alipay.trade.wap.pay';
const API_METHODS = [
  'alipay.trade.query',
  'alipay.trade.close',
  'alipay.trade.refund',
  'alipay.trade.fastpay.refund.query',
  'alipay.data.dataservice.bill.downloadurl.query',
  'alipay.trade.precreate',
  'alipay.user.agreement.query',
  'alipay.user.agreement.unsign',
  'alipay.trade.pay',
] as const;
type ApiMethod = (typeof API_METHODS)[number];

type Node = Record<string, string>;

export type PayOutcome =
  | { ok: true; trade: AlipayTrade; return_url: string | null }
  | { ok: false; code: 'trade_not_found' | 'trade_closed' | 'trade_paid'; trade: AlipayTrade | null };

export interface AlipaySim {
  handler: GatewayHandler;
  list(): AlipayTrade[];
  get(out_trade_no: string): AlipayTrade | undefined;
  pay(out_trade_no: string, now_ms: number): Promise<PayOutcome>;
  /** The payer pressed cancel: the trade stays payable until it expires, and Alipay sends nothing. */
  cancel(out_trade_no: string): AlipayTrade | undefined;
  /** Closes an unpaid trade as its timeout would, with the TRADE_CLOSED notification Alipay sends then. */
  expire(out_trade_no: string, now_ms: number): Promise<AlipayTrade | undefined>;
  /** Closes every unpaid trade past its expiry (the server calls this on a timer). */
  sweep(now_ms: number): Promise<void>;
  /** Makes the trade's later refunds finish at once (`sync`) or wait for settleRefund (`processing`). */
  setRefundMode(out_trade_no: string, mode: 'sync' | 'processing'): AlipayTrade | undefined;
  /** Finishes a refund taken in `processing` mode, with the notification Alipay sends then. */
  settleRefund(out_trade_no: string, out_request_no: string, now_ms: number): Promise<AlipayRefund | undefined>;
  /** The signed notification for the trade's state (or `trade_status`), built but not sent. */
  buildNotification(
    trade: AlipayTrade,
    options: { trade_status?: AlipayTradeStatus; now_ms: number; notify_url?: string },
  ): Promise<OutgoingNotification & { params: Record<string, string> }>;
}

function success(fields: Node): Node {
  return { code: '10000', msg: 'Success', ...fields };
}

function businessFailure(sub_code: string, sub_msg: string): Node {
  return { code: '40004', msg: 'Business Failed', sub_code, sub_msg };
}

function invalidArguments(sub_code: string, sub_msg: string): Node {
  return { code: '40002', msg: 'Invalid Arguments', sub_code, sub_msg };
}

function parseForm(text: string): URLSearchParams {
  return new URLSearchParams(text);
}

/** Query string and form body together, as Alipay accepts common parameters in either. */
function requestParams(request: GatewayRequest): Record<string, string> | null {
  const params: Record<string, string> = {};
  let count = 0;
  const add = (source: URLSearchParams): boolean => {
    for (const [key, value] of source) {
      if (++count > 64) return false;
      params[key] = value;
    }
    return true;
  };
  if (!add(request.url.searchParams)) return null;
  const type = request.headers['content-type'] ?? '';
  if (request.method === 'POST' && request.body.length > 0 && /x-www-form-urlencoded/i.test(type)) {
    if (!add(parseForm(request.body))) return null;
  }
  return params;
}

function html(status: number, body: string): GatewayResponse {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
}

function json(body: string): GatewayResponse {
  return { status: 200, headers: { 'content-type': 'application/json;charset=utf-8' }, body };
}

function tradeNo(now_ms: number, seq: number): string {
  return `${chinaDate(now_ms).replace(/-/g, '')}22001${(seq % 1e15).toString().padStart(15, '0')}`;
}

export function createAlipaySim(ctx: GatewayContext): AlipaySim {
  const keys = ctx.config.keys.alipay;
  const alipayKey = importRsaPrivateKey(keys.alipay_private_key);
  const merchantKey = importRsaPublicKey(keys.merchant_public_key);
  const trades = new Map<string, AlipayTrade>();
  const billLinks = new Map<string, { bill_date: string; expires_at_ms: number }>();
  const agreements = createAgreementSim(ctx, alipayKey);
  // QR token → out_trade_no; bounded with the trades (one token per trade at most).
  const qrTrades = new Map<string, string>();
  let seq = Math.floor(Math.random() * 1e9);

  function remember(trade: AlipayTrade): boolean {
    if (trades.size >= ALIPAY_TRADES_MAX) {
      for (const [key, old] of trades) {
        if (old.status === 'TRADE_CLOSED' || old.status === 'TRADE_FINISHED') {
          trades.delete(key);
          if (old.qr_token !== null) qrTrades.delete(old.qr_token);
          break;
        }
      }
    }
    if (trades.size >= ALIPAY_TRADES_MAX) return false;
    trades.set(trade.out_trade_no, trade);
    return true;
  }

  async function notificationFor(
    trade: AlipayTrade,
    options: { trade_status?: AlipayTradeStatus; now_ms: number; notify_url?: string; refund?: AlipayRefund },
  ): Promise<OutgoingNotification & { params: Record<string, string> }> {
    const status = options.trade_status ?? trade.status;
    const params: Record<string, string> = {
      notify_time: formatChinaTime(options.now_ms),
      notify_type: 'trade_status_sync',
      notify_id: `2026${bytesToHex(crypto.getRandomValues(new Uint8Array(16)))}`,
      app_id: trade.app_id,
      auth_app_id: trade.app_id,
      charset: 'utf-8',
      version: '1.0',
      sign_type: 'RSA2',
      trade_no: trade.trade_no,
      out_trade_no: trade.out_trade_no,
      trade_status: status,
      total_amount: fenToYuan(trade.total_amount_fen),
      seller_id: keys.seller_id,
      buyer_id: trade.buyer_id,
      buyer_logon_id: trade.buyer_logon_id,
      subject: trade.subject,
      gmt_create: formatChinaTime(trade.created_at_ms),
    };
    if (trade.body !== null) params.body = trade.body;
    if (trade.paid_at_ms !== null) {
      const paid = fenToYuan(trade.total_amount_fen);
      params.receipt_amount = paid;
      params.buyer_pay_amount = paid;
      params.invoice_amount = paid;
      params.point_amount = '0.00';
      params.gmt_payment = formatChinaTime(trade.paid_at_ms);
      params.fund_bill_list = JSON.stringify([{ amount: paid, fundChannel: 'ALIPAYACCOUNT' }]);
    }
    if (status === 'TRADE_CLOSED' && trade.closed_at_ms !== null) params.gmt_close = formatChinaTime(trade.closed_at_ms);
    if (options.refund !== undefined) {
      params.out_biz_no = options.refund.out_request_no;
      params.refund_fee = fenToYuan(trade.refunded_fen);
      params.gmt_refund = `${formatChinaTime(options.refund.refunded_at_ms ?? options.now_ms)}.000`;
    }
    params.sign = await alipaySign(await alipayKey, params, 'notification');
    return {
      channel: 'alipay',
      out_trade_no: trade.out_trade_no,
      url: options.notify_url ?? trade.notify_url ?? '',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: new URLSearchParams(params).toString(),
      params,
    };
  }

  async function notify(trade: AlipayTrade, now_ms: number, refund?: AlipayRefund): Promise<void> {
    // Alipay notifies only when the merchant gave a notify_url.
    if (trade.notify_url === null) return;
    const { params: _params, ...notification } = await notificationFor(trade, { now_ms, ...(refund ? { refund } : {}) });
    ctx.notify(notification);
  }

  /** Closes unpaid trades past their expiry, as Alipay's own timer does, with its TRADE_CLOSED notice. */
  async function expireDue(now_ms: number): Promise<void> {
    for (const trade of trades.values()) {
      if (trade.status === 'WAIT_BUYER_PAY' && trade.expire_at_ms <= now_ms) {
        trade.status = 'TRADE_CLOSED';
        trade.closed_at_ms = now_ms;
        await notify(trade, now_ms);
      }
    }
  }

  async function pay(out_trade_no: string, now_ms: number): Promise<PayOutcome> {
    await expireDue(now_ms);
    const trade = trades.get(out_trade_no);
    if (trade === undefined) return { ok: false, code: 'trade_not_found', trade: null };
    if (trade.status === 'TRADE_CLOSED') return { ok: false, code: 'trade_closed', trade };
    if (trade.status !== 'WAIT_BUYER_PAY') return { ok: false, code: 'trade_paid', trade };
    trade.status = 'TRADE_SUCCESS';
    trade.paid_at_ms = now_ms;
    await notify(trade, now_ms);
    return { ok: true, trade, return_url: trade.return_url === null ? null : await returnUrl(trade, now_ms) };
  }

  /** The synchronous return: signed like a notification, on the merchant's return_url. */
  async function returnUrl(trade: AlipayTrade, now_ms: number): Promise<string> {
    const params: Record<string, string> = {
      charset: 'utf-8',
      out_trade_no: trade.out_trade_no,
      method: 'alipay.trade.wap.pay.return',
      total_amount: fenToYuan(trade.total_amount_fen),
      trade_no: trade.trade_no,
      auth_app_id: trade.app_id,
      version: '1.0',
      app_id: trade.app_id,
      sign_type: 'RSA2',
      seller_id: keys.seller_id,
      timestamp: formatChinaTime(now_ms),
    };
    params.sign = await alipaySign(await alipayKey, params, 'notification');
    const url = new URL(trade.return_url!);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url.toString();
  }

  /** Checks what every OpenAPI request must carry; the error node when something is wrong. */
  async function checkRequest(params: Record<string, string>): Promise<Node | null> {
    for (const name of ['app_id', 'method', 'charset', 'sign_type', 'sign', 'timestamp', 'version']) {
      if (!params[name]) return { code: '40001', msg: 'Missing Required Arguments', sub_code: `isv.missing-${name.replace(/_/g, '-')}`, sub_msg: `缺少${name}参数` };
    }
    if (params.app_id !== keys.app_id) return invalidArguments('isv.invalid-app-id', '无效的AppID参数');
    if (params.sign_type !== 'RSA2') return invalidArguments('isv.invalid-signature-type', '无效的签名类型');
    if (params.charset!.toLowerCase() !== 'utf-8') return invalidArguments('isv.invalid-charset', '字符集错误');
    if (parseChinaTime(params.timestamp!) === null) return invalidArguments('isv.invalid-timestamp', '非法的时间戳参数');
    if (!(await alipayVerify(await merchantKey, params, 'request'))) {
      return invalidArguments('isv.invalid-signature', '验签出错');
    }
    return null;
  }

  function bizContent(params: Record<string, string>): Record<string, unknown> | null {
    try {
      const value: unknown = JSON.parse(params.biz_content ?? '');
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  function str(biz: Record<string, unknown>, name: string): string | undefined {
    const value = biz[name];
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  }

  interface TradeTerms {
    out_trade_no: string;
    subject: string;
    total_amount_fen: number;
    expire_at_ms: number;
  }

  /** What wap pay and precreate both check in biz_content; a refusal's sub_msg otherwise. */
  function tradeTerms(biz: Record<string, unknown>, product_code: string, now_ms: number): TradeTerms | string {
    const out_trade_no = str(biz, 'out_trade_no');
    const subject = str(biz, 'subject');
    const total_amount = str(biz, 'total_amount');
    const total_amount_fen = total_amount === undefined ? null : yuanToFen(total_amount);
    if (out_trade_no === undefined || out_trade_no.length > 64 || subject === undefined || subject.length > 256) {
      return '缺少 out_trade_no 或 subject';
    }
    if (total_amount_fen === null || total_amount_fen < 1 || total_amount_fen > 10_000_000_000) return 'total_amount 无效';
    if (str(biz, 'product_code') !== undefined && str(biz, 'product_code') !== product_code) return `product_code 应为 ${product_code}`;
    let expire_at_ms = now_ms + DEFAULT_EXPIRY_MS;
    const time_expire = str(biz, 'time_expire');
    const timeout_express = str(biz, 'timeout_express');
    if (time_expire !== undefined) {
      const at_ms = parseChinaTime(time_expire);
      if (at_ms === null) return 'time_expire 格式应为 yyyy-MM-dd HH:mm:ss';
      expire_at_ms = at_ms;
    } else if (timeout_express !== undefined) {
      const at_ms = parseTimeoutExpress(timeout_express, now_ms);
      if (at_ms === null) return 'timeout_express 无效';
      expire_at_ms = at_ms;
    }
    return { out_trade_no, subject, total_amount_fen, expire_at_ms };
  }

  /** The trade for these terms: the one already open, or a new one; a refusal's text otherwise. */
  function openTrade(
    terms: TradeTerms,
    params: Record<string, string>,
    biz: Record<string, unknown>,
    now_ms: number,
  ): AlipayTrade | { title: string; detail: string; status: number } {
    const existing = trades.get(terms.out_trade_no);
    if (existing !== undefined) {
      if (existing.total_amount_fen !== terms.total_amount_fen || existing.subject !== terms.subject) {
        return { status: 400, title: '交易信息被篡改', detail: 'ACQ.CONTEXT_INCONSISTENT: 同一订单号的金额或标题与首次请求不一致' };
      }
      return existing;
    }
    if (terms.expire_at_ms <= now_ms) return { status: 400, title: '交易已关闭', detail: '订单已超过支付时限' };
    const trade: AlipayTrade = {
      out_trade_no: terms.out_trade_no,
      trade_no: tradeNo(now_ms, ++seq),
      app_id: params.app_id!,
      subject: terms.subject,
      body: str(biz, 'body') ?? null,
      total_amount_fen: terms.total_amount_fen,
      notify_url: params.notify_url || null,
      return_url: params.return_url || null,
      status: 'WAIT_BUYER_PAY',
      created_at_ms: now_ms,
      expire_at_ms: terms.expire_at_ms,
      paid_at_ms: null,
      closed_at_ms: null,
      buyer_id: `2088${(seq % 1e12).toString().padStart(12, '0')}`,
      buyer_logon_id: 'sim***@example.com',
      refunds: [],
      refunded_fen: 0,
      qr_token: null,
    };
    if (!remember(trade)) return { status: 503, title: '系统繁忙', detail: '模拟网关的交易数已达上限' };
    return trade;
  }

  async function wapPay(params: Record<string, string>, now_ms: number): Promise<GatewayResponse> {
    const refused = await checkRequest(params);
    if (refused !== null) return html(400, messagePage('支付请求无效', `${refused.sub_code}: ${refused.sub_msg}`));
    const biz = bizContent(params);
    if (biz === null) return html(400, messagePage('支付请求无效', 'biz_content 不是合法的 JSON'));
    const terms = tradeTerms(biz, 'QUICK_WAP_WAY', now_ms);
    if (typeof terms === 'string') return html(400, messagePage('支付请求无效', terms));
    await expireDue(now_ms);
    const trade = openTrade(terms, params, biz, now_ms);
    if (!('out_trade_no' in trade)) return html(trade.status, messagePage(trade.title, trade.detail));
    if (trade.status === 'TRADE_CLOSED') return html(200, messagePage('交易已关闭', '该订单已关闭，无法支付'));
    if (trade.status !== 'WAIT_BUYER_PAY') return html(200, messagePage('订单已支付', '该订单已支付成功，请勿重复支付'));
    return html(200, cashierPage(trade));
  }

  /**
   * `alipay.trade.precreate`: the face-to-face QR code. Its qr_code stands for Alipay's
   * `https://qr.alipay.com/…`: a page on this gateway that a phone "scanning" it opens, showing
   * the cashier. The same order precreated again gets the same code while it is payable.
   */
  function precreate(params: Record<string, string>, biz: Record<string, unknown>, now_ms: number): Node {
    const terms = tradeTerms(biz, 'FACE_TO_FACE_PAYMENT', now_ms);
    if (typeof terms === 'string') return invalidArguments('isv.invalid-parameter', terms);
    const trade = openTrade(terms, params, biz, now_ms);
    if (!('out_trade_no' in trade)) {
      if (trade.status === 503) return { code: '20000', msg: 'Service Currently Unavailable', sub_code: 'isp.unknow-error', sub_msg: trade.detail };
      return businessFailure(trade.title === '交易已关闭' ? 'ACQ.TRADE_HAS_CLOSE' : 'ACQ.CONTEXT_INCONSISTENT', trade.detail);
    }
    if (trade.status === 'TRADE_CLOSED') return businessFailure('ACQ.TRADE_HAS_CLOSE', '交易已经关闭');
    if (trade.status !== 'WAIT_BUYER_PAY') return businessFailure('ACQ.TRADE_HAS_SUCCESS', '交易已被支付');
    if (trade.qr_token === null) {
      trade.qr_token = `bax0${bytesToHex(crypto.getRandomValues(new Uint8Array(10)))}`;
      qrTrades.set(trade.qr_token, trade.out_trade_no);
    }
    return success({ out_trade_no: trade.out_trade_no, qr_code: `${ctx.origin()}/qr/${trade.qr_token}` });
  }

  /** The page a payer signs a withholding agreement on (a page method, like wap pay). */
  async function agreementPage(params: Record<string, string>, now_ms: number): Promise<GatewayResponse> {
    const refused = await checkRequest(params);
    if (refused !== null) return html(400, messagePage('签约请求无效', `${refused.sub_code}: ${refused.sub_msg}`));
    const biz = bizContent(params);
    if (biz === null) return html(400, messagePage('签约请求无效', 'biz_content 不是合法的 JSON'));
    return agreements.signPage(params, biz, now_ms);
  }

  /**
   * `alipay.trade.pay` with `agreement_params`: a withholding charge under a signed agreement,
   * paid at once (no payer present), answered synchronously and notified like any payment.
   */
  async function withhold(params: Record<string, string>, biz: Record<string, unknown>, now_ms: number): Promise<Node> {
    if (str(biz, 'product_code') !== 'GENERAL_WITHHOLDING') return invalidArguments('isv.invalid-parameter', 'product_code 应为 GENERAL_WITHHOLDING');
    const agreement_params = biz.agreement_params as { agreement_no?: unknown } | undefined;
    const agreement_no = typeof agreement_params?.agreement_no === 'string' ? agreement_params.agreement_no : undefined;
    if (agreement_no === undefined) return invalidArguments('isv.missing-parameter', '缺少 agreement_params.agreement_no');
    const terms = tradeTerms(biz, 'GENERAL_WITHHOLDING', now_ms);
    if (typeof terms === 'string') return invalidArguments('isv.invalid-parameter', terms);
    const existing = trades.get(terms.out_trade_no);
    if (existing === undefined) {
      const refusal = agreements.chargeable(agreement_no);
      if (refusal !== null) return refusal;
    }
    const trade = openTrade(terms, params, biz, now_ms);
    if (!('out_trade_no' in trade)) return businessFailure('ACQ.CONTEXT_INCONSISTENT', trade.detail);
    if (trade.status === 'WAIT_BUYER_PAY') await pay(trade.out_trade_no, now_ms);
    if (trade.status === 'TRADE_CLOSED') return businessFailure('ACQ.TRADE_HAS_CLOSE', '交易已经关闭');
    // Paid (now or by the first request): the same answer again, so a retry is safe.
    return success({
      trade_no: trade.trade_no,
      out_trade_no: trade.out_trade_no,
      buyer_logon_id: trade.buyer_logon_id,
      total_amount: fenToYuan(trade.total_amount_fen),
      receipt_amount: fenToYuan(trade.total_amount_fen),
      gmt_payment: formatChinaTime(trade.paid_at_ms!),
      buyer_user_id: trade.buyer_id,
    });
  }

  /** A phone opens the scanned code: the cashier of its trade. */
  async function scanned(token: string, now_ms: number): Promise<GatewayResponse> {
    await expireDue(now_ms);
    const trade = trades.get(qrTrades.get(token) ?? '');
    if (trade === undefined) return html(404, messagePage('二维码无效', '二维码不存在或已失效'));
    if (trade.status === 'TRADE_CLOSED') return html(200, messagePage('交易已关闭', '该订单已关闭，无法支付'));
    if (trade.status !== 'WAIT_BUYER_PAY') return html(200, messagePage('订单已支付', '该订单已支付成功，请勿重复支付'));
    return html(200, cashierPage(trade));
  }

  async function query(biz: Record<string, unknown>): Promise<Node> {
    const trade = findTrade(biz);
    if (trade === undefined) return businessFailure('ACQ.TRADE_NOT_EXIST', '交易不存在');
    const node: Node = success({
      trade_no: trade.trade_no,
      out_trade_no: trade.out_trade_no,
      buyer_logon_id: trade.buyer_logon_id,
      trade_status: trade.status,
      total_amount: fenToYuan(trade.total_amount_fen),
      buyer_user_id: trade.buyer_id,
    });
    if (trade.paid_at_ms !== null) {
      const paid = fenToYuan(trade.total_amount_fen);
      Object.assign(node, {
        buyer_pay_amount: paid,
        receipt_amount: paid,
        invoice_amount: paid,
        point_amount: '0.00',
        send_pay_date: formatChinaTime(trade.paid_at_ms),
      });
    } else {
      Object.assign(node, { buyer_pay_amount: '0.00', receipt_amount: '0.00', invoice_amount: '0.00', point_amount: '0.00' });
    }
    return node;
  }

  /** By trade_no when given (Alipay lets it win over out_trade_no), else by out_trade_no. */
  function findTrade(biz: Record<string, unknown>): AlipayTrade | undefined {
    const trade_no = str(biz, 'trade_no');
    if (trade_no !== undefined) {
      for (const trade of trades.values()) if (trade.trade_no === trade_no) return trade;
      return undefined;
    }
    const out_trade_no = str(biz, 'out_trade_no');
    return out_trade_no === undefined ? undefined : trades.get(out_trade_no);
  }

  async function close(biz: Record<string, unknown>, notify_url: string | undefined, now_ms: number): Promise<Node> {
    const trade = findTrade(biz);
    if (trade === undefined) return businessFailure('ACQ.TRADE_NOT_EXIST', '交易不存在');
    if (trade.status !== 'WAIT_BUYER_PAY') return businessFailure('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
    trade.status = 'TRADE_CLOSED';
    trade.closed_at_ms = now_ms;
    // A close the merchant asked for is notified only to the notify_url of the close request
    // itself (a public parameter of alipay.trade.close), never to the payment's.
    if (notify_url !== undefined && notify_url.length > 0) {
      const { params: _params, ...notification } = await notificationFor(trade, { now_ms, notify_url });
      ctx.notify(notification);
    }
    return success({ trade_no: trade.trade_no, out_trade_no: trade.out_trade_no });
  }

  async function refund(biz: Record<string, unknown>, now_ms: number): Promise<Node> {
    const trade = findTrade(biz);
    if (trade === undefined) return businessFailure('ACQ.TRADE_NOT_EXIST', '交易不存在');
    const refund_amount = str(biz, 'refund_amount');
    const amount_fen = refund_amount === undefined ? null : yuanToFen(refund_amount);
    if (amount_fen === null || amount_fen < 1) return invalidArguments('isv.invalid-parameter', 'refund_amount 无效');
    // Without out_request_no Alipay treats the refund as one full refund of the trade.
    const out_request_no = str(biz, 'out_request_no') ?? trade.out_trade_no;
    const answer = (fund_change: 'Y' | 'N', at_ms: number | null): Node =>
      success({
        trade_no: trade.trade_no,
        out_trade_no: trade.out_trade_no,
        buyer_logon_id: trade.buyer_logon_id,
        fund_change,
        refund_fee: fenToYuan(trade.refunded_fen),
        ...(at_ms === null ? {} : { gmt_refund_pay: formatChinaTime(at_ms) }),
        buyer_user_id: trade.buyer_id,
      });
    const earlier = trade.refunds.find((r) => r.out_request_no === out_request_no);
    if (earlier !== undefined) {
      // The same request again is answered, not repeated: that is what makes a retry safe.
      if (earlier.amount_fen !== amount_fen) return businessFailure('ACQ.REQUEST_AMOUNT_EXCEED', '请求退款金额与原请求不一致');
      return answer('N', earlier.refunded_at_ms);
    }
    if (trade.status !== 'TRADE_SUCCESS') return businessFailure('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
    if (trade.refunded_fen + amount_fen > trade.total_amount_fen) {
      return businessFailure('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限');
    }
    if (trade.refunds.length >= REFUNDS_PER_TRADE_MAX) return businessFailure('ACQ.REFUND_FEE_ERROR', '退款次数超限');
    const processing = trade.refund_mode === 'processing';
    const record: AlipayRefund = { out_request_no, amount_fen, refunded_at_ms: processing ? null : now_ms };
    trade.refunds.push(record);
    trade.refunded_fen += amount_fen;
    // Taken, not done: Alipay answers success without moving money, and the merchant must ask.
    if (processing) return answer('N', null);
    await finishRefund(trade, record, now_ms);
    return answer('Y', now_ms);
  }

  async function finishRefund(trade: AlipayTrade, record: AlipayRefund, now_ms: number): Promise<void> {
    record.refunded_at_ms = now_ms;
    const done_fen = trade.refunds.reduce((sum, r) => sum + (r.refunded_at_ms === null ? 0 : r.amount_fen), 0);
    if (done_fen === trade.total_amount_fen) {
      trade.status = 'TRADE_CLOSED';
      trade.closed_at_ms = now_ms;
    }
    // Alipay notifies a refund: TRADE_CLOSED after a full one, TRADE_SUCCESS with refund_fee after a partial one.
    await notify(trade, now_ms, record);
  }

  /**
   * `alipay.trade.fastpay.refund.query`: `refund_status: REFUND_SUCCESS` with the refund's
   * figures once it is done; the same answer without `refund_status` while it is not (Alipay
   * documents that as "not received or not successful"); an answer naming nothing when Alipay
   * has no such request.
   */
  function refundQuery(biz: Record<string, unknown>): Node {
    const trade = findTrade(biz);
    if (trade === undefined) return businessFailure('ACQ.TRADE_NOT_EXIST', '交易不存在');
    const out_request_no = str(biz, 'out_request_no');
    if (out_request_no === undefined) return invalidArguments('isv.missing-parameter', '缺少out_request_no参数');
    const found = trade.refunds.find((r) => r.out_request_no === out_request_no);
    if (found === undefined) return success({});
    const node: Node = success({
      trade_no: trade.trade_no,
      out_trade_no: trade.out_trade_no,
      out_request_no,
      total_amount: fenToYuan(trade.total_amount_fen),
      refund_amount: fenToYuan(found.amount_fen),
    });
    if (found.refunded_at_ms !== null) {
      node.refund_status = 'REFUND_SUCCESS';
      const options = biz.query_options;
      if (Array.isArray(options) && options.includes('gmt_refund_pay')) node.gmt_refund_pay = formatChinaTime(found.refunded_at_ms);
    }
    return node;
  }

  function billDownloadUrl(biz: Record<string, unknown>, now_ms: number): Node {
    const bill_type = str(biz, 'bill_type');
    const bill_date = str(biz, 'bill_date');
    if (bill_type !== 'trade') return invalidArguments('isv.invalid-parameter', 'bill_type 仅支持 trade');
    if (bill_date === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(bill_date) || chinaDayStartMs(bill_date) === null) {
      return invalidArguments('isv.invalid-parameter', 'bill_date 格式应为 yyyy-MM-dd');
    }
    // Alipay has no bill for a day that has not begun (real Alipay: not before 09:00 the next
    // day; the sandbox serves today's bill so far, which tests need).
    if (bill_date > chinaDate(now_ms)) return businessFailure('isp.bill_not_exist', '账单不存在');
    for (const [token, link] of billLinks) if (link.expires_at_ms <= now_ms) billLinks.delete(token);
    while (billLinks.size >= BILL_LINKS_MAX) billLinks.delete(billLinks.keys().next().value!);
    const token = bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
    billLinks.set(token, { bill_date, expires_at_ms: now_ms + BILL_LINK_TTL_MS });
    return success({ bill_download_url: `${ctx.origin()}/bill/download?token=${token}` });
  }

  function downloadBill(request: GatewayRequest, now_ms: number): GatewayResponse {
    const link = billLinks.get(request.url.searchParams.get('token') ?? '');
    if (link === undefined || link.expires_at_ms <= now_ms) {
      return { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'bill link not found or expired' };
    }
    const zip = buildTradeBill({ trades: [...trades.values()], bill_date: link.bill_date, pid: keys.seller_id, now_ms });
    return {
      status: 200,
      headers: {
        'content-type': 'application/oct-stream',
        'content-disposition': `attachment; filename="${billFileName(keys.seller_id, link.bill_date)}"`,
      },
      body: zip,
    };
  }

  async function openApi(params: Record<string, string>, now_ms: number): Promise<GatewayResponse> {
    const method = params.method ?? '';
    const known = (API_METHODS as readonly string[]).includes(method);
    const key = await alipayKey;
    if (!known) {
      const node = method === '' ? { code: '40001', msg: 'Missing Required Arguments', sub_code: 'isv.missing-method', sub_msg: '缺少方法名参数' }
        : invalidArguments('isv.invalid-method', '不存在的方法名');
      return json(await signedResponseBody(key, null, node));
    }
    const refused = await checkRequest(params);
    if (refused !== null) return json(await signedResponseBody(key, method, refused));
    const biz = bizContent(params);
    if (biz === null) return json(await signedResponseBody(key, method, invalidArguments('isv.invalid-biz-content', 'biz_content 不是合法的 JSON')));
    await expireDue(now_ms);
    let node: Node;
    switch (method as ApiMethod) {
      case 'alipay.trade.query':
        node = await query(biz);
        break;
      case 'alipay.trade.close':
        node = await close(biz, params.notify_url, now_ms);
        break;
      case 'alipay.trade.refund':
        node = await refund(biz, now_ms);
        break;
      case 'alipay.trade.fastpay.refund.query':
        node = refundQuery(biz);
        break;
      case 'alipay.data.dataservice.bill.downloadurl.query':
        node = billDownloadUrl(biz, now_ms);
        break;
      case 'alipay.trade.precreate':
        node = precreate(params, biz, now_ms);
        break;
      case 'alipay.user.agreement.query':
        node = agreements.query(biz);
        break;
      case 'alipay.user.agreement.unsign':
        node = await agreements.unsign(biz, now_ms);
        break;
      case 'alipay.trade.pay':
        node = await withhold(params, biz, now_ms);
        break;
    }
    return json(await signedResponseBody(key, method, node));
  }

  async function cashierAction(request: GatewayRequest, now_ms: number): Promise<GatewayResponse> {
    const form = parseForm(request.body);
    const out_trade_no = form.get('out_trade_no') ?? '';
    const action = request.url.pathname === '/cashier/pay' ? 'pay' : 'cancel';
    if (action === 'cancel') {
      const trade = trades.get(out_trade_no);
      if (trade === undefined) return html(404, messagePage('交易不存在', out_trade_no));
      return html(200, messagePage('已取消支付', '订单未支付，可在有效期内重新发起支付', trade.return_url));
    }
    const outcome = await pay(out_trade_no, now_ms);
    if (!outcome.ok) {
      const title = outcome.code === 'trade_not_found' ? '交易不存在' : outcome.code === 'trade_closed' ? '交易已关闭' : '订单已支付';
      return html(outcome.code === 'trade_not_found' ? 404 : 409, messagePage(title, out_trade_no));
    }
    if (outcome.return_url === null) return html(200, messagePage('支付成功', `${fenToYuan(outcome.trade.total_amount_fen)} 元`));
    return { status: 302, headers: { location: outcome.return_url }, body: '' };
  }

  const handler: GatewayHandler = async (request) => {
    const now_ms = Date.now();
    const path = request.url.pathname;
    if (path === '/gateway.do') {
      if (request.method !== 'GET' && request.method !== 'POST') return null;
      const params = requestParams(request);
      if (params === null) return html(400, messagePage('请求无效', '参数过多'));
      if (params.method === WAP_PAY) return wapPay(params, now_ms);
      if (params.method === AGREEMENT_PAGE_SIGN) return agreementPage(params, now_ms);
      return openApi(params, now_ms);
    }
    if ((path === '/cashier/pay' || path === '/cashier/cancel') && request.method === 'POST') {
      return cashierAction(request, now_ms);
    }
    if (path === '/bill/download' && request.method === 'GET') return downloadBill(request, now_ms);
    const agreement_control = await agreements.control(request);
    if (agreement_control !== null) return agreement_control;
    const qr = /^\/qr\/(bax0[0-9a-f]{20})$/.exec(path);
    if (qr !== null && request.method === 'GET') return scanned(qr[1]!, now_ms);
    return null;
  };

  return {
    handler,
    list: () => [...trades.values()],
    get: (out_trade_no) => trades.get(out_trade_no),
    pay,
    cancel: (out_trade_no) => trades.get(out_trade_no),
    async expire(out_trade_no, now_ms) {
      const trade = trades.get(out_trade_no);
      if (trade === undefined) return undefined;
      if (trade.status === 'WAIT_BUYER_PAY') trade.expire_at_ms = Math.min(trade.expire_at_ms, now_ms);
      await expireDue(now_ms);
      return trade;
    },
    buildNotification: (trade, options) => notificationFor(trade, options),
    sweep: expireDue,
    setRefundMode(out_trade_no, mode) {
      const trade = trades.get(out_trade_no);
      if (trade !== undefined) trade.refund_mode = mode;
      return trade;
    },
    async settleRefund(out_trade_no, out_request_no, now_ms) {
      const trade = trades.get(out_trade_no);
      const record = trade?.refunds.find((r) => r.out_request_no === out_request_no);
      if (trade === undefined || record === undefined) return undefined;
      if (record.refunded_at_ms === null) await finishRefund(trade, record, now_ms);
      return record;
    },
  };
}
