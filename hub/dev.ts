// The demo hub of `npm start` (issue 3): one call from the start script brings up a hub for
// the demo school against the local Worker, the way an operator would (keygen, registration
// at the Worker's admin API, `terminal add`, `start`), and writes `.dev/pos.json` so that
// `npm run pos -- swipe <card_no>` works with no flags.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCommand, startService, type Service } from '../scripts/lib/processes.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE_ARGS = ['--disable-warning=ExperimentalWarning', path.join(ROOT, 'hub/main.ts')];
export const DEMO_HUB_PORT_DEFAULT = 7700;
export const DEMO_TERMINAL_ID = 'demo-pos-1';

export interface DemoHubOptions {
  worker_url: string;
  admin_token: string;
  school_id: string;
  /** `.dev/` goes here (the repository root for `npm start`). */
  dev_dir: string;
  /** 0 picks a free port. */
  port: number;
  echo?: (line: string) => void;
}

export interface DemoHub {
  service: Service;
  hub_id: string;
  hub_url: string;
  terminal_id: string;
  key_hex: string;
  /** What to run to load a fresh top-up onto a demo card. */
  swipe_command(card_no: string): string;
}

export async function startDemoHub(options: DemoHubOptions): Promise<DemoHub> {
  const hub_dir = path.join(options.dev_dir, '.dev', 'hub');
  mkdirSync(hub_dir, { recursive: true });
  const hub_id = `${options.school_id}-hub`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 48);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HUB_WORKER_URL: options.worker_url,
    HUB_ID: hub_id,
    HUB_KEY_FILE: path.join(hub_dir, 'hub-key.pem'),
    HUB_DB: path.join(hub_dir, 'hub.db'),
    HUB_LISTEN: `127.0.0.1:${options.port}`,
  };
  // The key survives restarts (the Worker keeps the hub's sync state); registering it again
  // is idempotent.
  if (!existsSync(env.HUB_KEY_FILE!)) await runCommand(process.execPath, [...NODE_ARGS, 'keygen'], { cwd: ROOT, env, timeout_ms: 30_000 });
  const public_key = (await runCommand(process.execPath, [...NODE_ARGS, 'keygen', '--print'], { cwd: ROOT, env, timeout_ms: 30_000 }))
    .trim()
    .split('\n')
    .at(-1)!;
  const registered = await fetch(`${options.worker_url}/api/v1/admin/hubs/${hub_id}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${options.admin_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ school_id: options.school_id, public_key }),
    signal: AbortSignal.timeout(15_000),
  });
  if (!registered.ok) throw new Error(`registering hub ${hub_id}: ${registered.status} ${await registered.text()}`);
  const key_hex = (await runCommand(process.execPath, [...NODE_ARGS, 'terminal', 'add', DEMO_TERMINAL_ID], { cwd: ROOT, env, timeout_ms: 30_000 }))
    .trim()
    .split('\n')
    .at(-1)!;
  const service = await startService({
    name: 'hub',
    command: process.execPath,
    args: [...NODE_ARGS, 'start'],
    cwd: ROOT,
    env,
    ready: /"msg":"hub listening".*"port":(\d+)/,
    ready_timeout_ms: 60_000,
    echo: options.echo,
  });
  const hub_url = `http://127.0.0.1:${service.ready_match[1]}`;
  writeFileSync(
    path.join(options.dev_dir, '.dev', 'pos.json'),
    `${JSON.stringify({ hub_url, terminal_id: DEMO_TERMINAL_ID, key_hex }, null, 2)}\n`,
    { mode: 0o600 },
  );
  return {
    service,
    hub_id,
    hub_url,
    terminal_id: DEMO_TERMINAL_ID,
    key_hex,
    swipe_command: (card_no) => `npm run pos -- swipe ${card_no}`,
  };
}
