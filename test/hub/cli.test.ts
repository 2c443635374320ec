// The operator's and the terminal vendor's command lines: `npm run hub -- keygen | terminal
// add | start` with their configuration errors, and `npm run pos -- swipe`.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

  it('terminal add prints a 64-hex key last; adding again rotates it', async () => {
    const first = await hub.addTerminal('gate-7');
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    const second = await hub.addTerminal('gate-7');
    expect(second).toMatch(/^[0-9a-f]{64}$/);
    expect(second).not.toBe(first);
    const bad = await hubCli(['terminal', 'add', 'no spaces allowed'], hub.env());
    expect(bad.ok).toBe(false);
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
    const key_hex = await hub.addTerminal('canteen-9');
    hub.seedChanges([cardChange('20230001'), creditChange('20230001', 10_000)]);
    await hub.start();
    mkdirSync(path.join(dev_dir, '.dev'), { recursive: true });
    writeFileSync(path.join(dev_dir, '.dev', 'pos.json'), JSON.stringify({ hub_url: hub.url, terminal_id: 'canteen-9', key_hex }));
    const env = { ...process.env, YIKATONG_DEV_DIR: dev_dir };
    const pos = (args: string[]) => runCommand(process.execPath, ['sim/pos/main.ts', 'swipe', ...args], { cwd: ROOT, env, timeout_ms: 30_000 });
    const first = await pos(['20230001', '--balance', '1282', '--counter', '9']);
    expect(first).toContain('load offered: 100.00 yuan');
    expect(first).toContain('card written: balance 112.82 yuan, counter 10');
    expect(first).toContain('hub: claim committed');
    const second = await pos(['20230001']);
    expect(second).toContain('chip balance 112.82 yuan, load counter 10');
    expect(second).toContain('no load offered');
    await expect(pos(['20230001', '--key', 'ab'.repeat(32)])).rejects.toThrow(/signature_invalid/);
  });
});
