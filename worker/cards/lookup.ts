// Finding a card from what a person typed (DESIGN section 4). The school, the number and the
// holder's name are matched in ONE query, so an unknown school, an unknown card and a wrong
// name cost the same and end in the same answer: nothing tells a guesser which part was wrong.
import { and, eq, sql } from 'drizzle-orm';
import { holderNameKey, normaliseCardNo, type CardKind, type CardStatus } from '../../protocol/card.ts';
import type { Db } from '../db/client.ts';
import { cards, credits, schools } from '../db/schema.ts';
import { ApiError } from '../http/errors.ts';

/** A card with what a top-up needs of its school. */
export interface FoundCard {
  school_id: string;
  card_no: string;
  holder_name: string;
  kind: CardKind;
  status: CardStatus;
  balance_fen: number | null;
  balance_as_of_ms: number | null;
  school_name: string;
  max_amount_fen: number;
}

const foundCardColumns = {
  school_id: cards.school_id,
  card_no: cards.card_no,
  holder_name: cards.holder_name,
  kind: cards.kind,
  status: cards.status,
  balance_fen: cards.balance_fen,
  balance_as_of_ms: cards.balance_as_of_ms,
  school_name: schools.name,
  max_amount_fen: schools.max_amount_fen,
};

export function cardNotFound(): ApiError {
  return new ApiError(404, 'card_not_found', 'no card matches this school, card number and name');
}

/** Exported for the query-plan test: the lookup by what a person typed. */
export function cardByNameQuery(db: Db, school_id: string, card_no: string, name_key: string) {
  return db
    .select(foundCardColumns)
    .from(cards)
    .innerJoin(schools, eq(schools.id, cards.school_id))
    .where(and(eq(cards.school_id, school_id), eq(cards.card_no, card_no), eq(cards.holder_name_key, name_key)))
    .limit(1);
}

/** Exported for the query-plan test: the lookup by a verified card token. */
export function cardByNumberQuery(db: Db, school_id: string, card_no: string) {
  return db
    .select(foundCardColumns)
    .from(cards)
    .innerJoin(schools, eq(schools.id, cards.school_id))
    .where(and(eq(cards.school_id, school_id), eq(cards.card_no, card_no)))
    .limit(1);
}

/** Exported for the query-plan test: money paid but not yet loaded onto the card. */
export function pendingFenQuery(db: Db, school_id: string, card_no: string) {
  return db
    .select({ pending_fen: sql<number>`coalesce(sum(${credits.amount_fen}), 0)`.mapWith(Number) })
    .from(credits)
    .where(and(eq(credits.school_id, school_id), eq(credits.card_no, card_no), eq(credits.state, 'pending')));
}

/**
 * The card whose number and holder name match, in any status (a lost card is still found, so
 * its holder sees why a top-up is refused). Throws 404 `card_not_found` otherwise.
 */
export async function findCardByName(db: Db, input: { school_id: string; card_no: string; name: string }): Promise<FoundCard> {
  const card_no = normaliseCardNo(input.card_no);
  const name_key = holderNameKey(input.name);
  if (card_no === null || name_key.length === 0) throw cardNotFound();
  const rows = await cardByNameQuery(db, input.school_id, card_no, name_key);
  const card = rows[0];
  if (card === undefined) throw cardNotFound();
  return card;
}

/** The card a verified token names; a card since removed from the registry is not found. */
export async function findCardByNumber(db: Db, school_id: string, card_no: string): Promise<FoundCard> {
  const rows = await cardByNumberQuery(db, school_id, card_no);
  const card = rows[0];
  if (card === undefined) throw cardNotFound();
  return card;
}

export async function pendingFen(db: Db, school_id: string, card_no: string): Promise<number> {
  const rows = await pendingFenQuery(db, school_id, card_no);
  const pending_fen = rows[0]?.pending_fen ?? 0;
  if (!Number.isSafeInteger(pending_fen) || pending_fen < 0) throw new RangeError(`pending sum out of range: ${pending_fen}`);
  return pending_fen;
}
