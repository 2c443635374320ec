// The hub CLI (DESIGN section 6): `keygen`, `terminal add <id> [--card-terminal-id HEX]`, `start`.
// Output meant for scripts is the LAST line of stdout; logs are JSON lines.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HUB_PUSH_PATH } from '../protocol/hub.ts';
import { ConfigError, loadConfig } from './config.ts';
import { CARD_KEY_VERSION_DEFAULT, CardKeysError, FileCardKeyStore, initCardKeysFile } from './keys/file.ts';
import { jsonLogger } from './log.ts';
import { openDatabase, StoreVersionError } from './store/schema.ts';
import { generateHubKeyPair, loadSigner, publicKeyOfFile } from './sync/signer.ts';

const USAGE = `usage: npm run hub -- keygen [--force | --print]
       npm run hub -- terminal add <terminal_id> [--card-terminal-id 12HEX]
       npm run hub -- card-keys init
       npm run hub -- start
environment: HUB_WORKER_URL, HUB_ID, HUB_KEY_FILE, HUB_CARD_KEYS_FILE, HUB_DB, HUB_LISTEN (host:port, default 0.0.0.0:7700),
             HUB_OPERATOR_TOKEN, HUB_PURSE_LIMITS (kind=fen,...)`;

const TERMINAL_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const CARD_TERMINAL_ID_PATTERN = /^[0-9A-F]{12}$/;
// Random card_terminal_ids collide rarely (one in 2^48 per pair); a few draws always suffice.
const CARD_TERMINAL_ID_DRAWS_MAX = 8;

async function keygen(args: string[]): Promise<void> {
  const config = loadConfig(process.env, { worker: false, key: true, db: false });
  if (args.includes('--print')) {
    // The public key of the existing private key, e.g. to register it again.
    process.stdout.write(`${await publicKeyOfFile(config.key_file)}\n`);
    return;
  }
  if (existsSync(config.key_file) && !args.includes('--force')) {
    throw new ConfigError(`${config.key_file} exists; pass --force to replace it (the Worker must then get the new public key)`);
  }
  const pair = await generateHubKeyPair();
  mkdirSync(path.dirname(path.resolve(config.key_file)), { recursive: true });
  writeFileSync(config.key_file, pair.private_pem, { mode: 0o600 });
  process.stdout.write(`private key written to ${config.key_file}\npublic key (SPKI base64), register it with PUT /api/v1/admin/hubs/{hub_id}:\n`);
  process.stdout.write(`${pair.public_spki_base64}\n`);
}

function terminalAdd(args: string[]): void {
  const id = args[0];
  if (id === undefined || !TERMINAL_ID_PATTERN.test(id)) throw new ConfigError(`terminal id must match ${TERMINAL_ID_PATTERN}\n${USAGE}`);
  const flag = args.indexOf('--card-terminal-id');
  let wanted: string | null = null;
  if (flag >= 0) {
    wanted = (args[flag + 1] ?? '').toUpperCase();
    if (!CARD_TERMINAL_ID_PATTERN.test(wanted)) throw new ConfigError(`--card-terminal-id must be 12 hex digits (the 6 bytes the card sees)\n${USAGE}`);
  } else if (args.length > 1) {
    throw new ConfigError(USAGE);
  }
  const config = loadConfig(process.env, { worker: false, key: false, db: true });
  mkdirSync(path.dirname(path.resolve(config.db_path)), { recursive: true });
  const db = openDatabase({ path: config.db_path, busy_timeout_ms: 10_000 });
  try {
    const holder = db.prepare('SELECT terminal_id FROM terminals WHERE card_terminal_id = ?');
    const existing = db.prepare('SELECT card_terminal_id FROM terminals WHERE terminal_id = ?').get(id) as { card_terminal_id: string } | undefined;
    let card_terminal_id = wanted ?? existing?.card_terminal_id ?? null;
    for (let draw = 0; card_terminal_id === null && draw < CARD_TERMINAL_ID_DRAWS_MAX; draw++) {
      const candidate = randomBytes(6).toString('hex').toUpperCase();
      if (holder.get(candidate) === undefined) card_terminal_id = candidate;
    }
    if (card_terminal_id === null) throw new ConfigError('could not draw an unused card_terminal_id; pass --card-terminal-id');
    const owner = holder.get(card_terminal_id) as { terminal_id: string } | undefined;
    if (owner !== undefined && owner.terminal_id !== id) {
      throw new ConfigError(`card_terminal_id ${card_terminal_id} is already terminal ${owner.terminal_id}'s: it must be unique on this hub`);
    }
    const key_hex = randomBytes(32).toString('hex');
    // Re-adding an id rotates its key; the txn_seq high-water mark stays, so old requests stay refused.
    db.prepare(
      `INSERT INTO terminals (terminal_id, key_hex, card_terminal_id, created_at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (terminal_id) DO UPDATE SET key_hex = excluded.key_hex, card_terminal_id = excluded.card_terminal_id`,
    ).run(id, key_hex, card_terminal_id, Date.now());
    process.stdout.write(`terminal ${id} registered in ${config.db_path}\ncard_terminal_id ${card_terminal_id}\nits key (64 hex):\n${key_hex}\n`);
  } finally {
    db.close();
  }
}

function cardKeysInit(): void {
  const config = loadConfig(process.env, { worker: false, key: false, db: false, card_keys: true });
  try {
    initCardKeysFile(config.card_keys_file, { key_version: CARD_KEY_VERSION_DEFAULT });
  } catch (error) {
    if (error instanceof CardKeysError) throw new ConfigError(error.message);
    throw error;
  }
  // The keys stay in the file: personalise cards from it, never from this output.
  process.stdout.write(`card master keys (key_version ${CARD_KEY_VERSION_DEFAULT}) written to ${config.card_keys_file} (mode 0600)\n`);
}

async function start(): Promise<void> {
  // Loaded here, not at the top: the key and terminal commands need none of the service.
  const [{ buildHubApp }, { listen }] = await Promise.all([import('./app.ts'), import('./server.ts')]);
  const config = loadConfig(process.env, { worker: true, key: true, db: true, card_keys: true });
  let keys: FileCardKeyStore;
  try {
    keys = FileCardKeyStore.open(config.card_keys_file);
  } catch (error) {
    if (error instanceof CardKeysError) throw new ConfigError(error.message);
    throw error;
  }
  const log = jsonLogger({ quiet_below: (process.env.HUB_LOG_LEVEL as 'info' | undefined) ?? 'info' });
  const signer = await loadSigner(config.hub_id, config.key_file);
  mkdirSync(path.dirname(path.resolve(config.db_path)), { recursive: true });
  const app = buildHubApp({
    config,
    signer,
    log,
    push_path: process.env.HUB_PUSH_PATH ?? HUB_PUSH_PATH,
    backoff_max_ms: Number(process.env.HUB_BACKOFF_MAX_MS ?? 30_000),
    keys,
  });
  const { server, address } = await listen(app, config.listen_host, config.listen_port);
  app.start();
  // Tests and scripts read the bound port from this line.
  log.log('info', 'hub listening', { host: address.address, port: address.port, hub_id: config.hub_id, worker_url: config.worker_url });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.log('info', 'hub stopping', { signal });
    server.close();
    server.closeIdleConnections();
    void app.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'keygen') return keygen(rest);
  if (command === 'terminal' && rest[0] === 'add') return terminalAdd(rest.slice(1));
  if (command === 'card-keys' && rest[0] === 'init') return cardKeysInit();
  if (command === 'start') return start();
  throw new ConfigError(USAGE);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof StoreVersionError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`${String((error as Error)?.stack ?? error)}\n`);
  process.exit(1);
});
