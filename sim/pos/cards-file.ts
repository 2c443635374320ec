// The simulator's wallet of cards: personalised PBOC purses kept in one JSON file
// (`.dev/pos-cards.json` for `npm start`), so `npm run pos -- swipe` finds the card it swiped
// last time with the balance, serial and proofs that swipe left on it.
// Format (sim/pos/main.ts reads the same): `{"txn_seq": N, "cards": {"<card_no>": PurseCardState}}`,
// written atomically with mode 0600 (it holds the cards' own keys, as the chips do).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CardMasterKeys } from '../../hub/keys/file.ts';
import { diversifyKey } from '../../protocol/pboc.ts';
import { PurseCard, type PurseCardState } from './card.ts';
import { personalise } from './personalise.ts';

// A campus demo has a handful of cards; a test a few hundred. Beyond this it is not ours.
export const CARDS_FILE_CARDS_MAX = 10_000;

export interface CardsFile {
  /** The simulated terminal's last txn_seq, so its next run continues above it. */
  txn_seq: number;
  cards: Record<string, PurseCardState>;
}

export function readCardsFile(file: string): CardsFile {
  if (!existsSync(file)) return { txn_seq: 0, cards: {} };
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file} is not JSON (${(error as Error).message}); delete it to personalise fresh cards`);
  }
  const cards = (json as Partial<CardsFile> | null)?.cards;
  if (typeof cards !== 'object' || cards === null || Array.isArray(cards)) throw new Error(`${file} has no "cards" object`);
  if (Object.keys(cards).length > CARDS_FILE_CARDS_MAX) throw new Error(`${file} holds more than ${CARDS_FILE_CARDS_MAX} cards`);
  const txn_seq = (json as Partial<CardsFile>).txn_seq;
  return { txn_seq: Number.isSafeInteger(txn_seq) ? txn_seq! : 0, cards: cards as Record<string, PurseCardState> };
}

export function writeCardsFile(file: string, contents: CardsFile): void {
  if (Object.keys(contents.cards).length > CARDS_FILE_CARDS_MAX) throw new Error(`more than ${CARDS_FILE_CARDS_MAX} cards`);
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  // Write then rename: a crash mid-write leaves the old wallet, never half a card.
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

/** The card with this number from the file, or null when the wallet has none. */
export function loadCard(file: string, card_no: string): PurseCard | null {
  const state = readCardsFile(file).cards[card_no];
  return state === undefined ? null : new PurseCard(state);
}

/** Puts the card's state back into the file (other cards untouched). */
export function saveCard(file: string, card_no: string, card: PurseCard): void {
  const contents = readCardsFile(file);
  contents.cards[card_no] = card.toState();
  writeCardsFile(file, contents);
}

/**
 * The issuer's run over a list of cards: each gets keys diversified from `master` for its asn.
 * A card already in the file with exactly those keys keeps its balance and serials; one whose
 * asn or keys differ (new master keys, a re-issued chip) is personalised afresh. Returns the
 * card numbers personalised now.
 */
export function personaliseCards(file: string, master: CardMasterKeys, cards: readonly { card_no: string; asn: string }[]): string[] {
  if (cards.length > CARDS_FILE_CARDS_MAX) throw new Error(`more than ${CARDS_FILE_CARDS_MAX} cards`);
  const contents = readCardsFile(file);
  const fresh: string[] = [];
  for (const { card_no, asn } of cards) {
    const held = contents.cards[card_no];
    const dlk = diversifyKey(master.load_mk, asn).toString('hex').toUpperCase();
    const dtk = diversifyKey(master.tac_mk, asn).toString('hex').toUpperCase();
    const current = held !== undefined && held.asn === asn && held.key_version === master.key_version && held.dlk === dlk && held.dtk === dtk;
    if (current) continue;
    contents.cards[card_no] = personalise(master, asn);
    fresh.push(card_no);
  }
  if (fresh.length > 0 || !existsSync(file)) writeCardsFile(file, contents);
  return fresh;
}
