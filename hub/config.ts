// The hub's configuration (DESIGN section 6 names), validated once at start with errors that
// say which variable is wrong and how to fix it.
import { HUB_ID_PATTERN } from '../protocol/hub.ts';
import { CARD_KINDS, type CardKind } from '../protocol/card.ts';
import { PURSE_BALANCE_FEN_MAX, PURSE_LIMIT_FEN_DEFAULT, WRITE_WINDOW_MS_DEFAULT } from '../protocol/pos.ts';

export interface HubConfig {
  worker_url: string | null;
  hub_id: string;
  key_file: string;
  /** The school's card master keys (`npm run hub -- card-keys init` writes them). */
  card_keys_file: string;
  db_path: string;
  /** Bearer token for /grey-records; null: that page answers on loopback connections only. */
  operator_token: string | null;
  purse_limit_fen: Record<CardKind, number>;
  listen_host: string;
  listen_port: number;
  write_window_ms: number;
  poll_interval_ms: number;
  grey_after_ms: number;
}

export class ConfigError extends Error {}

export const HUB_LISTEN_DEFAULT = '0.0.0.0:7700';
const POLL_INTERVAL_MS_DEFAULT = 5_000;
// A reservation whose card has not come back in this long is worth a person's look.
const GREY_AFTER_MS_DEFAULT = 10 * 60_000;

/** 127.0.0.0/8, ::1 and localhost: the only hosts a hub may reach over plain http. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return /^127\.(?:[0-9]{1,3})\.(?:[0-9]{1,3})\.(?:[0-9]{1,3})$/.test(host) && host.split('.').every((part) => Number(part) <= 255);
}

export function parseListen(text: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text.trim());
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 0 && port <= 65535)) {
    throw new ConfigError(`HUB_LISTEN must be host:port (for example ${HUB_LISTEN_DEFAULT}), got "${text}"`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

function required(env: NodeJS.ProcessEnv, name: string, hint: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') throw new ConfigError(`${name} is not set: ${hint}`);
  return value;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive integer, got "${text}"`);
  return value;
}

/**
 * `HUB_PURSE_LIMITS`: the school's purse limit per card kind in fen, as `kind=fen` pairs
 * (`student=100000,staff=200000`); kinds not named keep PURSE_LIMIT_FEN_DEFAULT (1,000.00 yuan).
 */
export function parsePurseLimits(text: string | undefined): Record<CardKind, number> {
  const limits = Object.fromEntries(CARD_KINDS.map((kind) => [kind, PURSE_LIMIT_FEN_DEFAULT])) as Record<CardKind, number>;
  if (text === undefined || text.trim() === '') return limits;
  for (const pair of text.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*([0-9]{1,10})\s*$/.exec(pair);
    const kind = match?.[1] as CardKind | undefined;
    const fen = Number(match?.[2]);
    if (match === null || !CARD_KINDS.includes(kind!) || !(fen >= 1 && fen <= PURSE_BALANCE_FEN_MAX)) {
      throw new ConfigError(`HUB_PURSE_LIMITS must be kind=fen pairs (kinds ${CARD_KINDS.join(', ')}; 1 to ${PURSE_BALANCE_FEN_MAX} fen), got "${text}"`);
    }
    limits[kind!] = fen;
  }
  return limits;
}

/** `needs` says which parts the command uses: `keygen` needs no database, `terminal` no Worker. */
export function loadConfig(env: NodeJS.ProcessEnv, needs: { worker: boolean; key: boolean; db: boolean; card_keys?: boolean }): HubConfig {
  let worker_url: string | null = null;
  if (needs.worker) {
    const text = required(env, 'HUB_WORKER_URL', 'the Worker origin, for example https://yikatong.example.edu.cn');
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConfigError(`HUB_WORKER_URL is not a URL: "${text}"`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
      // Plain http would let anyone on the campus uplink read card numbers and, worse, answer
      // as the Worker: only a Worker on this very machine (local development) may go without TLS.
      throw new ConfigError(`HUB_WORKER_URL must be https: (http: only for a loopback address), got "${text}"`);
    }
    worker_url = url.origin;
  }
  const hub_id = needs.worker ? required(env, 'HUB_ID', 'the id this hub was registered with at the Worker') : (env.HUB_ID ?? '');
  if (needs.worker && !HUB_ID_PATTERN.test(hub_id)) throw new ConfigError(`HUB_ID must match ${HUB_ID_PATTERN}, got "${hub_id}"`);
  const key_file = needs.key ? required(env, 'HUB_KEY_FILE', 'path of the PKCS#8 PEM private key (`npm run hub -- keygen` writes it)') : (env.HUB_KEY_FILE ?? '');
  const card_keys_file = needs.card_keys === true ? required(env, 'HUB_CARD_KEYS_FILE', 'path of the card master keys JSON (`npm run hub -- card-keys init` writes it)') : (env.HUB_CARD_KEYS_FILE ?? '');
  const db_path = needs.db ? required(env, 'HUB_DB', 'path of the hub SQLite file, for example /var/lib/yikatong-hub/hub.db') : (env.HUB_DB ?? '');
  const operator_token = env.HUB_OPERATOR_TOKEN?.trim() || null;
  if (operator_token !== null && operator_token.length < 16) throw new ConfigError('HUB_OPERATOR_TOKEN must be at least 16 characters');
  const { host, port } = parseListen(env.HUB_LISTEN ?? HUB_LISTEN_DEFAULT);
  return {
    worker_url,
    hub_id,
    key_file,
    db_path,
    card_keys_file,
    operator_token,
    purse_limit_fen: parsePurseLimits(env.HUB_PURSE_LIMITS),
    listen_host: host,
    listen_port: port,
    write_window_ms: positiveInt(env, 'HUB_WRITE_WINDOW_MS', WRITE_WINDOW_MS_DEFAULT),
    poll_interval_ms: positiveInt(env, 'HUB_POLL_INTERVAL_MS', POLL_INTERVAL_MS_DEFAULT),
    grey_after_ms: positiveInt(env, 'HUB_GREY_AFTER_MS', GREY_AFTER_MS_DEFAULT),
  };
}
