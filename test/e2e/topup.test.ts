// A top-up end to end over real processes: the simulated gateway and `wrangler dev` (the
// Worker on workerd with its local D1), started the way `npm start` starts them but on free
// ports, in a temporary state directory, with freshly generated keys. The payer's side is
// played like a browser: follow pay_url to the cashier page and submit its pay form.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AdminCredit,
  AdminCreditsResponse,
  CardLookupResponse,
  RechargeCreated,
  RechargeRecord,
  RechargeRecordsResponse,
} from '../../protocol/api.ts';
import { auditLocalD1 } from '../../scripts/audit.ts';
import { executeLocalSql, REPO_ROOT, sqlLiteral } from '../../scripts/lib/local-d1.ts';
import { runToExit } from '../../scripts/lib/processes.ts';
import { until } from '../helpers/wait.ts';
import { startCampus, type Campus } from '../../scripts/start.ts';

const CARD = { school_id: 'bjtu-weihai', name: '张三', card_no: '20230001' };
const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-e2e-'));
const state_dir = path.join(work_dir, 'state');
let campus: Campus;
// The saved card of the PWA: later top-ups need only the amount.
let card_token = '';
let first_order_id = '';

// Bounds of every wait: a notification reaches the Worker in milliseconds on loopback; these
// only stop a broken run from hanging.
const POLL_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 100;

beforeAll(async () => {
  campus = await startCampus({
    worker_port: 0,
    gateway_port: 0,
    state_dir,
    dev_dir: work_dir,
    // Retries a second apart instead of Alipay's minutes, so a failed first delivery shows up here.
    notify_retry_schedule_ms: [0, 1_000, 2_000, 4_000],
    // Orders stay payable 2 minutes instead of 15 (the expiry test moves time itself anyway).
    worker_var_overrides: { ORDER_EXPIRY_MINUTES: '2' },
  });
  card_token = (await postJson<CardLookupResponse>('/api/v1/cards/lookup', CARD)).card_token;
}, 180_000);

afterAll(async () => {
  await campus?.stop();
  rmSync(work_dir, { recursive: true, force: true });
}, 60_000);

function worker(pathname: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${campus.worker_url}${pathname}`, { ...init, signal: AbortSignal.timeout(15_000) });
}

async function postJson<T>(pathname: string, body: unknown, expected_status = 200): Promise<T> {
  const response = await worker(pathname, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  expect(response.status, text).toBe(expected_status);
  return JSON.parse(text) as T;
}

async function gateway(pathname: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${campus.gateway_url}${pathname}`, { ...init, signal: AbortSignal.timeout(15_000) });
}

async function gatewayJson<T>(pathname: string, method = 'GET', body?: unknown): Promise<T> {
  const response = await gateway(pathname, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  expect(response.ok, `${method} ${pathname}: ${text}`).toBe(true);
  return JSON.parse(text) as T;
}

interface CashierForm {
  action: URL;
  fields: URLSearchParams;
}

function decodeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[entity]!);
}

/** The forms of a cashier page, as a browser sees them: action and hidden inputs. */
function cashierForms(html: string, page_url: string): CashierForm[] {
  const forms: CashierForm[] = [];
  for (const match of html.matchAll(/<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const fields = new URLSearchParams();
    for (const input of match[2]!.matchAll(/<input\b[^>]*>/g)) {
      const name = /\bname="([^"]*)"/.exec(input[0])?.[1];
      const value = /\bvalue="([^"]*)"/.exec(input[0])?.[1] ?? '';
      if (name !== undefined) fields.append(decodeHtml(name), decodeHtml(value));
    }
    forms.push({ action: new URL(decodeHtml(match[1]!), page_url), fields });
  }
  return forms;
}

/** Opens pay_url like a browser and presses the button whose form posts to `/pay`-ending action. */
async function pressCashierButton(pay_url: string, button: 'pay' | 'cancel'): Promise<Response> {
  const page = await fetch(pay_url, { redirect: 'follow', signal: AbortSignal.timeout(15_000) });
  const html = await page.text();
  expect(page.status, html).toBe(200);
  const form = cashierForms(html, page.url).find((candidate) => candidate.action.pathname.endsWith(`/${button}`));
  expect(form, `no ${button} form on the cashier page:\n${html}`).toBeDefined();
  return fetch(form!.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form!.fields.toString(),
    redirect: 'manual',
    signal: AbortSignal.timeout(15_000),
  });
}

async function recharge(order_id: string): Promise<RechargeRecord> {
  const response = await worker(`/api/v1/recharges/${order_id}`);
  expect(response.status).toBe(200);
  return (await response.json()) as RechargeRecord;
}

async function waitForStatus(order_id: string, status: string): Promise<RechargeRecord> {
  let last: RechargeRecord | null = null;
  return until(
    () => `order ${order_id} ${status} (last: ${JSON.stringify(last)})`,
    async () => {
      last = await recharge(order_id);
      return last.status === status ? last : undefined;
    },
    { timeout_ms: POLL_TIMEOUT_MS, interval_ms: POLL_INTERVAL_MS },
  );
}

/** The order's credits as the card office sees them (admin API), newest card first. */
async function creditsOf(order_id: string, card: { school_id: string; card_no: string } = CARD): Promise<AdminCredit[]> {
  const query = new URLSearchParams({ school_id: card.school_id, card_no: card.card_no, limit: '100' });
  const response = await worker(`/api/v1/admin/credits?${query}`, { headers: { authorization: `Bearer ${campus.keys.admin_token}` } });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return (JSON.parse(text) as AdminCreditsResponse).credits.filter((credit) => credit.order_id === order_id);
}

interface Delivery {
  state: string;
  faults: string[];
  attempts: { status: number | null; response: string; acknowledged: boolean }[];
}

/** The gateway's deliveries of an order once `count` of them are no longer in flight. */
async function settledDeliveries(order_id: string, count: number): Promise<Delivery[]> {
  return until(
    `${count} deliveries of ${order_id} settled`,
    async () => {
      const { deliveries } = await gatewayJson<{ deliveries: Delivery[] }>(`/sim/deliveries?out_trade_no=${order_id}`);
      return deliveries.filter((d) => d.state === 'delivered' || d.state === 'failed').length >= count ? deliveries : undefined;
    },
    { timeout_ms: POLL_TIMEOUT_MS, interval_ms: POLL_INTERVAL_MS },
  );
}

describe('top-up over real processes', () => {
  it('looks up a card, pays an Alipay top-up at the cashier, and the money is pending claim', async () => {
    const lookup = await postJson<CardLookupResponse>('/api/v1/cards/lookup', { ...CARD, name: ' 张 三 ' });
    expect(lookup.holder_name_masked).toBe('张*');
    expect(lookup.pending_fen).toBe(0);

    const created = await postJson<RechargeCreated>('/api/v1/recharges', { ...CARD, amount_fen: 10_000, channel: 'alipay', agree_terms: true }, 201);
    first_order_id = created.order_id;
    expect(created).toMatchObject({ amount_fen: 10_000, status: 'unpaid' });
    const pay_url = new URL(created.pay_url);
    expect(pay_url.origin).toBe(campus.gateway_url);
    // Alipay is told the order's own expiry: ORDER_EXPIRY_MINUTES after the request.
    const biz = JSON.parse(pay_url.searchParams.get('biz_content')!) as { time_expire: string };
    const minutes = (Date.parse(biz.time_expire.replace(' ', 'T') + '+08:00') - Date.parse(pay_url.searchParams.get('timestamp')!.replace(' ', 'T') + '+08:00')) / 60_000;
    expect(minutes).toBeCloseTo(2, 1);
    expect((await recharge(created.order_id)).status).toBe('unpaid');

    const paid = await pressCashierButton(created.pay_url, 'pay');
    // The cashier sends the payer back to the app's order page.
    expect(paid.status).toBe(302);
    const landing_url = paid.headers.get('location')!;
    const landing_target = new URL(landing_url);
    expect(landing_target.origin + landing_target.pathname).toBe(`${campus.worker_url}/orders/${created.order_id}`);
    // …where the Worker serves the app (the PWA's order page is a client-side route).
    const landing = await fetch(landing_url, { signal: AbortSignal.timeout(15_000) });
    expect(landing.status).toBe(200);
    expect(landing.headers.get('content-type')).toContain('text/html');
    await landing.body?.cancel();

    const record = await waitForStatus(created.order_id, 'pending_claim');
    expect(record).toMatchObject({ order_id: created.order_id, amount_fen: 10_000 });
    expect(record.paid_at).toEqual(expect.any(Number));

    // The Worker acknowledged the signed notification with exactly `success`.
    const deliveries = await settledDeliveries(created.order_id, 1);
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]!.attempts).toEqual([expect.objectContaining({ status: 200, response: 'success', acknowledged: true })]);

    expect(await creditsOf(created.order_id)).toEqual([
      expect.objectContaining({ state: 'pending', amount_fen: 10_000, card_no: '20230001' }),
    ]);
    const again = await postJson<CardLookupResponse>('/api/v1/cards/lookup', CARD);
    expect(again.pending_fen).toBe(10_000);
    // The visitor card as printed on it (full-width colon, leading zeros) is the seeded card 999.
    const visitor = await postJson<CardLookupResponse>('/api/v1/cards/lookup', { school_id: 'bjtu-weihai', name: '访客', card_no: 'SN：000999' });
    expect(visitor).toMatchObject({ card_no: '999', kind: 'visitor', pending_fen: 0 });
    const records = (await (await worker(`/api/v1/recharges?card_token=${encodeURIComponent(card_token)}`)).json()) as RechargeRecordsResponse;
    expect(records.records.find((r) => r.order_id === created.order_id)?.status).toBe('pending_claim');
  });

  it('credits once when the notification arrives three times, out of order', async () => {
    const created = await postJson<RechargeCreated>('/api/v1/recharges', { card_token, amount_fen: 2_345, channel: 'alipay', agree_terms: true }, 201);
    await gatewayJson('/sim/faults', 'POST', { action: 'hold', out_trade_no: created.order_id });
    await gatewayJson('/sim/faults', 'POST', { action: 'duplicate', out_trade_no: created.order_id, copies: 2 });
    expect((await pressCashierButton(created.pay_url, 'pay')).status).toBe(302);

    // Held at the gateway: paid there, but nothing has reached the Worker yet.
    const held = await gatewayJson<{ deliveries: Delivery[] }>(`/sim/deliveries?out_trade_no=${created.order_id}`);
    expect(held.deliveries.map((d) => d.state)).toEqual(['held', 'held', 'held']);
    expect((await recharge(created.order_id)).status).toBe('unpaid');

    await gatewayJson('/sim/faults/release', 'POST', { out_trade_no: created.order_id, order: 'reverse' });
    await waitForStatus(created.order_id, 'pending_claim');
    const deliveries = await settledDeliveries(created.order_id, 3);
    // Every copy was acknowledged (a duplicate is answered `success` too, or Alipay would retry it).
    expect(deliveries.map((d) => d.attempts.at(-1)?.response)).toEqual(['success', 'success', 'success']);
    expect(await creditsOf(created.order_id)).toHaveLength(1);
    const [verdicts] = await executeLocalSql(
      state_dir,
      `SELECT verdict FROM notifications WHERE order_id = ${sqlLiteral(created.order_id)} ORDER BY id`,
    );
    expect(verdicts!.map((row) => row.verdict)).toEqual(['applied', 'duplicate', 'duplicate']);
  });

  it('leaves a cancelled top-up unpaid, and the expiry cron closes it', async () => {
    const created = await postJson<RechargeCreated>('/api/v1/recharges', { card_token, amount_fen: 500, channel: 'alipay', agree_terms: true }, 201);
    const cancelled = await pressCashierButton(created.pay_url, 'cancel');
    expect(cancelled.status).toBeLessThan(400);
    expect((await recharge(created.order_id)).status).toBe('unpaid');

    // Move the order past its expiry instead of waiting 15 minutes, then run the cron.
    await executeLocalSql(state_dir, `UPDATE orders SET expires_at_ms = ${Date.now() - 60_000} WHERE id = ${sqlLiteral(created.order_id)}`);
    const cron = await worker('/cdn-cgi/handler/scheduled?cron=' + encodeURIComponent('*/5 * * * *'));
    expect(cron.status).toBe(200);
    const closed = await waitForStatus(created.order_id, 'closed');
    expect(closed.paid_at).toBeUndefined();
    expect(await creditsOf(created.order_id)).toEqual([]);
    // Closed at the provider too: the cashier page no longer offers to pay.
    const page = await fetch(created.pay_url, { signal: AbortSignal.timeout(15_000) });
    const html = await page.text();
    expect(html).toContain('交易已关闭');
    expect(cashierForms(html, page.url).filter((form) => form.action.pathname.endsWith('/pay'))).toEqual([]);
    const records = (await (await worker(`/api/v1/recharges?card_token=${encodeURIComponent(card_token)}`)).json()) as RechargeRecordsResponse;
    expect(records.records.find((r) => r.order_id === created.order_id)?.status).toBe('closed');
  });

  it('pays a WeChat Pay top-up through the gateway', async () => {
    const created = await postJson<RechargeCreated>('/api/v1/recharges', {
      school_id: 'whovc',
      name: '韩梅梅',
      card_no: '330002',
      amount_fen: 8_800,
      channel: 'wechat',
      agree_terms: true,
    }, 201);
    expect(new URL(created.pay_url).origin).toBe(campus.gateway_url);
    const paid = await pressCashierButton(created.pay_url, 'pay');
    expect(paid.status).toBeLessThan(400);
    await waitForStatus(created.order_id, 'pending_claim');
    expect(await creditsOf(created.order_id, { school_id: 'whovc', card_no: '330002' })).toEqual([
      expect.objectContaining({ state: 'pending', amount_fen: 8_800, card_no: '330002' }),
    ]);
  });

  it('refunds a paid, unclaimed top-up through the provider: the credit is voided and the money goes back', async () => {
    const created = await postJson<RechargeCreated>('/api/v1/recharges', { card_token, amount_fen: 1_111, channel: 'alipay', agree_terms: true }, 201);
    expect((await pressCashierButton(created.pay_url, 'pay')).status).toBe(302);
    await waitForStatus(created.order_id, 'pending_claim');

    // No hub has ever pulled this school's changes, so the Worker may void the credit itself.
    const response = await worker(`/api/v1/admin/orders/${created.order_id}/refund`, {
      method: 'POST',
      headers: { authorization: `Bearer ${campus.keys.admin_token}` },
    });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ order_id: created.order_id, state: 'refunded', route: 'direct', amount_fen: 1_111 });
    const record = await recharge(created.order_id);
    expect(record.status).toBe('refunded');
    expect(await creditsOf(created.order_id)).toEqual([expect.objectContaining({ state: 'voided', amount_fen: 1_111 })]);
    // The gateway returned the money.
    const { trade } = await gatewayJson<{ trade: { refunded_fen: number } }>(`/sim/alipay/trades/${created.order_id}`);
    expect(trade.refunded_fen).toBe(1_111);
  });

  it('leaves a ledger that passes the audit', async () => {
    const report = await auditLocalD1(state_dir);
    expect(report.violations).toEqual([]);
    expect(report.totals).toMatchObject({
      orders: 5,
      orders_paid: 3,
      orders_refunded: 1,
      credits_pending: 3,
      credits_voided: 1,
      pending_fen: 10_000 + 2_345 + 8_800,
    });
  });

  it('npm run audit: exit 0 and a summary when clean, exit 1 naming the credit when its amount is tampered with', async () => {
    const audit = () => runToExit('npm', ['run', '--silent', 'audit', '--', '--persist-to', state_dir], { cwd: REPO_ROOT, timeout_ms: 60_000 });
    const clean = await audit();
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/^audit clean: 5 orders \(3 paid, 1 refunded\), 4 credits \(3 pending, 0 claimed, 1 voided, 0 moved\)/m);

    const credit = (await creditsOf(first_order_id))[0]!;
    await executeLocalSql(state_dir, `UPDATE credits SET amount_fen = amount_fen + 1 WHERE id = ${sqlLiteral(credit.credit_id)}`);
    try {
      const broken = await audit();
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain(`invariant 1 credit_amount_mismatch: ${credit.credit_id}`);
      expect(broken.stdout).toContain(`credit ${credit.amount_fen + 1} fen, order ${credit.amount_fen} fen`);
      expect(broken.stdout).toMatch(/^audit FAILED: 1 violations/m);
    } finally {
      await executeLocalSql(state_dir, `UPDATE credits SET amount_fen = ${credit.amount_fen} WHERE id = ${sqlLiteral(credit.credit_id)}`);
    }
  });
});
