// The hub's file-backed card key store and `npm run hub -- card-keys init`: the file's mode,
// no overwrite, refusals that name the fault but never a key, and a store that never shows
// its keys however it is printed.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CardKeysError, FileCardKeyStore, initCardKeysFile, readCardKeysFile } from '../../../hub/keys/file.ts';
import { runCommand } from '../../../scripts/lib/processes.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-card-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function hubCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; output: string }> {
  try {
    const output = await runCommand(process.execPath, ['--disable-warning=ExperimentalWarning', 'hub/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout_ms: 30_000 });
    return { ok: true, output };
  } catch (error) {
    return { ok: false, output: (error as Error).message };
  }
}

function keyHexes(file: string): string[] {
  const json = JSON.parse(readFileSync(file, 'utf8')) as { load_mk: string; tac_mk: string };
  return [json.load_mk, json.tac_mk];
}

function expectNoKeyIn(text: string, keys: string[]): void {
  for (const key of keys) {
    expect(text.toUpperCase()).not.toContain(key.toUpperCase());
    // Half a key is a leak too.
    expect(text.toUpperCase()).not.toContain(key.toUpperCase().slice(0, 16));
    expect(text.toUpperCase()).not.toContain(key.toUpperCase().slice(16));
  }
}

describe('npm run hub -- card-keys init', () => {
  it('writes the JSON key file with mode 0600, prints no key, and refuses to overwrite it', async () => {
    const file = path.join(dir, 'nested', 'card-keys.json');
    const first = await hubCli(['card-keys', 'init'], { HUB_CARD_KEYS_FILE: file });
    expect(first.ok, first.output).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['key_version', 'load_mk', 'tac_mk']);
    expect(json.key_version).toBe(1);
    expect(json.load_mk).toMatch(/^[0-9A-F]{32}$/);
    expect(json.tac_mk).toMatch(/^[0-9A-F]{32}$/);
    expect(json.load_mk).not.toBe(json.tac_mk);
    expectNoKeyIn(first.output, keyHexes(file));
    expect(first.output).toContain(file);

    const before = readFileSync(file, 'utf8');
    const again = await hubCli(['card-keys', 'init'], { HUB_CARD_KEYS_FILE: file });
    expect(again.ok).toBe(false);
    expect(again.output).toContain('never overwritten');
    expect(readFileSync(file, 'utf8')).toBe(before);

    const unset = await hubCli(['card-keys', 'init'], { HUB_CARD_KEYS_FILE: '' });
    expect(unset.ok).toBe(false);
    expect(unset.output).toContain('HUB_CARD_KEYS_FILE is not set');
  });

  it('two inits at once: exactly one writes, and the file is the winner\'s whole', () => {
    const file = path.join(dir, 'race.json');
    const outcomes = [0, 1].map(() => {
      try {
        initCardKeysFile(file, { key_version: 1 });
        return 'written';
      } catch (error) {
        expect(error).toBeInstanceOf(CardKeysError);
        return 'refused';
      }
    });
    expect(outcomes.sort()).toEqual(['refused', 'written']);
    expect(readCardKeysFile(file).key_version).toBe(1);
  });
});

describe('reading the key file', () => {
  const good = { key_version: 1, load_mk: '00112233445566778899AABBCCDDEEFF', tac_mk: 'FFEEDDCCBBAA99887766554433221100' };
  const keys = [good.load_mk, good.tac_mk];

  function writeKeys(name: string, text: string, mode = 0o600): string {
    const file = path.join(dir, name);
    writeFileSync(file, text, { mode });
    chmodSync(file, mode);
    return file;
  }

  it('refuses every malformed file with a message naming the fault, never a key', () => {
    const cases: [string, string, number, RegExp][] = [
      ['cut.json', JSON.stringify(good).slice(0, 60), 0o600, /is not JSON/],
      ['array.json', JSON.stringify([good]), 0o600, /one JSON object/],
      ['short-load.json', JSON.stringify({ ...good, load_mk: good.load_mk.slice(0, 31) }), 0o600, /load_mk must be 32 hex digits/],
      ['bad-tac.json', JSON.stringify({ ...good, tac_mk: `${good.tac_mk.slice(0, 31)}G` }), 0o600, /tac_mk must be 32 hex digits/],
      ['same.json', JSON.stringify({ ...good, tac_mk: good.load_mk }), 0o600, /must differ/],
      ['version.json', JSON.stringify({ ...good, key_version: 256 }), 0o600, /key_version must be an integer 0–255/],
      ['extra.json', JSON.stringify({ ...good, [good.load_mk]: good.tac_mk }), 0o600, /unknown fields/],
      ['open.json', JSON.stringify(good), 0o644, /readable by others .*chmod 600/],
    ];
    for (const [name, text, mode, message] of cases) {
      const file = writeKeys(name, text, mode);
      let thrown: unknown;
      try {
        FileCardKeyStore.open(file);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, name).toBeInstanceOf(CardKeysError);
      const error = thrown as Error;
      expect(error.message, name).toMatch(message);
      expectNoKeyIn(`${error.message}\n${error.stack ?? ''}\n${inspect(error)}`, keys);
    }
    expect(() => FileCardKeyStore.open(path.join(dir, 'missing.json'))).toThrow(/card-keys init/);
  });

  it('a store shows its version, never its keys, however it is printed', () => {
    const store = FileCardKeyStore.open(writeKeys('good.json', JSON.stringify(good)));
    expect(store.key_version).toBe(1);
    const shown = [JSON.stringify(store), JSON.stringify({ store }), inspect(store, { showHidden: true, depth: 10 }), String(store), `${Object.keys(store)}`];
    for (const text of shown) expectNoKeyIn(text, keys);
    expect(JSON.stringify(store)).toBe('{"key_version":1,"keys":"redacted"}');
  });
});
