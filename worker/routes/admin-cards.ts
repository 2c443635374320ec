// The card office's replacement of a card (补卡, issue 10), for the ADMIN_TOKEN: the console's
// route calls the same ledger function with its operator as the actor.
import { Hono } from 'hono';
import { SCHOOL_ID_PATTERN } from '../../protocol/api.ts';
import { normaliseCardNo } from '../../protocol/card.ts';
import { REPLACEMENT_ID_PATTERN, cardReplaceRequest, type CardReplacementView } from '../../protocol/card-replace.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { readJson } from '../http/validate.ts';
import { pushAfterResponse } from '../hub/push.ts';
import { readReplacement, replaceCard, type ReplaceOutcome } from '../ledger/replace.ts';

function schoolIdParam(value: string): string {
  if (!SCHOOL_ID_PATTERN.test(value)) throw new ApiError(400, 'invalid_query', 'school_id is lower-case letters, digits and dashes');
  return value;
}

function cardNoParam(value: string): string {
  const card_no = normaliseCardNo(value);
  if (card_no === null) throw new ApiError(400, 'invalid_query', 'card_no is not a card number');
  return card_no;
}

/** The answer both the admin and the console route give: the view, or the refusal as a 4xx. */
export function replacementAnswer(outcome: ReplaceOutcome): { view: CardReplacementView; status: 200 | 201 } {
  if (outcome.kind === 'refused') throw new ApiError(outcome.status, outcome.code, outcome.message);
  return { view: outcome.replacement, status: outcome.created ? 201 : 200 };
}

async function replacementOr404(d1: D1Database, school_id: string, replacement_id: string): Promise<CardReplacementView> {
  if (!REPLACEMENT_ID_PATTERN.test(replacement_id)) throw new ApiError(400, 'invalid_query', 'replacement_id is malformed');
  const view = await readReplacement(d1, replacement_id, school_id);
  if (view === null) throw new ApiError(404, 'not_found', `no replacement ${replacement_id} at ${school_id}`);
  return view;
}

export const adminCardRoutes = new Hono<AppEnv>()
  .post('/schools/:school_id/cards/:card_no/replace', async (c) => {
    const school_id = schoolIdParam(c.req.param('school_id'));
    const card_no = cardNoParam(c.req.param('card_no'));
    const input = await readJson(c, cardReplaceRequest);
    const outcome = await replaceCard(c.env.DB, { school_id, card_no, ...input, actor: 'admin' }, Date.now());
    const { view, status } = replacementAnswer(outcome);
    // The old card's closing, the new card and the void requests must reach the POS at once.
    pushAfterResponse(c, school_id);
    return c.json(view, status);
  })
  .get('/schools/:school_id/replacements/:replacement_id', async (c) => {
    const school_id = schoolIdParam(c.req.param('school_id'));
    return c.json(await replacementOr404(c.env.DB, school_id, c.req.param('replacement_id')));
  })
  .get('/schools/:school_id/cards/:card_no/replacements/:replacement_id', async (c) => {
    const school_id = schoolIdParam(c.req.param('school_id'));
    const card_no = cardNoParam(c.req.param('card_no'));
    const view = await replacementOr404(c.env.DB, school_id, c.req.param('replacement_id'));
    if (view.old_card_no !== card_no) throw new ApiError(404, 'not_found', `replacement ${view.replacement_id} is not card ${card_no}'s`);
    return c.json(view);
  });
