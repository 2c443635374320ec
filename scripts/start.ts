// `npm start`: the whole campus on this machine. A list of steps run in order; a step that
// starts a process registers it, and shutdown (Ctrl-C, SIGTERM, a failed step or a process
// that dies) stops every registered process by its pid, last started first. Adding a part
// (the hub, the PWA build) is one more entry in STEPS.
//
// Environment: PORT (Worker, default 8787; 0 = any free port), GATEWAY_PORT (simulated
// gateway, default 8788; 0 = any), YIKATONG_STATE_DIR (wrangler's --persist-to, default
// .wrangler/state), YIKATONG_DEV_DIR (where `.dev.vars` and `.dev/gateway.json` live,
// default the repository root), HUB_PORT (the demo school's campus hub, default 7700; 0 = any
// free port; `off` starts no hub).
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ALIPAY_RETRY_SCHEDULE_MS, type GatewayConfig } from '../sim/gateway/types.ts';
import { DEMO_CARDS, DEMO_SCHOOLS } from '../sim/demo-campus.ts';
import { generateSandboxKeys, toDevVars, workerVars, type SandboxKeys } from '../sim/keys.ts';
import { applyLocalMigrations, DEFAULT_PERSIST_DIR, REPO_ROOT } from './lib/local-d1.ts';
import { portInUse, runCommand, startService, type Service } from './lib/processes.ts';
import { seedDemoCampus } from './seed.ts';
import { ensureDemoOperator, type DemoConsole } from './lib/demo-console.ts';
import { DEMO_HUB_PORT_DEFAULT, startDemoHub, type DemoHub } from './lib/demo-hub.ts';

export const WORKER_PORT_DEFAULT = 8787;
export const GATEWAY_PORT_DEFAULT = 8788;
// wrangler dev bundles and boots workerd; on a loaded 2-core machine that can take a while.
const WORKER_READY_TIMEOUT_MS = 120_000;
const GATEWAY_READY_TIMEOUT_MS = 30_000;
const NODE_BIN = process.execPath;
const WRANGLER_BIN = path.join(REPO_ROOT, 'node_modules', '.bin', 'wrangler');

export interface CampusOptions {
  /** 0 picks a free port. */
  worker_port: number;
  /** 0 picks a free port; `.dev.vars` follows whatever port the gateway got. */
  gateway_port: number;
  state_dir: string;
  dev_dir: string;
  /**
   * Extra Worker vars for this run only (`wrangler dev --var`), e.g. ORDER_EXPIRY_MINUTES.
   * wrangler lets `.dev.vars` win over `--var`, so only names `.dev.vars` does not set work here.
   */
  worker_var_overrides?: Record<string, string>;
  /**
   * The demo school's hub: its port (0 = any free one), or null for none. Tests that run hubs of
   * their own leave it null; `npm start` starts one on HUB_PORT.
   */
  hub_port?: number | null;
  /** The gateway's notification retry schedule; Alipay's real one by default. */
  notify_retry_schedule_ms?: readonly number[];
  /** Where the children's output goes (npm start prints it; tests keep it quiet). */
  echo?: (line: string) => void;
  /** Progress lines ("applying migrations…"). */
  log?: (line: string) => void;
  /** Aborting stops the start between steps (a Ctrl-C while wrangler boots). */
  abort?: AbortSignal;
}

export interface Campus {
  worker_url: string;
  gateway_url: string;
  keys: SandboxKeys;
  dev_vars_path: string;
  gateway_config_path: string;
  state_dir: string;
  services: readonly Service[];
  /** The demo school's hub, when one was asked for. */
  hub: DemoHub | null;
  /** The demo school's console operator (`demo-clerk`, password in `.dev/console.json`). */
  console: DemoConsole;
  /** Stops every process, last started first. Safe to call more than once. */
  stop(): Promise<void>;
}

/** What the steps share; each step fills in what the later ones need. */
interface StartContext {
  options: CampusOptions;
  services: Service[];
  keys?: SandboxKeys;
  gateway_config_path?: string;
  dev_vars_path?: string;
  gateway_url?: string;
  worker_url?: string;
  hub?: DemoHub;
  console?: DemoConsole;
  /** The SMS simulator's Worker vars (ALIYUN_SMS_*), once it listens. */
  sms_vars?: Record<string, string>;
}

interface Step {
  name: string;
  run(context: StartContext): Promise<void>;
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`start step order: ${what} is not ready yet`);
  return value;
}

/** Keys and tokens live in the gateway config: generated once, then reused on every start. */
const sandboxKeysStep: Step = {
  name: 'sandbox keys',
  async run(context) {
    const dev_dir = path.join(context.options.dev_dir, '.dev');
    const config_path = path.join(dev_dir, 'gateway.json');
    let keys: SandboxKeys;
    if (existsSync(config_path)) {
      let stored: Partial<GatewayConfig> | null;
      try {
        stored = JSON.parse(readFileSync(config_path, 'utf8')) as Partial<GatewayConfig> | null;
      } catch (error) {
        throw new Error(`${config_path} is not JSON (${(error as Error).message}); delete it to generate new keys`);
      }
      keys = stored?.keys as SandboxKeys;
      if (keys?.alipay?.app_id === undefined || typeof keys.admin_token !== 'string') {
        throw new Error(`${config_path} has no sandbox keys; delete it to generate new ones`);
      }
    } else {
      context.options.log?.(`generating sandbox keys into ${path.relative(process.cwd(), config_path) || config_path}`);
      keys = await generateSandboxKeys();
    }
    const config: GatewayConfig = {
      keys,
      notify_retry_schedule_ms: [...(context.options.notify_retry_schedule_ms ?? ALIPAY_RETRY_SCHEDULE_MS)],
    };
    mkdirSync(dev_dir, { recursive: true });
    writeFileSync(config_path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    context.keys = keys;
    context.gateway_config_path = config_path;
  },
};

const gatewayStep: Step = {
  name: 'simulated payment gateway',
  async run(context) {
    const port = context.options.gateway_port;
    if (port !== 0 && (await portInUse(port))) {
      throw new Error(`port ${port} is in use (the gateway's); set GATEWAY_PORT to another port`);
    }
    const service = await startService({
      name: 'gateway',
      command: NODE_BIN,
      args: [path.join(REPO_ROOT, 'sim', 'gateway', 'main.ts'), '--port', String(port), '--config', need(context.gateway_config_path, 'gateway config')],
      cwd: REPO_ROOT,
      ready: /gateway listening on (http:\/\/[^\s]+)/,
      ready_timeout_ms: GATEWAY_READY_TIMEOUT_MS,
      echo: context.options.echo,
    });
    context.services.push(service);
    context.gateway_url = need(service.ready_match[1], 'gateway URL').replace(/\/$/, '');
  },
};

/**
 * The simulated Aliyun SMS API (sim/sms) on a free port, with an access key generated once into
 * `.dev/sms.json`; the Worker's ALIYUN_SMS_* vars point at it, so notices go out as in production.
 */
const smsStep: Step = {
  name: 'simulated SMS (Aliyun)',
  async run(context) {
    const config_path = path.join(context.options.dev_dir, '.dev', 'sms.json');
    if (!existsSync(config_path)) {
      const config = {
        access_key_id: `LTAI${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`,
        access_key_secret: crypto.randomUUID().replace(/-/g, ''),
        sign_names: [SMS_SIGN_NAME],
      };
      mkdirSync(path.dirname(config_path), { recursive: true });
      writeFileSync(config_path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    }
    const config = JSON.parse(readFileSync(config_path, 'utf8')) as { access_key_id?: unknown; access_key_secret?: unknown };
    if (typeof config.access_key_id !== 'string' || typeof config.access_key_secret !== 'string') {
      throw new Error(`${config_path} has no access key; delete it to generate a new one`);
    }
    const service = await startService({
      name: 'sms',
      command: NODE_BIN,
      args: [path.join(REPO_ROOT, 'sim', 'sms', 'main.ts'), '--port', '0', '--config', config_path],
      cwd: REPO_ROOT,
      ready: /sms listening on (http:\/\/[^\s]+)/,
      ready_timeout_ms: GATEWAY_READY_TIMEOUT_MS,
      echo: context.options.echo,
    });
    context.services.push(service);
    context.sms_vars = {
      ALIYUN_SMS_ACCESS_KEY_ID: config.access_key_id,
      ALIYUN_SMS_ACCESS_KEY_SECRET: config.access_key_secret,
      ALIYUN_SMS_SIGN_NAME: SMS_SIGN_NAME,
      ALIYUN_SMS_ENDPOINT: need(service.ready_match[1], 'SMS URL').replace(/\/$/, ''),
      ALIYUN_SMS_TEMPLATE_PAID: 'SMS_100000001',
      ALIYUN_SMS_TEMPLATE_CLAIMED: 'SMS_100000002',
      ALIYUN_SMS_TEMPLATE_REFUNDED: 'SMS_100000003',
      ALIYUN_SMS_TEMPLATE_AUTO_CHARGED: 'SMS_100000004',
    };
  },
};
const SMS_SIGN_NAME = '一卡通';

/**
 * `.dev.vars` holds the Worker's configuration for the gateway at its current address. Lines
 * of ours are replaced, anything an engineer added by hand is kept.
 */
const devVarsStep: Step = {
  name: 'worker configuration (.dev.vars)',
  async run(context) {
    const dev_vars_path = path.join(context.options.dev_dir, '.dev.vars');
    const wanted = { ...workerVars(need(context.keys, 'keys'), need(context.gateway_url, 'gateway URL')), ...context.sms_vars };
    const existing = existsSync(dev_vars_path) ? readFileSync(dev_vars_path, 'utf8') : '';
    const updated = upsertDevVars(existing, wanted);
    if (updated !== existing) writeFileSync(dev_vars_path, updated, { mode: 0o600 });
    context.dev_vars_path = dev_vars_path;
  },
};

/** Replaces the `NAME=…` lines of `vars` in a .dev.vars text, appends missing ones, keeps the rest. */
export function upsertDevVars(existing: string, vars: Record<string, string>): string {
  const remaining = new Map(Object.entries(vars));
  const lines = existing.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const kept = lines.map((line) => {
    const name = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
    if (name === undefined || !remaining.has(name)) return line;
    const value = remaining.get(name)!;
    remaining.delete(name);
    return toDevVars({ [name]: value }).trimEnd();
  });
  const added = remaining.size > 0 ? toDevVars(Object.fromEntries(remaining)).trimEnd().split('\n') : [];
  return `${[...kept, ...added].join('\n')}\n`;
}

const migrationsStep: Step = {
  name: 'local D1 migrations',
  async run(context) {
    mkdirSync(context.options.state_dir, { recursive: true });
    await applyLocalMigrations(context.options.state_dir);
  },
};

const workerStep: Step = {
  name: 'Worker (wrangler dev)',
  async run(context) {
    const port = context.options.worker_port;
    if (port !== 0 && (await portInUse(port))) {
      throw new Error(`port ${port} is in use (the Worker's); set PORT to another port`);
    }
    const dev_vars_path = need(context.dev_vars_path, '.dev.vars');
    const args = [
      'dev',
      '--port',
      String(port),
      '--ip',
      '127.0.0.1',
      '--persist-to',
      context.options.state_dir,
      // Lets anyone run the cron by hand: /cdn-cgi/handler/scheduled?cron=…
      '--test-scheduled',
      '--show-interactive-dev-session=false',
      // Two campuses (a developer's and a test's) must not fight over devtools' default port.
      '--inspector-port',
      '0',
    ];
    // wrangler reads .dev.vars next to wrangler.toml by itself; another directory is named.
    if (path.resolve(dev_vars_path) !== path.join(REPO_ROOT, '.dev.vars')) args.push('--env-file', dev_vars_path);
    const from_dev_vars = new Set(Object.keys(workerVars(need(context.keys, 'keys'), need(context.gateway_url, 'gateway URL'))));
    for (const [name, value] of Object.entries(context.options.worker_var_overrides ?? {})) {
      // It would be silently ignored: .dev.vars takes precedence over --var.
      if (from_dev_vars.has(name)) throw new RangeError(`${name} comes from .dev.vars and cannot be overridden with --var`);
      args.push('--var', `${name}:${value}`);
    }
    const service = await startService({
      name: 'worker',
      command: WRANGLER_BIN,
      args,
      cwd: REPO_ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      ready: /Ready on (http:\/\/[^\s]+)/,
      ready_timeout_ms: WORKER_READY_TIMEOUT_MS,
      echo: context.options.echo,
    });
    context.services.push(service);
    context.worker_url = need(service.ready_match[1], 'Worker URL').replace(/\/$/, '');
  },
};

// The Worker serves pwa/dist as its static assets (wrangler.toml [assets]) and wrangler dev
// refuses to start without that directory, so a fresh clone builds it here. A build newer
// than every PWA source is reused: a start should not pay for a build nothing changed.
const PWA_DIR = path.join(REPO_ROOT, 'pwa');
const PWA_SOURCES = ['src', 'public', 'index.html', 'vite.config.ts', 'build'].map((name) => path.join(PWA_DIR, name));
const PWA_SOURCE_FILES_MAX = 5_000;
const PWA_BUILD_TIMEOUT_MS = 180_000;

/** Newest modification time under the paths, looking at no more than PWA_SOURCE_FILES_MAX files. */
export function newestMtimeMs(paths: readonly string[]): number {
  let newest_ms = 0;
  let seen = 0;
  const pending = [...paths];
  while (pending.length > 0 && seen < PWA_SOURCE_FILES_MAX) {
    const next = pending.pop()!;
    if (!existsSync(next)) continue;
    seen++;
    const stat = statSync(next);
    newest_ms = Math.max(newest_ms, stat.mtimeMs);
    if (stat.isDirectory()) for (const entry of readdirSync(next)) pending.push(path.join(next, entry));
  }
  return newest_ms;
}

// Several campuses may start at once (test files run in parallel): one builds, the others
// wait for it and then find the build fresh. The lock is a file created exclusively; one
// older than a build can take is left over from a killed start and is taken over.
const PWA_BUILD_LOCK = path.join(REPO_ROOT, '.wrangler', 'pwa-build.lock');
const PWA_LOCK_POLL_MS = 200;

function pwaBuildFresh(): boolean {
  const built = path.join(PWA_DIR, 'dist', 'index.html');
  return existsSync(built) && statSync(built).mtimeMs >= newestMtimeMs(PWA_SOURCES);
}

async function withPwaBuildLock(run: () => Promise<void>): Promise<void> {
  mkdirSync(path.dirname(PWA_BUILD_LOCK), { recursive: true });
  const deadline_ms = Date.now() + PWA_BUILD_TIMEOUT_MS;
  for (;;) {
    try {
      closeSync(openSync(PWA_BUILD_LOCK, 'wx'));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const lock_age_ms = Date.now() - (statSync(PWA_BUILD_LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (lock_age_ms > PWA_BUILD_TIMEOUT_MS) rmSync(PWA_BUILD_LOCK, { force: true });
      if (Date.now() > deadline_ms) throw new Error(`another PWA build holds ${PWA_BUILD_LOCK} for too long`);
      await new Promise((resolve) => setTimeout(resolve, PWA_LOCK_POLL_MS));
    }
  }
  try {
    await run();
  } finally {
    rmSync(PWA_BUILD_LOCK, { force: true });
  }
}

const pwaStep: Step = {
  name: 'PWA build (pwa/dist)',
  async run(context) {
    if (!existsSync(path.join(PWA_DIR, 'vite.config.ts')) || pwaBuildFresh()) return;
    await withPwaBuildLock(async () => {
      // Whoever held the lock before may just have built it.
      if (pwaBuildFresh()) return;
      context.options.log?.('building the PWA (vite build)…');
      await runCommand(path.join(REPO_ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', path.join(PWA_DIR, 'vite.config.ts')], {
        cwd: REPO_ROOT,
        // Started from a test runner, NODE_ENV is `test`, and Vite then builds with
        // import.meta.env.DEV set: an app that never registers its service worker.
        env: { ...process.env, NODE_ENV: 'production' },
        timeout_ms: PWA_BUILD_TIMEOUT_MS,
      });
    });
  },
};

const seedStep: Step = {
  name: 'demo campus',
  async run(context) {
    await seedDemoCampus({ base_url: need(context.worker_url, 'Worker URL'), admin_token: need(context.keys, 'keys').admin_token });
  },
};

/** The first demo school's console operator, so the console can be tried at once. */
const consoleStep: Step = {
  name: 'console operator (demo school)',
  async run(context) {
    context.console = await ensureDemoOperator({
      worker_url: need(context.worker_url, 'Worker URL'),
      admin_token: need(context.keys, 'keys').admin_token,
      school_id: DEMO_SCHOOLS[0]!.id,
      dev_dir: context.options.dev_dir,
    });
  },
};

/** The hub of the first demo school, registered at the Worker like an operator would. */
const hubStep: Step = {
  name: 'campus hub (demo school)',
  async run(context) {
    const port = context.options.hub_port ?? null;
    if (port === null) return;
    if (port !== 0 && (await portInUse(port))) {
      throw new Error(`port ${port} is in use (the hub's); set HUB_PORT to another port, or HUB_PORT=off`);
    }
    const school_id = DEMO_SCHOOLS[0]!.id;
    const hub = await startDemoHub({
      worker_url: need(context.worker_url, 'Worker URL'),
      admin_token: need(context.keys, 'keys').admin_token,
      school_id,
      // The cards the seed step registered, each with its asn: the simulator's chips.
      cards: DEMO_CARDS.filter((card) => card.school_id === school_id),
      dev_dir: context.options.dev_dir,
      port,
      echo: context.options.echo,
    });
    context.services.push(hub.service);
    context.hub = hub;
  },
};

// Order matters: the gateway's address goes into .dev.vars before wrangler reads it, and the
// hub registers at a Worker whose demo school is already seeded.
export const STEPS: readonly Step[] = [pwaStep, sandboxKeysStep, gatewayStep, smsStep, devVarsStep, migrationsStep, workerStep, seedStep, consoleStep, hubStep];

async function stopAll(services: Service[]): Promise<void> {
  // Last started first: the Worker goes before the gateway it talks to. Bounded by the list.
  for (const service of [...services].reverse()) {
    await service.stop();
  }
  services.length = 0;
}

/** Runs every step; on any failure stops what was started and rethrows. */
export async function startCampus(options: CampusOptions): Promise<Campus> {
  const context: StartContext = { options, services: [] };
  for (const step of STEPS) {
    options.log?.(`${step.name}…`);
    try {
      options.abort?.throwIfAborted();
      await step.run(context);
    } catch (error) {
      await stopAll(context.services);
      throw new Error(`npm start: ${step.name} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  let stopping: Promise<void> | null = null;
  return {
    worker_url: need(context.worker_url, 'Worker URL'),
    gateway_url: need(context.gateway_url, 'gateway URL'),
    keys: need(context.keys, 'keys'),
    dev_vars_path: need(context.dev_vars_path, '.dev.vars'),
    gateway_config_path: need(context.gateway_config_path, 'gateway config'),
    state_dir: options.state_dir,
    services: context.services,
    hub: context.hub ?? null,
    console: need(context.console, 'console operator'),
    stop: () => (stopping ??= stopAll(context.services)),
  };
}

/** What to open and what to try, printed once everything is up. */
export function guide(campus: Campus): string {
  const school = DEMO_SCHOOLS[0]!;
  const card = DEMO_CARDS.find((c) => c.school_id === school.id && c.status === 'active' && c.kind === 'student')!;
  const visitor = DEMO_CARDS.find((c) => c.card_no === '999')!;
  const relative = path.relative(process.cwd(), campus.dev_vars_path);
  const dev_vars = relative === '' || relative.startsWith('..') ? campus.dev_vars_path : relative;
  const audit = path.resolve(campus.state_dir) === DEFAULT_PERSIST_DIR ? 'npm run audit' : `npm run audit -- --persist-to ${campus.state_dir}`;
  const w = campus.worker_url;
  const topup = JSON.stringify({ school_id: school.id, name: card.holder_name, card_no: card.card_no, amount_fen: 10_000, channel: 'alipay', agree_terms: true });
  const lookup = JSON.stringify({ school_id: school.id, name: visitor.holder_name, card_no: 'SN：000999' });
  return [
    '',
    `yikatong ready: worker ${w} gateway ${campus.gateway_url}`,
    '',
    `  App (PWA)              ${w}/`,
    `  Schools                ${w}/api/v1/schools`,
    `  Simulated gateway      ${campus.gateway_url}  (plays Alipay and WeChat Pay: cashier pages, notifications)`,
    `  Admin token            ADMIN_TOKEN in ${dev_vars}  (Authorization: Bearer …)`,
    `  Console                ${campus.console.url}  (operator ${campus.console.operator_id}, password ${campus.console.password}; kept in ${path.relative(process.cwd(), campus.console.config_path) || campus.console.config_path})`,
    `  Local D1               ${campus.state_dir}`,
    ...(campus.hub === null
      ? []
      : [
          `  Campus hub             ${campus.hub.hub_url}  (${campus.hub.hub_id}; terminal ${campus.hub.terminal_id}, card terminal id ${campus.hub.card_terminal_id}; /healthz, /metrics)`,
          `  Simulated cards        ${path.relative(process.cwd(), campus.hub.cards_file) || campus.hub.cards_file}  (PBOC purses personalised from the school's card keys)`,
        ]),
    '',
    `Demo card: ${school.name} (${school.id}), card ${card.card_no}, holder ${card.holder_name}.`,
    '',
    'Try:',
    `  curl -s ${w}/api/v1/schools?city=${encodeURIComponent(school.city)}`,
    `  curl -s -X POST ${w}/api/v1/cards/lookup -H 'content-type: application/json' -d '${lookup}'`,
    `  curl -s -X POST ${w}/api/v1/recharges -H 'content-type: application/json' -d '${topup}'`,
    '    → open its pay_url in a browser: the simulated cashier; pay (or cancel) there.',
    `  curl -s ${w}/api/v1/recharges/<order_id>      → "pending_claim" once the notification arrived`,
    ...(campus.hub === null
      ? []
      : [
          `  ${campus.hub.swipe_command(card.card_no)}   → swipe the card at a simulated POS: the top-up is loaded onto it`,
          `  curl -s ${w}/api/v1/recharges/<order_id>      → "claimed" once the hub has sent the claim`,
        ]),
    `  curl -s '${w}/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*'   → run the expiry cron now`,
    `  ${audit}   → check the ledger invariants`,
    '',
    'Ctrl-C stops everything.',
  ].join('\n');
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RangeError(`${name} must be a port number (0 = any), got ${raw}`);
  return port;
}

async function main(): Promise<void> {
  const options: CampusOptions = {
    worker_port: portFromEnv('PORT', WORKER_PORT_DEFAULT),
    gateway_port: portFromEnv('GATEWAY_PORT', GATEWAY_PORT_DEFAULT),
    hub_port: process.env.HUB_PORT?.trim() === 'off' ? null : portFromEnv('HUB_PORT', DEMO_HUB_PORT_DEFAULT),
    state_dir: path.resolve(process.env.YIKATONG_STATE_DIR ?? DEFAULT_PERSIST_DIR),
    dev_dir: path.resolve(process.env.YIKATONG_DEV_DIR ?? REPO_ROOT),
    echo: (line) => console.log(line),
    log: (line) => console.log(`[start] ${line}`),
  };
  let campus: Campus | null = null;
  let shutting_down = false;
  const shutdown = async (reason: string, code: number) => {
    if (shutting_down) return;
    shutting_down = true;
    console.log(`[start] ${reason}: stopping…`);
    await campus?.stop();
    console.log('[start] stopped');
    process.exit(code);
  };
  // A signal during startup stops it after the current step, which then stops what it started.
  const aborter = new AbortController();
  options.abort = aborter.signal;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (campus !== null) void shutdown(signal, 0);
      else aborter.abort(new Error(`${signal} during start`));
    });
  }
  try {
    campus = await startCampus(options);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(aborter.signal.aborted ? 0 : 1);
  }
  for (const service of campus.services) {
    void service.exited().then(() => {
      if (!shutting_down) {
        console.error(`[start] ${service.name} exited unexpectedly; its last output:\n${service.output().slice(-4000)}`);
        void shutdown(`${service.name} exited`, 1);
      }
    });
  }
  console.log(guide(campus));
}

if (import.meta.main) await main();
