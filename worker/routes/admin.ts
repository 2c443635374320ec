// The card office's API (DESIGN section 10): schools, the card registry import, and listings
// of orders and credits. Every route here sits behind requireAdmin (mounted in app.ts for all
// of /api/v1/admin/*, so routes other modules add there are guarded too).
import { Hono } from 'hono';
import { and, desc, eq, lt, ne, type SQL } from 'drizzle-orm';
import {
  ADMIN_LIST_LIMIT_MAX,
  SCHOOL_ID_PATTERN,
  adminCreditsQuery,
  adminOrdersQuery,
  adminSchoolRequest,
  type AdminCreditsResponse,
  type AdminOrdersResponse,
  type CardImportResponse,
  type School,
} from '../../protocol/api.ts';
import { normaliseCardNo } from '../../protocol/card.ts';
import { MAX_AMOUNT_FEN_DEFAULT } from '../../protocol/money.ts';
import { pushAfterResponse } from '../hub/push.ts';
import { CARD_IMPORT_BODY_BYTES_MAX, readCardCsv, upsertCards } from '../cards/import.ts';
import { openDb, type Db } from '../db/client.ts';
import { credits, orders, schools } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { readJson, readQuery } from '../http/validate.ts';
import { topupStatus } from '../ledger/orders.ts';

const ADMIN_LIST_LIMIT_DEFAULT = 50;

function schoolIdParam(value: string): string {
  if (!SCHOOL_ID_PATTERN.test(value)) throw new ApiError(400, 'invalid_query', 'school_id is lower-case letters, digits and dashes');
  return value;
}

function cardNoFilter(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const card_no = normaliseCardNo(value);
  if (card_no === null) throw new ApiError(400, 'invalid_query', 'card_no is not a card number');
  return card_no;
}

async function schoolById(db: Db, school_id: string): Promise<School | undefined> {
  const rows = await db
    .select({ id: schools.id, name: schools.name, city: schools.city, initial: schools.initial, max_amount_fen: schools.max_amount_fen })
    .from(schools)
    .where(eq(schools.id, school_id))
    .limit(1);
  return rows[0];
}

export const adminRoutes = new Hono<AppEnv>()
  .put('/schools/:school_id', async (c) => {
    const school_id = schoolIdParam(c.req.param('school_id'));
    const input = await readJson(c, adminSchoolRequest);
    const db = openDb(c.env.DB);
    const now_ms = Date.now();
    const existed = (await schoolById(db, school_id)) !== undefined;
    await db
      .insert(schools)
      .values({
        id: school_id,
        name: input.name,
        city: input.city,
        initial: input.initial,
        max_amount_fen: input.max_amount_fen ?? MAX_AMOUNT_FEN_DEFAULT,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
      })
      .onConflictDoUpdate({
        target: schools.id,
        // An omitted ceiling keeps the school's current one rather than resetting it.
        set: {
          name: input.name,
          city: input.city,
          initial: input.initial,
          updated_at_ms: now_ms,
          ...(input.max_amount_fen === undefined ? {} : { max_amount_fen: input.max_amount_fen }),
        },
      });
    const school = await schoolById(db, school_id);
    if (school === undefined) throw new Error(`school ${school_id} missing right after its upsert`);
    return c.json(school, existed ? 200 : 201);
  })
  .post('/schools/:school_id/cards', async (c) => {
    const school_id = schoolIdParam(c.req.param('school_id'));
    const type = c.req.header('content-type') ?? '';
    if (!/^text\/csv\s*(;|$)/i.test(type)) throw new ApiError(415, 'unsupported_media_type', 'send the registry as text/csv');
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      throw new ApiError(415, 'unsupported_media_type', 'send the CSV as UTF-8 (charset=utf-8)');
    }
    const declared = Number(c.req.header('content-length') ?? '0');
    if (declared > CARD_IMPORT_BODY_BYTES_MAX) {
      throw new ApiError(413, 'payload_too_large', `CSV body exceeds ${CARD_IMPORT_BODY_BYTES_MAX} bytes`);
    }
    const db = openDb(c.env.DB);
    if ((await schoolById(db, school_id)) === undefined) {
      throw new ApiError(404, 'school_not_found', `no school ${school_id}; create it with PUT /api/v1/admin/schools/${school_id}`);
    }
    const parsed = await readCardCsv(c.req.raw.body);
    await parsed.rejectTakenAsns(db, school_id);
    const imported = await upsertCards(db, school_id, parsed.rows, Date.now());
    // New cards and status changes (a card reported lost) must reach the POS quickly.
    if (imported > 0) pushAfterResponse(c, school_id);
    const body: CardImportResponse = { imported, rejected: parsed.rejected };
    return c.json(body);
  })
  .get('/orders', async (c) => {
    const query = readQuery(c, adminOrdersQuery);
    const limit = query.limit ?? ADMIN_LIST_LIMIT_DEFAULT;
    if (limit > ADMIN_LIST_LIMIT_MAX) throw new RangeError(`limit ${limit}`);
    const card_no = cardNoFilter(query.card_no);
    const filters: SQL[] = [];
    if (query.status !== undefined) filters.push(eq(orders.status, query.status));
    if (query.school_id !== undefined) filters.push(eq(orders.school_id, query.school_id));
    if (card_no !== undefined) filters.push(eq(orders.card_no, card_no));
    if (query.cursor !== undefined) filters.push(lt(orders.id, query.cursor));
    const rows = await openDb(c.env.DB)
      .select({ order: orders, credit_state: credits.state })
      .from(orders)
      .leftJoin(credits, and(eq(credits.order_id, orders.id), ne(credits.state, 'moved')))
      .where(filters.length > 0 ? and(...filters) : undefined)
      .orderBy(desc(orders.id))
      .limit(limit);
    const body: AdminOrdersResponse = {
      orders: rows.map(({ order, credit_state }) => ({
        order_id: order.id,
        school_id: order.school_id,
        card_no: order.card_no,
        amount_fen: order.amount_fen,
        channel: order.channel,
        origin: order.origin,
        status: order.status,
        topup_status: topupStatus(order.status, credit_state),
        provider_trade_no: order.provider_trade_no,
        created_at_ms: order.created_at_ms,
        expires_at_ms: order.expires_at_ms,
        paid_at_ms: order.paid_at_ms,
        closed_at_ms: order.closed_at_ms,
        refunded_at_ms: order.refunded_at_ms,
      })),
      next_cursor: rows.length === limit ? rows[rows.length - 1]!.order.id : null,
    };
    return c.json(body);
  })
  .get('/credits', async (c) => {
    const query = readQuery(c, adminCreditsQuery);
    const limit = query.limit ?? ADMIN_LIST_LIMIT_DEFAULT;
    if (limit > ADMIN_LIST_LIMIT_MAX) throw new RangeError(`limit ${limit}`);
    const card_no = cardNoFilter(query.card_no);
    const filters: SQL[] = [];
    if (query.state !== undefined) filters.push(eq(credits.state, query.state));
    if (query.school_id !== undefined) filters.push(eq(credits.school_id, query.school_id));
    if (card_no !== undefined) filters.push(eq(credits.card_no, card_no));
    if (query.cursor !== undefined) filters.push(lt(credits.id, query.cursor));
    const rows = await openDb(c.env.DB)
      .select()
      .from(credits)
      .where(filters.length > 0 ? and(...filters) : undefined)
      .orderBy(desc(credits.id))
      .limit(limit);
    const body: AdminCreditsResponse = {
      credits: rows.map((credit) => ({
        credit_id: credit.id,
        order_id: credit.order_id,
        school_id: credit.school_id,
        card_no: credit.card_no,
        amount_fen: credit.amount_fen,
        state: credit.state,
        claim_id: credit.claim_id,
        void_requested_at_ms: credit.void_requested_at_ms,
        created_at_ms: credit.created_at_ms,
        claimed_at_ms: credit.claimed_at_ms,
        voided_at_ms: credit.voided_at_ms,
        moved_from_credit_id: credit.moved_from_credit_id,
        moved_at_ms: credit.moved_at_ms,
      })),
      next_cursor: rows.length === limit ? rows[rows.length - 1]!.id : null,
    };
    return c.json(body);
  });
