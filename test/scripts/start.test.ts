// `npm start` as a user runs it, on free ports and in a temporary state and key directory:
// it comes up, prints where everything is, serves the seeded demo schools, stops cleanly on
// SIGTERM, and on a second start reuses its keys and follows the gateway to a new port.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SchoolsResponse } from '../../protocol/api.ts';
import { DEMO_CARDS, DEMO_SCHOOLS } from '../../sim/demo-campus.ts';
import { freePort, runToExit, startService, type Service } from '../../scripts/lib/processes.ts';
import { REPO_ROOT } from '../../scripts/lib/local-d1.ts';
import { until } from '../helpers/wait.ts';

const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-start-'));
const running: Service[] = [];

afterAll(async () => {
  for (const service of running) await service.stop();
  rmSync(work_dir, { recursive: true, force: true });
});

async function npmStart(ports: { worker: number; gateway: number }): Promise<{ service: Service; worker_url: string; gateway_url: string }> {
  const service = await startService({
    name: 'npm start',
    command: 'npm',
    args: ['start', '--silent'],
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: String(ports.worker),
      GATEWAY_PORT: String(ports.gateway),
      HUB_PORT: '0',
      YIKATONG_STATE_DIR: path.join(work_dir, 'state'),
      YIKATONG_DEV_DIR: work_dir,
    },
    ready: /yikatong ready: worker (http:\/\/\S+) gateway (http:\/\/\S+)/,
    ready_timeout_ms: 150_000,
  });
  running.push(service);
  return { service, worker_url: service.ready_match[1]!, gateway_url: service.ready_match[2]! };
}

function devVar(name: string): string | undefined {
  const text = readFileSync(path.join(work_dir, '.dev.vars'), 'utf8');
  return new RegExp(`^${name}="([^"]*)"$`, 'm').exec(text)?.[1];
}

/** Polls the order, bounded, until it reaches `status`. */
async function waitForStatus(worker_url: string, order_id: string, status: string): Promise<void> {
  await until(
    `order ${order_id} ${status}`,
    async () => ((await (await fetch(`${worker_url}/api/v1/recharges/${order_id}`)).json()) as { status: string }).status === status,
    { timeout_ms: 30_000, interval_ms: 200 },
  );
}

/** `npm run pos -- …` as a user types it, against the campus `npm start` wrote `.dev/` for. */
async function pos(args: string[]): Promise<string> {
  const result = await runToExit('npm', ['run', '--silent', 'pos', '--', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, YIKATONG_DEV_DIR: work_dir },
    timeout_ms: 30_000,
  });
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

/** What the simulated chip holds (the cards file `npm run pos` keeps). */
function chip(card_no: string): Record<string, unknown> | undefined {
  const file = JSON.parse(readFileSync(path.join(work_dir, '.dev', 'pos-cards.json'), 'utf8')) as { cards: Record<string, Record<string, unknown>> };
  return file.cards[card_no];
}

async function expectRefused(url: string): Promise<void> {
  await expect(fetch(url, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
}

describe('npm start', () => {
  it('comes up on free ports, serves the demo campus, prints what to try, and stops on SIGTERM', { timeout: 300_000 }, async () => {
    const first = await npmStart({ worker: 0, gateway: 0 });
    const output = first.service.output();
    expect(output).toContain(`${first.worker_url}/api/v1/schools`);
    expect(output).toMatch(/curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/api\/v1\/recharges/);
    expect(output).toContain('张三');
    expect(output).toContain(`ADMIN_TOKEN in ${path.join(work_dir, '.dev.vars')}`);

    const response = await fetch(`${first.worker_url}/api/v1/schools`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as SchoolsResponse;
    expect(body.schools.map((school) => school.name).sort()).toEqual(DEMO_SCHOOLS.map((school) => school.name).sort());

    // The Worker is configured for the gateway that actually runs.
    expect(devVar('ALIPAY_GATEWAY')).toBe(`${first.gateway_url}/gateway.do`);
    expect(devVar('WECHATPAY_GATEWAY')).toBe(first.gateway_url);
    expect((await fetch(`${first.gateway_url}/sim/health`)).status).toBe(200);
    const admin_token = devVar('ADMIN_TOKEN');
    expect(admin_token).toMatch(/^[0-9a-f]{48}$/);
    const gateway_config = JSON.parse(readFileSync(path.join(work_dir, '.dev', 'gateway.json'), 'utf8'));
    expect(gateway_config.keys.admin_token).toBe(admin_token);

    // The console's demo operator signs in with the password printed and kept in .dev/console.json.
    const console_config = JSON.parse(readFileSync(path.join(work_dir, '.dev', 'console.json'), 'utf8')) as { operator_id: string; password: string };
    expect(output).toContain(`${first.worker_url}/console  (operator demo-clerk, password ${console_config.password}`);
    const signed_in = await fetch(`${first.worker_url}/api/v1/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operator_id: console_config.operator_id, password: console_config.password }),
    });
    expect(signed_in.status).toBe(201);
    expect(await signed_in.json()).toMatchObject({ operator_id: 'demo-clerk', schools: [{ school_id: DEMO_SCHOOLS[0]!.id }] });
    // http://127.0.0.1 takes no Secure cookie, or the browser would drop it.
    expect(signed_in.headers.get('set-cookie')).not.toMatch(/Secure/);

    // What the guide says to try: pay for a top-up, then swipe the card at the demo hub.
    const hub_url = /Campus hub\s+(http:\/\/\S+)/.exec(output)?.[1];
    expect(hub_url).toBeDefined();
    expect(output).toContain('npm run pos -- swipe 20230001');
    const created = await fetch(`${first.worker_url}/api/v1/recharges`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ school_id: 'bjtu-weihai', name: '张三', card_no: '20230001', amount_fen: 10_000, channel: 'alipay', agree_terms: true }),
    });
    expect(created.status).toBe(201);
    const { order_id, pay_url } = (await created.json()) as { order_id: string; pay_url: string };
    expect((await fetch(pay_url)).status).toBe(200);
    const paid = await fetch(`${first.gateway_url}/sim/alipay/trades/${order_id}/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(paid.status).toBe(200);
    await waitForStatus(first.worker_url, order_id, 'pending_claim');
    // npm start played the card issuer: the school's master keys (0600, never printed) and
    // the demo cards personalised from them, with the asns the registry gave the Worker.
    const card_keys_file = path.join(work_dir, '.dev', 'hub', 'card-keys.json');
    expect(statSync(card_keys_file).mode & 0o777).toBe(0o600);
    const card_keys = readFileSync(card_keys_file, 'utf8');
    const master = JSON.parse(card_keys) as { load_mk: string; tac_mk: string };
    expect(output).not.toContain(master.load_mk);
    expect(output).not.toContain(master.tac_mk);
    const demo_card = DEMO_CARDS.find((card) => card.card_no === '20230001')!;
    expect(chip('20230001')).toMatchObject({ asn: demo_card.asn, balance_fen: 0, online_serial: 0 });

    // The hub hears of the credit by push within about a second; a few tries cover a slow machine.
    let last_swipe = '';
    const swipe = await until(
      () => `a swipe of 20230001 loading the top-up (last said: ${last_swipe})`,
      async () => {
        last_swipe = await pos(['swipe', '20230001']);
        return last_swipe.includes('hub: MAC2 for') ? last_swipe : null;
      },
      { timeout_ms: 30_000, interval_ms: 500 },
    );
    expect(swipe).toContain('hub: MAC2 for 100.00 yuan');
    expect(swipe).toContain('card written: balance 100.00 yuan, online serial 1');
    expect(swipe).toContain('hub: claim committed');
    await waitForStatus(first.worker_url, order_id, 'claimed');
    // The card is the truth: paid 100.00, spent 25.00 at the till, 75.00 on the chip; a second
    // swipe finds nothing more to load.
    expect(await pos(['spend', '20230001', '2500'])).toContain('chip balance 75.00 yuan');
    expect(await pos(['swipe', '20230001'])).not.toContain('hub: MAC2 for');
    expect(chip('20230001')).toMatchObject({ balance_fen: 7_500, online_serial: 1 });

    await first.service.stop(20_000);
    expect(first.service.child.exitCode ?? first.service.child.signalCode).not.toBeNull();
    expect(first.service.output()).toContain('[start] stopped');
    await expectRefused(`${first.worker_url}/api/v1/schools`);
    await expectRefused(`${first.gateway_url}/sim/health`);
    await expectRefused(`${hub_url}/healthz`);

    // Second start: a fixed gateway port this time. Same keys, .dev.vars follows the gateway,
    // seeding again changes nothing.
    const gateway_port = await freePort();
    const second = await npmStart({ worker: 0, gateway: gateway_port });
    expect(second.gateway_url).toBe(`http://127.0.0.1:${gateway_port}`);
    expect(devVar('ALIPAY_GATEWAY')).toBe(`http://127.0.0.1:${gateway_port}/gateway.do`);
    expect(devVar('ADMIN_TOKEN')).toBe(admin_token);
    const again = (await (await fetch(`${second.worker_url}/api/v1/schools`)).json()) as SchoolsResponse;
    expect(again.schools).toEqual(body.schools);
    // The card keys are kept, and so are the cards with what the last swipe left on them.
    expect(readFileSync(card_keys_file, 'utf8')).toBe(card_keys);
    expect(chip('20230001')).toMatchObject({ balance_fen: 7_500, online_serial: 1 });
    // The admin API takes the kept token: the Worker really runs on the reused keys.
    const admin = await fetch(`${second.worker_url}/api/v1/admin/orders`, { headers: { authorization: `Bearer ${admin_token}` } });
    expect(admin.status).toBe(200);
    await second.service.stop(20_000);
    await expectRefused(`${second.worker_url}/api/v1/schools`);
  });

  it('names a damaged key file instead of replacing the keys in it', { timeout: 120_000 }, async () => {
    const dev_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-start-keys-'));
    try {
      mkdirSync(path.join(dev_dir, '.dev'));
      const config_path = path.join(dev_dir, '.dev', 'gateway.json');
      writeFileSync(config_path, '{"keys": ');
      // In its own process group, killed once it exits or outlives the bound: nothing it
      // started is left behind, whatever the assertions say.
      const result = await runToExit('npm', ['start', '--silent'], {
        cwd: REPO_ROOT,
        env: { ...process.env, PORT: '0', GATEWAY_PORT: '0', YIKATONG_DEV_DIR: dev_dir, YIKATONG_STATE_DIR: path.join(dev_dir, 'state') },
        timeout_ms: 100_000,
      });
      expect(result.code, result.output).toBe(1);
      expect(result.stderr).toContain(`sandbox keys failed: ${config_path} is not JSON`);
      // The operator's file is left as it was, for them to look at.
      expect(readFileSync(config_path, 'utf8')).toBe('{"keys": ');
    } finally {
      rmSync(dev_dir, { recursive: true, force: true });
    }
  });

  it('refuses to start on a port that is taken, naming the variable to change', { timeout: 120_000 }, async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(npmStart({ worker: 0, gateway: port })).rejects.toThrow(/port \d+ is in use \(the gateway's\); set GATEWAY_PORT/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
