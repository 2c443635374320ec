// The hub sync API (DESIGN section 6), mounted at /api/v1/hub: the changes feed, claims, void
// answers, card reports and the push WebSocket. Every request is Ed25519-signed by a registered
// hub (worker/hub/auth.ts) and sees only that hub's school.
import { Hono, type Context } from 'hono';
import {
  cardReportsRequest,
  changesQuery,
  claimsRequest,
  retireConfirmRequest,
  snapshotQuery,
  voidsRequest,
  type RetireConfirmResponse,
} from '../../protocol/hub.ts';
import { ApiError } from '../http/errors.ts';
import { readQuery } from '../http/validate.ts';
import { parseHubBody, requireHub, type HubAppEnv } from '../hub/auth.ts';
import { applyCardReports } from '../hub/card-reports.ts';
import { latestSeq, readChanges } from '../hub/changes.ts';
import { confirmRetire } from '../hub/fleet.ts';
import { readSnapshot } from '../hub/snapshot.ts';
import { notifySchoolHub, pushAfterResponse, schoolHubStub } from '../hub/push.ts';
import { PUSH_HUB_ID_HEADER, PUSH_SEQ_HEADER } from '../hub/school-hub.ts';
import { applyClaims } from '../ledger/claims.ts';
import { applyVoidAnswers, completeRefund } from '../ledger/refunds.ts';
import { autoTopupAfterReports } from '../auto/after-reports.ts';

// Provider refunds done while the hub waits for its void answer; more stay `provider_pending`
// for the retry (cron or the admin asking again). Refunds are rare: this is a safety bound.
const VOID_REFUNDS_INLINE_MAX = 16;
const VOID_REFUNDS_CONCURRENCY = 4;

async function completeRefunds(c: Context<HubAppEnv>, refund_ids: readonly string[], now_ms: number): Promise<void> {
  const inline = refund_ids.slice(0, VOID_REFUNDS_INLINE_MAX);
  for (let i = 0; i < inline.length; i += VOID_REFUNDS_CONCURRENCY) {
    // completeRefund records a provider failure itself; a database error here must not turn
    // the hub's already-applied void answers into a 500 it would resend for nothing.
    await Promise.all(
      inline.slice(i, i + VOID_REFUNDS_CONCURRENCY).map((id) =>
        completeRefund(c.env, id, now_ms).catch((err: unknown) => {
          console.error(JSON.stringify({ level: 'error', msg: 'refund completion failed', refund_id: id, error: String(err) }));
        }),
      ),
    );
  }
}

export const hubRoutes = new Hono<HubAppEnv>()
  .use('*', requireHub)
  .get('/changes', async (c) => {
    const query = readQuery(c, changesQuery);
    return c.json(await readChanges(c.env.DB, c.get('hub'), query, Date.now()));
  })
  .get('/snapshot', async (c) => {
    const query = readQuery(c, snapshotQuery);
    return c.json(await readSnapshot(c.env.DB, c.get('hub'), query));
  })
  .post('/retire-confirm', async (c) => {
    parseHubBody(c, retireConfirmRequest);
    const now_ms = Date.now();
    const hub = c.get('hub');
    const outcome = await confirmRetire(c.env.DB, hub, now_ms);
    await completeRefunds(c, outcome.refund_ids, now_ms);
    // The released credits are in the feed now: the active hub should pull.
    if (outcome.released_credits > 0) {
      const poke = notifySchoolHub(c.env, hub.school_id);
      try {
        c.executionCtx.waitUntil(poke);
      } catch {
        // No execution context: the poke is already under way.
      }
    }
    const body: RetireConfirmResponse = {
      hub_state: outcome.hub_state,
      released_credits: outcome.released_credits,
      voided_credits: outcome.voided_credits,
    };
    return c.json(body);
  })
  .post('/claims', async (c) => {
    const body = parseHubBody(c, claimsRequest);
    return c.json(await applyClaims(c.env.DB, c.get('hub'), body.claims, Date.now()));
  })
  .post('/voids', async (c) => {
    const body = parseHubBody(c, voidsRequest);
    const now_ms = Date.now();
    const { response, refunds_to_complete, credits_moved } = await applyVoidAnswers(c.env.DB, c.get('hub'), body.answers, now_ms);
    // A replaced card's credits continue as new credits of the new card: the hub should pull them.
    if (credits_moved > 0) pushAfterResponse(c, c.get('hub').school_id);
    await completeRefunds(c, refunds_to_complete, now_ms);
    return c.json(response);
  })
  .post('/card-reports', async (c) => {
    const body = parseHubBody(c, cardReportsRequest);
    const input = { reports: body.reports, grey: body.grey ?? [], holds: body.holds ?? [] };
    const now_ms = Date.now();
    const response = await applyCardReports(c.env.DB, c.get('hub'), input, now_ms);
    autoTopupAfterReports(c, c.get('hub').school_id, body.reports, now_ms);
    return c.json(response);
  })
  .get('/push', async (c) => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError(426, 'upgrade_required', 'the push channel is a WebSocket: send Upgrade: websocket');
    }
    const hub = c.get('hub');
    const stub = schoolHubStub(c.env, hub.school_id);
    if (stub === null) throw new ApiError(503, 'not_configured', 'push is not configured; poll the changes feed');
    // The primary, as in SchoolHub.poke: a hub may skip a push whose seq it already has.
    const seq = await latestSeq(c.env.DB, hub.school_id);
    return stub.fetch('https://school-hub.internal/connect', {
      headers: { upgrade: 'websocket', [PUSH_HUB_ID_HEADER]: hub.hub_id, [PUSH_SEQ_HEADER]: String(seq) },
    });
  });
