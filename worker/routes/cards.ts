// Card lookup (DESIGN sections 4 and 10): school, name and number in; a masked name, the last
// balance a POS saw, the money waiting to be loaded and a card token out. And 挂失 (issue 10):
// the holder of a saved card's token reports it lost, which its hub hears of at once.
import { Hono } from 'hono';
import { cardLookupRequest, type CardLookupResponse } from '../../protocol/api.ts';
import { maskHolderName, normaliseCardNo } from '../../protocol/card.ts';
import { reportLostRequest, type ReportLostResponse } from '../../protocol/card-replace.ts';
import { signCardToken, verifyCardToken } from '../auth/card-token.ts';
import { findCardByName, findCardByNumber, pendingFen } from '../cards/lookup.ts';
import { openDb, openReplicaDb } from '../db/client.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { limitCard, limitClient, limitNamed } from '../http/rate-limit.ts';
import { pushAfterResponse } from '../hub/push.ts';
import { readJson } from '../http/validate.ts';

// ?1 school, ?2 card, ?3 now. Only the holder's side of 挂失: an active or frozen card becomes
// lost; lost stays lost; nothing here makes a card active again (the card office does that).
export const REPORT_LOST_SQL = `UPDATE cards SET status = 'lost', updated_at_ms = ?3
  WHERE school_id = ?1 AND card_no = ?2 AND status IN ('active', 'frozen')`;

export const cardRoutes = new Hono<AppEnv>()
  .post('/report-lost', async (c) => {
    await limitClient(c.env, c);
    const input = await readJson(c, reportLostRequest);
    const now_ms = Date.now();
    const claims = await verifyCardToken(c.env.CARD_TOKEN_SECRET, input.card_token, now_ms);
    await limitCard(c.env, claims.school_id, claims.card_no);
    const card = await findCardByNumber(openDb(c.env.DB), claims.school_id, claims.card_no);
    if (card.status === 'closed') throw new ApiError(409, 'card_closed', 'this card is closed; a replacement card was issued or it was cancelled');
    const result = await c.env.DB.prepare(REPORT_LOST_SQL).bind(card.school_id, card.card_no, now_ms).run();
    const changed = result.meta.changes > 0;
    // The changes trigger wrote the status for the hub; tell it now, so a finder's swipe claims nothing.
    if (changed) pushAfterResponse(c, card.school_id);
    const body: ReportLostResponse = { school_id: card.school_id, card_no: card.card_no, status: 'lost', changed };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  })
  .post('/lookup', async (c) => {
  // Counted before the body is even read: a flood of junk costs the caller its budget too.
  await limitClient(c.env, c);
  const input = await readJson(c, cardLookupRequest);
  // Per card whether or not it exists, so guessing names for one number is throttled.
  const card_no = normaliseCardNo(input.card_no);
  if (card_no !== null) await limitCard(c.env, input.school_id, card_no);
  // Per name and per school: one known name walked over card numbers, or a registry walked.
  await limitNamed(c.env, input.school_id, input.name);
  // The balance and pending amount are shown "as of" a moment, so a replica may answer. A miss
  // may be a replica behind a fresh import: the primary decides "not found", so the answer (and
  // its cost to a guesser) is the same as before replication.
  let db = openReplicaDb(c.env.DB);
  const card = await findCardByName(db, input).catch((error: unknown) => {
    if (!(error instanceof ApiError && error.code === 'card_not_found')) throw error;
    db = openDb(c.env.DB);
    return findCardByName(db, input);
  });
  const now_ms = Date.now();
  const [pending_fen, card_token] = await Promise.all([
    pendingFen(db, card.school_id, card.card_no),
    signCardToken(c.env.CARD_TOKEN_SECRET, card, now_ms),
  ]);
  const body: CardLookupResponse = {
    card_token,
    school_id: card.school_id,
    card_no: card.card_no,
    holder_name_masked: maskHolderName(card.holder_name),
    kind: card.kind,
    balance_fen: card.balance_fen,
    pending_fen,
    balance_as_of: card.balance_as_of_ms,
    status: card.status,
  };
  return c.json(body);
});
