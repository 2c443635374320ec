// The school's hubs in the console: `GET /hubs?school_id=` (state, sync lag, last contact, the
// pending credits each owns, a dead hub's frozen credits), `POST /hubs/{hub_id}/state` (the card
// office's handover: the same rules and function as the admin route, worker/hub/fleet.ts) and
// `POST /credits/{credit_id}/settle` (a dead hub's frozen credit, through the same ledger
// function as the admin route, the operator the actor). Each action's audit row is in the D1
// batch of the change, guarded on the row the change writes, so a refusal leaves none.
import { Hono } from 'hono';
import { consoleCreditSettleRequest, consoleHubStateRequest, schoolQuery, type ConsoleHubsResponse } from '../../protocol/console.ts';
import { HUB_ID_PATTERN } from '../../protocol/hub.ts';
import { auditStatement } from '../console/audit.ts';
import { consoleAddress, pokeHubAfterResponse, type ConsoleEnv } from '../console/context.ts';
import { scopedSchool } from '../console/guard.ts';
import { schoolHubs } from '../console/hubs.ts';
import { ApiError } from '../http/errors.ts';
import { readJson, readQuery } from '../http/validate.ts';
import { changeHubState } from '../hub/fleet.ts';
import { settleCredit } from '../ledger/settle.ts';

const CREDIT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function hubNotFound(): ApiError {
  return new ApiError(404, 'hub_not_found', 'no such hub');
}

function creditNotFound(): ApiError {
  return new ApiError(404, 'not_found', 'no such credit');
}

export const consoleHubRoutes = new Hono<ConsoleEnv>()
  .get('/hubs', async (c) => {
    const query = readQuery(c, schoolQuery);
    const school_id = scopedSchool(c.get('operator'), query.school_id);
    const body: ConsoleHubsResponse = { hubs: await schoolHubs(c.env.DB, school_id, Date.now()) };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  })
  .post('/hubs/:hub_id/state', async (c) => {
    const hub_id = c.req.param('hub_id');
    const input = await readJson(c, consoleHubStateRequest);
    if (!HUB_ID_PATTERN.test(hub_id)) throw hubNotFound();
    const operator = c.get('operator');
    const d1 = c.env.DB;
    const hub = await d1.prepare('SELECT school_id, state FROM hubs WHERE id = ?').bind(hub_id).first<{ school_id: string; state: string }>();
    // Another school's hub is answered as one that does not exist.
    if (hub === null || !operator.school_ids.includes(hub.school_id)) throw hubNotFound();
    const now_ms = Date.now();
    await changeHubState(d1, hub_id, input.state, input.reason, now_ms, [
      auditStatement(
        d1,
        operator,
        {
          school_id: hub.school_id,
          action: 'hub_state',
          target: hub_id,
          before: { state: hub.state },
          after: { state: input.state, reason: input.reason },
          at_ms: now_ms,
          address: consoleAddress(c),
        },
        {
          guard: 'EXISTS (SELECT 1 FROM hub_state_events WHERE hub_id = ?9 AND from_state = ?10 AND to_state = ?11 AND at_ms = ?6)',
          params: [hub_id, hub.state, input.state],
        },
      ),
    ]);
    // A new active hub has credits waiting in the feed; a retiring one must hear it at once.
    pokeHubAfterResponse(c, hub.school_id);
    const [view] = await schoolHubs(d1, hub.school_id, now_ms, hub_id);
    if (view === undefined) throw new Error(`hub ${hub_id} vanished after its state change`);
    return c.json(view, 200, { 'cache-control': 'no-store' });
  })
  .post('/credits/:credit_id/settle', async (c) => {
    const credit_id = c.req.param('credit_id');
    const input = await readJson(c, consoleCreditSettleRequest);
    if (!CREDIT_ID_PATTERN.test(credit_id)) throw creditNotFound();
    const operator = c.get('operator');
    const d1 = c.env.DB;
    const credit = await d1
      .prepare('SELECT school_id, state, owner_hub_id FROM credits WHERE id = ?')
      .bind(credit_id)
      .first<{ school_id: string; state: string; owner_hub_id: string | null }>();
    if (credit === null || !operator.school_ids.includes(credit.school_id)) throw creditNotFound();
    const now_ms = Date.now();
    const settled = await settleCredit(d1, credit_id, { decision: input.decision, evidence: input.evidence, actor: `operator:${operator.operator_id}` }, now_ms, [
      auditStatement(
        d1,
        operator,
        {
          school_id: credit.school_id,
          action: 'credit_settle',
          target: credit_id,
          before: { state: credit.state, owner_hub_id: credit.owner_hub_id },
          after: { decision: input.decision, evidence: input.evidence },
          at_ms: now_ms,
          address: consoleAddress(c),
        },
        { guard: 'EXISTS (SELECT 1 FROM credit_settlements WHERE credit_id = ?9 AND settled_at_ms = ?6)', params: [credit_id] },
      ),
    ]);
    // A released credit is the active hub's now; a claimed one leaves the dead hub's list.
    pokeHubAfterResponse(c, credit.school_id);
    return c.json(settled, 200, { 'cache-control': 'no-store' });
  });
