// Top-ups (DESIGN sections 5 and 10): create an unpaid order and hand the payer to the
// provider; read one order's status; list a card's records with monthly totals.
import { Hono } from 'hono';
import {
  ORDER_ID_PATTERN,
  rechargeRequestWire,
  rechargesQuery,
  type RechargeCreated,
  type RechargeRecord,
  type RechargeRecordsResponse,
} from '../../protocol/api.ts';
import { AMOUNT_FEN_MIN, fenToYuan } from '../../protocol/money.ts';
import { normaliseCardNo } from '../../protocol/card.ts';
import { signCardToken, verifyCardToken } from '../auth/card-token.ts';
import { findCardByName, findCardByNumber, pendingFen, type FoundCard } from '../cards/lookup.ts';
import { openDb, openReplicaDb, type Db } from '../db/client.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { limitCard, limitClient, limitNamed } from '../http/rate-limit.ts';
import { readJson, readQuery } from '../http/validate.ts';
import {
  cardRecords,
  closeUnstartedOrder,
  createOrder,
  orderExpiryMs,
  orderRecord,
  OPEN_ORDERS_PER_CARD_MAX,
  TooManyOpenOrders,
  type CreatedOrder,
} from '../ledger/orders.ts';
import { ProviderError } from '../pay/channel.ts';
import { paymentChannel } from '../pay/channels.ts';

// The payer's own data: never kept by a shared cache.
const NO_STORE = { 'cache-control': 'no-store' };

function providerRefusal(error: ProviderError): ApiError {
  // The provider's own words are for operators (they can name keys and hosts), not for payers.
  console.error(
    JSON.stringify({ level: 'warn', msg: 'payment not started', channel: error.channel, provider_code: error.provider_code, error: error.message.slice(0, 300) }),
  );
  if (error.provider_code === 'not_configured') {
    return new ApiError(503, 'channel_unavailable', `${error.channel} is not available at the moment; choose another channel`);
  }
  const retry = error.transient ? '; try again in a moment' : '; choose another channel or try again later';
  return new ApiError(503, 'payment_provider_error', `${error.channel} did not start the payment${retry}`, { 'retry-after': '5' });
}

/** Where providers send notifications: the deployment's public origin. */
function baseUrl(configured: string | undefined, request_url: string): string {
  const trimmed = configured?.trim().replace(/\/+$/, '') ?? '';
  if (trimmed.length === 0) return new URL(request_url).origin;
  // A typo here would send every payment notification into the void: refuse to take money.
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(trimmed)) {
    throw new ApiError(503, 'not_configured', 'PUBLIC_BASE_URL is not an http(s) URL');
  }
  return trimmed;
}

function expiryMs(configured: string | undefined): number {
  try {
    return orderExpiryMs(configured);
  } catch (error) {
    if (error instanceof RangeError) throw new ApiError(503, 'not_configured', error.message);
    throw error;
  }
}

async function createOrderOrRefuse(...args: Parameters<typeof createOrder>): Promise<CreatedOrder> {
  try {
    return await createOrder(...args);
  } catch (error) {
    if (!(error instanceof TooManyOpenOrders)) throw error;
    throw new ApiError(
      409,
      'too_many_open_orders',
      `this card already has ${OPEN_ORDERS_PER_CARD_MAX} unpaid top-ups; pay one of them or let them expire first`,
    );
  }
}

export const rechargeRoutes = new Hono<AppEnv>()
  .post('/', async (c) => {
    await limitClient(c.env, c);
    const input = await readJson(c, rechargeRequestWire);
    if (!input.agree_terms) throw new ApiError(400, 'terms_not_agreed', 'agree to the top-up terms first');
    const db = openDb(c.env.DB);
    const now_ms = Date.now();
    let card: FoundCard;
    if ('card_token' in input) {
      const claims = await verifyCardToken(c.env.CARD_TOKEN_SECRET, input.card_token, now_ms);
      await limitCard(c.env, claims.school_id, claims.card_no);
      card = await findCardByNumber(db, claims.school_id, claims.card_no);
    } else {
      const card_no = normaliseCardNo(input.card_no);
      if (card_no !== null) await limitCard(c.env, input.school_id, card_no);
      await limitNamed(c.env, input.school_id, input.name);
      card = await findCardByName(db, input);
    }
    if (card.status !== 'active') {
      throw new ApiError(403, 'card_not_active', `this card is ${card.status}; ask the card office`);
    }
    if (input.amount_fen < AMOUNT_FEN_MIN || input.amount_fen > card.max_amount_fen) {
      throw new ApiError(400, 'amount_out_of_range', `amount must be 0.01 to ${fenToYuan(card.max_amount_fen)} yuan`);
    }
    // Configuration is checked before an order exists, so a misconfigured Worker leaves none.
    const expiry_ms = expiryMs(c.env.ORDER_EXPIRY_MINUTES);
    const notify_url = `${baseUrl(c.env.PUBLIC_BASE_URL, c.req.url)}/api/v1/notify/${input.channel}`;
    const card_token = await signCardToken(c.env.CARD_TOKEN_SECRET, card, now_ms);
    const order = await createOrderOrRefuse(
      db,
      {
        school_id: card.school_id,
        card_no: card.card_no,
        amount_fen: input.amount_fen,
        channel: input.channel,
        notify_phone: input.notify_phone ?? null,
        origin: 'topup',
      },
      { now_ms, expiry_ms, open_orders_max: OPEN_ORDERS_PER_CARD_MAX },
    );
    const origin = new URL(c.req.url).origin;
    let pay_url: string;
    let qr_code: string | undefined;
    try {
      const channel = paymentChannel(c.env, input.channel);
      const payment_order = {
        order_id: order.order_id,
        amount_fen: order.amount_fen,
        subject: `${card.school_name} 校园卡充值`,
        expires_at_ms: order.expires_at_ms,
        payer_client_ip: c.req.header('cf-connecting-ip')?.trim() || null,
      };
      const urls = { notify_url, return_url: `${origin}/orders/${order.order_id}` };
      if (input.scene === 'qr') {
        // A desktop payer scans the code with a phone: there is no browser to send to a cashier.
        qr_code = (await channel.createQrPayment(payment_order, urls)).qr_code;
        pay_url = qr_code;
      } else {
        pay_url = (await channel.createPayment(payment_order, urls)).pay_url;
      }
    } catch (error) {
      // Nobody got a way to pay this order: close it so it is neither payable nor waited for.
      await closeUnstartedOrder(db, order.order_id, Date.now());
      if (error instanceof ProviderError) throw providerRefusal(error);
      throw error;
    }
    const body: RechargeCreated = {
      order_id: order.order_id,
      amount_fen: order.amount_fen,
      status: 'unpaid',
      pay_url,
      card_token,
      ...(qr_code === undefined ? {} : { qr_code }),
    };
    return c.json(body, 201, NO_STORE);
  })
  .get('/', async (c) => {
    const query = readQuery(c, rechargesQuery);
    const now_ms = Date.now();
    const claims = await verifyCardToken(c.env.CARD_TOKEN_SECRET, query.card_token, now_ms);
    // Records are shown "as of" now and refreshed by the app: a replica's lag is tolerable, and
    // these reads are the bulk of a holder's visits. A card the replica does not have yet (just
    // imported) is asked of the primary before it is called missing.
    const read = (db: Db) =>
      Promise.all([
        cardRecords(db, claims, now_ms),
        findCardByNumber(db, claims.school_id, claims.card_no),
        pendingFen(db, claims.school_id, claims.card_no),
      ]);
    const [history, card, pending_fen] = await read(openReplicaDb(c.env.DB)).catch((error: unknown) => {
      if (error instanceof ApiError && error.code === 'card_not_found') return read(openDb(c.env.DB));
      throw error;
    });
    const body: RechargeRecordsResponse = {
      ...history,
      card: { kind: card.kind, status: card.status, balance_fen: card.balance_fen, balance_as_of: card.balance_as_of_ms, pending_fen },
    };
    return c.json(body, 200, NO_STORE);
  })
  .get('/:order_id', async (c) => {
    const order_id = c.req.param('order_id');
    if (!ORDER_ID_PATTERN.test(order_id)) throw new ApiError(400, 'invalid_query', 'order_id is malformed');
    // Status polls are most of a top-up's reads and the app polls again anyway, so a replica may
    // answer; an order it does not know yet (created a moment ago) is asked of the primary.
    const record = (await orderRecord(openReplicaDb(c.env.DB), order_id)) ?? (await orderRecord(openDb(c.env.DB), order_id));
    if (record === null) throw new ApiError(404, 'order_not_found', 'no such order');
    const body: RechargeRecord = record;
    return c.json(body, 200, NO_STORE);
  });
