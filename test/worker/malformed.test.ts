// Every route of the Worker, fed malformed input: not JSON, the wrong content type, wrong types,
// missing and extra fields, huge bodies, bad amounts, bad ids and queries. Each must answer 4xx
// with an error code (Alipay's notify route answers its protocol's plain `fail`) and change
// nothing. Table-driven: a new route is one more entry in ROUTES.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { CardLookupResponse } from '../../protocol/api.ts';
import { bytesToBase64, bytesToBase64Url, utf8 } from '../../protocol/encoding.ts';
import { ERROR_CODES } from '../../protocol/errors.ts';
import { hubSigningString } from '../../protocol/hub.ts';
import { chinaDate } from '../../protocol/alipay.ts';
import { app } from '../../worker/app.ts';
import { ADMIN_AUTH, api, seedDemoCampus } from './helpers/seed.ts';
import { freshSchool, insertCredit, insertOrder, postFrom, testOrderId, uniqueIp } from './helpers/fixtures.ts';

type Json = Record<string, unknown>;

interface World {
  school_id: string;
  /** An operator of school_id, signed in to the console. */
  operator: { operator_id: string; password: string };
  console: { cookie: string; csrf_token: string };
  /** An open grey record of school_id's hub, as the console names it. */
  grey_id: string;
  card_token: string;
  order_id: string;
  hub_id: string;
  hubSign(method: string, path_and_query: string, body: string | Uint8Array): Promise<Record<string, string>>;
}

interface Attempt {
  label: string;
  method: string;
  path: string;
  body?: string | Uint8Array;
  /** Content type; null sends none. */
  type?: string | null;
  /** Sent without the admin token or the hub signature. */
  anonymous?: boolean;
}

interface RouteSpec {
  route: string;
  /** The route as Hono registers it (`app.routes`), so a route without an entry is noticed. */
  pattern: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  path: (w: World) => string;
  /** What the body is: JSON (with a valid example), CSV, a provider's form, or nothing. */
  body: 'json' | 'csv' | 'form' | 'none';
  valid?: (w: World) => Json;
  /** Top-level fields the route accepts being absent. */
  optional?: string[];
  /** Paths that name something malformed. */
  badPaths?: (w: World) => string[];
  badQueries?: string[];
  /** Bad queries that need the world (a school the operator may see). */
  badQueriesFor?: (w: World) => string[];
  /** Methods the path does not take, sent to it. */
  badMethods?: string[];
  auth?: 'admin' | 'hub' | 'client' | 'console';
  /** Bytes past the route's body limit. */
  huge_bytes?: number;
  answer?: 'json' | 'alipay-fail';
  /** A refused provider notification is kept for audit: that one table may grow. */
  audits?: boolean;
  /** The valid example, sent last, must be accepted: proof the refusals were about the mutation. */
  accepts?: number[];
}

const JSON_TYPE = 'application/json';
const HUGE_JSON_BYTES = 100 * 1024;
const BAD_SCHOOL_IDS = ['BAD_ID', 'a', "x'--", 'x'.repeat(60), '%E5%BC%A0'];
// Not a date, not a real date, or a day that has not begun in China.
const BAD_DATES = ['2026-13-01', '2026-02-30', 'yesterday', '20261130', '2026-11-3', `${new Date().getUTCFullYear() + 1}-01-01`, "2026-11-30'--"];
const BAD_ORDER_IDS = ['nope', 'Y1', "Y2026'--", 'Z20260101000000000ABCDEFGHIJ', `Y${'1'.repeat(40)}`, '%00'];

/**
 * The entry of the route Hono registers as `pattern` ("METHOD /path/:param"): it is sent with the
 * pattern's method, and named by the pattern with `{param}` (and its variant, where two entries
 * take one route two ways).
 */
function entry(pattern: string, spec: Omit<RouteSpec, 'route' | 'pattern' | 'method'> & { variant?: string }): RouteSpec {
  const { variant, ...rest } = spec;
  const method = pattern.slice(0, pattern.indexOf(' ')) as RouteSpec['method'];
  const name = pattern.replace(/:(\w+)/g, '{$1}');
  return { route: variant === undefined ? name : `${name} (${variant})`, pattern, method, ...rest };
}

// A console listing is of one school the operator may see: without one, with a malformed one, and
// with one the operator may not see, it is refused.
const NOT_THE_SCHOOL = ['', '?school_id=BAD', '?school_id=no-such-school'];
/** Each bad parameter beside the world's own school, so that only that parameter is wrong. */
function besideSchool(params: string[]): (w: World) => string[] {
  return (w) => params.map((q) => `?school_id=${w.school_id}&${q}`);
}

const ROUTES: RouteSpec[] = [
  entry('GET /api/v1/schools', {
    path: () => '/api/v1/schools',
    body: 'none',
    badQueries: ['?initial=AB', `?q=${'x'.repeat(40)}`, `?city=${'y'.repeat(40)}`, '?initial=1'],
    accepts: [200],
  }),
  entry('POST /api/v1/cards/lookup', {
    path: () => '/api/v1/cards/lookup',
    body: 'json',
    auth: 'client',
    valid: (w) => ({ school_id: w.school_id, name: '张三', card_no: '20230001' }),
    accepts: [200],
  }),
  entry('POST /api/v1/recharges', {
    variant: 'card details',
    path: () => '/api/v1/recharges',
    body: 'json',
    auth: 'client',
    valid: (w) => ({ school_id: w.school_id, name: '张三', card_no: '20230001', amount_fen: 100, channel: 'alipay', notify_phone: '13800138000', agree_terms: true }),
    optional: ['notify_phone'],
    accepts: [201],
  }),
  entry('POST /api/v1/recharges', {
    variant: 'card token',
    path: () => '/api/v1/recharges',
    body: 'json',
    auth: 'client',
    valid: (w) => ({ card_token: w.card_token, amount_fen: 100, channel: 'alipay', agree_terms: true }),
    accepts: [201],
  }),
  entry('GET /api/v1/recharges/:order_id', {
    path: (w) => `/api/v1/recharges/${w.order_id}`,
    body: 'none',
    badPaths: () => BAD_ORDER_IDS.map((id) => `/api/v1/recharges/${id}`),
    accepts: [200],
  }),
  entry('GET /api/v1/recharges', {
    variant: 'card_token',
    path: (w) => `/api/v1/recharges?card_token=${w.card_token}`,
    body: 'none',
    accepts: [200],
    badQueries: ['', '?card_token=', '?card_token=x.y', '?card_token=a&extra=1', `?card_token=${'a'.repeat(600)}`],
  }),
  entry('POST /api/v1/notify/alipay', {
    path: () => '/api/v1/notify/alipay',
    body: 'form',
    answer: 'alipay-fail',
    audits: true,
  }),
  entry('POST /api/v1/notify/wechat', {
    path: () => '/api/v1/notify/wechat',
    body: 'json',
    valid: (w) => ({
      id: 'EV-1',
      create_time: '2026-11-22T10:00:00+08:00',
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: 'ok',
      resource: { algorithm: 'AEAD_AES_256_GCM', ciphertext: 'AAAA', nonce: 'abcdefabcdef', associated_data: 'transaction', original_type: 'transaction' },
      amount_fen: 100,
      order_id: w.order_id,
    }),
    audits: true,
  }),
  entry('PUT /api/v1/admin/schools/:school_id', {
    path: () => '/api/v1/admin/schools/new-school',
    body: 'json',
    auth: 'admin',
    valid: () => ({ name: '新学校', city: '威海', initial: 'X', max_amount_fen: 50_000 }),
    optional: ['max_amount_fen'],
    badPaths: () => BAD_SCHOOL_IDS.map((id) => `/api/v1/admin/schools/${id}`),
    accepts: [201],
  }),
  entry('POST /api/v1/admin/schools/:school_id/cards', {
    path: (w) => `/api/v1/admin/schools/${w.school_id}/cards`,
    body: 'csv',
    auth: 'admin',
    badPaths: () => [...BAD_SCHOOL_IDS.map((id) => `/api/v1/admin/schools/${id}/cards`), '/api/v1/admin/schools/no-such-school/cards'],
    huge_bytes: 8 * 1024 * 1024 + 1,
  }),
  entry('GET /api/v1/admin/orders', {
    path: () => '/api/v1/admin/orders',
    body: 'none',
    auth: 'admin',
    accepts: [200],
    badQueries: ['?limit=0', '?limit=201', '?limit=1e2', '?status=x', '?cursor=abc', '?card_no=%21', '?school_id=BAD', '?x=1'],
  }),
  entry('GET /api/v1/admin/credits', {
    path: () => '/api/v1/admin/credits?state=pending',
    body: 'none',
    auth: 'admin',
    accepts: [200],
    badQueries: ['?state=lost', '?limit=-1', '?cursor=Y123', '?state=pending&state=claimed&y=2'],
  }),
  entry('PUT /api/v1/admin/hubs/:hub_id', {
    path: () => '/api/v1/admin/hubs/hub-new',
    body: 'json',
    auth: 'admin',
    valid: (w) => ({ school_id: w.school_id, public_key: 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=' }),
    badPaths: () => BAD_SCHOOL_IDS.map((id) => `/api/v1/admin/hubs/${id}`),
    accepts: [201],
  }),
  entry('POST /api/v1/auto-topup/agreements', {
    path: () => '/api/v1/auto-topup/agreements',
    body: 'json',
    auth: 'client',
    valid: (w) => ({ card_token: w.card_token, threshold_fen: 2_000, amount_fen: 5_000, daily_cap_fen: 10_000, notify_phone: '13800138000' }),
    optional: ['notify_phone'],
    accepts: [201],
  }),
  entry('GET /api/v1/auto-topup/agreements', {
    variant: 'card_token',
    path: (w) => `/api/v1/auto-topup/agreements?card_token=${w.card_token}`,
    body: 'none',
    accepts: [200],
    badQueries: ['', '?card_token=', '?card_token=x.y', '?card_token=a&extra=1', `?card_token=${'a'.repeat(600)}`],
  }),
  entry('POST /api/v1/auto-topup/agreements/:agreement_id/cancel', {
    path: () => `/api/v1/auto-topup/agreements/A${'1'.repeat(20)}/cancel`,
    body: 'json',
    valid: (w) => ({ card_token: w.card_token }),
    badPaths: () => ['nope', 'A1', "A2026'--", `A${'1'.repeat(40)}`, '%00'].map((id) => `/api/v1/auto-topup/agreements/${id}/cancel`),
    // The valid shape reaches the lookup: this card has no such agreement.
    accepts: [404],
  }),
  entry('POST /api/v1/notify/alipay-agreement', {
    path: () => '/api/v1/notify/alipay-agreement',
    body: 'form',
    answer: 'alipay-fail',
    audits: true,
  }),
  entry('GET /api/v1/admin/agreements', {
    path: () => '/api/v1/admin/agreements?state=active',
    body: 'none',
    auth: 'admin',
    accepts: [200],
    badQueries: ['?state=x', '?limit=0', '?limit=201', '?cursor=Y123', '?school_id=BAD', '?card_no=1'],
  }),
  entry('GET /api/v1/admin/notices', {
    path: () => '/api/v1/admin/notices?state=dead',
    body: 'none',
    auth: 'admin',
    accepts: [200],
    badQueries: ['?state=lost', '?limit=0', '?limit=201', '?cursor=0', '?cursor=abc', '?school_id=BAD', '?phone=1', '?state=dead&state=sent&x=1'],
  }),
  entry('GET /api/v1/admin/grey-records', {
    path: () => '/api/v1/admin/grey-records',
    body: 'none',
    auth: 'admin',
    accepts: [200],
    badQueries: ['?status=x', '?limit=0', '?limit=100000', '?cursor=bad', '?school_id=BAD'],
  }),
  entry('POST /api/v1/admin/orders/:order_id/refund', {
    path: (w) => `/api/v1/admin/orders/${w.order_id}/refund`,
    body: 'none',
    auth: 'admin',
    badPaths: () => BAD_ORDER_IDS.map((id) => `/api/v1/admin/orders/${id}/refund`),
  }),
  entry('GET /api/v1/hub/changes', {
    path: () => '/api/v1/hub/changes?after=0',
    body: 'none',
    auth: 'hub',
    accepts: [200],
    badQueries: ['?after=-1', '?after=x', '?limit=0', '?limit=100001', '?after=1e999'],
  }),
  entry('POST /api/v1/hub/claims', {
    path: () => '/api/v1/hub/claims',
    body: 'json',
    auth: 'hub',
    valid: () => ({
      claims: [
        {
          claim_id: 'K-1',
          card_no: '20230001',
          terminal_id: 'POS-1',
          amount_fen: 100,
          credit_ids: ['C-unknown'],
          card_terminal_id: '0000000000A1',
          balance_after_fen: 100,
          online_serial_after: 1,
          committed_at_ms: Date.now(),
          proof: { kind: 'tac', tac: '0123ABCD' },
        },
      ],
    }),
    huge_bytes: 2 * 1024 * 1024,
    accepts: [200],
  }),
  entry('POST /api/v1/hub/voids', {
    path: () => '/api/v1/hub/voids',
    body: 'json',
    auth: 'hub',
    valid: () => ({ answers: [{ credit_id: 'C-unknown', result: 'voided' }] }),
    huge_bytes: 2 * 1024 * 1024,
    accepts: [200],
  }),
  entry('POST /api/v1/hub/card-reports', {
    path: () => '/api/v1/hub/card-reports',
    body: 'json',
    auth: 'hub',
    valid: () => ({ reports: [{ card_no: '20230001', balance_fen: 12_282, online_serial: 3, seen_at_ms: Date.now() }] }),
    huge_bytes: 2 * 1024 * 1024,
    accepts: [200],
  }),
  entry('POST /api/v1/hub/card-reports', {
    // A card the hub's serial guard froze, alone in the request (status defaults to open).
    variant: 'holds',
    path: () => '/api/v1/hub/card-reports',
    body: 'json',
    auth: 'hub',
    valid: () => ({ reports: [], holds: [{ card_no: '20230002', online_serial_seen: 9, online_serial_recorded: 7, balance_fen: 12_282, at_ms: Date.now() }] }),
    huge_bytes: 2 * 1024 * 1024,
    accepts: [200],
  }),
  entry('GET /api/v1/hub/push', {
    path: () => '/api/v1/hub/push',
    body: 'none',
    auth: 'hub',
    // Without `Upgrade: websocket` the push channel is a malformed request.
    badQueries: ['', '?after=1'],
  }),
  entry('GET /api/v1/admin/hubs', {
    path: () => '/api/v1/admin/hubs',
    body: 'none',
    auth: 'admin',
    badQueries: ['?school_id=BAD', '?school_id='],
    accepts: [200],
  }),
  entry('GET /api/v1/hub/snapshot', {
    path: () => '/api/v1/hub/snapshot?since=0',
    body: 'none',
    auth: 'hub',
    accepts: [200],
    badQueries: ['?since=-1', '?since=x', '?limit=0', '?limit=100001', '?cursor=bad', '?cursor=o.1.0.x.y', '?cursor=k.1.0.abc', '?since=0&cursor=o.1.0.'],
  }),
  entry('POST /api/v1/hub/retire-confirm', {
    // The world's hub is active, not retiring: even the valid body is refused (409).
    path: () => '/api/v1/hub/retire-confirm',
    body: 'json',
    auth: 'hub',
    valid: () => ({ outbox_depth: 0, open_reservations: 0 }),
    huge_bytes: 2 * 1024 * 1024,
    accepts: [409],
  }),
  entry('POST /api/v1/admin/hubs/:hub_id/state', {
    // active → retired skips retiring: refused, so the valid example changes nothing either.
    path: (w) => `/api/v1/admin/hubs/${w.hub_id}/state`,
    body: 'json',
    auth: 'admin',
    valid: () => ({ state: 'retired', reason: 'replaced by the new server' }),
    badPaths: () => ['/api/v1/admin/hubs/BAD/state', '/api/v1/admin/hubs/no-such-hub/state'],
    accepts: [409],
  }),
  entry('GET /api/v1/admin/hubs/:hub_id/state-events', {
    path: (w) => `/api/v1/admin/hubs/${w.hub_id}/state-events`,
    body: 'none',
    auth: 'admin',
    badPaths: () => ['/api/v1/admin/hubs/BAD/state-events', '/api/v1/admin/hubs/no-such-hub/state-events'],
    accepts: [200],
  }),
  entry('POST /api/v1/admin/credits/:credit_id/settle', {
    // The credit's owner is not dead: nothing to settle (409), valid example included.
    path: (w) => `/api/v1/admin/credits/C${w.order_id.slice(1)}/settle`,
    body: 'json',
    auth: 'admin',
    valid: () => ({ decision: 'release', evidence: 'card read at the office: balance 12.00, serial 7', actor: '王老师' }),
    optional: ['actor'],
    badPaths: () => ['/api/v1/admin/credits/no%20such/settle', '/api/v1/admin/credits/C-no-such-credit/settle'],
    accepts: [409],
  }),
  entry('GET /api/v1/admin/card-holds', {
    path: (w) => `/api/v1/admin/card-holds?school_id=${w.school_id}`,
    body: 'none',
    auth: 'admin',
    badQueries: ['?status=frozen', '?limit=0', '?limit=201', '?limit=x', ...BAD_SCHOOL_IDS.map((id) => `?school_id=${encodeURIComponent(id)}`)],
    accepts: [200],
  }),
  // The world's hub holds card 20230001 (seen 6, recorded 5): the valid example settles it.
  entry('POST /api/v1/admin/card-holds/:hub_id/:card_no/settle', {
    path: (w) => `/api/v1/admin/card-holds/${w.hub_id}/20230001/settle`,
    body: 'json',
    auth: 'admin',
    valid: () => ({ loaded_credit_ids: [], online_serial: 6, evidence: 'load log read at the office: #5 was not ours', actor: '王老师' }),
    optional: ['actor'],
    badPaths: (w) => [`/api/v1/admin/card-holds/${w.hub_id}/20230002/settle`, `/api/v1/admin/card-holds/BAD/20230001/settle`, `/api/v1/admin/card-holds/${w.hub_id}/a%20b/settle`, `/api/v1/admin/card-holds/${w.hub_id}/${'9'.repeat(33)}/settle`],
    accepts: [200],
  }),
  entry('GET /api/v1/admin/void-rejections', {
    path: () => '/api/v1/admin/void-rejections',
    body: 'none',
    auth: 'admin',
    badQueries: ['?limit=0', '?limit=x', '?limit=100000', '?before=-1', '?before=abc'],
    accepts: [200],
  }),
  entry('GET /api/v1/admin/claim-rejections', {
    path: () => '/api/v1/admin/claim-rejections',
    body: 'none',
    auth: 'admin',
    badQueries: ['?limit=0', '?limit=x', '?limit=100000', '?before=-1', '?before=abc'],
    accepts: [200],
  }),
  entry('POST /api/v1/admin/reconciliations/:date', {
    path: () => `/api/v1/admin/reconciliations/${chinaDate(Date.now())}`,
    body: 'none',
    auth: 'admin',
    badPaths: () => BAD_DATES.map((date) => `/api/v1/admin/reconciliations/${date}`),
  }),
  entry('GET /api/v1/admin/reconciliations/:date', {
    path: () => `/api/v1/admin/reconciliations/${chinaDate(Date.now())}`,
    body: 'none',
    auth: 'admin',
    badPaths: () => BAD_DATES.map((date) => `/api/v1/admin/reconciliations/${date}`),
    accepts: [200],
  }),
  entry('GET /api/v1/admin/refunds', {
    path: () => '/api/v1/admin/refunds?state=failed',
    body: 'none',
    auth: 'admin',
    badQueries: ['?state=lost', '?limit=0', '?limit=201', '?limit=x', '?before=Y123', '?school_id=BAD', '?x=1'],
    accepts: [200],
  }),
  entry('GET /api/v1/admin/hubs/:hub_id', {
    path: (w) => `/api/v1/admin/hubs/${w.hub_id}`,
    body: 'none',
    auth: 'admin',
    badPaths: () => [...BAD_SCHOOL_IDS.map((id) => `/api/v1/admin/hubs/${id}`), '/api/v1/admin/hubs/no-such-hub'],
    accepts: [200],
  }),
  entry('POST /api/v1/cards/report-lost', {
    path: () => '/api/v1/cards/report-lost',
    body: 'json',
    auth: 'client',
    valid: (w) => ({ card_token: w.card_token }),
    accepts: [200],
  }),
  entry('POST /api/v1/admin/schools/:school_id/cards/:card_no/replace', {
    path: (w) => `/api/v1/admin/schools/${w.school_id}/cards/20230001/replace`,
    body: 'json',
    auth: 'admin',
    valid: () => ({ new_card_no: '29990001', new_asn: 'B700000000000001' }),
    badPaths: (w) => [
      ...BAD_SCHOOL_IDS.map((id) => `/api/v1/admin/schools/${id}/cards/20230001/replace`),
      '/api/v1/admin/schools/no-such-school/cards/20230001/replace',
      ...['%E5%BC%A0', 'x'.repeat(40), 'NO-SUCH-CARD', "1'--"].map((card_no) => `/api/v1/admin/schools/${w.school_id}/cards/${card_no}/replace`),
    ],
    accepts: [201],
  }),
  entry('GET /api/v1/admin/schools/:school_id/replacements/:replacement_id', {
    path: (w) => `/api/v1/admin/schools/${w.school_id}/replacements/P20261201000000000ABCDEFGHIJ`,
    body: 'none',
    auth: 'admin',
    badPaths: (w) => [
      ...BAD_SCHOOL_IDS.map((id) => `/api/v1/admin/schools/${id}/replacements/P20261201000000000ABCDEFGHIJ`),
      ...['nope', 'P1', "P2026'--", `P${'1'.repeat(40)}`].map((id) => `/api/v1/admin/schools/${w.school_id}/replacements/${id}`),
    ],
    accepts: [404],
  }),
  entry('GET /api/v1/admin/schools/:school_id/cards/:card_no/replacements/:replacement_id', {
    path: (w) => `/api/v1/admin/schools/${w.school_id}/cards/20230001/replacements/P20261201000000000ABCDEFGHIJ`,
    body: 'none',
    auth: 'admin',
    badPaths: (w) => [
      ...['%E5%BC%A0', 'x'.repeat(40)].map((card_no) => `/api/v1/admin/schools/${w.school_id}/cards/${card_no}/replacements/P20261201000000000ABCDEFGHIJ`),
      `/api/v1/admin/schools/${w.school_id}/cards/20230001/replacements/nope`,
    ],
    accepts: [404],
  }),

  // ---- Console (issue 10): operators, then every /api/v1/console route with a signed-in operator ----
  entry('PUT /api/v1/admin/operators/:operator_id', {
    path: () => '/api/v1/admin/operators/new-clerk',
    body: 'json',
    auth: 'admin',
    valid: (w) => ({ school_ids: [w.school_id], display_name: '新卡务员', password: 'a-long-password-1', disabled: false }),
    optional: ['password', 'disabled'],
    badPaths: () => ['/api/v1/admin/operators/Bad%20Id', '/api/v1/admin/operators/x', `/api/v1/admin/operators/${'a'.repeat(60)}`],
    accepts: [201],
  }),
  entry('GET /api/v1/admin/operators', { path: () => '/api/v1/admin/operators', body: 'none', auth: 'admin', accepts: [200] }),
  entry('POST /api/v1/admin/operators/:operator_id/revoke-sessions', {
    path: (w) => `/api/v1/admin/operators/${w.operator.operator_id}/revoke-sessions`,
    body: 'none',
    auth: 'admin',
    badPaths: () => ['/api/v1/admin/operators/Bad%20Id/revoke-sessions', '/api/v1/admin/operators/no-such-operator/revoke-sessions'],
  }),
  entry('POST /api/v1/console/session', {
    path: () => '/api/v1/console/session',
    body: 'json',
    auth: 'client',
    valid: (w) => ({ operator_id: w.operator.operator_id, password: w.operator.password }),
    accepts: [201],
  }),
  entry('GET /api/v1/console/session', { path: () => '/api/v1/console/session', body: 'none', auth: 'console', accepts: [200] }),
  entry('DELETE /api/v1/console/session', { path: () => '/api/v1/console/session', body: 'none', auth: 'console', accepts: [200] }),
  entry('GET /api/v1/console/sessions', { path: () => '/api/v1/console/sessions', body: 'none', auth: 'console', accepts: [200] }),
  entry('POST /api/v1/console/sessions/:session_id/revoke', {
    path: () => `/api/v1/console/sessions/${'0'.repeat(32)}/revoke`,
    body: 'none',
    auth: 'console',
    badPaths: () => ['/api/v1/console/sessions/xyz/revoke', `/api/v1/console/sessions/${'0'.repeat(32)}/revoke`, `/api/v1/console/sessions/${'A'.repeat(32)}/revoke`],
  }),
  entry('GET /api/v1/console/overview', {
    path: (w) => `/api/v1/console/overview?school_id=${w.school_id}`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['x=1']),
  }),
  entry('GET /api/v1/console/orders', {
    path: (w) => `/api/v1/console/orders?school_id=${w.school_id}&card_no=20230001`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['card_no=%E3%80%80', 'card_no=' + 'x'.repeat(100), 'date=2026-13-01', 'date=2026-02-30', 'date=yesterday', 'limit=0', 'limit=101', 'limit=x',
      'cursor=bad', 'order_id=nope', `provider_trade_no=${'9'.repeat(80)}`, 'x=1']),
  }),
  entry('GET /api/v1/console/orders/:order_id', {
    path: (w) => `/api/v1/console/orders/${w.order_id}`, body: 'none', auth: 'console', accepts: [200],
    badPaths: () => [...BAD_ORDER_IDS.map((id) => `/api/v1/console/orders/${id}`), '/api/v1/console/orders/Y20260101000000000ZZZZZZZZZZ'],
  }),
  entry('GET /api/v1/console/pending', {
    path: (w) => `/api/v1/console/pending?school_id=${w.school_id}`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['limit=0', 'limit=101', 'cursor=bad', 'cursor=1:Cx', 'x=1']),
  }),
  entry('POST /api/v1/console/refunds', {
    path: () => '/api/v1/console/refunds', body: 'json', auth: 'console',
    valid: (w) => ({ order_id: w.order_id, reason: '持卡人申请退款' }),
  }),
  entry('GET /api/v1/console/refunds', {
    path: (w) => `/api/v1/console/refunds?school_id=${w.school_id}&state=failed`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['state=lost', 'limit=0', 'limit=101', 'cursor=Y123', 'x=1']),
  }),
  entry('GET /api/v1/console/grey-records', {
    path: (w) => `/api/v1/console/grey-records?school_id=${w.school_id}&state=all`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['state=x', 'limit=0', 'limit=101', 'cursor=bad', 'x=1']),
  }),
  entry('POST /api/v1/console/grey-records/:grey_id/settle', {
    path: (w) => `/api/v1/console/grey-records/${encodeURIComponent(w.grey_id)}/settle`, body: 'json', auth: 'console',
    valid: () => ({ decision: 'not_loaded', evidence: '读卡器：余额与联机序号未变' }),
    badPaths: (w) => ['/api/v1/console/grey-records/nope/settle', '/api/v1/console/grey-records/hub-x%3AK-none/settle', `/api/v1/console/grey-records/${encodeURIComponent(w.grey_id)}x/settle`],
    accepts: [200],
  }),
  entry('GET /api/v1/console/hubs', {
    path: (w) => `/api/v1/console/hubs?school_id=${w.school_id}`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
  }),
  entry('GET /api/v1/console/reconciliations', {
    path: (w) => `/api/v1/console/reconciliations?school_id=${w.school_id}`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['from=2026-13-01', 'to=x', 'from=2026-11-30&to=2026-11-01', 'from=2025-01-01&to=2026-01-01', 'x=1']),
  }),
  entry('POST /api/v1/console/reconciliations/:date', {
    path: () => `/api/v1/console/reconciliations/${chinaDate(Date.now())}`, body: 'json', auth: 'console',
    valid: (w) => ({ school_id: w.school_id }),
    badPaths: () => BAD_DATES.map((date) => `/api/v1/console/reconciliations/${date}`),
  }),
  entry('GET /api/v1/console/agreements', {
    path: (w) => `/api/v1/console/agreements?school_id=${w.school_id}`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['limit=0', 'cursor=Y1', 'state=active']),
  }),
  entry('GET /api/v1/console/notices', {
    path: (w) => `/api/v1/console/notices?school_id=${w.school_id}&state=dead`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['state=lost', 'limit=0', 'cursor=0', 'cursor=abc', 'x=1']),
  }),
  entry('GET /api/v1/console/audit', {
    path: (w) => `/api/v1/console/audit?school_id=${w.school_id}`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['limit=0', 'cursor=0', 'cursor=abc', 'x=1']),
  }),
  entry('POST /api/v1/console/cards/import', {
    path: (w) => `/api/v1/console/cards/import?school_id=${w.school_id}`, body: 'csv', auth: 'console',
    badPaths: () => ['/api/v1/console/cards/import', '/api/v1/console/cards/import?school_id=BAD', '/api/v1/console/cards/import?school_id=no-such-school'],
    huge_bytes: 8 * 1024 * 1024 + 1,
  }),
  entry('GET /api/v1/console/cards', {
    path: (w) => `/api/v1/console/cards?school_id=${w.school_id}&q=2023`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool([`q=${'x'.repeat(80)}`, 'limit=0', 'limit=101', `cursor=${'9'.repeat(80)}`, 'x=1']),
  }),
  entry('POST /api/v1/console/cards/:card_no/status', {
    path: () => '/api/v1/console/cards/20230001/status', body: 'json', auth: 'console',
    valid: (w) => ({ school_id: w.school_id, status: 'frozen' }),
    badPaths: () => ['/api/v1/console/cards/99999999/status', '/api/v1/console/cards/%E4%B8/status', `/api/v1/console/cards/${'1'.repeat(80)}/status`],
    accepts: [200],
  }),
  entry('GET /api/v1/console/charts', {
    path: (w) => `/api/v1/console/charts?school_id=${w.school_id}&days=7`, body: 'none', auth: 'console', accepts: [200],
    badQueries: NOT_THE_SCHOOL,
    badQueriesFor: besideSchool(['days=0', 'days=32', 'days=x', 'x=1']),
  }),
  entry('POST /api/v1/console/cards/:card_no/replace', {
    path: () => '/api/v1/console/cards/20230001/replace', body: 'json', auth: 'console',
    valid: (w) => ({ school_id: w.school_id, new_card_no: '29990001', new_asn: 'B700000000000001' }),
    badPaths: () => ['/api/v1/console/cards/99999999/replace', '/api/v1/console/cards/%E4%B8/replace', `/api/v1/console/cards/${'1'.repeat(80)}/replace`],
    accepts: [201],
  }),
  entry('GET /api/v1/console/replacements/:replacement_id', {
    path: (w) => `/api/v1/console/replacements/P20261201000000000ABCDEFGHIJ?school_id=${w.school_id}`, body: 'none', auth: 'console', accepts: [404],
    badQueries: NOT_THE_SCHOOL,
    badPaths: (w) => ['nope', "P2026'--", `P${'1'.repeat(40)}`].map((id) => `/api/v1/console/replacements/${id}?school_id=${w.school_id}`),
  }),
  entry('POST /api/v1/console/hubs/:hub_id/state', {
    // active → retired skips retiring: refused, so the valid example changes nothing either.
    path: (w) => `/api/v1/console/hubs/${w.hub_id}/state`, body: 'json', auth: 'console',
    valid: () => ({ state: 'retired', reason: '服务器更换' }),
    badPaths: () => ['/api/v1/console/hubs/BAD/state', '/api/v1/console/hubs/no-such-hub/state', `/api/v1/console/hubs/${'h'.repeat(49)}/state`],
    accepts: [409],
  }),
  entry('POST /api/v1/console/credits/:credit_id/settle', {
    // The credit's owner is not dead: nothing to settle (409), valid example included.
    path: (w) => `/api/v1/console/credits/C${w.order_id.slice(1)}/settle`, body: 'json', auth: 'console',
    valid: () => ({ decision: 'release', evidence: '读卡：余额 12.00，联机序号 7' }),
    badPaths: () => ['/api/v1/console/credits/no%20such/settle', '/api/v1/console/credits/C-no-such-credit/settle', `/api/v1/console/credits/${'C'.repeat(65)}/settle`],
    accepts: [409],
  }),
];

/** Values of another JSON type than `value`, so a schema must refuse each. */
function wrongTypes(value: unknown): unknown[] {
  if (typeof value === 'string') return [123, true, null, {}, []];
  if (typeof value === 'number') return [String(value), true, null, {}, []];
  if (typeof value === 'boolean') return ['true', 1, null];
  if (Array.isArray(value)) return [{}, 'x', null, 1];
  return [[], 'x', null, 1];
}

const BAD_AMOUNTS = [-1, -100, 0.5, 1.5, 1e20, 2 ** 53, '100'];

/** Adds an attempt at `path` with the route's method: a body, of `default_type` unless told. */
function adder(spec: RouteSpec, path: string, attempts: Attempt[], default_type: string | null) {
  return (label: string, body: string | Uint8Array, type: string | null = default_type) => attempts.push({ label, method: spec.method, path, body, type });
}

/** The valid example as a JSON body, for a request whose refusal must be about something else. */
function validBody(valid: Json | undefined): Pick<Attempt, 'body' | 'type'> {
  return valid === undefined ? {} : { body: JSON.stringify(valid), type: JSON_TYPE };
}

function jsonAttempts(spec: RouteSpec, path: string, valid: Json): Attempt[] {
  const attempts: Attempt[] = [];
  const add = adder(spec, path, attempts, JSON_TYPE);
  const text = JSON.stringify(valid);
  add('not JSON', text.slice(0, -1));
  add('JSON with trailing garbage', `${text}}`);
  add('empty body', '');
  add('not UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
  add('wrong content type', text, 'text/plain');
  add('form content type', text, 'application/x-www-form-urlencoded');
  add('no content type', text, null);
  for (const other of ['null', '[]', '"x"', '1', 'true', JSON.stringify([valid])]) add(`JSON ${other.slice(0, 10)}`, other);
  add('extra field', JSON.stringify({ ...valid, extra_field: 1 }));
  add('huge body', JSON.stringify({ ...valid, padding: 'x'.repeat(spec.huge_bytes ?? HUGE_JSON_BYTES) }));
  add('deep nesting', '['.repeat(5_000) + ']'.repeat(5_000));
  for (const [key, value] of Object.entries(valid)) {
    if (!(spec.optional ?? []).includes(key)) {
      const { [key]: _, ...rest } = valid;
      add(`missing ${key}`, JSON.stringify(rest));
    }
    for (const wrong of wrongTypes(value)) add(`${key} = ${JSON.stringify(wrong)}`, JSON.stringify({ ...valid, [key]: wrong }));
    if (/_fen$/.test(key)) {
      for (const amount of BAD_AMOUNTS) add(`${key} = ${amount}`, JSON.stringify({ ...valid, [key]: amount }));
    }
    // The first element of a batch gets the same treatment for its money fields and types.
    if (Array.isArray(value) && typeof value[0] === 'object' && value[0] !== null) {
      const first = value[0] as Json;
      add(`${key}: empty`, JSON.stringify({ ...valid, [key]: [] }));
      add(`${key}.0: extra field`, JSON.stringify({ ...valid, [key]: [{ ...first, extra_field: 1 }] }));
      for (const [inner, inner_value] of Object.entries(first)) {
        const { [inner]: _, ...rest } = first;
        add(`${key}.0 missing ${inner}`, JSON.stringify({ ...valid, [key]: [rest] }));
        for (const wrong of wrongTypes(inner_value)) {
          add(`${key}.0.${inner} = ${JSON.stringify(wrong)}`, JSON.stringify({ ...valid, [key]: [{ ...first, [inner]: wrong }] }));
        }
        if (/_fen$/.test(inner)) {
          for (const amount of BAD_AMOUNTS) {
            add(`${key}.0.${inner} = ${amount}`, JSON.stringify({ ...valid, [key]: [{ ...first, [inner]: amount }] }));
          }
        }
      }
    }
  }
  return attempts;
}

function attemptsFor(spec: RouteSpec, w: World): Attempt[] {
  const path = spec.path(w);
  const attempts: Attempt[] = [];
  for (const bad of spec.badPaths?.(w) ?? []) {
    attempts.push({ label: `bad path ${bad}`, method: spec.method, path: bad, ...validBody(spec.valid?.(w)) });
    if (spec.body === 'csv') attempts.push({ label: `bad path ${bad} (csv)`, method: spec.method, path: bad, body: '1,A,student,active\n', type: 'text/csv' });
  }
  if (spec.auth === 'admin' || spec.auth === 'hub' || spec.auth === 'console') {
    attempts.push({ label: 'no credentials', method: spec.method, path, anonymous: true, ...validBody(spec.valid?.(w)) });
  }
  for (const method of spec.badMethods ?? []) attempts.push({ label: `method ${method}`, method, path, body: '{}', type: JSON_TYPE });
  const base = path.split('?')[0]!;
  for (const query of [...(spec.badQueries ?? []), ...(spec.badQueriesFor?.(w) ?? [])]) attempts.push({ label: `query ${query}`, method: spec.method, path: `${base}${query}` });
  if (spec.body === 'json') attempts.push(...jsonAttempts(spec, path, spec.valid!(w)));
  if (spec.body === 'csv') {
    const add = adder(spec, path, attempts, 'text/csv');
    add('JSON instead of CSV', '{"card_no":"1"}', JSON_TYPE);
    add('no content type', '1,A,student,active\n', null);
    add('charset gbk', '1,A,student,active\n', 'text/csv; charset=gbk');
    add('not UTF-8', new Uint8Array([0x31, 0x2c, 0xd5, 0xc5, 0x2c, 0x73, 0x0a]), 'text/csv');
    add('huge body', `card_no,name,kind,status\n${'1,A,student,active\n'.repeat(Math.ceil((spec.huge_bytes ?? 0) / 19) + 1)}`, 'text/csv');
  }
  if (spec.body === 'form') {
    const add = adder(spec, path, attempts, 'application/x-www-form-urlencoded; charset=utf-8');
    const form = `out_trade_no=${w.order_id}&total_amount=1.00&trade_status=TRADE_SUCCESS&app_id=2021000000000001&trade_no=T1`;
    add('unsigned', form);
    add('JSON instead of a form', JSON.stringify({ out_trade_no: w.order_id }), JSON_TYPE);
    add('empty body', '');
    add('repeated fields', `${form}&out_trade_no=${w.order_id}`);
    add('bad percent escapes', 'out_trade_no=%E4%B8&sign=%%%');
    add('negative amount', form.replace('total_amount=1.00', 'total_amount=-1.00') + '&sign=AAAA&sign_type=RSA2');
    add('float-ish amount', form.replace('total_amount=1.00', 'total_amount=1.005') + '&sign=AAAA&sign_type=RSA2');
    add('huge amount', form.replace('total_amount=1.00', 'total_amount=1e30') + '&sign=AAAA&sign_type=RSA2');
    add('unknown order', form.replace(w.order_id, 'Y20260101000000000ZZZZZZZZZZ') + '&sign=AAAA&sign_type=RSA2');
    add('bad order id', form.replace(w.order_id, "x'--") + '&sign=AAAA&sign_type=RSA2');
    add('huge body', `${form}&pad=${'x'.repeat(64 * 1024)}`);
    add('not UTF-8', new Uint8Array([0x61, 0x3d, 0xff, 0xfe]));
  }
  return attempts;
}

/** Every row of every table a request could change, except audit, replay and liveness bookkeeping. */
async function snapshot(exclude: string[]): Promise<Record<string, unknown[]>> {
  const tables = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'",
  ).all<{ name: string }>();
  const out: Record<string, unknown[]> = {};
  for (const { name } of tables.results) {
    if (exclude.includes(name)) continue;
    const rows = (await env.DB.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all()).results;
    // A hub's last contact is liveness bookkeeping (DESIGN's /healthz "last contact"), not data.
    out[name] = name === 'hubs' ? rows.map(({ last_seen_at_ms: _, ...row }) => row) : rows;
  }
  return out;
}

async function buildWorld(): Promise<World> {
  await seedDemoCampus();
  const school_id = await freshSchool();
  const found = (await (await postFrom(uniqueIp(), '/api/v1/cards/lookup', { school_id, name: '张三', card_no: '20230001' })).json()) as CardLookupResponse;
  const now_ms = Date.now();
  const order = { order_id: testOrderId(now_ms), school_id, card_no: '20230001', amount_fen: 100, status: 'paid' as const, created_at_ms: now_ms, paid_at_ms: now_ms };
  await insertOrder(order);
  await insertCredit(order, { state: 'pending' });
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey('spki', pair.publicKey)) as ArrayBuffer);
  const hub_id = `hub-${crypto.randomUUID().slice(0, 8)}`;
  const registered = await api(`/api/v1/admin/hubs/${hub_id}`, {
    method: 'PUT',
    headers: { 'content-type': JSON_TYPE, ...ADMIN_AUTH },
    body: JSON.stringify({ school_id, public_key: bytesToBase64(spki) }),
  });
  expect(registered.status).toBe(201);
  const operator = { operator_id: `op-${crypto.randomUUID().slice(0, 8)}`, password: `pw-${crypto.randomUUID()}` };
  const created = await api(`/api/v1/admin/operators/${operator.operator_id}`, {
    method: 'PUT',
    headers: { 'content-type': JSON_TYPE, ...ADMIN_AUTH },
    body: JSON.stringify({ school_ids: [school_id], display_name: '测试员', password: operator.password }),
  });
  expect(created.status).toBe(201);
  const signed_in = await postFrom(uniqueIp(), '/api/v1/console/session', operator);
  expect(signed_in.status).toBe(201);
  const cookie = /ykt_console=([^;]+)/.exec(signed_in.headers.get('set-cookie') ?? '')![1]!;
  const { csrf_token } = (await signed_in.json()) as { csrf_token: string };
  const grey_claim_id = `K-grey-${crypto.randomUUID().slice(0, 8)}`;
  await env.DB.prepare(
    `INSERT INTO grey_records (hub_id, claim_id, school_id, card_no, terminal_id, amount_fen, credit_ids, online_serial_after, reserved_at_ms, status, reported_at_ms)
     VALUES (?1, ?2, ?3, '20230001', 'POS-1', 100, json_array(?4), 2, ?5, 'open', ?5)`,
  )
    .bind(hub_id, grey_claim_id, school_id, `C${order.order_id.slice(1)}`, now_ms)
    .run();
  await env.DB.prepare(
    `INSERT INTO card_holds (hub_id, card_no, school_id, status, online_serial_seen, online_serial_recorded, balance_fen, seen_at_ms, created_at_ms, reported_at_ms)
     VALUES (?1, '20230001', ?2, 'open', 6, 5, 100, ?3, ?3, ?3)`,
  )
    .bind(hub_id, school_id, now_ms)
    .run();
  return {
    school_id,
    operator,
    console: { cookie, csrf_token },
    grey_id: `${hub_id}:${grey_claim_id}`,
    card_token: found.card_token,
    order_id: order.order_id,
    hub_id,
    async hubSign(method, path_and_query, body) {
      const timestamp_ms = Date.now();
      const nonce = bytesToBase64Url(crypto.getRandomValues(new Uint8Array(18)));
      const signed = await hubSigningString({ hub_id, method, path_and_query, timestamp_ms, nonce, body });
      const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, pair.privateKey, utf8(signed)));
      return { 'X-Hub-Id': hub_id, 'X-Hub-Timestamp': String(timestamp_ms), 'X-Hub-Nonce': nonce, 'X-Hub-Signature': bytesToBase64(signature) };
    },
  };
}

async function send(spec: RouteSpec, w: World, attempt: Attempt): Promise<Response> {
  const headers: Record<string, string> = {};
  if (attempt.type) headers['content-type'] = attempt.type;
  if (spec.auth === 'admin' && !attempt.anonymous) Object.assign(headers, ADMIN_AUTH);
  if (spec.auth === 'client') headers['cf-connecting-ip'] = uniqueIp();
  if (spec.auth === 'hub' && !attempt.anonymous) Object.assign(headers, await w.hubSign(attempt.method, attempt.path, attempt.body ?? ''));
  if (spec.auth === 'console' && !attempt.anonymous) {
    Object.assign(headers, { cookie: `ykt_console=${w.console.cookie}`, 'x-console-csrf': w.console.csrf_token, origin: 'http://yikatong.test' });
  }
  const init: RequestInit = { method: attempt.method, headers };
  if (attempt.body !== undefined && attempt.method !== 'GET') init.body = attempt.body;
  return api(attempt.path, init);
}

describe('malformed input on every route', () => {
  it('has an entry for every route the Worker serves', () => {
    const served = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
    const covered = new Set(ROUTES.map((spec) => spec.pattern));
    expect([...served].filter((route) => !covered.has(route))).toEqual([]);
    expect([...covered].filter((route) => !served.has(route))).toEqual([]);
  });

  it.each(ROUTES.map((spec) => [spec.route, spec] as const))('%s: 4xx with a code, nothing changes', async (_, spec) => {
    const w = await buildWorld();
    // A console request moves its session's idle clock: bookkeeping, like a hub's last contact.
    const exclude = ['hub_nonces', 'operator_sessions', ...(spec.audits ? ['notifications'] : [])];
    const before = await snapshot(exclude);
    const attempts = attemptsFor(spec, w);
    expect(attempts.length).toBeGreaterThan(0);
    const failures: string[] = [];
    const codes = new Set<string>();
    for (const attempt of attempts) {
      const res = await send(spec, w, attempt);
      const text = await res.text();
      const label = `${attempt.label}: ${res.status} ${text.slice(0, 160)}`;
      if (res.status < 400 || res.status >= 500) {
        failures.push(label);
        continue;
      }
      if (spec.answer === 'alipay-fail') {
        if (text !== 'fail') failures.push(label);
        continue;
      }
      let body: { error?: { code?: unknown; message?: unknown } } = {};
      try {
        body = JSON.parse(text);
      } catch {
        // Reported below as a missing code.
      }
      const code = body.error?.code;
      if (typeof code === 'string') codes.add(code);
      if (typeof code !== 'string' || !(ERROR_CODES as readonly string[]).includes(code) || typeof body.error?.message !== 'string') {
        failures.push(label);
      }
    }
    expect(failures).toEqual([]);
    // The refusals came from reading the body, not only from a guard in front of it.
    if (spec.body === 'json' && !spec.audits) expect([...codes]).toEqual(expect.arrayContaining(['invalid_json', 'invalid_body', 'payload_too_large']));
    expect(await snapshot(exclude)).toEqual(before);
    if (spec.accepts !== undefined) {
      const res = await send(spec, w, { label: 'valid', method: spec.method, path: spec.path(w), ...validBody(spec.valid?.(w)) });
      expect(spec.accepts, await res.text()).toContain(res.status);
    }
  });
});
