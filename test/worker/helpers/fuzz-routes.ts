// The fuzz cases of every Worker route (test/worker/fuzz.test.ts): what a generated request
// looks like per route, shaped like the real one so most cases reach the handler. Signing (an
// Alipay form, a WeChat Pay notification, a hub request, the admin token) happens when the
// case is sent, so a case stays a plain value fast-check can print and shrink.
import fc from 'fast-check';
import { chinaDate, formatChinaTime } from '../../../protocol/alipay.ts';
import { HUB_BODY_BYTES_MAX } from '../../../protocol/hub.ts';
import { formatWechatTime } from '../../../protocol/wechat.ts';
import { JSON_BODY_BYTES_MAX } from '../../../worker/http/validate.ts';
import { AGREEMENT_PRODUCT_CODE } from '../../../worker/pay/alipay-agreement.ts';
import { anyJsonValue, anyString, contentType, headerSafeString, jsonBody, mutatedObject, pathSegment, queryString, type FuzzBody, type Json } from '../../helpers/fuzz.ts';
import { uniqueIp } from './fixtures.ts';
import { sandboxKeys } from './gateway.ts';
import type { Env } from '../../../worker/env.ts';
import type { TestSession } from './console.ts';
import type { TestHub } from './hub.ts';

/** In an agreement notification: replaced, at send time, by the id of an agreement in D1. */
export const AN_AGREEMENT = '$agreement';
/** In a console path: replaced, at send time, by the id of the case's own session. */
export const OWN_SESSION = '$own-session';
/** In a console path: replaced, at send time, by another live session of the case's operator. */
export const OTHER_SESSION = '$other-session';

export interface World {
  school_id: string;
  card_token: string;
  paid_order_id: string;
  alipay_order_id: string;
  wechat_order_id: string;
  /** Paid, its credit pending: only the hub routes name it, so a generated claim can take it. */
  claim_credit_id: string;
  hub: TestHub;
  /** A hub of another school: the admin's state changes go there, never to `hub`, the signer. */
  spare_hub_id: string;
  /** The console operator of school_id, signed in once; never disabled or signed out by a case. */
  console: TestSession;
  /** An open grey record of `hub`, as the console names it (`hub_id:claim_id`). */
  grey_id: string;
  /** A standby hub of school_id, never the signer `hub`: the console's state changes go there. */
  console_hub_id: string;
}

/**
 * `console`: the world's session (cookie, and the CSRF token on writes); `console-fresh`: a
 * session of a new operator signed in for the one case, for the routes that end sessions.
 */
export type Auth = 'admin' | 'hub' | 'console' | 'console-fresh' | 'none';
/** Credentials left out or spoiled, so the guards are fuzzed too (rarely: the handler is the target). */
export type Spoil = null | 'missing' | 'wrong' | 'garbled';

export interface Draft {
  method: string;
  path: string;
  body?: FuzzBody;
  spoil: Spoil;
  /** Extra headers (a client address, a forwarded host …). */
  headers: Record<string, string>;
  /** An Alipay form: signed with Alipay's sandbox key at send time unless `sign` is false. */
  alipay?: { params: Record<string, string>; sign: boolean; content_type: string | null };
  /** A WeChat Pay notification: resource encrypted and body signed at send time. */
  wechat?: { envelope: Json; plaintext: string | null; sign: boolean; skew_s: number };
}

export interface FuzzRoute {
  /** As Hono registers it (`app.routes`): a new route without an entry fails the first test. */
  pattern: string;
  auth: Auth;
  answer?: 'json' | 'alipay';
  runs?: number;
  /**
   * Bindings in place of the pool's (the console pages need a built console, which the tests
   * lack). Set, the request runs in an execution context the test waits on: a route whose
   * accepted request leaves work after its answer (card reports start auto top-ups) must finish
   * it before the next case reads the ledger as "before".
   */
  env?: Partial<Env>;
  draft: (w: World) => fc.Arbitrary<Draft>;
}

const spoil: fc.Arbitrary<Spoil> = fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom<Spoil>('missing', 'wrong', 'garbled') });

/** Mostly the route's method, sometimes one it does not take. */
const methodOf = (method: string) => fc.oneof({ weight: 12, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') });

/** A client address: a fresh IPv6 one (no shared rate-limit bucket), or a hostile header value. */
const clientIp = fc.oneof(
  { weight: 8, arbitrary: fc.constant(null).map(() => uniqueIp()) },
  { weight: 1, arbitrary: fc.oneof(headerSafeString(60), fc.constantFrom('', '::ffff:10.0.0.1', '1.2.3.4, 5.6.7.8', 'fe80::1%eth0', ':::', '1:2:3:4:5:6:7:8:9')) },
);

function draft(method: string, path: fc.Arbitrary<string>, body?: fc.Arbitrary<FuzzBody | undefined>, client = false): fc.Arbitrary<Draft> {
  return fc
    .record({
      method: methodOf(method),
      path,
      body: body ?? fc.constant(undefined),
      spoil,
      ip: client ? clientIp : fc.constant(null),
    })
    .map(({ method: m, path: p, body: b, spoil: s, ip }): Draft => {
      const headers: Record<string, string> = ip === null ? {} : { 'cf-connecting-ip': ip };
      return { method: m, path: p, ...(b === undefined ? {} : { body: b }), spoil: s, headers };
    });
}

const schoolIdNear = (w: World) => fc.oneof(fc.constantFrom(w.school_id, 'bjtu-weihai', 'no-such-school', 'A-SCHOOL', 'a'), anyString);
// A chip's asn: well formed (another card's, or new), or not.
const asnNear = fc.oneof(fc.constantFrom('0100000020230001', 'B700000000000001', 'b700000000000001', 'B7000000000000', 'G700000000000001'), anyString);
const cardNoNear = fc.oneof(fc.constantFrom('20230001', '2023 0001', '２０２３０００１', 'F000999', '999', '00000000000000000000001'), anyString);
const nameNear = fc.oneof(fc.constantFrom('张三', '张 三', '張三', '陈挂失', 'Ｚ'), anyString);
const amountNear = fc.oneof(fc.integer({ min: -10, max: 200_000 }), anyJsonValue);
const orderIdNear = (w: World) => fc.oneof(fc.constantFrom(w.paid_order_id, w.alipay_order_id, w.wechat_order_id, 'Y20260101000000000ZZZZZZZZZZ', 'Y1'), fc.stringMatching(/^Y[0-9A-Za-z]{8,34}$/));
const dateNear = fc.oneof(
  fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date(Date.now() + 3 * 86_400_000), noInvalidDate: true }).map((d) => chinaDate(d.getTime())),
  fc.constantFrom('2026-02-30', '2026-13-01', '0000-00-00', '9999-12-31', '2026-1-1', 'yesterday'),
);

/** A valid card registry CSV, mutated row by row: columns, kinds, quotes, line ends, BOM. */
function csvBody(): fc.Arbitrary<FuzzBody> {
  const field = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('20230001', '张三', 'student', 'staff', 'visitor', 'active', 'lost', 'frozen', 'closed', '0123456789ABCDEF', 'A5000000000000FF', '') },
    { weight: 2, arbitrary: anyString.map((text) => text.replace(/[\uD800-\uDFFF]/g, '')) },
    { weight: 1, arbitrary: fc.constantFrom('"quoted, with comma"', '"unterminated', '"a""b"', 'x'.repeat(300)) },
  );
  const row = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.stringMatching(/^[0-9A-Z]{1,12}$/), nameNear.map((n) => n.replace(/[\uD800-\uDFFF,"\r\n]/g, '')), fc.constantFrom('student', 'staff', 'visitor'), fc.constantFrom('active', 'lost', 'frozen', 'closed'), fc.stringMatching(/^[0-9A-F]{16}$/)).map((cols) => cols.join(',')) },
    { weight: 2, arbitrary: fc.array(field, { minLength: 0, maxLength: 7 }).map((cols) => cols.join(',')) },
  );
  return fc
    .record({
      header: fc.boolean(),
      bom: fc.boolean(),
      rows: fc.array(row, { maxLength: 20 }),
      eol: fc.constantFrom('\n', '\r\n', '\r'),
      content_type: contentType(['text/csv', 'text/csv; charset=utf-8', 'text/CSV;charset="UTF-8"']),
    })
    .map(({ header, bom, rows, eol, content_type }) => ({
      body: `${bom ? '\uFEFF' : ''}${header ? `card_no,name,kind,status,asn${eol}` : ''}${rows.join(eol)}`,
      content_type,
      kind: 'csv',
    }));
}

/** Alipay's notification for one of the world's orders, mutated; signed at send time. */
function alipayForm(valid: Record<string, string>, fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<Draft> {
  const anyText = anyString.map((text) => text.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
  const params = mutatedObject(valid, fields).map((mutated) => {
    const out: Record<string, string> = {};
    // A form carries strings only: whatever type was generated travels as its text.
    for (const [key, value] of Object.entries(mutated)) out[key] = typeof value === 'string' ? value.replace(/[\uD800-\uDFFF]/g, '\uFFFD') : JSON.stringify(value) ?? '';
    return out;
  });
  return fc
    .record({
      method: methodOf('POST'),
      params,
      sign: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      content_type: contentType(['application/x-www-form-urlencoded; charset=utf-8', 'application/x-www-form-urlencoded']),
      extra: fc.option(anyText, { freq: 6 }),
    })
    .map(({ method, params: p, sign, content_type, extra }) => ({
      method,
      path: '/api/v1/notify/alipay',
      spoil: null,
      headers: {},
      alipay: { params: extra === null ? p : { ...p, [`x_${extra.slice(0, 10)}`]: extra }, sign, content_type },
    }));
}

function wechatDraft(w: World): fc.Arbitrary<Draft> {
  const keys = sandboxKeys().wechat;
  const now_ms = Date.now();
  const transaction = {
    appid: keys.app_id,
    mchid: keys.mch_id,
    out_trade_no: w.wechat_order_id,
    transaction_id: '4200002026112200000000000001',
    trade_type: 'MWEB',
    trade_state: 'SUCCESS',
    trade_state_desc: '支付成功',
    bank_type: 'OTHERS',
    success_time: formatWechatTime(now_ms),
    payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
    amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
  };
  const refund = {
    mchid: keys.mch_id,
    out_trade_no: w.paid_order_id,
    transaction_id: '4200002026112200000000000002',
    out_refund_no: `R${w.paid_order_id.slice(1)}`,
    refund_id: '50000000002026112200000000000001',
    refund_status: 'SUCCESS',
    success_time: formatWechatTime(now_ms),
    user_received_account: '支付用户零钱',
    amount: { total: 100, refund: 100, payer_total: 100, payer_refund: 100 },
  };
  const states = fc.constantFrom('SUCCESS', 'CLOSED', 'REVOKED', 'PAYERROR', 'NOTPAY', 'USERPAYING', 'REFUND', 'ABNORMAL');
  // The resource and the event that names it: mostly a pair that belongs together, so the
  // decrypted transaction or refund itself is what the handler judges.
  const resource = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('transaction'),
        event_type: fc.oneof({ weight: 4, arbitrary: fc.constant('TRANSACTION.SUCCESS') }, { weight: 1, arbitrary: fc.constantFrom('TRANSACTION.CLOSED', 'REFUND.SUCCESS', 'X') }),
        plaintext: mutatedObject(transaction, { trade_state: states, out_trade_no: orderIdNear(w), total: amountNear, success_time: fc.constantFrom('2026-13-01T00:00:00+08:00', 'x', formatWechatTime(0)) }).map((t) => JSON.stringify(t)),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('refund'),
        event_type: fc.constantFrom('REFUND.SUCCESS', 'REFUND.ABNORMAL', 'REFUND.CLOSED', 'TRANSACTION.SUCCESS'),
        plaintext: mutatedObject(refund, { refund_status: states, out_refund_no: fc.constantFrom(`R${w.paid_order_id.slice(1)}`, 'R1', 'R20260101000000000ZZZZ'), refund: amountNear }).map((t) => JSON.stringify(t)),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('transaction', 'refund', 'x'), event_type: fc.constantFrom('TRANSACTION.SUCCESS', 'REFUND.SUCCESS'), plaintext: fc.option(anyString, { freq: 3 }) }) },
  );
  return fc
    .record({
      method: methodOf('POST'),
      resource,
      envelope_extra: mutatedObject({ id: 'EV-1', create_time: formatWechatTime(now_ms), resource_type: 'encrypt-resource', summary: '支付成功' }),
      sign: fc.oneof({ weight: 8, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      skew_s: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -900, max: 900 }) }),
    })
    .map(({ method, resource: { kind, event_type, plaintext: text }, envelope_extra, sign, skew_s }) => ({
      method,
      path: '/api/v1/notify/wechat',
      spoil: null,
      headers: {},
      wechat: { envelope: { ...envelope_extra, event_type, original_type: kind }, plaintext: text, sign, skew_s },
    }));
}

const HUB_CLAIM = {
  claim_id: 'K-1',
  card_no: '20230001',
  terminal_id: 'POS-1',
  amount_fen: 100,
  credit_ids: ['C-unknown'],
  card_terminal_id: '0000000000A1',
  balance_after_fen: 100,
  online_serial_after: 1,
  committed_at_ms: 0,
  proof: { kind: 'tac', tac: '0123ABCD' },
};

// The query parameters each admin list takes (protocol/api.ts and its neighbours).
const ADMIN_LIST_PARAMS: Record<string, string[]> = {
  orders: ['status', 'school_id', 'card_no', 'limit', 'cursor'],
  credits: ['state', 'school_id', 'card_no', 'limit', 'cursor'],
  agreements: ['state', 'school_id', 'card_no', 'limit', 'cursor'],
  notices: ['state', 'school_id', 'phone', 'limit', 'cursor'],
  'grey-records': ['status', 'school_id', 'limit', 'cursor'],
  refunds: ['state', 'school_id', 'limit', 'before'],
  'claim-rejections': ['limit', 'before'],
  hubs: ['limit'],
};

/** A console page: its method often changed (a page takes GET and HEAD only), its path a deep link. */
function pageDraft(method: string, path: fc.Arbitrary<string>): fc.Arbitrary<Draft> {
  return fc
    .record({ method: fc.oneof({ weight: 3, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.constantFrom('POST', 'PUT', 'DELETE', 'PATCH') }), path })
    .map(({ method: m, path: p }) => ({ method: m, path: p, spoil: null, headers: {} }));
}

// What the assets binding holds once the console is built: its page at /console/, nothing else.
const builtConsole = {
  async fetch(input: RequestInfo | URL): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    if (url.pathname !== '/console/') return new Response('not found', { status: 404 });
    return new Response('<!doctype html><title>一卡通管理台</title>', { headers: { 'content-type': 'text/html; charset=utf-8' } });
  },
  connect(): Socket {
    throw new Error('the console assets take no sockets');
  },
} as unknown as Fetcher;

export const ROUTES: FuzzRoute[] = [
  {
    pattern: 'GET /api/v1/schools',
    auth: 'none',
    draft: () => draft('GET', queryString({ q: '交通', city: '威海', initial: 'B' }).map((q) => `/api/v1/schools${q}`), undefined, true),
  },
  {
    pattern: 'POST /api/v1/cards/lookup',
    auth: 'none',
    draft: (w) =>
      draft('POST', fc.constant('/api/v1/cards/lookup'), jsonBody({ school_id: w.school_id, name: '张三', card_no: '20230001' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { school_id: schoolIdNear(w), name: nameNear, card_no: cardNoNear } }), true),
  },
  {
    pattern: 'POST /api/v1/recharges',
    auth: 'none',
    draft: (w) =>
      draft(
        'POST',
        fc.constant('/api/v1/recharges'),
        fc.oneof(
          jsonBody(
            { school_id: w.school_id, name: '张三', card_no: '20230001', amount_fen: 100, channel: 'alipay', notify_phone: '13800138000', agree_terms: true, scene: 'page' },
            {
              bytes_max: JSON_BODY_BYTES_MAX,
              fields: { school_id: schoolIdNear(w), name: nameNear, card_no: cardNoNear, amount_fen: amountNear, channel: fc.constantFrom('alipay', 'wechat', 'unionpay', 'ALIPAY'), notify_phone: fc.constantFrom('13800138000', '12345678901', '+8613800138000'), agree_terms: fc.constantFrom(true, false, 'true', 1), scene: fc.constantFrom('page', 'qr', 'app') },
            },
          ),
          jsonBody(
            { card_token: w.card_token, amount_fen: 100, channel: 'wechat', agree_terms: true },
            { bytes_max: JSON_BODY_BYTES_MAX, fields: { card_token: fc.constantFrom(w.card_token, `${w.card_token}x`, w.card_token.slice(0, -2), 'x.y', w.card_token.split('.').reverse().join('.')), amount_fen: amountNear } },
          ),
        ),
        true,
      ),
  },
  {
    pattern: 'GET /api/v1/recharges/:order_id',
    auth: 'none',
    draft: (w) => draft('GET', pathSegment(w.paid_order_id, orderIdNear(w)).map((id) => `/api/v1/recharges/${id}`)),
  },
  {
    pattern: 'GET /api/v1/recharges',
    auth: 'none',
    draft: (w) => draft('GET', queryString({ card_token: w.card_token }, { card_token: fc.constantFrom(w.card_token, `${w.card_token}x`, 'x.y', '') }).map((q) => `/api/v1/recharges${q}`)),
  },
  {
    pattern: 'POST /api/v1/notify/alipay',
    auth: 'none',
    answer: 'alipay',
    draft: (w) => {
      const keys = sandboxKeys().alipay;
      const now_ms = Date.now();
      return alipayForm(
        {
          notify_time: formatChinaTime(now_ms),
          notify_type: 'trade_status_sync',
          notify_id: 'N1',
          app_id: keys.app_id,
          seller_id: keys.seller_id,
          out_trade_no: w.alipay_order_id,
          trade_no: '2026112222001400000000000001',
          trade_status: 'TRADE_SUCCESS',
          total_amount: '1.00',
          gmt_payment: formatChinaTime(now_ms),
          charset: 'utf-8',
          version: '1.0',
        },
        {
          out_trade_no: orderIdNear(w),
          total_amount: fc.constantFrom('1.00', '1', '1.0', '0.99', '01.00', '1.001', '-1.00', '1e2', ' 1.00', '1,00', '100', '99999999999999999999.99', 'NaN'),
          trade_status: fc.constantFrom('TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED', 'WAIT_BUYER_PAY', 'trade_success'),
          gmt_payment: fc.constantFrom('2026-02-30 10:00:00', '0000-00-00 00:00:00', 'x', '2026-11-22T10:00:00Z'),
          trade_no: fc.constantFrom('', 'x'.repeat(65), 'T2'),
        },
      );
    },
  },
  { pattern: 'POST /api/v1/notify/wechat', auth: 'none', draft: wechatDraft },
  {
    pattern: 'PUT /api/v1/admin/schools/:school_id',
    auth: 'admin',
    draft: (w) =>
      draft(
        'PUT',
        pathSegment('fuzz-school', fc.constantFrom(w.school_id, 'fuzz-school-2', 'Fuzz', 'a', 'x'.repeat(49))).map((id) => `/api/v1/admin/schools/${id}`),
        jsonBody({ name: '新学校', city: '威海', initial: 'X', max_amount_fen: 50_000 }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { name: nameNear, city: nameNear, initial: fc.constantFrom('X', 'x', 'XY', '张', ''), max_amount_fen: amountNear } }),
      ),
  },
  {
    pattern: 'POST /api/v1/admin/schools/:school_id/cards',
    auth: 'admin',
    draft: (w) => draft('POST', pathSegment(w.school_id, fc.constantFrom('no-such-school', 'BAD')).map((id) => `/api/v1/admin/schools/${id}/cards`), csvBody()),
  },
  ...Object.entries(ADMIN_LIST_PARAMS).map(
    ([list, params]): FuzzRoute => ({
      pattern: `GET /api/v1/admin/${list}`,
      auth: 'admin',
      draft: (w) => {
        const all: Record<string, fc.Arbitrary<string>> = {
          limit: fc.oneof(fc.integer({ min: -5, max: 300 }).map(String), fc.constantFrom('1e2', '0x10', '')),
          status: fc.constantFrom('unpaid', 'paid', 'closed', 'refunded', 'open', 'x'),
          state: fc.constantFrom('pending', 'claimed', 'voided', 'active', 'dead', 'failed', 'x'),
          cursor: fc.constantFrom(w.paid_order_id, `C${w.paid_order_id.slice(1)}`, '0', '-1', 'abc', '9'.repeat(30)),
          before: fc.constantFrom('0', '-1', 'abc', String(Date.now()), '9'.repeat(30)),
          school_id: schoolIdNear(w),
          card_no: cardNoNear,
          phone: fc.constantFrom('13800138000', '1'),
        };
        // Mostly the list's own parameters; now and then another list's, which it must refuse.
        const fields = Object.fromEntries(Object.entries(all).filter(([key]) => params.includes(key)));
        return draft('GET', fc.oneof({ weight: 4, arbitrary: queryString({}, fields) }, { weight: 1, arbitrary: queryString({}, all) }).map((q) => `/api/v1/admin/${list}${q}`));
      },
    }),
  ),
  {
    pattern: 'PUT /api/v1/admin/hubs/:hub_id',
    auth: 'admin',
    draft: (w) =>
      draft(
        'PUT',
        // Never the world's own hub: a valid key rotation there would unseat the signer of the hub routes.
        pathSegment('fuzz-hub', fc.constantFrom('fuzz-hub-2', 'Hub', 'h', 'x'.repeat(49))).filter((id) => id !== w.hub.hub_id).map((id) => `/api/v1/admin/hubs/${id}`),
        jsonBody(
          { school_id: w.school_id, public_key: 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=' },
          { bytes_max: JSON_BODY_BYTES_MAX, fields: { school_id: schoolIdNear(w), public_key: fc.constantFrom(w.hub.public_key, 'MCowBQYDK2VwAyEA', 'AAAA', '', 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE') } },
        ),
      ),
  },
  {
    pattern: 'GET /api/v1/admin/hubs/:hub_id',
    auth: 'admin',
    draft: (w) => draft('GET', pathSegment(w.hub.hub_id, fc.constantFrom('no-such-hub', 'HUB')).map((id) => `/api/v1/admin/hubs/${id}`)),
  },
  {
    pattern: 'POST /api/v1/admin/orders/:order_id/refund',
    auth: 'admin',
    runs: 15,
    draft: (w) => draft('POST', pathSegment(w.alipay_order_id, orderIdNear(w)).map((id) => `/api/v1/admin/orders/${id}/refund`), fc.option(jsonBody({ reason: 'x' }, { bytes_max: JSON_BODY_BYTES_MAX }), { nil: undefined })),
  },
  {
    pattern: 'POST /api/v1/admin/reconciliations/:date',
    auth: 'admin',
    // A valid date reconciles every school and channel (bills from the gateway): the slowest route.
    runs: 12,
    draft: () => draft('POST', pathSegment(chinaDate(Date.now() - 86_400_000), dateNear).map((d) => `/api/v1/admin/reconciliations/${d}`)),
  },
  {
    pattern: 'GET /api/v1/admin/reconciliations/:date',
    auth: 'admin',
    draft: () => draft('GET', pathSegment(chinaDate(Date.now() - 86_400_000), dateNear).map((d) => `/api/v1/admin/reconciliations/${d}`)),
  },
  {
    pattern: 'POST /api/v1/auto-topup/agreements',
    auth: 'none',
    draft: (w) =>
      draft(
        'POST',
        fc.constant('/api/v1/auto-topup/agreements'),
        jsonBody(
          { card_token: w.card_token, threshold_fen: 2_000, amount_fen: 5_000, daily_cap_fen: 10_000, notify_phone: '13800138000' },
          { bytes_max: JSON_BODY_BYTES_MAX, fields: { threshold_fen: amountNear, amount_fen: amountNear, daily_cap_fen: amountNear, card_token: fc.constantFrom(w.card_token, 'x.y') } },
        ),
        true,
      ),
  },
  {
    pattern: 'GET /api/v1/auto-topup/agreements',
    auth: 'none',
    draft: (w) => draft('GET', queryString({ card_token: w.card_token }, { card_token: fc.constantFrom(w.card_token, 'x.y', '') }).map((q) => `/api/v1/auto-topup/agreements${q}`)),
  },
  {
    pattern: 'POST /api/v1/auto-topup/agreements/:agreement_id/cancel',
    auth: 'none',
    draft: (w) =>
      draft(
        'POST',
        pathSegment(`A${'1'.repeat(20)}`, fc.stringMatching(/^A[0-9A-Za-z]{8,34}$/)).map((id) => `/api/v1/auto-topup/agreements/${id}/cancel`),
        jsonBody({ card_token: w.card_token }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { card_token: fc.constantFrom(w.card_token, 'x.y') } }),
      ),
  },
  {
    pattern: 'POST /api/v1/notify/alipay-agreement',
    auth: 'none',
    answer: 'alipay',
    draft: () => {
      const keys = sandboxKeys().alipay;
      const now_ms = Date.now();
      return alipayForm(
        {
          notify_type: 'dut_user_sign',
          notify_time: formatChinaTime(now_ms),
          app_id: keys.app_id,
          personal_product_code: AGREEMENT_PRODUCT_CODE,
          // An agreement a generated sign-up made, picked when the case is sent.
          external_agreement_no: AN_AGREEMENT,
          agreement_no: '20265522000000000001',
          status: 'NORMAL',
          sign_time: formatChinaTime(now_ms),
          alipay_user_id: '2088000000000001',
        },
        {
          notify_type: fc.constantFrom('dut_user_sign', 'dut_user_unsign', 'x'),
          status: fc.constantFrom('NORMAL', 'UNSIGN', 'STOP'),
          notify_time: fc.constantFrom(formatChinaTime(now_ms - 3 * 86_400_000), formatChinaTime(now_ms + 3_600_000), '2026-02-30 10:00:00', ''),
          external_agreement_no: fc.oneof(fc.constant(AN_AGREEMENT), fc.stringMatching(/^A[0-9A-Za-z]{8,34}$/)),
        },
      ).map((d) => ({ ...d, path: '/api/v1/notify/alipay-agreement' }));
    },
  },
  {
    pattern: 'GET /api/v1/hub/changes',
    auth: 'hub',
    draft: () =>
      draft('GET', queryString({ after: '0' }, { after: fc.oneof(fc.integer({ min: -5, max: 1_000_000 }).map(String), fc.constantFrom('1e999', '0x1', '9'.repeat(30), '-0')), limit: fc.integer({ min: -5, max: 200_000 }).map(String) }).map((q) => `/api/v1/hub/changes${q}`)),
  },
  {
    pattern: 'POST /api/v1/hub/claims',
    auth: 'hub',
    draft: (w) =>
      draft(
        'POST',
        fc.constant('/api/v1/hub/claims'),
        jsonBody(
          { claims: [{ ...HUB_CLAIM, credit_ids: [w.claim_credit_id], committed_at_ms: Date.now() }] },
          {
            bytes_max: HUB_BODY_BYTES_MAX,
            fields: {
              amount_fen: amountNear,
              balance_after_fen: amountNear,
              online_serial_after: fc.integer({ min: -2, max: 70_000 }),
              credit_ids: fc.array(fc.constantFrom(w.claim_credit_id, `C${w.paid_order_id.slice(1)}`, 'C-unknown', 'C1'), { maxLength: 4 }),
              claim_id: fc.constantFrom('K-1', 'K-2', '', 'K'.repeat(80)),
              card_no: cardNoNear,
              kind: fc.constantFrom('tac', 'prove', 'decision', 'x'),
              tac: fc.constantFrom('0123ABCD', '0123abcd', '0123ABC', ''),
            },
          },
        ),
      ),
  },
  {
    pattern: 'POST /api/v1/hub/voids',
    auth: 'hub',
    draft: (w) =>
      draft(
        'POST',
        fc.constant('/api/v1/hub/voids'),
        jsonBody(
          { answers: [{ credit_id: `C${w.paid_order_id.slice(1)}`, result: 'voided' }] },
          { bytes_max: HUB_BODY_BYTES_MAX, fields: { credit_id: fc.constantFrom(`C${w.paid_order_id.slice(1)}`, w.claim_credit_id, 'C-unknown'), result: fc.constantFrom('voided', 'already_claimed', 'x') } },
        ),
      ),
  },
  {
    pattern: 'POST /api/v1/hub/card-reports',
    auth: 'hub',
    env: {},
    draft: () =>
      draft(
        'POST',
        fc.constant('/api/v1/hub/card-reports'),
        jsonBody(
          {
            reports: [{ card_no: '20230001', balance_fen: 12_282, online_serial: 3, seen_at_ms: Date.now() }],
            holds: [{ card_no: '20230002', online_serial_seen: 9, online_serial_recorded: 7, balance_fen: 1_000, at_ms: Date.now(), status: 'open' }],
          },
          {
            bytes_max: HUB_BODY_BYTES_MAX,
            fields: {
              card_no: cardNoNear,
              balance_fen: amountNear,
              online_serial: fc.integer({ min: -2, max: 70_000 }),
              online_serial_seen: fc.integer({ min: -2, max: 70_000 }),
              online_serial_recorded: fc.integer({ min: -2, max: 70_000 }),
              status: fc.constantFrom('open', 'resolved', 'settled', ''),
              seen_at_ms: fc.oneof(anyJsonValue, fc.integer({ min: 0, max: Date.now() + 86_400_000 })),
              at_ms: fc.oneof(anyJsonValue, fc.integer({ min: -1, max: Date.now() + 86_400_000 })),
            },
          },
        ),
      ),
  },
  {
    pattern: 'GET /api/v1/hub/push',
    auth: 'hub',
    draft: () => draft('GET', queryString({}, { after: fc.integer().map(String) }).map((q) => `/api/v1/hub/push${q}`)),
  },
  {
    pattern: 'GET /api/v1/hub/snapshot',
    auth: 'hub',
    draft: () =>
      draft(
        'GET',
        queryString({}, { since: fc.oneof(fc.integer({ min: -5, max: 1_000_000 }).map(String), fc.constantFrom('1e999', '0x1', '9'.repeat(30), '-0', '')), cursor: fc.constantFrom('0', 'c:0', 'x'.repeat(201), '9'.repeat(30), 'credit:C1', '::', ''), limit: fc.integer({ min: -5, max: 2_000 }).map(String) }).map((q) => `/api/v1/hub/snapshot${q}`),
      ),
  },
  {
    pattern: 'POST /api/v1/hub/retire-confirm',
    auth: 'hub',
    // The world's hub stays active (no case retires it), so the handler refuses past the schema.
    draft: () => draft('POST', fc.constant('/api/v1/hub/retire-confirm'), jsonBody({ outbox_depth: 0, open_reservations: 0 }, { bytes_max: HUB_BODY_BYTES_MAX, fields: { outbox_depth: fc.integer({ min: -1, max: 3 }), open_reservations: fc.integer({ min: -1, max: 3 }) } })),
  },
  {
    pattern: 'POST /api/v1/admin/hubs/:hub_id/state',
    auth: 'admin',
    draft: (w) =>
      draft(
        'POST',
        pathSegment(w.spare_hub_id, fc.constantFrom('no-such-hub', 'HUB', 'h', 'x'.repeat(49))).map((id) => `/api/v1/admin/hubs/${id}/state`),
        jsonBody({ state: 'standby', reason: '换机' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { state: fc.constantFrom('active', 'standby', 'retiring', 'retired', 'dead', 'Active', ''), reason: fc.constantFrom('换机', ' ', '', 'x'.repeat(501)) } }),
      ),
  },
  {
    pattern: 'GET /api/v1/admin/hubs/:hub_id/state-events',
    auth: 'admin',
    draft: (w) => draft('GET', pathSegment(w.spare_hub_id, fc.constantFrom(w.hub.hub_id, 'no-such-hub', 'HUB')).map((id) => `/api/v1/admin/hubs/${id}/state-events`)),
  },
  {
    pattern: 'POST /api/v1/admin/credits/:credit_id/settle',
    auth: 'admin',
    draft: (w) =>
      draft(
        'POST',
        pathSegment(w.claim_credit_id, fc.constantFrom(`C${w.paid_order_id.slice(1)}`, 'C-unknown', 'C1', 'x'.repeat(65), 'C%20')).map((id) => `/api/v1/admin/credits/${id}/settle`),
        jsonBody({ decision: 'release', evidence: '读卡器余额 1.00', actor: '卡务中心' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { decision: fc.constantFrom('claimed', 'release', 'loaded', ''), evidence: fc.constantFrom('x', ' ', 'x'.repeat(2_001)), actor: nameNear } }),
      ),
  },
  {
    pattern: 'GET /api/v1/admin/card-holds',
    auth: 'admin',
    draft: (w) =>
      draft(
        'GET',
        queryString({}, { school_id: fc.constantFrom(w.school_id, 'BAD_ID', 'x'.repeat(60), ''), status: fc.constantFrom('open', 'settled', 'resolved', 'all', 'frozen', ''), limit: fc.oneof(fc.integer({ min: -5, max: 300 }).map(String), fc.constantFrom('1e2', '0x10', '')) }).map((q) => `/api/v1/admin/card-holds${q}`),
      ),
  },
  {
    pattern: 'POST /api/v1/admin/card-holds/:hub_id/:card_no/settle',
    auth: 'admin',
    draft: (w) =>
      draft(
        'POST',
        fc
          .tuple(pathSegment(w.hub.hub_id, fc.constantFrom(w.spare_hub_id, 'no-such-hub', 'HUB', 'x'.repeat(49))), pathSegment('20230001', fc.constantFrom('20230002', 'a b', '9'.repeat(33), '-1', 'F000999')))
          .map(([hub_id, card_no]) => `/api/v1/admin/card-holds/${hub_id}/${card_no}/settle`),
        jsonBody(
          { loaded_credit_ids: [w.claim_credit_id], online_serial: 6, evidence: '读卡器：#5 100.00', actor: '卡务中心' },
          {
            bytes_max: JSON_BODY_BYTES_MAX,
            fields: {
              loaded_credit_ids: fc.oneof(fc.constant([]), fc.array(fc.constantFrom(w.claim_credit_id, 'C-unknown', 'x'.repeat(65), ''), { maxLength: 3 }), fc.array(fc.constant('C1'), { minLength: 101, maxLength: 101 })),
              online_serial: fc.integer({ min: -2, max: 70_000 }),
              evidence: fc.constantFrom('x', ' ', 'x'.repeat(2_001)),
              actor: nameNear,
            },
          },
        ),
      ),
  },
  {
    pattern: 'GET /api/v1/admin/void-rejections',
    auth: 'admin',
    draft: () => draft('GET', queryString({}, { limit: fc.oneof(fc.integer({ min: -5, max: 300 }).map(String), fc.constantFrom('1e2', '0x10', '')), before: fc.constantFrom('0', '-1', 'abc', '1', '9'.repeat(30)) }).map((q) => `/api/v1/admin/void-rejections${q}`)),
  },
  {
    pattern: 'PUT /api/v1/admin/operators/:operator_id',
    auth: 'admin',
    draft: (w) =>
      draft(
        'PUT',
        // Never the world's operator: disabling it or a new password would end the console session of the console cases.
        pathSegment('fuzz-op', fc.constantFrom('fuzz-op-2', 'Op', 'o', 'x'.repeat(49), 'op..x')).filter((id) => id !== w.console.operator_id).map((id) => `/api/v1/admin/operators/${id}`),
        jsonBody(
          { school_ids: [w.school_id], display_name: '测试操作员', password: 'correct-horse-battery', disabled: false },
          {
            bytes_max: JSON_BODY_BYTES_MAX,
            fields: {
              school_ids: fc.array(schoolIdNear(w), { maxLength: 34 }),
              display_name: nameNear,
              password: fc.constantFrom('short', 'x'.repeat(12), 'x'.repeat(257), '密码密码密码密码密码密码'),
              access_email: fc.constantFrom('op@example.edu.cn', 'OP@EXAMPLE.EDU.CN', 'not-an-email', ''),
              disabled: fc.constantFrom(true, false, 'true', 0),
            },
          },
        ),
      ),
  },
  { pattern: 'GET /api/v1/admin/operators', auth: 'admin', draft: () => draft('GET', queryString({}, {}).map((q) => `/api/v1/admin/operators${q}`)) },
  {
    pattern: 'POST /api/v1/admin/operators/:operator_id/revoke-sessions',
    auth: 'admin',
    draft: (w) => draft('POST', pathSegment('fuzz-op', fc.constantFrom('no-such-op', 'Op', 'o')).filter((id) => id !== w.console.operator_id).map((id) => `/api/v1/admin/operators/${id}/revoke-sessions`)),
  },
  {
    pattern: 'POST /api/v1/console/session',
    auth: 'none',
    // Sign-in is limited to 5 a minute per operator name: most cases past the first few meet 429.
    runs: 15,
    draft: (w) =>
      draft(
        'POST',
        fc.constant('/api/v1/console/session'),
        fc.oneof(
          { weight: 4, arbitrary: jsonBody({ operator_id: w.console.operator_id, password: 'x'.repeat(12) }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { operator_id: fc.constantFrom(w.console.operator_id, 'no-such-op', 'OP', ''), password: fc.constantFrom('', 'x', 'x'.repeat(257)) } }) },
          { weight: 1, arbitrary: jsonBody({ access: true }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { access: fc.constantFrom(true, false, 'true') } }) },
        ),
        true,
      ),
  },
  { pattern: 'GET /api/v1/console/session', auth: 'console', draft: () => draft('GET', queryString({}, {}).map((q) => `/api/v1/console/session${q}`)) },
  {
    pattern: 'DELETE /api/v1/console/session',
    auth: 'console-fresh',
    runs: 12,
    // Signing out reads nothing but the credentials: those are spoiled in a third of the cases.
    draft: () =>
      fc
        .record({ body: fc.option(jsonBody({}, { bytes_max: JSON_BODY_BYTES_MAX }), { nil: undefined, freq: 4 }), spoil: fc.oneof({ weight: 2, arbitrary: fc.constant<Spoil>(null) }, { weight: 1, arbitrary: fc.constantFrom<Spoil>('missing', 'wrong', 'garbled') }) })
        .map(({ body, spoil: s }): Draft => ({ method: 'DELETE', path: '/api/v1/console/session', ...(body === undefined ? {} : { body }), spoil: s, headers: {} })),
  },
  { pattern: 'GET /api/v1/console/sessions', auth: 'console', draft: () => draft('GET', queryString({}, {}).map((q) => `/api/v1/console/sessions${q}`)) },
  {
    pattern: 'POST /api/v1/console/sessions/:session_id/revoke',
    auth: 'console-fresh',
    runs: 10,
    draft: (w) =>
      draft(
        'POST',
        pathSegment(OTHER_SESSION, fc.constantFrom(OWN_SESSION, OTHER_SESSION, '0'.repeat(32), 'A'.repeat(32), '0'.repeat(31), w.console.cookie)).map((id) => `/api/v1/console/sessions/${id}/revoke`),
      ),
  },
  ...consoleReads(),
  {
    pattern: 'GET /api/v1/console/orders/:order_id',
    auth: 'console',
    draft: (w) => draft('GET', pathSegment(w.paid_order_id, orderIdNear(w)).map((id) => `/api/v1/console/orders/${id}`)),
  },
  {
    pattern: 'POST /api/v1/console/refunds',
    auth: 'console',
    runs: 15,
    draft: (w) =>
      draft(
        'POST',
        fc.constant('/api/v1/console/refunds'),
        jsonBody({ order_id: w.alipay_order_id, reason: '重复充值' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { order_id: orderIdNear(w), reason: fc.constantFrom('重复充值', ' ', '', 'x'.repeat(201)) } }),
      ),
  },
  {
    pattern: 'POST /api/v1/console/grey-records/:grey_id/settle',
    auth: 'console',
    draft: (w) =>
      draft(
        'POST',
        pathSegment(encodeURIComponent(w.grey_id), fc.constantFrom(w.grey_id, `${w.hub.hub_id}:K-none`, `${w.spare_hub_id}:${w.grey_id.split(':')[1]}`, ':', 'x:', `HUB:K`, `${w.hub.hub_id}:${'K'.repeat(65)}`)).map((id) => `/api/v1/console/grey-records/${id}/settle`),
        jsonBody(
          { decision: 'not_loaded', evidence: '卡内无此笔', balance_fen: 100, online_serial: 1 },
          { bytes_max: JSON_BODY_BYTES_MAX, fields: { decision: fc.constantFrom('loaded', 'not_loaded', 'release'), evidence: fc.constantFrom('x', ' ', 'x'.repeat(1_001)), balance_fen: amountNear, online_serial: fc.integer({ min: -2, max: 70_000 }) } },
        ),
      ),
  },
  {
    pattern: 'POST /api/v1/console/reconciliations/:date',
    auth: 'console',
    // A valid date reconciles the day for every school: slow, as on the admin route.
    runs: 8,
    draft: (w) =>
      draft('POST', pathSegment(chinaDate(Date.now() - 86_400_000), dateNear).map((d) => `/api/v1/console/reconciliations/${d}`), jsonBody({ school_id: w.school_id }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { school_id: schoolIdNear(w) } })),
  },
  {
    pattern: 'POST /api/v1/console/cards/import',
    auth: 'console',
    draft: (w) => draft('POST', queryString({ school_id: w.school_id }, { school_id: schoolIdNear(w) }).map((q) => `/api/v1/console/cards/import${q}`), csvBody()),
  },
  {
    pattern: 'POST /api/v1/console/cards/:card_no/status',
    auth: 'console',
    draft: (w) =>
      draft(
        'POST',
        // Never the world's own card 20230001: a case that loses it would refuse the hub and top-up cases after it.
        pathSegment('20230002', fc.constantFrom('20230003', '2023 0002', '２０２３０００２', 'F000999', '999', 'x'.repeat(70))).map((no) => `/api/v1/console/cards/${no}/status`),
        jsonBody({ school_id: w.school_id, status: 'frozen' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { school_id: schoolIdNear(w), status: fc.constantFrom('active', 'lost', 'frozen', 'closed', 'ACTIVE') } }),
      ),
  },
  // Card loss and replacement (补卡). None may hit the world's own card 20230001 with a valid
  // request: a lost or replaced card would refuse every top-up and hub case after it.
  {
    pattern: 'POST /api/v1/cards/report-lost',
    auth: 'none',
    draft: (w) =>
      draft(
        'POST',
        fc.constant('/api/v1/cards/report-lost'),
        jsonBody({ card_token: `${w.card_token}x` }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { card_token: fc.constantFrom(`${w.card_token}x`, w.card_token.slice(0, -3), w.card_token.replace(/.$/, 'A'), '', 'x'.repeat(600)) } }),
        true,
      ),
  },
  {
    pattern: 'POST /api/v1/admin/schools/:school_id/cards/:card_no/replace',
    auth: 'admin',
    draft: (w) =>
      draft(
        'POST',
        fc
          .tuple(pathSegment(w.school_id, fc.constantFrom('no-such-school', 'BAD')), pathSegment('20230002', fc.constantFrom('20230003', '99999999', 'F000999', '２０２３０００２', 'x'.repeat(70))))
          .map(([school, card]) => `/api/v1/admin/schools/${school}/cards/${card}/replace`),
        jsonBody({ new_card_no: '20230001', new_asn: '0100000020230001' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { new_card_no: cardNoNear, new_asn: asnNear } }),
      ),
  },
  ...['GET /api/v1/admin/schools/:school_id/replacements/:replacement_id', 'GET /api/v1/admin/schools/:school_id/cards/:card_no/replacements/:replacement_id'].map(
    (pattern): FuzzRoute => ({
      pattern,
      auth: 'admin',
      draft: (w) =>
        draft(
          'GET',
          fc
            .tuple(pathSegment(w.school_id, fc.constantFrom('no-such-school', 'BAD')), pathSegment('P20261201000000000ABCDEFGHIJ', fc.constantFrom("P2026'--", 'nope', `P${'1'.repeat(40)}`)))
            .map(([school, id]) => (pattern.includes(':card_no') ? `/api/v1/admin/schools/${school}/cards/20230002/replacements/${id}` : `/api/v1/admin/schools/${school}/replacements/${id}`)),
        ),
    }),
  ),
  {
    pattern: 'POST /api/v1/console/cards/:card_no/replace',
    auth: 'console',
    draft: (w) =>
      draft(
        'POST',
        pathSegment('20230002', fc.constantFrom('20230003', '99999999', '２０２３０００２', 'x'.repeat(70))).map((no) => `/api/v1/console/cards/${no}/replace`),
        jsonBody({ school_id: w.school_id, new_card_no: '20230001', new_asn: '0100000020230001' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { school_id: schoolIdNear(w), new_card_no: cardNoNear, new_asn: asnNear } }),
      ),
  },
  {
    pattern: 'GET /api/v1/console/replacements/:replacement_id',
    auth: 'console',
    draft: (w) =>
      draft(
        'GET',
        fc
          .tuple(pathSegment('P20261201000000000ABCDEFGHIJ', fc.constantFrom("P2026'--", 'nope', `P${'1'.repeat(40)}`)), queryString({ school_id: w.school_id }, { school_id: schoolIdNear(w) }))
          .map(([id, q]) => `/api/v1/console/replacements/${id}${q}`),
      ),
  },
];


// The console's lists and reads: each takes the school (scoped to the operator) and its own filters.
function consoleReads(): FuzzRoute[] {
  const limit = fc.oneof(fc.integer({ min: -5, max: 150 }).map(String), fc.constantFrom('1e2', '0x10', ''));
  const cursor = fc.constantFrom('0', '-1', 'abc', '1:2', '1:hub-x:K-1', '9'.repeat(30), 'x'.repeat(201));
  const date = dateNear;
  const reads: Record<string, (w: World) => Record<string, fc.Arbitrary<string>>> = {
    overview: () => ({}),
    orders: (w) => ({ card_no: cardNoNear, order_id: orderIdNear(w), provider_trade_no: fc.constantFrom('2026112222001400000000000001', '', 'x'.repeat(65)), date, limit, cursor }),
    pending: () => ({ limit, cursor }),
    refunds: () => ({ state: fc.constantFrom('requested', 'provider_pending', 'refunded', 'refused', 'failed', 'x'), limit, cursor }),
    'grey-records': () => ({ state: fc.constantFrom('open', 'resolved', 'all', 'x'), limit, cursor }),
    hubs: () => ({}),
    reconciliations: () => ({ from: date, to: date }),
    agreements: () => ({ limit, cursor }),
    notices: () => ({ state: fc.constantFrom('pending', 'sent', 'dead', 'x'), limit, cursor }),
    audit: () => ({ limit, cursor }),
    cards: () => ({ q: fc.oneof(nameNear, cardNoNear), limit, cursor }),
    charts: () => ({ days: fc.oneof(fc.integer({ min: -2, max: 40 }).map(String), fc.constantFrom('1.5', '')) }),
  };
  // The fields a read takes, each with a value it accepts: half the cases are built from these,
  // so the query reaches the read itself rather than stopping at the schema.
  const accepted: Record<string, (w: World) => fc.Arbitrary<string>> = {
    card_no: () => fc.constantFrom('20230001', '2023000', '２０２３０００１'),
    order_id: (w) => fc.constantFrom(w.paid_order_id, w.alipay_order_id),
    provider_trade_no: () => fc.constant('2026112222001400000000000001'),
    date: () => fc.constant(chinaDate(Date.now())),
    from: () => fc.constant(chinaDate(Date.now() - 7 * 86_400_000)),
    to: () => fc.constant(chinaDate(Date.now())),
    limit: () => fc.integer({ min: 1, max: 100 }).map(String),
    state: () => fc.constantFrom('open', 'all', 'refunded', 'sent'),
    q: () => fc.constantFrom('2023', '张', '张三'),
    days: () => fc.integer({ min: 1, max: 31 }).map(String),
  };
  return Object.entries(reads).map(([name, fields]) => ({
    pattern: `GET /api/v1/console/${name}`,
    auth: 'console',
    runs: 15,
    draft: (w) => {
      const own = Object.keys(fields(w)).filter((key) => accepted[key] !== undefined);
      const near = fc
        .subarray(own, { maxLength: Math.min(2, own.length) })
        .chain((keys) => fc.tuple(...keys.map((key) => accepted[key]!(w).map((value) => [key, value] as const))))
        .map((pairs) => `?${new URLSearchParams([['school_id', w.school_id], ...pairs]).toString()}`);
      const mutated = queryString({ school_id: w.school_id }, { school_id: schoolIdNear(w), ...fields(w) });
      return draft('GET', fc.oneof(mutated, near).map((q) => `/api/v1/console/${name}${q}`));
    },
  }));
}

/**
 * The console's pages: served by middleware before the API's routes (worker/routes/console-pages.ts),
 * so they are not in `app.routes` and the coverage test does not look for them; fuzzed all the same.
 */
export const PAGE_ROUTES: FuzzRoute[] = ['GET', 'HEAD'].flatMap((method): FuzzRoute[] => [
  { pattern: `${method} /console`, auth: 'none', env: { ASSETS: builtConsole }, draft: () => pageDraft(method, queryString({}, {}).map((q) => `/console${q}`)) },
  {
    pattern: `${method} /console/*`,
    auth: 'none',
    env: { ASSETS: builtConsole },
    draft: () => pageDraft(method, fc.array(pathSegment('orders', fc.constantFrom('refunds', 'grey', 'index.html', 'assets', '..')), { minLength: 1, maxLength: 3 }).map((parts) => `/console/${parts.join('/')}`)),
  },
]);

// ---- The console's hub handover (issue 10 meets issue 8) ----
// Signed in as the world's operator; state changes go to the school's standby hub, never the signer.
ROUTES.push(
  {
    pattern: 'POST /api/v1/console/hubs/:hub_id/state',
    auth: 'console',
    draft: (w) =>
      draft(
        'POST',
        pathSegment(w.console_hub_id, fc.constantFrom('no-such-hub', 'HUB', 'h', 'x'.repeat(49))).map((id) => `/api/v1/console/hubs/${id}/state`),
        jsonBody({ state: 'dead', reason: '硬盘损坏' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { state: fc.constantFrom('active', 'standby', 'retiring', 'retired', 'dead', 'Active', ''), reason: fc.constantFrom('换机', ' ', '', 'x'.repeat(501)) } }),
      ),
  },
  {
    pattern: 'POST /api/v1/console/credits/:credit_id/settle',
    auth: 'console',
    draft: (w) =>
      draft(
        'POST',
        pathSegment(w.claim_credit_id, fc.constantFrom(`C${w.paid_order_id.slice(1)}`, 'C-unknown', 'C1', 'x'.repeat(65), 'C%20')).map((id) => `/api/v1/console/credits/${id}/settle`),
        jsonBody({ decision: 'release', evidence: '读卡器余额 1.00' }, { bytes_max: JSON_BODY_BYTES_MAX, fields: { decision: fc.constantFrom('claimed', 'release', 'loaded', ''), evidence: fc.constantFrom('x', ' ', 'x'.repeat(2_001)) } }),
      ),
  },
);
