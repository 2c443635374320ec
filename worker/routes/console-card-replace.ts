// 补卡 from the console (issue 10): the card office replaces a card of one of its schools. The
// same ledger function as the admin route (worker/ledger/replace.ts), with the operator as the
// actor and the audit-trail row in the D1 batch that records the replacement, guarded so a
// replacement the ledger refused leaves no row.
import { Hono } from 'hono';
import { normaliseCardNo } from '../../protocol/card.ts';
import { REPLACEMENT_ID_PATTERN, consoleCardReplaceRequest } from '../../protocol/card-replace.ts';
import { schoolQuery } from '../../protocol/console.ts';
import { auditStatement } from '../console/audit.ts';
import { consoleAddress, pokeHubAfterResponse, type ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { ApiError } from '../http/errors.ts';
import { readJson, readQuery } from '../http/validate.ts';
import { readReplacement, replaceCard } from '../ledger/replace.ts';
import { replacementAnswer } from './admin-cards.ts';

export const consoleCardReplaceRoutes = new Hono<ConsoleEnv>()
  .post('/cards/:card_no/replace', async (c) => {
    const card_no = normaliseCardNo(c.req.param('card_no'));
    const input = await readJson(c, consoleCardReplaceRequest);
    const operator = c.get('operator');
    const school_id = scopedSchool(operator, input.school_id);
    if (card_no === null) throw new ApiError(404, 'card_not_found', 'no such card');
    const d1 = c.env.DB;
    const now_ms = Date.now();
    const address = consoleAddress(c);
    const new_card_no = normaliseCardNo(input.new_card_no) ?? input.new_card_no;
    const outcome = await replaceCard(
      d1,
      { school_id, card_no, new_card_no: input.new_card_no, new_asn: input.new_asn, actor: `operator:${operator.operator_id}` },
      now_ms,
      {
        with_batch: (replacement_id) => [
          auditStatement(
            d1,
            operator,
            {
              school_id,
              action: 'card_replace',
              target: card_no,
              before: { card_no },
              after: { replacement_id, new_card_no, new_asn: input.new_asn },
              at_ms: now_ms,
              address,
            },
            { guard: 'EXISTS (SELECT 1 FROM card_replacements WHERE id = ?9)', params: [replacement_id] },
          ),
        ],
      },
    );
    const { view, status } = replacementAnswer(outcome);
    // The old card's closing, the new card and the void requests must reach the POS at once.
    pokeHubAfterResponse(c, school_id);
    return c.json(view, status, { 'cache-control': 'no-store' });
  })
  .get('/replacements/:replacement_id', async (c) => {
    const query = readQuery(c, schoolQuery);
    const school_id = scopedSchool(c.get('operator'), query.school_id);
    const replacement_id = c.req.param('replacement_id');
    if (!REPLACEMENT_ID_PATTERN.test(replacement_id)) throw new ApiError(404, 'not_found', 'no such replacement');
    const view = await readReplacement(c.env.DB, replacement_id, school_id);
    if (view === null) throw new ApiError(404, 'not_found', 'no such replacement');
    return c.json(view, 200, { 'cache-control': 'no-store' });
  });
