// What the screens ask for, composed from the API client and the Dexie store: start a top-up,
// follow an order until it settles, refresh a card's records. No UI here.
import type { Channel, RechargeCreated, RechargeRecord, School, TopupStatus } from '../../../protocol/api.ts';
import { CARD_STATUSES, type CardKind, type CardStatus } from '../../../protocol/card.ts';
import { isAmountFen } from '../../../protocol/money.ts';
import { payScene } from '../device.ts';
import { ApiFailure, createRecharge, fetchRecharge, fetchRecharges, fetchSchools, lookupCard, reportLost } from './api.ts';
import {
  cacheSchools,
  cardId,
  getCard,
  getOrder,
  listCachedSchools,
  listCards,
  putOrder,
  saveCard,
  setCardStatus,
  storeRecords,
  updateOrder,
  type SavedCard,
} from './db.ts';

/** What a screen gets back from an action: the value, or the error code to explain. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

export async function attempt<T>(action: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await action() };
  } catch (err) {
    return { ok: false, code: err instanceof ApiFailure ? err.code : 'unexpected' };
  }
}

export interface NewCardTopup {
  school: School;
  name: string;
  card_no: string;
  amount_fen: number;
  channel: Channel;
  notify_phone?: string;
  agree_terms: boolean;
}

/**
 * First top-up of a card: the lookup confirms school, name and card (and gives the token and
 * what the home screen shows), then the order is created with the token. The card itself is
 * saved only once the order is paid (followOrder), as issue 4 asks.
 */
export async function startNewCardTopup(input: NewCardTopup, now_ms: number = Date.now()): Promise<string> {
  const card = await lookupCard({ school_id: input.school.id, name: input.name, card_no: input.card_no });
  const created = await createRecharge({
    card_token: card.card_token,
    amount_fen: input.amount_fen,
    channel: input.channel,
    agree_terms: input.agree_terms,
    ...(input.notify_phone ? { notify_phone: input.notify_phone } : {}),
    ...sceneField(),
  });
  await putOrder({
    order_id: created.order_id,
    card: {
      id: cardId(input.school.id, card.card_no),
      card_token: created.card_token || card.card_token,
      school_id: input.school.id,
      school_name: input.school.name,
      card_no: card.card_no,
      holder_name_masked: card.holder_name_masked,
      kind: card.kind as CardKind,
      balance_fen: card.balance_fen,
      pending_fen: card.pending_fen,
      balance_as_of: card.balance_as_of,
    },
    amount_fen: created.amount_fen,
    pay_url: created.pay_url,
    ...qrFields(created, input.channel),
    status: created.status,
    created_at_ms: now_ms,
  });
  return payTarget(created);
}

/** A saved card's next top-up: the token and the amount, under the terms accepted the first time. */
export async function startSavedCardTopup(
  card: SavedCard,
  amount_fen: number,
  channel: Channel,
  now_ms: number = Date.now(),
): Promise<string> {
  const created = await createRecharge({ card_token: card.card_token, amount_fen, channel, agree_terms: true, ...sceneField() });
  const { saved_at_ms: _saved, refreshed_at_ms: _refreshed, ...rest } = card;
  await putOrder({
    order_id: created.order_id,
    card: { ...rest, card_token: created.card_token || card.card_token },
    amount_fen: created.amount_fen,
    pay_url: created.pay_url,
    ...qrFields(created, channel),
    status: created.status,
    created_at_ms: now_ms,
  });
  return payTarget(created);
}

/** Desktop browsers ask for the provider's QR code (DESIGN section 8); phones for its page. */
function sceneField(): { scene?: 'qr' } {
  return payScene() === 'qr' ? { scene: 'qr' } : {};
}

function qrFields(created: RechargeCreated, channel: Channel): { qr_code?: string; channel?: Channel } {
  return created.qr_code ? { qr_code: created.qr_code, channel } : {};
}

/** Where the payer goes next: the provider's page, or the app's own order page showing the QR code. */
function payTarget(created: RechargeCreated): string {
  return created.qr_code ? `/orders/${encodeURIComponent(created.order_id)}` : created.pay_url;
}

export function isPaid(status: TopupStatus): boolean {
  return status === 'pending_claim' || status === 'claimed' || status === 'refunded';
}

export function isFinal(status: TopupStatus): boolean {
  return status === 'claimed' || status === 'closed' || status === 'refunded';
}

/** Fetches an order's state once; saves its card the first time it is seen paid. */
export async function checkOrder(order_id: string, now_ms: number = Date.now()): Promise<RechargeRecord> {
  const record = await fetchRecharge(order_id);
  const followed = await getOrder(order_id);
  if (followed !== undefined) {
    await updateOrder(order_id, {
      status: record.status,
      ...(record.paid_at !== undefined ? { paid_at: record.paid_at } : {}),
      ...(record.claimed_at !== undefined ? { claimed_at: record.claimed_at } : {}),
      ...(record.terminal_id !== undefined ? { terminal_id: record.terminal_id } : {}),
    });
    // Saved on its first paid order; later orders' snapshots must not overwrite fresher data.
    if (isPaid(record.status) && (await getCard(followed.card.id)) === undefined) await saveCard(followed.card, now_ms);
    // A saved card's records follow every change of its orders (paid, closed, claimed).
    if (record.status !== followed.status && (await getCard(followed.card.id)) !== undefined) {
      await refreshCard(followed.card.id, now_ms).catch(() => undefined);
    }
  }
  return record;
}

// Back-off while following an order: quick at first (the payer has just returned from the
// cashier), then slower; slower still once paid, while waiting for a swipe.
export const FOLLOW_DELAY_MS_FIRST = 1_000;
export const FOLLOW_DELAY_MS_UNPAID_MAX = 10_000;
export const FOLLOW_DELAY_MS_PAID_MAX = 30_000;
// About half an hour while unpaid: long enough for an order to expire (15 min) and be closed
// by the next 5-minute cron; once paid, the same count at 30 s covers an hour and a half.
export const FOLLOW_ATTEMPTS_MAX = 180;

export function nextFollowDelayMs(previous_ms: number, status: TopupStatus | null): number {
  const cap = status !== null && isPaid(status) ? FOLLOW_DELAY_MS_PAID_MAX : FOLLOW_DELAY_MS_UNPAID_MAX;
  return Math.min(cap, Math.max(FOLLOW_DELAY_MS_FIRST, Math.round(previous_ms * 1.6)));
}

/**
 * Follows an order until it is final (claimed, closed, refunded), the signal aborts, or the
 * attempts run out. Network failures count as attempts and are retried with the same back-off.
 */
export async function followOrder(
  order_id: string,
  onUpdate: (record: RechargeRecord | null, failure: ApiFailure | null) => void,
  signal: AbortSignal,
): Promise<void> {
  let delay_ms = 0;
  let status: TopupStatus | null = null;
  for (let attempt = 0; attempt < FOLLOW_ATTEMPTS_MAX && !signal.aborted; attempt++) {
    if (delay_ms > 0) await sleep(delay_ms, signal);
    if (signal.aborted) return;
    try {
      const record = await checkOrder(order_id);
      status = record.status;
      if (signal.aborted) return;
      onUpdate(record, null);
      if (isFinal(record.status)) return;
    } catch (err) {
      if (signal.aborted) return;
      const failure = err instanceof ApiFailure ? err : new ApiFailure('unexpected', 0, String(err));
      onUpdate(null, failure);
      if (failure.code === 'order_not_found') return;
    }
    delay_ms = nextFollowDelayMs(delay_ms, status);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Fetches a saved card's records and monthly totals into Dexie. */
export async function refreshCard(id: string, now_ms: number = Date.now()): Promise<void> {
  const card = await getCard(id);
  if (card === undefined) return;
  const response = await fetchRecharges(card.card_token);
  await storeRecords(id, response.records, response.month_totals, now_ms, balanceOf(response));
}

/**
 * The card's last POS-reported balance from the records answer's `card` (the phone keeps only
 * the token, not the holder's name a lookup needs). Checked field by field: a cached answer
 * from an older Worker without `card` keeps the balance the first lookup gave.
 */
function balanceOf(response: object): { balance_fen: number | null; balance_as_of: number | null; status?: CardStatus } | undefined {
  const card = (response as { card?: { balance_fen?: unknown; balance_as_of?: unknown; status?: unknown } }).card;
  if (card === undefined || card === null || typeof card !== 'object') return undefined;
  const balance_fen = card.balance_fen;
  const balance_as_of = card.balance_as_of;
  if (!(balance_fen === null || isAmountFen(balance_fen))) return undefined;
  if (!(balance_as_of === null || (typeof balance_as_of === 'number' && Number.isSafeInteger(balance_as_of)))) return undefined;
  const status = CARD_STATUSES.find((known) => known === card.status);
  return status === undefined ? { balance_fen, balance_as_of } : { balance_fen, balance_as_of, status };
}

/** 挂失 of a saved card: the Worker marks it lost (idempotently), and so does the phone's copy. */
export async function reportCardLost(card: SavedCard): Promise<void> {
  const answer = await reportLost(card.card_token);
  await setCardStatus(card.id, answer.status);
}

/** Refreshes every saved card; one card's failure does not stop the others. */
export async function refreshAllCards(now_ms: number = Date.now()): Promise<ApiFailure | null> {
  let failure: ApiFailure | null = null;
  for (const card of await listCards()) {
    try {
      await refreshCard(card.id, now_ms);
    } catch (err) {
      failure = err instanceof ApiFailure ? err : new ApiFailure('unexpected', 0, String(err));
    }
  }
  return failure;
}

/** Schools from the Worker (and into the cache), or from the cache when offline. */
export async function loadSchools(): Promise<School[]> {
  try {
    const response = await fetchSchools();
    await cacheSchools(response.schools);
    return response.schools;
  } catch (err) {
    const cached = await listCachedSchools();
    if (cached.length > 0) return cached;
    throw err;
  }
}
