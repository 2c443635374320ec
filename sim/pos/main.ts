// The POS simulator CLI: `npm run pos -- swipe <card_no> [--hub URL --terminal ID --key HEX]
// [--fail none|write_fails|die_before_write|die_after_write] [--balance FEN --counter N]`.
// Defaults come from POS_HUB_URL / POS_TERMINAL_ID / POS_TERMINAL_KEY, else `.dev/pos.json`
// ({hub_url, terminal_id, key_hex}, written by `npm start`; YIKATONG_DEV_DIR moves `.dev/`).
// Chips are remembered per card in `.dev/pos-chips.json`, so repeated swipes see the balance
// and counter the last one left.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Chip } from './chip.ts';
import { HubRequestError, Terminal, type FailurePoint } from './terminal.ts';

// YIKATONG_DEV_DIR as in `npm start`: where `.dev/` lives (the repository root by default).
const DEV_DIR = path.join(process.env.YIKATONG_DEV_DIR ?? path.resolve(import.meta.dirname, '../..'), '.dev');
const CONFIG_FILE = path.join(DEV_DIR, 'pos.json');
const CHIPS_FILE = path.join(DEV_DIR, 'pos-chips.json');
const FAILURES: readonly FailurePoint[] = ['none', 'write_fails', 'die_before_write', 'die_after_write'];

interface Saved {
  txn_seq: number;
  chips: Record<string, { balance_fen: number; load_counter: number }>;
}

function readJson<T>(file: string): T | null {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : null;
}

function yuan(fen: number): string {
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      hub: { type: 'string' },
      terminal: { type: 'string' },
      key: { type: 'string' },
      fail: { type: 'string', default: 'none' },
      balance: { type: 'string' },
      counter: { type: 'string' },
    },
  });
  const [command, card_no] = positionals;
  if (command !== 'swipe' || card_no === undefined) {
    process.stderr.write('usage: npm run pos -- swipe <card_no> [--hub URL --terminal ID --key HEX] [--fail POINT] [--balance FEN --counter N]\n');
    return 2;
  }
  const fail = values.fail as FailurePoint;
  if (!FAILURES.includes(fail)) {
    process.stderr.write(`--fail must be one of ${FAILURES.join(', ')}\n`);
    return 2;
  }
  const defaults = readJson<{ hub_url?: string; terminal_id?: string; key_hex?: string }>(CONFIG_FILE) ?? {};
  const hub_url = values.hub ?? process.env.POS_HUB_URL ?? defaults.hub_url;
  const terminal_id = values.terminal ?? process.env.POS_TERMINAL_ID ?? defaults.terminal_id;
  const key_hex = values.key ?? process.env.POS_TERMINAL_KEY ?? defaults.key_hex;
  if (hub_url === undefined || terminal_id === undefined || key_hex === undefined) {
    process.stderr.write(`no hub/terminal/key: pass --hub --terminal --key, set POS_HUB_URL etc., or run \`npm start\` (writes ${CONFIG_FILE})\n`);
    return 2;
  }
  const saved = readJson<Saved>(CHIPS_FILE) ?? { txn_seq: 0, chips: {} };
  const remembered = saved.chips[card_no] ?? { balance_fen: 0, load_counter: 0 };
  const chip = new Chip({
    balance_fen: values.balance === undefined ? remembered.balance_fen : Number(values.balance),
    load_counter: values.counter === undefined ? remembered.load_counter : Number(values.counter),
  });
  // Wall-clock milliseconds keep txn_seq rising across runs of this CLI without coordination.
  const terminal = new Terminal({ hub_url, terminal_id, key_hex, txn_seq_start: Math.max(Date.now(), saved.txn_seq) });
  process.stdout.write(`card ${card_no}: chip balance ${yuan(chip.balance_fen)} yuan, load counter ${chip.load_counter}\n`);
  try {
    const result = await terminal.tap(card_no, chip, fail);
    process.stdout.write(`hub: card_status ${result.swipe.card_status}\n`);
    const load = result.swipe.load;
    if (load === null) process.stdout.write('no load offered (nothing pending, or the card is not active)\n');
    else {
      process.stdout.write(`load offered: ${yuan(load.amount_fen)} yuan (claim ${load.claim_id})\n`);
      process.stdout.write(result.written ? `card written: balance ${yuan(chip.balance_fen)} yuan, counter ${chip.load_counter}\n` : 'card NOT written\n');
      if (result.outcome !== null) process.stdout.write(`hub: claim ${result.outcome.status}\n`);
      else process.stdout.write(`terminal "died" (${fail}); the next swipe of this card resolves the claim by its load counter\n`);
    }
  } catch (error) {
    if (error instanceof HubRequestError) {
      process.stderr.write(`hub refused: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    saved.txn_seq = terminal.txn_seq;
    saved.chips[card_no] = chip.read();
    mkdirSync(DEV_DIR, { recursive: true });
    writeFileSync(CHIPS_FILE, `${JSON.stringify(saved, null, 2)}\n`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${String((error as Error)?.stack ?? error)}\n`);
    process.exit(1);
  },
);
