// Card lookup (DESIGN sections 4 and 10): school, name and number in; a masked name, the last
// balance a POS saw, the money waiting to be loaded and a card token out.
import { Hono } from 'hono';
import { cardLookupRequest, type CardLookupResponse } from '../../protocol/api.ts';
import { maskHolderName, normaliseCardNo } from '../../protocol/card.ts';
import { signCardToken } from '../auth/card-token.ts';
import { findCardByName, pendingFen } from '../cards/lookup.ts';
import { openDb, openReplicaDb } from '../db/client.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { limitCard, limitClient, limitNamed } from '../http/rate-limit.ts';
import { readJson } from '../http/validate.ts';

export const cardRoutes = new Hono<AppEnv>().post('/lookup', async (c) => {
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
