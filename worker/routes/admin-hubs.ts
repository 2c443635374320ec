// Admin side of hub sync (DESIGN sections 7, 8 and 10), mounted at /api/v1/admin: registering a
// hub's public key, listing hubs, grey records, card holds and refused claims, settling a card
// hold or a dead hub's credit, and refunding an order
// (through its hub once the hub may hold the credit).
import { Hono } from 'hono';
import { z } from 'zod';
import { ORDER_ID_PATTERN } from '../../protocol/api.ts';
import {
  HUB_ID_PATTERN,
  adminCardHoldSettleRequest,
  adminCreditSettleRequest,
  cardHoldsQuery,
  adminHubRequest,
  adminHubStateRequest,
  adminHubsQuery,
  greyRecordsQuery,
  type GreyRecordsResponse,
} from '../../protocol/hub.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { readJson, readQuery } from '../http/validate.ts';
import { importHubPublicKey } from '../hub/auth.ts';
import { changeHubState } from '../hub/fleet.ts';
import { HUB_SELECT_SQL, toAdminHub, type HubRow } from '../hub/fleet-view.ts';
import { GREY_SELECT_SQL, readGreyPage, toGreyRecordView } from '../hub/grey-view.ts';
import { notifySchoolHub, pushAfterResponse } from '../hub/push.ts';
import { requestRefund } from '../ledger/refunds.ts';
import { listHolds, settleHold } from '../ledger/holds.ts';
import { settleCredit } from '../ledger/settle.ts';
import { CARD_NO_LENGTH_MAX } from '../../protocol/card.ts';

const HUBS_LIST_MAX = 200;
// A card number as the registry stores it (protocol/card.ts normalises to this).
const HOLD_CARD_NO_PATTERN = new RegExp(`^[0-9A-Z][0-9A-Z-]{0,${CARD_NO_LENGTH_MAX - 1}}$`);

interface VoidRejectionRow {
  id: number;
  hub_id: string;
  school_id: string;
  credit_id: string;
  result: string;
  code: string;
  reason: string;
  received_at_ms: number;
}

interface ClaimRejectionRow {
  id: number;
  hub_id: string;
  school_id: string;
  claim_id: string;
  card_no: string;
  amount_fen: number;
  reason: string;
  code: string;
  body: string;
  received_at_ms: number;
}

// Newest first; `before` pages back by id.
const claimRejectionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(100),
  before: z.coerce.number().int().min(1).optional(),
});

function parseJsonObject(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

// Guarded by requireAdmin, which app.ts runs for every /api/v1/admin/* path before any route.
export const adminHubRoutes = new Hono<AppEnv>()
  .put('/hubs/:hub_id', async (c) => {
    const hub_id = c.req.param('hub_id');
    if (!HUB_ID_PATTERN.test(hub_id)) {
      throw new ApiError(400, 'invalid_body', 'hub_id is 2-48 lower-case letters, digits and dashes');
    }
    const body = await readJson(c, adminHubRequest);
    try {
      await importHubPublicKey(body.public_key);
    } catch {
      throw new ApiError(400, 'invalid_body', 'public_key: not an Ed25519 public key (SPKI, base64)');
    }
    const school = await c.env.DB.prepare('SELECT id FROM schools WHERE id = ?').bind(body.school_id).first();
    if (school === null) throw new ApiError(404, 'school_not_found', `no school ${body.school_id}`);
    const now_ms = Date.now();
    // A key rotation keeps the hub's sync state; moving a hub to another school is refused,
    // because the credits it owns are that school's. A key already registered for another hub
    // is refused: the key is what says which hub is asking. The school's first hub is its
    // active one, later ones standbys until the card office makes one active.
    const row = await c.env.DB.prepare(
      `INSERT INTO hubs (id, school_id, public_key, created_at_ms, updated_at_ms, state, state_reason, state_changed_at_ms)
       SELECT ?1, ?2, ?3, ?4, ?4,
              CASE WHEN EXISTS (SELECT 1 FROM hubs WHERE school_id = ?2) THEN 'standby' ELSE 'active' END,
              CASE WHEN EXISTS (SELECT 1 FROM hubs WHERE school_id = ?2) THEN 'registered after the school''s first hub'
                   ELSE 'the school''s first hub' END, ?4
        WHERE NOT EXISTS (SELECT 1 FROM hubs WHERE public_key = ?3 AND id <> ?1)
       ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key, updated_at_ms = excluded.updated_at_ms
        WHERE hubs.school_id = excluded.school_id
       RETURNING *`,
    )
      .bind(hub_id, body.school_id, body.public_key, now_ms)
      .first<HubRow>();
    if (row === null) {
      const owner = await c.env.DB.prepare('SELECT id FROM hubs WHERE public_key = ? AND id <> ?')
        .bind(body.public_key, hub_id)
        .first<{ id: string }>();
      if (owner !== null) throw new ApiError(409, 'public_key_in_use', 'this public key is registered for another hub; generate a new one (`npm run hub -- keygen`)');
      throw new ApiError(409, 'conflict', `hub ${hub_id} is registered for another school`);
    }
    const full = await c.env.DB.prepare(`${HUB_SELECT_SQL} WHERE h.id = ?`).bind(hub_id).first<HubRow>();
    return c.json(toAdminHub(full ?? row), row.created_at_ms === now_ms ? 201 : 200);
  })
  .get('/hubs', async (c) => {
    const query = readQuery(c, adminHubsQuery);
    const rows =
      query.school_id === undefined
        ? await c.env.DB.prepare(`${HUB_SELECT_SQL} ORDER BY h.school_id, h.id LIMIT ${HUBS_LIST_MAX}`).all<HubRow>()
        : await c.env.DB.prepare(`${HUB_SELECT_SQL} WHERE h.school_id = ? ORDER BY h.id LIMIT ${HUBS_LIST_MAX}`)
            .bind(query.school_id)
            .all<HubRow>();
    return c.json({ hubs: rows.results.map(toAdminHub) });
  })
  .get('/hubs/:hub_id', async (c) => {
    const row = await c.env.DB.prepare(`${HUB_SELECT_SQL} WHERE h.id = ?`).bind(c.req.param('hub_id')).first<HubRow>();
    if (row === null) throw new ApiError(404, 'hub_not_found', 'no such hub');
    return c.json(toAdminHub(row));
  })
  .post('/hubs/:hub_id/state', async (c) => {
    const hub_id = c.req.param('hub_id');
    if (!HUB_ID_PATTERN.test(hub_id)) throw new ApiError(404, 'hub_not_found', 'no such hub');
    const body = await readJson(c, adminHubStateRequest);
    const changed = await changeHubState(c.env.DB, hub_id, body.state, body.reason, Date.now());
    // A new active hub has credits waiting in the feed; a retiring one must hear it at once.
    pushAfterResponse(c, changed.school_id);
    const row = await c.env.DB.prepare(`${HUB_SELECT_SQL} WHERE h.id = ?`).bind(hub_id).first<HubRow>();
    if (row === null) throw new ApiError(404, 'hub_not_found', 'no such hub');
    return c.json(toAdminHub(row));
  })
  .get('/hubs/:hub_id/state-events', async (c) => {
    const hub = await c.env.DB.prepare('SELECT id FROM hubs WHERE id = ?').bind(c.req.param('hub_id')).first();
    if (hub === null) throw new ApiError(404, 'hub_not_found', 'no such hub');
    const rows = await c.env.DB.prepare(
      `SELECT id, from_state, to_state, reason, at_ms FROM hub_state_events WHERE hub_id = ? ORDER BY id DESC LIMIT ${HUBS_LIST_MAX}`,
    )
      .bind(c.req.param('hub_id'))
      .all();
    return c.json({ events: rows.results });
  })
  .post('/credits/:credit_id/settle', async (c) => {
    const credit_id = c.req.param('credit_id');
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(credit_id)) throw new ApiError(404, 'not_found', 'no such credit');
    const body = await readJson(c, adminCreditSettleRequest);
    const settled = await settleCredit(c.env.DB, credit_id, body, Date.now());
    if (settled.decision === 'release') {
      const school = await c.env.DB.prepare('SELECT school_id FROM credits WHERE id = ?').bind(credit_id).first<{ school_id: string }>();
      if (school !== null) pushAfterResponse(c, school.school_id);
    }
    return c.json(settled);
  })
  .get('/card-holds', async (c) => {
    const query = readQuery(c, cardHoldsQuery);
    return c.json({ holds: await listHolds(c.env.DB, query) });
  })
  .post('/card-holds/:hub_id/:card_no/settle', async (c) => {
    const hub_id = c.req.param('hub_id');
    const card_no = c.req.param('card_no');
    if (!HUB_ID_PATTERN.test(hub_id) || !HOLD_CARD_NO_PATTERN.test(card_no)) throw new ApiError(404, 'not_found', 'no hold of this card at this hub');
    const body = await readJson(c, adminCardHoldSettleRequest);
    const settled = await settleHold(c.env.DB, { hub_id, card_no }, body, Date.now());
    // The hub lifts the freeze when it pulls the settlement.
    const hub = await c.env.DB.prepare('SELECT school_id FROM hubs WHERE id = ?').bind(hub_id).first<{ school_id: string }>();
    if (hub !== null) pushAfterResponse(c, hub.school_id);
    return c.json(settled);
  })
  .get('/void-rejections', async (c) => {
    const query = readQuery(c, claimRejectionsQuery);
    const rows = await c.env.DB.prepare(
      `SELECT id, hub_id, school_id, credit_id, result, code, reason, received_at_ms FROM void_rejections
        ${query.before === undefined ? '' : 'WHERE id < ?2'}
        ORDER BY id DESC LIMIT ?1`,
    )
      .bind(...(query.before === undefined ? [query.limit] : [query.limit, query.before]))
      .all<VoidRejectionRow>();
    const last = rows.results.at(-1);
    return c.json({
      rejections: rows.results,
      next_before: rows.results.length === query.limit && last !== undefined ? last.id : null,
    });
  })
  .get('/grey-records', async (c) => {
    const query = readQuery(c, greyRecordsQuery);
    const page = await readGreyPage(c.env.DB, GREY_SELECT_SQL, query);
    const body: GreyRecordsResponse = { records: page.rows.map(toGreyRecordView), next_cursor: page.next_cursor };
    return c.json(body);
  })
  .get('/claim-rejections', async (c) => {
    const query = readQuery(c, claimRejectionsQuery);
    const rows = await c.env.DB.prepare(
      `SELECT id, hub_id, school_id, claim_id, card_no, amount_fen, reason, code, body, received_at_ms FROM claim_rejections
        ${query.before === undefined ? '' : 'WHERE id < ?2'}
        ORDER BY id DESC LIMIT ?1`,
    )
      .bind(...(query.before === undefined ? [query.limit] : [query.limit, query.before]))
      .all<ClaimRejectionRow>();
    const last = rows.results.at(-1);
    return c.json({
      rejections: rows.results.map(({ body, ...row }) => ({ ...row, claim: parseJsonObject(body) })),
      next_before: rows.results.length === query.limit && last !== undefined ? last.id : null,
    });
  })
  .post('/orders/:order_id/refund', async (c) => {
    const order_id = c.req.param('order_id');
    if (!ORDER_ID_PATTERN.test(order_id)) throw new ApiError(404, 'order_not_found', 'no such order');
    const outcome = await requestRefund(c.env, order_id, Date.now());
    if (outcome.kind === 'not_found') throw new ApiError(404, 'order_not_found', 'no such order');
    if (outcome.kind === 'not_allowed') throw new ApiError(409, 'refund_not_allowed', outcome.reason);
    if (outcome.kind === 'frozen') throw new ApiError(409, 'credit_frozen', outcome.reason);
    if (outcome.void_requested) {
      const poke = notifySchoolHub(c.env, outcome.school_id);
      try {
        c.executionCtx.waitUntil(poke);
      } catch {
        // No execution context (called outside a fetch event): the poke runs on its own.
      }
    }
    // 200 when done; 202 while the hub's answer or the provider is still to come.
    return c.json(outcome.refund, outcome.refund.state === 'refunded' ? 200 : 202);
  });
