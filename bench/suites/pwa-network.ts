// The PWA on a phone's bad network (issue 11; DESIGN section 8): real headless Chromium against
// `wrangler dev` serving the built app and the simulated cashier, with Chrome DevTools' Fast 3G
// and Slow 3G profiles applied over CDP (Network.emulateNetworkConditions), each beside the same
// measurement on loopback. Measured: a first visit (empty cache, no service worker), a repeat
// visit (the service worker's copy), the first screen of the top-up form on a first visit, and
// a returning holder's time and taps from opening the app to the provider's payment page.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { SHELL_BUDGET_BYTES } from '../../pwa/build/budget.ts';
import { startCampus, type Campus } from '../../scripts/start.ts';
import type { BenchFigure, BenchSuite } from '../lib/types.ts';

const CHROMIUM = '/usr/bin/chromium';
const VIEWPORT = { width: 360, height: 740 };
// Bounds, not goals: Slow 3G moves 50 KB/s behind a 2 s round trip.
const UI_TIMEOUT_MS = 90_000;
const RETURNING_GOAL_MS = 3_000;
// Between the taps and the cashier: POST /api/v1/recharges, then the provider's page.
const RETURNING_ROUND_TRIPS = 2;

interface Profile {
  name: string;
  // Chrome DevTools' presets (front_end/core/sdk/NetworkManager.ts): round trip, bytes/s.
  conditions: { latency: number; downloadThroughput: number; uploadThroughput: number } | null;
}

const LOOPBACK: Profile = { name: 'loopback', conditions: null };
const PROFILES: readonly Profile[] = [
  { name: 'Fast 3G', conditions: { latency: 562.5, downloadThroughput: (1.6 * 1_000_000 * 0.9) / 8, uploadThroughput: (750 * 1_000 * 0.9) / 8 } },
  { name: 'Slow 3G', conditions: { latency: 2_000, downloadThroughput: (500 * 1_000 * 0.8) / 8, uploadThroughput: (500 * 1_000 * 0.8) / 8 } },
];

interface Traffic {
  bytes: number;
  requests: number;
}

/** A page whose network runs under `profile`, counting the bytes it takes from the network. */
async function throttledPage(context: BrowserContext, profile: Profile): Promise<{ page: Page; cdp: CDPSession; traffic: Traffic }> {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  if (profile.conditions !== null) await cdp.send('Network.emulateNetworkConditions', { offline: false, ...profile.conditions });
  const traffic: Traffic = { bytes: 0, requests: 0 };
  cdp.on('Network.loadingFinished', (event: { encodedDataLength: number }) => {
    traffic.bytes += event.encodedDataLength;
    traffic.requests += 1;
  });
  return { page, cdp, traffic };
}

async function newPhone(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: VIEWPORT, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', serviceWorkers: 'allow' });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  return context;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return Math.round(performance.now() - started);
}

async function firstContentfulPaintMs(page: Page): Promise<number | null> {
  const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null);
  return fcp === null ? null : Math.round(fcp);
}

/** A holder who topped up once: the card is saved on the phone, the service worker installed. */
async function returningHolder(browser: Browser, campus: Campus): Promise<BrowserContext> {
  const context = await newPhone(browser);
  const page = await context.newPage();
  await page.goto(`${campus.worker_url}/topup`);
  await page.getByRole('button', { name: /学校/ }).click();
  await page.getByRole('button', { name: /北京交通大学威海校区/ }).click();
  await page.getByLabel('持卡人姓名').fill('张三');
  await page.getByLabel('卡号').fill('20230001');
  await page.getByLabel(/我已阅读并同意/).check();
  await page.getByRole('button', { name: '充值 ¥100.00' }).click();
  await page.waitForURL((url) => url.origin === campus.gateway_url);
  await page.getByRole('button', { name: '确认付款' }).click();
  await page.waitForURL((url) => url.origin === campus.worker_url && url.pathname.startsWith('/orders/'));
  await page.getByTestId('order-status').filter({ hasText: '待圈存' }).waitFor();
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.close();
  return context;
}

interface ProfileRun {
  first_visit_ms: number;
  first_visit: Traffic;
  first_visit_fcp_ms: number | null;
  repeat_visit_ms: number;
  repeat_visit: Traffic;
  form_ms: number;
  form: Traffic;
  returning_ms: number;
  returning_taps: number;
  returning: Traffic;
}

async function runProfile(browser: Browser, campus: Campus, holder: BrowserContext, profile: Profile, log: (line: string) => void): Promise<ProfileRun> {
  // First visit: a phone that never saw the app.
  const fresh = await newPhone(browser);
  try {
    const first = await throttledPage(fresh, profile);
    const first_visit_ms = await timed(async () => {
      await first.page.goto(`${campus.worker_url}/`, { waitUntil: 'commit' });
      await first.page.getByText('还没有保存的卡').waitFor();
    });
    const first_visit = { ...first.traffic };
    const first_visit_fcp_ms = await firstContentfulPaintMs(first.page);
    // The service worker precaches the shell after the first visit; the next one is served by it.
    await first.page.evaluate(async () => {
      await navigator.serviceWorker.ready;
    });
    await first.page.close();
    const repeat = await throttledPage(fresh, profile);
    const repeat_visit_ms = await timed(async () => {
      await repeat.page.goto(`${campus.worker_url}/`, { waitUntil: 'commit' });
      await repeat.page.getByText('还没有保存的卡').waitFor();
    });
    const repeat_visit = { ...repeat.traffic };
    await repeat.page.close();
    log(`${profile.name}: first visit ${first_visit_ms} ms (${first_visit.bytes} B), repeat ${repeat_visit_ms} ms (${repeat_visit.bytes} B)`);

    // The top-up form's first screen, opened from a link on a phone that never saw the app.
    const cold = await newPhone(browser);
    let form_ms: number;
    let form: Traffic;
    try {
      const form_page = await throttledPage(cold, profile);
      form_ms = await timed(async () => {
        await form_page.page.goto(`${campus.worker_url}/topup`, { waitUntil: 'commit' });
        await form_page.page.getByLabel('持卡人姓名').waitFor();
      });
      form = { ...form_page.traffic };
    } finally {
      await cold.close();
    }

    // The returning holder: open the app, tap the saved card's 充值, tap pay; the cashier is up.
    const again = await throttledPage(holder, profile);
    let taps = 0;
    const returning_ms = await timed(async () => {
      await again.page.goto(`${campus.worker_url}/`, { waitUntil: 'commit' });
      await again.page.locator('article.card').getByRole('link', { name: '充值', exact: true }).click();
      taps += 1;
      await again.page.getByRole('button', { name: '充值 ¥100.00' }).click();
      taps += 1;
      await again.page.waitForURL((url) => url.origin === campus.gateway_url, { waitUntil: 'commit' });
      await again.page.getByRole('button', { name: '确认付款' }).waitFor();
    });
    const returning = { ...again.traffic };
    await again.page.close();
    log(`${profile.name}: form ${form_ms} ms, returning holder ${returning_ms} ms in ${taps} taps`);
    return { first_visit_ms, first_visit, first_visit_fcp_ms, repeat_visit_ms, repeat_visit, form_ms, form, returning_ms, returning_taps: taps, returning };
  } finally {
    await fresh.close();
  }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export const suite: BenchSuite = {
  name: 'pwa-network',
  async run({ quick, log }) {
    const profiles = quick ? PROFILES.slice(0, 1) : PROFILES;
    const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-bench-pwa-'));
    const campus = await startCampus({ worker_port: 0, gateway_port: 0, state_dir: path.join(work_dir, 'state'), dev_dir: work_dir, log });
    let browser: Browser | null = null;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
      const holder = await returningHolder(browser, campus);
      const base = await runProfile(browser, campus, holder, LOOPBACK, log);
      const figures: BenchFigure[] = [
        {
          name: 'first visit: bytes over the network until the home screen',
          value: base.first_visit.bytes,
          unit: 'bytes',
          baseline: { name: 'app-shell budget (JS + CSS, gzip; pwa/build/budget.ts)', value: SHELL_BUDGET_BYTES },
          notes: [`${base.first_visit.requests} requests, as wrangler dev serves them: the HTML, manifest and icons too, not only the shell's JS and CSS`],
        },
      ];
      for (const profile of profiles) {
        const run = await runProfile(browser, campus, holder, profile, log);
        figures.push(
          {
            name: `first visit to the home screen, ${profile.name}`,
            value: run.first_visit_ms,
            unit: 'ms',
            baseline: { name: 'loopback', value: base.first_visit_ms },
            notes: [`${kb(run.first_visit.bytes)} in ${run.first_visit.requests} requests; first contentful paint ${run.first_visit_fcp_ms ?? '?'} ms`],
          },
          {
            name: `repeat visit from the service worker, ${profile.name}`,
            value: run.repeat_visit_ms,
            unit: 'ms',
            baseline: { name: 'loopback', value: base.repeat_visit_ms },
            notes: [`${kb(run.repeat_visit.bytes)} from the network in ${run.repeat_visit.requests} requests`],
          },
          {
            name: `top-up form, first screen on a first visit, ${profile.name}`,
            value: run.form_ms,
            unit: 'ms',
            baseline: { name: 'loopback', value: base.form_ms },
            notes: [`${kb(run.form.bytes)} in ${run.form.requests} requests`],
          },
          {
            name: `returning holder: opening the app to the provider's payment page, ${profile.name}`,
            value: run.returning_ms,
            unit: 'ms',
            baseline: { name: 'loopback', value: base.returning_ms },
            goal: `under ${RETURNING_GOAL_MS} ms`,
            ok: run.returning_ms < RETURNING_GOAL_MS,
            notes: [
              `${run.returning_taps} taps (the saved card's 充值, then pay ¥100.00); ${kb(run.returning.bytes)} from the network in ${run.returning.requests} requests`,
              // The app itself comes from the service worker; what is left cannot be cached away.
              `floor: ${RETURNING_ROUND_TRIPS} round trips (the Worker creates the order, the provider's page loads) × ${profile.conditions?.latency ?? 0} ms = ${RETURNING_ROUND_TRIPS * (profile.conditions?.latency ?? 0)} ms`,
            ],
          },
        );
      }
      await holder.close();
      return figures;
    } finally {
      await browser?.close().catch(() => undefined);
      await campus.stop();
      rmSync(work_dir, { recursive: true, force: true });
    }
  },
};
