// The demo hub of `npm start`: one call from the start script brings up a hub for the demo
// school against the local Worker, the way an operator would (keygen, registration at the
// Worker's admin API, `card-keys init`, `terminal add --card-terminal-id`, `start`), plays the
// card issuer (the demo cards personalised from the school's master keys into
// `.dev/pos-cards.json`), and writes `.dev/pos.json`, so `npm run pos -- swipe <card_no>` loads
// a paid top-up with no flags. Dev tooling: it lives in scripts/, the hub never imports it.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readCardKeysFile } from '../../hub/keys/file.ts';
import { personaliseCards } from '../../sim/pos/cards-file.ts';
import { runCommand, startService, type Service } from './processes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE_ARGS = ['--disable-warning=ExperimentalWarning', path.join(ROOT, 'hub/main.ts')];
export const DEMO_HUB_PORT_DEFAULT = 7700;
export const DEMO_TERMINAL_ID = 'demo-pos-1';
// The 6 bytes the demo cards see as terminal id: fixed, so a card's proofs read the same on
// every start.
export const DEMO_CARD_TERMINAL_ID = 'DE0000000001';
// What the demo cards hold; the cards file has room for many more.
const DEMO_CARDS_MAX = 1_000;

export interface DemoHubOptions {
  worker_url: string;
  admin_token: string;
  school_id: string;
  /** The demo school's cards as the registry has them: each is personalised for its asn. */
  cards: readonly { card_no: string; asn: string }[];
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
  card_terminal_id: string;
  key_hex: string;
  /** The simulated cards (`npm run pos` reads and writes it). */
  cards_file: string;
  /** What to run to load a fresh top-up onto a demo card. */
  swipe_command(card_no: string): string;
}

export function demoHubPaths(dev_dir: string): { hub_dir: string; card_keys_file: string; cards_file: string; pos_config_file: string } {
  const hub_dir = path.join(dev_dir, '.dev', 'hub');
  return {
    hub_dir,
    card_keys_file: path.join(hub_dir, 'card-keys.json'),
    cards_file: path.join(dev_dir, '.dev', 'pos-cards.json'),
    pos_config_file: path.join(dev_dir, '.dev', 'pos.json'),
  };
}

export async function startDemoHub(options: DemoHubOptions): Promise<DemoHub> {
  if (options.cards.length > DEMO_CARDS_MAX) throw new Error(`more than ${DEMO_CARDS_MAX} demo cards`);
  const paths = demoHubPaths(options.dev_dir);
  mkdirSync(paths.hub_dir, { recursive: true });
  const hub_id = `${options.school_id}-hub`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 48);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HUB_WORKER_URL: options.worker_url,
    HUB_ID: hub_id,
    HUB_KEY_FILE: path.join(paths.hub_dir, 'hub-key.pem'),
    HUB_CARD_KEYS_FILE: paths.card_keys_file,
    HUB_DB: path.join(paths.hub_dir, 'hub.db'),
    HUB_LISTEN: `127.0.0.1:${options.port}`,
  };
  const hubCli = (args: string[]) => runCommand(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env, timeout_ms: 30_000 });
  const lastLine = (output: string) => output.trim().split('\n').at(-1)!;
  // The key survives restarts (the Worker keeps the hub's sync state); registering it again
  // is idempotent.
  if (!existsSync(env.HUB_KEY_FILE!)) await hubCli(['keygen']);
  const public_key = lastLine(await hubCli(['keygen', '--print']));
  const registered = await fetch(`${options.worker_url}/api/v1/admin/hubs/${hub_id}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${options.admin_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ school_id: options.school_id, public_key }),
    signal: AbortSignal.timeout(15_000),
  });
  if (!registered.ok) throw new Error(`registering hub ${hub_id}: ${registered.status} ${await registered.text()}`);
  // The school's master keys are made once and never replaced: cards personalised from them
  // would stop loading.
  if (!existsSync(paths.card_keys_file)) await hubCli(['card-keys', 'init']);
  // The issuer's step: a card already personalised from these keys keeps its balance and serial.
  personaliseCards(paths.cards_file, readCardKeysFile(paths.card_keys_file), options.cards);
  const key_hex = lastLine(await hubCli(['terminal', 'add', DEMO_TERMINAL_ID, '--card-terminal-id', DEMO_CARD_TERMINAL_ID]));
  if (!/^[0-9a-f]{64}$/.test(key_hex)) throw new Error(`terminal add printed no key (last line "${key_hex.slice(0, 80)}")`);
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
    paths.pos_config_file,
    `${JSON.stringify({ hub_url, terminal_id: DEMO_TERMINAL_ID, key_hex, card_terminal_id: DEMO_CARD_TERMINAL_ID }, null, 2)}\n`,
    { mode: 0o600 },
  );
  return {
    service,
    hub_id,
    hub_url,
    terminal_id: DEMO_TERMINAL_ID,
    card_terminal_id: DEMO_CARD_TERMINAL_ID,
    key_hex,
    cards_file: paths.cards_file,
    swipe_command: (card_no) => `npm run pos -- swipe ${card_no}`,
  };
}
