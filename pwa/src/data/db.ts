// Everything the app keeps on the phone, in one Dexie database: saved cards with their last
// known balance, their records and monthly totals, orders being followed, cached schools and
// settings. Components never touch IndexedDB; they read through these functions.
import Dexie, { type EntityTable } from 'dexie';
import type { CardKind, CardStatus } from '../../../protocol/card.ts';
import type { Channel, MonthTotal, RechargeRecord, School, TopupStatus } from '../../../protocol/api.ts';

export interface SavedCard {
  /** `school_id|card_no`: a card is (school, card number), DESIGN section 4. */
  id: string;
  card_token: string;
  school_id: string;
  school_name: string;
  card_no: string;
  holder_name_masked: string;
  kind: CardKind;
  balance_fen: number | null;
  pending_fen: number;
  /** When a POS last reported the balance (ms); null when never. */
  balance_as_of: number | null;
  saved_at_ms: number;
  /** When the records were last fetched from the Worker (ms); null when never. */
  refreshed_at_ms: number | null;
  /** The card's status as the Worker last said it (lost after 挂失); absent on cards saved before. */
  status?: CardStatus;
}

export interface StoredRecord extends RechargeRecord {
  card_id: string;
}

export interface StoredMonthTotal extends MonthTotal {
  card_id: string;
}

/** An order being followed, with the card it pays for, saved once the order is paid. */
export interface FollowedOrder {
  order_id: string;
  card: Omit<SavedCard, 'saved_at_ms' | 'refreshed_at_ms'>;
  amount_fen: number;
  pay_url: string;
  /** A desktop payment's QR code (scene "qr"): shown for a phone to scan instead of a cashier link. */
  qr_code?: string;
  channel?: Channel;
  status: TopupStatus;
  created_at_ms: number;
  paid_at?: number;
  claimed_at?: number;
  terminal_id?: string;
}

interface Setting {
  key: string;
  value: string;
}

// Bounds on what the phone keeps: a card's history is a few hundred rows a year at most.
export const RECORDS_PER_CARD_MAX = 500;
export const SAVED_CARDS_MAX = 20;
export const SCHOOLS_CACHED_MAX = 500;
export const FOLLOWED_ORDERS_MAX = 50;

export class YikatongDb extends Dexie {
  cards!: EntityTable<SavedCard, 'id'>;
  records!: EntityTable<StoredRecord, 'order_id'>;
  month_totals!: EntityTable<StoredMonthTotal, 'card_id'>;
  orders!: EntityTable<FollowedOrder, 'order_id'>;
  schools!: EntityTable<School, 'id'>;
  settings!: EntityTable<Setting, 'key'>;

  constructor(name: string) {
    super(name);
    this.version(1).stores({
      cards: '&id, saved_at_ms',
      records: '&order_id, card_id, created_at',
      month_totals: '[card_id+month], card_id',
      orders: '&order_id, created_at_ms',
      schools: '&id, city, initial',
      settings: '&key',
    });
  }
}

export const DB_NAME = 'yikatong';
export const db = new YikatongDb(DB_NAME);

export function cardId(school_id: string, card_no: string): string {
  return `${school_id}|${card_no}`;
}

export async function listCards(): Promise<SavedCard[]> {
  return db.cards.orderBy('saved_at_ms').toArray();
}

export async function getCard(id: string): Promise<SavedCard | undefined> {
  return db.cards.get(id);
}

/** Saves (or updates) a card; keeps its first saved time so the home list does not reorder. */
export async function saveCard(card: Omit<SavedCard, 'saved_at_ms' | 'refreshed_at_ms'>, now_ms: number): Promise<void> {
  await db.transaction('rw', db.cards, async () => {
    const existing = await db.cards.get(card.id);
    if (existing === undefined && (await db.cards.count()) >= SAVED_CARDS_MAX) {
      const oldest = await db.cards.orderBy('saved_at_ms').first();
      if (oldest !== undefined) await db.cards.delete(oldest.id);
    }
    await db.cards.put({
      ...card,
      saved_at_ms: existing?.saved_at_ms ?? now_ms,
      refreshed_at_ms: existing?.refreshed_at_ms ?? null,
    });
  });
}

export async function forgetCard(id: string): Promise<void> {
  await db.transaction('rw', [db.cards, db.records, db.month_totals, db.orders], async () => {
    await db.cards.delete(id);
    await db.records.where('card_id').equals(id).delete();
    await db.month_totals.where('card_id').equals(id).delete();
    await db.orders.filter((order) => order.card.id === id).delete();
  });
}

/** Replaces a card's history with what the Worker answered, and its pending amount with theirs. */
export async function storeRecords(
  id: string,
  records: readonly RechargeRecord[],
  month_totals: readonly MonthTotal[],
  now_ms: number,
  balance?: { balance_fen: number | null; balance_as_of: number | null; status?: CardStatus },
): Promise<void> {
  const kept = records.slice(0, RECORDS_PER_CARD_MAX);
  const pending_fen = kept.filter((record) => record.status === 'pending_claim').reduce((sum, record) => sum + record.amount_fen, 0);
  await db.transaction('rw', [db.cards, db.records, db.month_totals], async () => {
    await db.records.where('card_id').equals(id).delete();
    await db.month_totals.where('card_id').equals(id).delete();
    await db.records.bulkPut(kept.map((record) => ({ ...record, card_id: id })));
    await db.month_totals.bulkPut(month_totals.slice(0, RECORDS_PER_CARD_MAX).map((total) => ({ ...total, card_id: id })));
    await db.cards.update(id, { pending_fen, refreshed_at_ms: now_ms, ...(balance ?? {}) });
  });
}

export async function listRecords(id: string): Promise<StoredRecord[]> {
  const rows = await db.records.where('card_id').equals(id).toArray();
  return rows.sort((a, b) => b.created_at - a.created_at);
}

export async function listMonthTotals(id: string): Promise<StoredMonthTotal[]> {
  const rows = await db.month_totals.where('card_id').equals(id).toArray();
  return rows.sort((a, b) => (a.month < b.month ? 1 : a.month > b.month ? -1 : 0));
}

export async function putOrder(order: FollowedOrder): Promise<void> {
  await db.transaction('rw', db.orders, async () => {
    await db.orders.put(order);
    const count = await db.orders.count();
    if (count > FOLLOWED_ORDERS_MAX) {
      const oldest = await db.orders.orderBy('created_at_ms').limit(count - FOLLOWED_ORDERS_MAX).primaryKeys();
      await db.orders.bulkDelete(oldest);
    }
  });
}

export async function getOrder(order_id: string): Promise<FollowedOrder | undefined> {
  return db.orders.get(order_id);
}

export async function updateOrder(order_id: string, changes: Partial<Omit<FollowedOrder, 'order_id'>>): Promise<void> {
  await db.orders.update(order_id, changes);
}

export async function cacheSchools(schools: readonly School[]): Promise<void> {
  await db.transaction('rw', db.schools, async () => {
    await db.schools.clear();
    await db.schools.bulkPut(schools.slice(0, SCHOOLS_CACHED_MAX));
  });
}

export async function listCachedSchools(): Promise<School[]> {
  return db.schools.orderBy('initial').toArray();
}

export async function getSetting(key: string): Promise<string | undefined> {
  return (await db.settings.get(key))?.value;
}

export async function setSetting(key: string, value: string): Promise<void> {
  await db.settings.put({ key, value });
}

export async function getCachedSchool(id: string): Promise<School | undefined> {
  return db.schools.get(id);
}

/** The card's status as the Worker said it (after a 挂失, or a refresh). */
export async function setCardStatus(id: string, status: CardStatus): Promise<void> {
  await db.cards.update(id, { status });
}
