// The PWA end to end in real headless Chromium against `wrangler dev` serving the built app
// (pwa/dist: `npm test` builds it first, startCampus when it is missing) and the simulated payment
// gateway, started as `npm start` starts them but on free ports with a fresh state directory.
// A parent picks the school, enters the card, pays at the cashier and sees 待圈存; the app
// still shows the card and its records offline; the next top-up needs only the amount; a
// cancelled payment ends 已关闭 after the expiry cron; a swipe at a POS terminal of the real
// hub turns 待圈存 into 已圈存 with its time and terminal. Screenshots at 360×740 go to
// test-artifacts/pwa/.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeLocalSql, REPO_ROOT, sqlLiteral } from '../../scripts/lib/local-d1.ts';
import { startCampus, type Campus } from '../../scripts/start.ts';
import { DEMO_CARDS } from '../../sim/demo-campus.ts';
import { HubHarness } from '../hub/helpers/hub.ts';
import { qrPath } from '../../pwa/src/qr.ts';
import { accessibilityProblems } from '../helpers/a11y.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'pwa');
const VIEWPORT = { width: 360, height: 740 };
// Bounds of every wait in the browser: loopback answers in milliseconds; these only stop a
// broken run from hanging.
const UI_TIMEOUT_MS = 20_000;
// The order page backs off to 10 s between checks while an order is unpaid.
const CLOSE_TIMEOUT_MS = 40_000;

const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-pwa-e2e-'));
const state_dir = path.join(work_dir, 'state');
let campus: Campus;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let hub: HubHarness | null = null;
let first_order_id = '';

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  campus = await startCampus({
    worker_port: 0,
    gateway_port: 0,
    state_dir,
    dev_dir: work_dir,
    notify_retry_schedule_ms: [0, 1_000, 2_000, 4_000],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  context = await browser.newContext({ viewport: VIEWPORT, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', serviceWorkers: 'allow' });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  page = await context.newPage();
}, 240_000);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await hub?.cleanup();
  await campus?.stop();
  rmSync(work_dir, { recursive: true, force: true });
}, 60_000);

/** expect.poll with this file's bound: the UI reaches each state within UI_TIMEOUT_MS. */
function poll<T>(probe: () => Promise<T> | T, options: { timeout?: number; interval?: number } = {}) {
  return expect.poll(probe, { timeout: UI_TIMEOUT_MS, interval: 100, ...options });
}

/**
 * Saves the screen as an artifact after checking what a phone user in the sun needs: nothing
 * wider than 360 px, every form control labelled, and text contrast of at least 4.5:1 (3:1 for
 * large or bold text), WCAG AA.
 */
async function screenshot(name: string): Promise<void> {
  const problems = await accessibilityProblems(page);
  expect(problems, name).toEqual([]);
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false });
}

/** Presses 确认付款 or 取消 on the simulated Alipay cashier the app sent the payer to. */
async function atCashier(button: '确认付款' | '取消'): Promise<string> {
  await page.waitForURL((url) => url.origin === campus.gateway_url);
  const order_id = (await page.locator('input[name=out_trade_no]').first().getAttribute('value')) ?? '';
  expect(order_id).toMatch(/^Y/);
  await page.getByRole('button', { name: button }).click();
  return order_id;
}

describe('PWA in Chromium', () => {
  it('tops up a new card: school, name, card, pay at the cashier, see 待圈存, card saved', async () => {
    await page.goto(`${campus.worker_url}/`);
    await poll(() => page.getByText('还没有保存的卡').count()).toBe(1);
    // Keyboard users see where they are: the skip link first, then a visible focus ring.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('跳到正文');
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement!);
      return { text: document.activeElement!.textContent, outline: style.outlineStyle, width_px: parseFloat(style.outlineWidth) };
    });
    expect(ring).toEqual({ text: '设置', outline: 'solid', width_px: 3 });
    await page.getByRole('link', { name: '+ 新卡充值' }).click();
    await page.waitForURL('**/topup');

    await page.getByRole('button', { name: /学校/ }).click();
    await page.getByRole('dialog', { name: '选择学校' }).waitFor();
    await page.getByRole('button', { name: /北京交通大学威海校区/ }).waitFor();
    await screenshot('school-picker');
    await page.getByLabel('搜索学校名称').fill('交通');
    await page.getByRole('button', { name: /北京交通大学威海校区/ }).click();

    await page.getByLabel('持卡人姓名').fill('张三');
    await page.getByLabel('卡号').fill('２０２３０００１');
    await poll(() => page.getByTestId('card-preview').textContent()).toBe('将充值到卡号：20230001');
    await page.getByLabel('手机号（选填，用于短信通知）').fill('13800138000');
    await page.getByLabel(/我已阅读并同意/).check();
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot('form');
    await page.getByRole('button', { name: '充值 ¥100.00' }).click();

    const order_id = await atCashier('确认付款');
    first_order_id = order_id;
    await page.waitForURL((url) => url.pathname === `/orders/${order_id}`);
    await poll(() => page.getByTestId('order-status').textContent(), { timeout: UI_TIMEOUT_MS }).toBe('待圈存');
    expect(await page.getByText(/在校园内任意 POS 机/).count()).toBe(1);
    // The provider's signed return parameters do not stay in the address bar (or a bookmark).
    expect(new URL(page.url()).search).toBe('');

    await page.getByRole('link', { name: '返回首页' }).click();
    const card = page.locator('article.card');
    await poll(() => card.count()).toBe(1);
    await poll(() => card.locator('.card-pending').textContent()).toContain('¥100.00 待圈存');
    expect(await card.locator('.card-name').textContent()).toBe('张*');
    expect(await card.locator('.card-kind').textContent()).toBe('学生卡');
    await screenshot('home');
  });

  it('serves the app shell from the Worker: SPA fallback, API untouched, hashed files cached for good', async () => {
    const get = (pathname: string) => fetch(`${campus.worker_url}${pathname}`, { signal: AbortSignal.timeout(15_000) });
    const shell = await get('/orders/Y0000000000000');
    expect(shell.status).toBe(200);
    const html = await shell.text();
    expect(html).toContain('<div id="app">');
    const api = await get('/api/v1/no-such-route');
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const script = /src="(\/assets\/index-[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect((await get(script!)).headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await get('/sw.js')).headers.get('cache-control')).not.toContain('immutable');
    const manifest = (await (await get('/manifest.webmanifest')).json()) as { icons: { src: string; sizes: string }[]; start_url: string };
    expect(manifest.start_url).toBe('/');
    for (const icon of manifest.icons) {
      const png = await get(icon.src);
      expect(png.headers.get('content-type'), icon.src).toBe('image/png');
    }
  });

  it('refuses a wrong name with a message that does not say which field was wrong', async () => {
    await page.goto(`${campus.worker_url}/topup`);
    await page.getByRole('button', { name: /学校/ }).click();
    await page.getByRole('button', { name: /北京交通大学威海校区/ }).click();
    await page.getByLabel('持卡人姓名').fill('李四');
    await page.getByLabel('卡号').fill('20230001');
    await page.getByLabel(/我已阅读并同意/).check();
    await page.getByRole('button', { name: '充值 ¥100.00' }).click();
    await poll(() => page.getByRole('alert').textContent()).toBe('无法完成：学校、姓名与卡号不匹配，请核对后重试。');
    expect(page.url()).toBe(`${campus.worker_url}/topup`);
  });

  it('shows the saved card and its records offline, with paying disabled', async () => {
    await page.goto(`${campus.worker_url}/`);
    // The service worker has precached the shell once it is active.
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
    });
    await context.setOffline(true);
    try {
      await page.reload();
      // The second visit rendered from the service worker's cache: nothing else answers offline.
      expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
      await poll(() => page.locator('article.card').count()).toBe(1);
      await poll(() => page.getByRole('status').textContent()).toMatch(/^离线 · 截至 \d{4}\/\d{2}\/\d{2} \d{2}:\d{2}$/);
      const topup = page.locator('article.card').getByRole('button', { name: '充值', exact: true });
      expect(await topup.isDisabled()).toBe(true);
      expect(await page.locator('#offline-reason').textContent()).toBe('当前离线，无法支付。联网后即可充值。');

      await page.getByRole('link', { name: '充值记录' }).click();
      await poll(() => page.getByTestId('record').count()).toBe(1);
      expect(await page.getByTestId('record').locator('.status').textContent()).toBe('待圈存');
      expect(await page.getByTestId('month-total').first().textContent()).toMatch(/合计 100\.00 元 · 1 笔$/);
      expect(await page.getByRole('status').textContent()).toMatch(/^离线 · 截至/);
      await screenshot('records-offline');
    } finally {
      await context.setOffline(false);
    }
  });

  it('tops up the saved card again with the amount only', async () => {
    await page.goto(`${campus.worker_url}/`);
    await page.locator('article.card').getByRole('link', { name: '充值', exact: true }).click();
    await page.waitForURL('**/cards/*/topup');
    expect(await page.getByLabel('持卡人姓名').count()).toBe(0);
    await page.getByRole('button', { name: '50.00' }).click();
    await page.getByRole('button', { name: '充值 ¥50.00' }).click();
    const order_id = await atCashier('确认付款');
    await page.waitForURL((url) => url.pathname === `/orders/${order_id}`);
    await poll(() => page.getByTestId('order-status').textContent()).toBe('待圈存');

    await page.getByRole('link', { name: '查看充值记录' }).click();
    await poll(() => page.getByTestId('record').count()).toBe(2);
    expect(await page.getByTestId('month-total').first().textContent()).toMatch(/合计 150\.00 元 · 2 笔$/);
    await page.getByRole('button', { name: '刷新', exact: true }).waitFor();
    await screenshot('records');
    await page.goto(`${campus.worker_url}/`);
    await poll(() => page.locator('article.card .card-pending').textContent()).toContain('¥150.00 待圈存');
  });

  it('shows a cancelled payment as 已关闭 once the expiry cron has closed it', async () => {
    await page.goto(`${campus.worker_url}/`);
    await page.locator('article.card').getByRole('link', { name: '充值', exact: true }).click();
    await page.getByRole('button', { name: '20.00' }).count(); // presets render before the click below
    await page.getByLabel('其他金额（元）').fill('12.34');
    await page.getByRole('button', { name: '充值 ¥12.34' }).click();
    const order_id = await atCashier('取消');
    // The cashier's "back to the merchant" link is the order page.
    await page.getByRole('link', { name: '返回商户' }).click();
    await page.waitForURL((url) => url.pathname === `/orders/${order_id}`);
    await poll(() => page.getByTestId('order-status').textContent()).toBe('待支付');

    // Move the order past its expiry instead of waiting 15 minutes, then run the cron.
    await executeLocalSql(state_dir, `UPDATE orders SET expires_at_ms = ${Date.now() - 60_000} WHERE id = ${sqlLiteral(order_id)}`);
    const cron = await fetch(`${campus.worker_url}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent('*/5 * * * *')}`, {
      signal: AbortSignal.timeout(15_000),
    });
    expect(cron.status).toBe(200);
    await poll(() => page.getByTestId('order-status').textContent(), { timeout: CLOSE_TIMEOUT_MS, interval: 500 }).toBe('已关闭');
    expect(await page.getByText('订单已关闭，未扣款。').count()).toBe(1);

    await page.getByRole('link', { name: '查看充值记录' }).click();
    await poll(() => page.getByTestId('record').count()).toBe(3);
    await poll(() => page.getByTestId('record').locator('.status').allTextContents()).toEqual(['已关闭', '待圈存', '待圈存']);
    // Closed money is no money: the month's total is unchanged.
    expect(await page.getByTestId('month-total').first().textContent()).toMatch(/合计 150\.00 元 · 2 笔$/);
  });

  it('swipes the card at a POS terminal and shows 已圈存 with the time and the terminal', async () => {
    // The campus hub, started through its CLI the way an operator does, registered with the Worker.
    hub = new HubHarness({ worker_url: campus.worker_url, hub_id: 'bjtu-hub-pwa', poll_interval_ms: 1_000, backoff_max_ms: 500 });
    await hub.init();
    const public_key = hub.public_key;
    const registered = await fetch(`${campus.worker_url}/api/v1/admin/hubs/bjtu-hub-pwa`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${campus.keys.admin_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ school_id: 'bjtu-weihai', public_key }),
      signal: AbortSignal.timeout(15_000),
    });
    expect(registered.status, await registered.clone().text()).toBeLessThan(300);
    const registered_terminal = await hub.addTerminal('canteen-1');
    await hub.start();
    const terminal = hub.terminal(registered_terminal);
    // The card itself, personalised from the hub's master keys with its registered asn.
    const card = hub.card('20230001', { balance_fen: 1_282, online_serial: 3 }, DEMO_CARDS.find((demo) => demo.card_no === '20230001')!.asn);
    try {
      // Both paid top-ups (100.00 and 50.00) reach the hub and are loaded at one tap.
      await poll(async () => (await terminal.tap('20230001', card)).load?.amount_fen ?? 0, { timeout: UI_TIMEOUT_MS, interval: 250 }).toBe(15_000);
    } finally {
      terminal.close();
    }
    expect([card.balance_fen, card.online_serial]).toEqual([16_282, 4]);

    await page.goto(`${campus.worker_url}/orders/${first_order_id}`);
    await poll(() => page.getByTestId('order-status').textContent(), { timeout: CLOSE_TIMEOUT_MS, interval: 500 }).toBe('已圈存');
    // Seen once under load: 已圈存 rendered a moment before the line naming the terminal (the
    // API answered it all along); wait for the line, bounded like every other UI state.
    await poll(() => page.locator('.order-help').textContent()).toMatch(/^已圈存：\d{4}\/\d{2}\/\d{2} \d{2}:\d{2} 在终端 canteen-1 写入卡中。$/);
    await screenshot('order-claimed');

    await page.getByRole('link', { name: '查看充值记录' }).click();
    await poll(() => page.getByTestId('record').locator('.status').allTextContents()).toEqual(['已关闭', '已圈存', '已圈存']);
    expect(await page.getByTestId('record').nth(1).getByText('终端 canteen-1').count()).toBe(1);
    await page.goto(`${campus.worker_url}/`);
    await poll(() => page.locator('article.card .card-pending').count()).toBe(0);
  });

  it('switches to English in settings and keeps it after a reload', async () => {
    await page.goto(`${campus.worker_url}/settings`);
    await page.getByLabel('English').check();
    await poll(() => page.getByRole('heading', { name: 'Settings' }).count()).toBe(1);
    await page.reload();
    await poll(() => page.getByRole('heading', { name: 'Settings' }).count()).toBe(1);
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    await page.goto(`${campus.worker_url}/`);
    await page.getByRole('link', { name: 'Records' }).click();
    await poll(() => page.getByTestId('record').locator('.status').allTextContents()).toEqual(['Closed', 'Loaded', 'Loaded']);
    await page.getByRole('button', { name: 'Refresh', exact: true }).waitFor();
    await screenshot('records-en');
  });

  it('catches up by itself when the connection returns', async () => {
    // On the records screen (English, from the test above), the phone goes offline.
    await context.setOffline(true);
    try {
      await poll(() => page.getByRole('status').textContent()).toMatch(/^Offline · as of/);
      // Meanwhile the card gets a new order from elsewhere (another phone of the family).
      const created = await fetch(`${campus.worker_url}/api/v1/recharges`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ school_id: 'bjtu-weihai', name: '张三', card_no: '20230001', amount_fen: 700, channel: 'alipay', agree_terms: true }),
        signal: AbortSignal.timeout(15_000),
      });
      expect(created.status).toBe(201);
    } finally {
      await context.setOffline(false);
    }
    // No reload, no pull: the 'online' event refreshes the saved copy.
    await poll(() => page.getByTestId('record').locator('.status').allTextContents()).toEqual(['Awaiting payment', 'Closed', 'Loaded', 'Loaded']);
    expect(await page.getByRole('status').count()).toBe(0);
  });

  it('pays with WeChat Pay when chosen', async () => {
    await page.goto(`${campus.worker_url}/`);
    await page.locator('article.card').getByRole('link', { name: 'Top up', exact: true }).click();
    await page.getByLabel('WeChat Pay').check();
    await page.getByRole('button', { name: '200.00' }).click();
    await page.getByRole('button', { name: 'Top up ¥200.00' }).click();
    await page.waitForURL((url) => url.origin === campus.gateway_url);
    await page.getByRole('button', { name: '确认支付' }).click();
    await page.waitForURL((url) => url.origin === campus.worker_url && url.pathname.startsWith('/orders/'));
    await poll(() => page.getByTestId('order-status').textContent()).toBe('Pending');
    expect(await page.locator('.order-amount').textContent()).toBe('¥200.00');
  });

  it('signs auto top-up with Alipay from the saved card\'s settings, shows it on, and cancels it', async () => {
    await page.goto(`${campus.worker_url}/settings`);
    await page.getByRole('link', { name: /^Auto top-up settings/ }).click();
    await page.waitForURL((url) => url.pathname.endsWith('/auto'));
    const auto_path = new URL(page.url()).pathname;
    await page.getByLabel('Each top-up (yuan)').fill('30.00');
    await page.getByLabel('Mobile number (optional, for an SMS notice)').fill('13800138000');
    await page.getByRole('button', { name: 'Sign with Alipay' }).click();
    await page.waitForURL((url) => url.origin === campus.gateway_url);
    await page.getByRole('button', { name: '同意并签约' }).click();
    // Back from Alipay; its dut_user_sign notification (or the agreement query) turns it on.
    await page.waitForURL((url) => url.origin === campus.worker_url && url.pathname === auto_path);
    await poll(async () => {
      if ((await page.getByTestId('auto-state').textContent()) !== 'On') await page.reload();
      return page.getByTestId('auto-state').textContent();
    }, { timeout: CLOSE_TIMEOUT_MS, interval: 1_000 }).toBe('On');
    expect(await page.getByTestId('auto-agreement').textContent()).toContain('Top up 30.00 yuan when the balance is below 20.00 yuan');
    await screenshot('auto-topup');
    await page.getByRole('button', { name: 'Cancel auto top-up' }).click();
    await poll(() => page.getByTestId('auto-state').textContent()).toBe('Stopped');
    expect(await page.getByTestId('auto-stop-reason').textContent()).toBe('Cancelled.');
  });

  it('reports the saved card lost (挂失) after a confirmation, and shows it lost from then on', async () => {
    await page.goto(`${campus.worker_url}/`);
    await page.getByRole('button', { name: /^Report .*20230001 lost$/ }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Report this card lost?' });
    await dialog.waitFor();
    await screenshot('report-lost-confirm');
    await dialog.getByRole('button', { name: 'Report lost' }).click();
    await poll(() => page.getByText('Reported lost', { exact: true }).count()).toBe(1);
    expect(await page.getByRole('link', { name: 'Top up', exact: true }).count()).toBe(0);
    await screenshot('card-lost');
    // The Worker has it lost: the card's lookup says so.
    const lookup = await fetch(`${campus.worker_url}/api/v1/cards/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ school_id: 'bjtu-weihai', name: '张三', card_no: '20230001' }),
    });
    expect(await lookup.json()).toMatchObject({ status: 'lost' });
    // And the phone keeps showing it after a reload, when the app has refreshed from the Worker.
    await page.reload();
    await poll(() => page.getByText('Reported lost', { exact: true }).count()).toBe(1);
    expect(await page.getByRole('button', { name: /^Report .* lost$/ }).count()).toBe(0);
  });
});

/**
 * A static origin holding a copy of pwa/dist that a test may change, as a deployment does.
 * Only this test needs a second version of the app; the Worker's own pwa/dist is shared with
 * every other test and is never touched.
 */
async function serveCopyOfDist(): Promise<{ origin: string; dir: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-pwa-deploy-'));
  cpSync(path.join(REPO_ROOT, 'pwa', 'dist'), dir, { recursive: true });
  const types: Record<string, string> = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.png': 'image/png',
    '.webmanifest': 'application/manifest+json',
  };
  const server = createServer((request, response) => {
    const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    let file = path.join(dir, path.normalize(pathname));
    if (!file.startsWith(dir) || !existsSync(file) || statSync(file).isDirectory()) file = path.join(dir, 'index.html');
    response.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${address.port}`,
    dir,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('PWA on a desktop browser', () => {
  it('shows the provider\'s QR code to scan, and 待圈存 once the phone that scanned it has paid', async () => {
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    desktop.setDefaultTimeout(UI_TIMEOUT_MS);
    try {
      const tab = await desktop.newPage();
      await tab.goto(`${campus.worker_url}/topup`);
      await tab.getByRole('button', { name: /学校/ }).click();
      await tab.getByRole('button', { name: /北京交通大学威海校区/ }).click();
      await tab.getByLabel('持卡人姓名').fill('李小红');
      await tab.getByLabel('卡号').fill('20230002');
      await tab.getByLabel(/我已阅读并同意/).check();
      await tab.getByRole('button', { name: '充值 ¥100.00' }).click();
      await tab.waitForURL((url) => url.origin === campus.worker_url && url.pathname.startsWith('/orders/'));
      const order_id = new URL(tab.url()).pathname.split('/')[2]!;
      const qr = tab.getByRole('img', { name: '付款二维码' });
      await qr.waitFor();
      expect(await tab.getByText('请用手机支付宝扫码支付').count()).toBe(1);
      // The code on the screen is the one Alipay's precreate answered for this order.
      const sim = await fetch(`${campus.gateway_url}/sim/alipay/trades/${order_id}`);
      const { trade } = (await sim.json()) as { trade: { qr_token: string } };
      const qr_code = `${campus.gateway_url}/qr/${trade.qr_token}`;
      expect(await qr.locator('path').getAttribute('d')).toBe(qrPath(qr_code).d);
      await tab.screenshot({ path: path.join(ARTIFACTS, 'desktop-qr.png') });

      // The phone that scanned it opens the cashier and pays.
      const phone = await browser.newContext({ viewport: VIEWPORT, locale: 'zh-CN' });
      try {
        const scanner = await phone.newPage();
        await scanner.goto(qr_code);
        await scanner.getByRole('button', { name: '确认付款' }).click();
        await scanner.waitForLoadState();
      } finally {
        await phone.close();
      }
      await poll(() => tab.getByTestId('order-status').textContent()).toBe('待圈存');
      expect(await qr.count()).toBe(0);
    } finally {
      await desktop.close();
    }
  });
});

describe('PWA update in Chromium', () => {
  it('offers a newly deployed version and switches to it when asked', async () => {
    const deployment = await serveCopyOfDist();
    const fresh = await browser.newContext({ viewport: VIEWPORT, locale: 'zh-CN', serviceWorkers: 'allow' });
    fresh.setDefaultTimeout(UI_TIMEOUT_MS);
    try {
      const tab = await fresh.newPage();
      await tab.goto(`${deployment.origin}/`);
      await tab.evaluate(async () => {
        await navigator.serviceWorker.ready;
      });
      expect(await tab.getByRole('alertdialog').count()).toBe(0);

      // The next deployment: a service worker script that differs by a byte is a new version.
      const sw = path.join(deployment.dir, 'sw.js');
      writeFileSync(sw, `${readFileSync(sw, 'utf8')}\n// next deployment\n`);
      await tab.reload();
      const prompt = tab.getByRole('alertdialog');
      await poll(() => prompt.count()).toBe(1);
      expect(await prompt.textContent()).toContain('有新版本可用。');
      await tab.screenshot({ path: path.join(ARTIFACTS, 'update-prompt.png') });

      // "Later" keeps the running version, and the offer comes back at the next visit.
      await prompt.getByRole('button', { name: '稍后' }).click();
      expect(await prompt.count()).toBe(0);
      await tab.reload();
      await poll(() => prompt.count()).toBe(1);
      // "Update now" activates the new version and reloads the page under it.
      await Promise.all([tab.waitForEvent('load'), prompt.getByRole('button', { name: '立即更新' }).click()]);
      await poll(() => tab.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting ?? null)).toBe(null);
      expect(await tab.getByRole('alertdialog').count()).toBe(0);
      expect(await tab.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    } finally {
      await fresh.close();
      await deployment.close();
    }
  });
});
