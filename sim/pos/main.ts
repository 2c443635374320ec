// The POS simulator CLI: `npm run pos -- swipe <card_no> [--die POINT]` loads a paid top-up
// onto a simulated card in one command; `npm run pos -- spend <card_no> <fen>` buys something
// with it (PURCHASE, for demos). The terminal comes from `--hub --terminal --key
// --card-terminal-id`, POS_HUB_URL / POS_TERMINAL_ID / POS_TERMINAL_KEY / POS_CARD_TERMINAL_ID,
// else `.dev/pos.json` ({hub_url, terminal_id, key_hex, card_terminal_id}, written by
// `npm start`; YIKATONG_DEV_DIR moves `.dev/`). Cards live in `.dev/pos-cards.json`
// (sim/pos/cards-file.ts): personalised by `npm start` as the card issuer would, and saved
// back after every command, so the next one sees what the chip holds.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parsePurchase, purchaseApdu, SW_OK } from './apdu.ts';
import { loadCard, saveCard } from './cards-file.ts';
import { CardStatusError, DEATH_POINTS, ForgedAnswerError, HubRequestError, Terminal, type DeathPoint } from './terminal.ts';

// YIKATONG_DEV_DIR as in `npm start`: where `.dev/` lives (the repository root by default).
const DEV_DIR = path.join(process.env.YIKATONG_DEV_DIR ?? path.resolve(import.meta.dirname, '../..'), '.dev');
export const POS_CONFIG_FILE = path.join(DEV_DIR, 'pos.json');
export const POS_CARDS_FILE = path.join(DEV_DIR, 'pos-cards.json');

function readJson<T>(file: string): T | null {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : null;
}

function yuan(fen: number): string {
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

const USAGE = `usage: npm run pos -- swipe <card_no> [--die ${DEATH_POINTS.join('|')}]
       npm run pos -- spend <card_no> <fen>
       [--hub URL --terminal ID --key HEX --card-terminal-id HEX]`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      hub: { type: 'string' },
      terminal: { type: 'string' },
      key: { type: 'string' },
      'card-terminal-id': { type: 'string' },
      die: { type: 'string', default: 'none' },
    },
  });
  const [command, card_no, amount] = positionals;
  if ((command !== 'swipe' && command !== 'spend') || card_no === undefined || (command === 'spend' && !/^[1-9][0-9]{0,9}$/.test(amount ?? ''))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const die = values.die as DeathPoint;
  if (!DEATH_POINTS.includes(die)) {
    process.stderr.write(`--die must be one of ${DEATH_POINTS.join(', ')}\n`);
    return 2;
  }
  const card = loadCard(POS_CARDS_FILE, card_no);
  if (card === null) {
    process.stderr.write(`card ${card_no} is not in ${POS_CARDS_FILE}: \`npm start\` personalises the demo cards there\n`);
    return 2;
  }
  const save = () => saveCard(POS_CARDS_FILE, card_no, card);
  process.stdout.write(`card ${card_no}: chip balance ${yuan(card.balance_fen)} yuan, online serial ${card.online_serial}\n`);

  if (command === 'spend') {
    const answer = card.transmit(purchaseApdu({ amount_fen: Number(amount) }));
    if (answer.sw !== SW_OK) {
      process.stderr.write(`card refused the purchase: status ${answer.sw.toString(16).toUpperCase()}\n`);
      return 1;
    }
    process.stdout.write(`spent ${yuan(Number(amount))} yuan: chip balance ${yuan(parsePurchase(answer.data).balance_fen)} yuan\n`);
    save();
    return 0;
  }

  const defaults = readJson<{ hub_url?: string; terminal_id?: string; key_hex?: string; card_terminal_id?: string }>(POS_CONFIG_FILE) ?? {};
  const hub_url = values.hub ?? process.env.POS_HUB_URL ?? defaults.hub_url;
  const terminal_id = values.terminal ?? process.env.POS_TERMINAL_ID ?? defaults.terminal_id;
  const key_hex = values.key ?? process.env.POS_TERMINAL_KEY ?? defaults.key_hex;
  const card_terminal_id = values['card-terminal-id'] ?? process.env.POS_CARD_TERMINAL_ID ?? defaults.card_terminal_id;
  if (hub_url === undefined || terminal_id === undefined || key_hex === undefined || card_terminal_id === undefined) {
    process.stderr.write(`no hub/terminal: pass --hub --terminal --key --card-terminal-id, set POS_HUB_URL etc., or run \`npm start\` (writes ${POS_CONFIG_FILE})\n`);
    return 2;
  }
  // Wall-clock microseconds keep txn_seq rising across runs of this CLI without coordination
  // (and stay below 2^53 for a few centuries).
  const terminal = new Terminal({ hub_url, terminal_id, key_hex, card_terminal_id, txn_seq_start: Date.now() * 1_000 });
  try {
    const tap = await terminal.tap(card_no, card, die);
    process.stdout.write(`hub: card_status ${tap.swipe.card_status}, pending ${yuan(tap.swipe.pending_fen)} yuan, offer ${yuan(tap.swipe.offer_fen)} yuan\n`);
    if (tap.settled !== null) process.stdout.write(`settled an earlier load (claim ${tap.settled.claim_id}) with the card's transaction prove\n`);
    if (tap.swipe.offer_fen === 0) process.stdout.write('no load offered (nothing pending, the card is not active, or the purse is full)\n');
    if (tap.load !== null) process.stdout.write(`hub: MAC2 for ${yuan(tap.load.amount_fen)} yuan (claim ${tap.load.claim_id})\n`);
    if (tap.written) process.stdout.write(`card written: balance ${yuan(card.balance_fen)} yuan, online serial ${card.online_serial}\n`);
    if (tap.committed !== null) process.stdout.write(`hub: claim committed\n`);
    if (tap.died !== null) process.stdout.write(`terminal "died" (${tap.died}); the card's next tap at any terminal settles the load by its own evidence\n`);
  } catch (error) {
    if (error instanceof HubRequestError || error instanceof ForgedAnswerError || error instanceof CardStatusError) {
      process.stderr.write(`refused: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    terminal.close();
    save();
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
