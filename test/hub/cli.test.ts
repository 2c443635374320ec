// The operator's and the terminal vendor's command lines: `npm run hub -- keygen | terminal
// add | start` with their configuration errors, and `npm run pos -- swipe`.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../scripts/lib/processes.ts';
import { base64ToBytes } from '../../protocol/encoding.ts';
import { cardChange, creditChange, HubHarness } from './helpers/hub.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const hub = new HubHarness();
const dev_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-pos-cli-'));

afterAll(async () => {
  await hub.cleanup();
  rmSync(dev_dir, { recursive: true, force: true });
});

async function hubCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; output: string }> {
  try {
    const output = await runCommand(process.execPath, ['--disable-warning=ExperimentalWarning', 'hub/main.ts', ...args], { cwd: ROOT, env, timeout_ms: 30_000 });
    return { ok: true, output };
  } catch (error) {
    return { ok: false, output: (error as Error).message };
  }
}

describe('hub CLI', () => {
  it('keygen writes a PKCS#8 PEM and prints an Ed25519 SPKI public key last; refuses to overwrite', async () => {
    const public_key = await hub.keygen();
    const pem = readFileSync(hub.key_file, 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/);
    const key = await crypto.subtle.importKey('spki', base64ToBytes(public_key), { name: 'Ed25519' }, true, ['verify']);
    expect(key.type).toBe('public');
    const again = await hubCli(['keygen'], hub.env());
    expect(again.ok).toBe(false);
    expect(again.output).toContain('--force');
    expect(readFileSync(hub.key_file, 'utf8')).toBe(pem);
  });

  it('terminal add prints a card_terminal_id and a 64-hex key last; adding again rotates the key, keeps the id', async () => {
    const first = await hub.addTerminal('gate-7');
    expect(first.key_hex).toMatch(/^[0-9a-f]{64}$/);
    expect(first.card_terminal_id).toMatch(/^[0-9A-F]{12}$/);
    const second = await hub.addTerminal('gate-7');
    expect(second.key_hex).toMatch(/^[0-9a-f]{64}$/);
    expect(second.key_hex).not.toBe(first.key_hex);
    expect(second.card_terminal_id).toBe(first.card_terminal_id);
    // Given explicitly (lower case is normalised), and unique per hub.
    expect((await hub.addTerminal('gate-8', 'a1b2c3d4e5f6')).card_terminal_id).toBe('A1B2C3D4E5F6');
    const taken = await hubCli(['terminal', 'add', 'gate-9', '--card-terminal-id', 'A1B2C3D4E5F6'], hub.env());
    expect(taken.ok).toBe(false);
    expect(taken.output).toContain("already terminal gate-8's");
    for (const bad of [['no spaces allowed'], ['gate-9', '--card-terminal-id', 'A1B2C3D4E5'], ['gate-9', '--card-terminal-id', 'XYZXYZXYZXYZ'], ['gate-9', '--card-terminal-id']]) {
      const result = await hubCli(['terminal', 'add', ...bad], hub.env());
      expect(result.ok, bad.join(' ')).toBe(false);
    }
    expect(hub.query("SELECT terminal_id FROM terminals WHERE terminal_id = 'gate-9'")).toEqual([]);
  });

  it('card-keys init writes the master keys with mode 0600 and never overwrites them', async () => {
    await hub.cli(['card-keys', 'init']);
    const text = readFileSync(hub.card_keys_file, 'utf8');
    expect(statSync(hub.card_keys_file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(text)).toEqual({ key_version: 1, load_mk: expect.stringMatching(/^[0-9A-F]{32}$/), tac_mk: expect.stringMatching(/^[0-9A-F]{32}$/) });
    const again = await hubCli(['card-keys', 'init'], hub.env());
    expect(again.ok).toBe(false);
    expect(readFileSync(hub.card_keys_file, 'utf8')).toBe(text);
  });

  it('start refuses a v1 store with a message that says what to do', async () => {
    const v1 = path.join(hub.dir, 'v1.db');
    const db = new DatabaseSync(v1);
    db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT; INSERT INTO meta VALUES ('schema_version', '1')");
    db.close();
    const result = await hubCli(['start'], { ...hub.env(), HUB_DB: v1 });
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/has schema 1, this hub knows 2 \(POS v2\)/);
    expect(result.output).toContain('start with an empty HUB_DB');
  });

  it('start refuses bad configuration with a message naming the variable', async () => {
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [{ HUB_DB: '' }, /HUB_DB is not set/],
      [{ HUB_WORKER_URL: '' }, /HUB_WORKER_URL is not set/],
      [{ HUB_WORKER_URL: 'not a url' }, /HUB_WORKER_URL is not a URL/],
      [{ HUB_WORKER_URL: 'http://yikatong.example.edu.cn' }, /HUB_WORKER_URL must be https:/],
      [{ HUB_ID: 'Bad_Id' }, /HUB_ID must match/],
      [{ HUB_LISTEN: 'localhost' }, /HUB_LISTEN must be host:port/],
      [{ HUB_WRITE_WINDOW_MS: '-5' }, /HUB_WRITE_WINDOW_MS must be a positive integer/],
      [{ HUB_KEY_FILE: path.join(hub.dir, 'missing.pem') }, /cannot read HUB_KEY_FILE/],
      [{ HUB_CARD_KEYS_FILE: path.join(hub.dir, 'missing.json') }, /cannot read HUB_CARD_KEYS_FILE/],
      [{ HUB_PURSE_LIMITS: 'student=-5' }, /HUB_PURSE_LIMITS must be kind=fen pairs/],
      [{ HUB_PURSE_LIMITS: 'alien=100' }, /HUB_PURSE_LIMITS must be kind=fen pairs/],
      [{ HUB_OPERATOR_TOKEN: 'short' }, /HUB_OPERATOR_TOKEN must be at least 16 characters/],
    ];
    for (const [override, message] of cases) {
      const result = await hubCli(['start'], { ...hub.env(), ...override });
      expect(result.ok, JSON.stringify(override)).toBe(false);
      expect(result.output).toMatch(message);
    }
    const usage = await hubCli(['launch'], hub.env());
    expect(usage.output).toContain('usage: npm run hub --');
  });
});

describe('POS CLI', () => {
  it('swipes a card against the hub, loads it, and remembers the chip', async () => {
    const terminal = await hub.addTerminal('canteen-9');
    hub.seedChanges([cardChange('20230001'), creditChange('20230001', 10_000)]);
    await hub.start();
    mkdirSync(path.join(dev_dir, '.dev'), { recursive: true });
    writeFileSync(path.join(dev_dir, '.dev', 'pos.json'), JSON.stringify({ hub_url: hub.url, ...terminal }));
    const card = hub.card('20230001', { balance_fen: 1_282, online_serial: 9 });
    writeFileSync(path.join(dev_dir, '.dev', 'pos-cards.json'), JSON.stringify({ cards: { '20230001': card.toState() } }));
    const env = { ...process.env, YIKATONG_DEV_DIR: dev_dir };
    const pos = (args: string[]) => runCommand(process.execPath, ['sim/pos/main.ts', ...args], { cwd: ROOT, env, timeout_ms: 30_000 });
    const first = await pos(['swipe', '20230001']);
    expect(first).toContain('offer 100.00 yuan');
    expect(first).toContain('card written: balance 112.82 yuan, online serial 10');
    expect(first).toContain('hub: claim committed');
    const second = await pos(['swipe', '20230001']);
    expect(second).toContain('chip balance 112.82 yuan, online serial 10');
    expect(second).toContain('no load offered');
    const spent = await pos(['spend', '20230001', '282']);
    expect(spent).toContain('chip balance 110.00 yuan');
    const saved = JSON.parse(readFileSync(path.join(dev_dir, '.dev', 'pos-cards.json'), 'utf8')) as { cards: Record<string, { balance_fen: number; online_serial: number }> };
    expect(saved.cards['20230001']).toMatchObject({ balance_fen: 11_000, online_serial: 10 });
    await expect(pos(['swipe', '20230001', '--key', 'ab'.repeat(32)])).rejects.toThrow(/signature_invalid/);
    await expect(pos(['swipe', 'NOT-IN-FILE'])).rejects.toThrow(/not in .*pos-cards.json/);
  });
});
