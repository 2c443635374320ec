// The gateway's control API under `/sim/` (JSON), for tests and `npm start`: act as the payer
// without a browser, inspect trades and deliveries, inject faults into notifications, and
// compress the retry schedule. Not part of any provider's protocol.
//
//   GET  /sim/health
//   GET  /sim/alipay/trades                         → {trades}
//   GET  /sim/alipay/trades/{no}                    → {trade}
//   POST /sim/alipay/trades/{no}/pay                → {trade, return_url}   (the cashier's pay button)
//   POST /sim/alipay/trades/{no}/cancel             → {trade}               (the cancel button)
//   POST /sim/alipay/trades/{no}/expire             → {trade}               (its timeout, now)
//   POST /sim/alipay/trades/{no}/notification       {trade_status?, notify_url?}
//                                                   → {url, headers, body, params}: signed, NOT sent
//   POST /sim/alipay/trades/{no}/refund-mode        {mode: sync|processing} → {trade}
//   POST /sim/alipay/trades/{no}/refunds/{out_request_no}/settle → {refund}  (a processing refund done)
//   GET  /sim/deliveries?out_trade_no=&channel=     → {deliveries}
//   GET  /sim/faults | DELETE /sim/faults
//   POST /sim/faults  {action: drop|duplicate|delay|hold, out_trade_no?, count?, copies?, delay_ms?}
//   POST /sim/faults/release {out_trade_no?, order?: fifo|reverse} → {released: [ids]}
//   GET  /sim/retry-schedule | PUT /sim/retry-schedule {schedule_ms: number[]}
//   GET  /sim/outage | PUT /sim/outage {api_down: boolean}   (the providers' APIs and cashiers answer 503)
import type { AlipaySim, AlipayTradeStatus } from './alipay.ts';
import type { FaultAction, Notifier } from './notifier.ts';
import type { GatewayHandler, GatewayResponse, Outage } from './types.ts';

const FAULT_ACTIONS: readonly FaultAction[] = ['drop', 'duplicate', 'delay', 'hold'];
const TRADE_STATUSES: readonly AlipayTradeStatus[] = ['WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_CLOSED', 'TRADE_FINISHED'];

function reply(status: number, value: unknown): GatewayResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(value) };
}

function fail(status: number, code: string, message: string): GatewayResponse {
  return reply(status, { error: { code, message } });
}

function parseJson(text: string): Record<string, unknown> | null {
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function optionalString(body: Record<string, unknown>, name: string): string | undefined | null {
  const value = body[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' && value.length > 0 && value.length <= 256 ? value : null;
}

function optionalInt(body: Record<string, unknown>, name: string, fallback: number): number | null {
  const value = body[name];
  if (value === undefined) return fallback;
  return Number.isSafeInteger(value) ? (value as number) : null;
}

export function createControlHandler(deps: { alipay: AlipaySim; notifier: Notifier; outage: Outage }): GatewayHandler {
  const { alipay, notifier, outage } = deps;

  async function trades(method: string, rest: string[], body: Record<string, unknown>): Promise<GatewayResponse> {
    if (rest.length === 0) {
      if (method !== 'GET') return fail(405, 'method_not_allowed', 'GET only');
      return reply(200, { trades: alipay.list() });
    }
    const out_trade_no = decodeURIComponent(rest[0]!);
    const action = rest[1];
    const now_ms = Date.now();
    if (action === undefined) {
      const trade = alipay.get(out_trade_no);
      return trade === undefined ? fail(404, 'not_found', 'no such trade') : reply(200, { trade });
    }
    if (action === 'refunds' && rest.length === 4 && rest[3] === 'settle' && method === 'POST') {
      const refund = await alipay.settleRefund(out_trade_no, decodeURIComponent(rest[2]!), now_ms);
      return refund === undefined ? fail(404, 'not_found', 'no such refund') : reply(200, { refund });
    }
    if (method !== 'POST' || rest.length !== 2) return fail(405, 'method_not_allowed', 'POST only');
    switch (action) {
      case 'pay': {
        const outcome = await alipay.pay(out_trade_no, now_ms);
        if (!outcome.ok) return fail(outcome.code === 'trade_not_found' ? 404 : 409, outcome.code, `cannot pay: ${outcome.code}`);
        return reply(200, { trade: outcome.trade, return_url: outcome.return_url });
      }
      case 'refund-mode': {
        if (body.mode !== 'sync' && body.mode !== 'processing') return fail(400, 'invalid_body', 'mode is sync or processing');
        const trade = alipay.setRefundMode(out_trade_no, body.mode);
        return trade === undefined ? fail(404, 'not_found', 'no such trade') : reply(200, { trade });
      }
      case 'cancel': {
        const trade = alipay.cancel(out_trade_no);
        return trade === undefined ? fail(404, 'not_found', 'no such trade') : reply(200, { trade });
      }
      case 'expire': {
        const trade = await alipay.expire(out_trade_no, now_ms);
        return trade === undefined ? fail(404, 'not_found', 'no such trade') : reply(200, { trade });
      }
      case 'notification': {
        const trade = alipay.get(out_trade_no);
        if (trade === undefined) return fail(404, 'not_found', 'no such trade');
        const status = body.trade_status;
        if (status !== undefined && !TRADE_STATUSES.includes(status as AlipayTradeStatus)) {
          return fail(400, 'invalid_body', `trade_status is one of ${TRADE_STATUSES.join(', ')}`);
        }
        const notify_url = optionalString(body, 'notify_url');
        if (notify_url === null) return fail(400, 'invalid_body', 'notify_url must be a string');
        const built = await alipay.buildNotification(trade, {
          now_ms,
          ...(status === undefined ? {} : { trade_status: status as AlipayTradeStatus }),
          ...(notify_url === undefined ? {} : { notify_url }),
        });
        return reply(200, built);
      }
      default:
        return fail(404, 'not_found', `no action ${action}`);
    }
  }

  async function faults(method: string, rest: string[], body: Record<string, unknown>): Promise<GatewayResponse> {
    if (rest[0] === 'release' && rest.length === 1) {
      if (method !== 'POST') return fail(405, 'method_not_allowed', 'POST only');
      const out_trade_no = optionalString(body, 'out_trade_no');
      const order = body.order ?? 'fifo';
      if (out_trade_no === null || (order !== 'fifo' && order !== 'reverse')) {
        return fail(400, 'invalid_body', 'out_trade_no is a string, order is fifo or reverse');
      }
      const released = await notifier.release({ order, ...(out_trade_no === undefined ? {} : { out_trade_no }) });
      return reply(200, { released });
    }
    if (rest.length !== 0) return fail(404, 'not_found', 'no such route');
    if (method === 'GET') return reply(200, { faults: notifier.faults() });
    if (method === 'DELETE') {
      notifier.clearFaults();
      return reply(200, { faults: [] });
    }
    if (method !== 'POST') return fail(405, 'method_not_allowed', 'GET, POST or DELETE');
    const action = body.action as FaultAction;
    if (!FAULT_ACTIONS.includes(action)) return fail(400, 'invalid_body', `action is one of ${FAULT_ACTIONS.join(', ')}`);
    const out_trade_no = optionalString(body, 'out_trade_no');
    const count = optionalInt(body, 'count', 1);
    const copies = optionalInt(body, 'copies', action === 'duplicate' ? 1 : 0);
    const delay_ms = optionalInt(body, 'delay_ms', 0);
    if (out_trade_no === null || count === null || copies === null || delay_ms === null) {
      return fail(400, 'invalid_body', 'out_trade_no is a string; count, copies and delay_ms are integers');
    }
    try {
      const rule = notifier.addFault({ action, out_trade_no: out_trade_no ?? null, remaining: count, copies, delay_ms });
      return reply(201, { fault: rule });
    } catch (err) {
      return fail(400, 'invalid_body', (err as Error).message);
    }
  }

  return async (request) => {
    const path = request.url.pathname;
    if (path !== '/sim' && !path.startsWith('/sim/')) return null;
    const body = request.method === 'GET' || request.method === 'DELETE' ? {} : parseJson(request.body);
    if (body === null) return fail(400, 'invalid_json', 'body is not a JSON object');
    const parts = path.split('/').filter((p) => p.length > 0).slice(1);
    const [head, ...rest] = parts;
    switch (head) {
      case 'health':
        return reply(200, { ok: true });
      case 'alipay':
        if (rest[0] === 'trades') return trades(request.method, rest.slice(1), body);
        break;
      case 'deliveries': {
        if (request.method !== 'GET') return fail(405, 'method_not_allowed', 'GET only');
        const out_trade_no = request.url.searchParams.get('out_trade_no');
        const channel = request.url.searchParams.get('channel');
        return reply(200, {
          deliveries: notifier.deliveries({
            ...(out_trade_no === null ? {} : { out_trade_no }),
            ...(channel === null ? {} : { channel }),
          }),
        });
      }
      case 'faults':
        return faults(request.method, rest, body);
      case 'outage':
        if (rest.length !== 0) break;
        if (request.method === 'GET') return reply(200, { api_down: outage.api_down });
        if (request.method !== 'PUT') return fail(405, 'method_not_allowed', 'GET or PUT');
        if (typeof body.api_down !== 'boolean') return fail(400, 'invalid_body', 'api_down is a boolean');
        outage.api_down = body.api_down;
        return reply(200, { api_down: outage.api_down });
      case 'retry-schedule':
        if (rest.length !== 0) break;
        if (request.method === 'GET') return reply(200, { schedule_ms: notifier.schedule_ms });
        if (request.method !== 'PUT') return fail(405, 'method_not_allowed', 'GET or PUT');
        try {
          notifier.setSchedule(body.schedule_ms as number[]);
        } catch {
          return fail(400, 'invalid_body', 'schedule_ms: 1..16 non-decreasing integer offsets in ms, starting at 0, at most 48 h');
        }
        return reply(200, { schedule_ms: notifier.schedule_ms });
    }
    return null;
  };
}
