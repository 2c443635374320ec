// Auto top-up for the PWA (DESIGN sections 7 and 8), mounted at /api/v1/auto-topup. The card
// token names the card, as for a top-up: sign an agreement (the answer is Alipay's signing
// page), read the card's agreement with its latest charges, cancel it.
//
//   POST /agreements                      {card_token, threshold_fen, amount_fen, daily_cap_fen, notify_phone?}
//   GET  /agreements?card_token=          → {agreement}
//   POST /agreements/{agreement_id}/cancel {card_token}
import { Hono } from 'hono';
import { AGREEMENT_ID_PATTERN, autoTopupCancelRequest, autoTopupQuery, autoTopupSignRequest, type AutoTopupResponse, type AutoTopupSigned } from '../../protocol/auto-topup.ts';
import { fenToYuan } from '../../protocol/money.ts';
import { verifyCardToken } from '../auth/card-token.ts';
import { findCardByNumber } from '../cards/lookup.ts';
import { openDb } from '../db/client.ts';
import type { AppEnv, Env } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { limitCard, limitClient } from '../http/rate-limit.ts';
import { readJson, readQuery } from '../http/validate.ts';
import { activateAgreement, agreementById, agreementView, createSigningAgreement, latestAgreement, stopAgreement, type AgreementRow } from '../auto/agreements.ts';
import { alipayConfig, type AlipayConfig } from '../pay/alipay.ts';
import { agreementSignUrl, queryAgreement, unsignAgreement } from '../pay/alipay-agreement.ts';
import { ProviderError } from '../pay/channel.ts';

const NO_STORE = { 'cache-control': 'no-store' };
// A signing agreement is asked about at Alipay when read this long after it was created: the
// holder has had time to sign, and its dut_user_sign notification may have been lost.
const SIGNING_QUERY_AFTER_MS = 5_000;

function config(env: Env): AlipayConfig {
  try {
    return alipayConfig(env);
  } catch (error) {
    if (error instanceof ProviderError) throw new ApiError(503, 'channel_unavailable', 'auto top-up with Alipay is not available at the moment');
    throw error;
  }
}

function providerFailure(error: unknown): never {
  if (!(error instanceof ProviderError)) throw error;
  console.error(JSON.stringify({ level: 'warn', msg: 'alipay agreement call failed', provider_code: error.provider_code, error: error.message.slice(0, 300) }));
  throw new ApiError(503, 'payment_provider_error', 'Alipay did not answer; try again in a moment', { 'retry-after': '5' });
}

function baseUrl(env: Env, request_url: string): string {
  const trimmed = env.PUBLIC_BASE_URL?.trim().replace(/\/+$/, '') ?? '';
  if (trimmed.length === 0) return new URL(request_url).origin;
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(trimmed)) throw new ApiError(503, 'not_configured', 'PUBLIC_BASE_URL is not an http(s) URL');
  return trimmed;
}

/** A signing agreement whose notification has not come: Alipay's agreement query decides. */
async function catchUpSigning(env: Env, row: AgreementRow, now_ms: number): Promise<AgreementRow> {
  if (row.state !== 'signing' || now_ms - row.created_at_ms < SIGNING_QUERY_AFTER_MS) return row;
  try {
    const found = await queryAgreement(config(env), row.id);
    if (found.state === 'normal') {
      await activateAgreement(env.DB, { agreement_id: row.id, provider_agreement_no: found.agreement_no, provider_user_id: found.user_id, signed_at_ms: found.signed_at_ms ?? now_ms }, now_ms);
      return (await agreementById(env.DB, row.id)) ?? row;
    }
  } catch (error) {
    // Only a read: what we have is shown, and the next read asks again.
    if (!(error instanceof ProviderError) && !(error instanceof ApiError)) throw error;
  }
  return row;
}

export const autoTopupRoutes = new Hono<AppEnv>()
  .post('/agreements', async (c) => {
    await limitClient(c.env, c);
    const input = await readJson(c, autoTopupSignRequest);
    const now_ms = Date.now();
    const claims = await verifyCardToken(c.env.CARD_TOKEN_SECRET, input.card_token, now_ms);
    await limitCard(c.env, claims.school_id, claims.card_no);
    const card = await findCardByNumber(openDb(c.env.DB), claims.school_id, claims.card_no);
    if (card.status !== 'active') throw new ApiError(403, 'card_not_active', `this card is ${card.status}; ask the card office`);
    if (input.amount_fen > card.max_amount_fen) {
      throw new ApiError(400, 'amount_out_of_range', `the amount must be at most ${fenToYuan(card.max_amount_fen)} yuan`);
    }
    if (input.daily_cap_fen < input.amount_fen) throw new ApiError(400, 'amount_out_of_range', 'the daily cap must be at least the amount');
    const alipay = config(c.env);
    const base = baseUrl(c.env, c.req.url);
    const row = await createSigningAgreement(
      c.env.DB,
      { school_id: card.school_id, card_no: card.card_no, threshold_fen: input.threshold_fen, amount_fen: input.amount_fen, daily_cap_fen: input.daily_cap_fen, notify_phone: input.notify_phone ?? null },
      now_ms,
    );
    if (row === null) throw new ApiError(409, 'agreement_exists', 'auto top-up is already on for this card; cancel it first');
    const origin = new URL(c.req.url).origin;
    const sign_url = await agreementSignUrl(
      alipay,
      { agreement_id: row.id, notify_url: `${base}/api/v1/notify/alipay-agreement`, return_url: `${origin}/cards/${encodeURIComponent(`${card.school_id}|${card.card_no}`)}/auto` },
      now_ms,
    ).catch(providerFailure);
    const body: AutoTopupSigned = { agreement_id: row.id, state: 'signing', sign_url };
    return c.json(body, 201, NO_STORE);
  })
  .get('/agreements', async (c) => {
    const query = readQuery(c, autoTopupQuery);
    const now_ms = Date.now();
    const claims = await verifyCardToken(c.env.CARD_TOKEN_SECRET, query.card_token, now_ms);
    const row = await latestAgreement(c.env.DB, claims.school_id, claims.card_no);
    const body: AutoTopupResponse = { agreement: row === null ? null : await agreementView(c.env.DB, await catchUpSigning(c.env, row, now_ms), now_ms) };
    return c.json(body, 200, NO_STORE);
  })
  .post('/agreements/:agreement_id/cancel', async (c) => {
    const agreement_id = c.req.param('agreement_id');
    if (!AGREEMENT_ID_PATTERN.test(agreement_id)) throw new ApiError(400, 'invalid_query', 'agreement_id is malformed');
    const input = await readJson(c, autoTopupCancelRequest);
    const now_ms = Date.now();
    const claims = await verifyCardToken(c.env.CARD_TOKEN_SECRET, input.card_token, now_ms);
    const row = await agreementById(c.env.DB, agreement_id);
    // Another card's agreement is as unknown to this token as a missing one.
    if (row === null || row.school_id !== claims.school_id || row.card_no !== claims.card_no) {
      throw new ApiError(404, 'agreement_not_found', 'no such agreement for this card');
    }
    // Stopped here first, so no charge starts from the moment the holder asked (and Alipay's
    // dut_user_unsign, which the unsign below triggers, finds it already stopped).
    await stopAgreement(c.env.DB, { agreement_id, reason: 'cancelled' }, now_ms);
    if (row.provider_agreement_no !== null && (row.state !== 'stopped' || row.stop_reason === 'cancelled')) {
      // Then Alipay: an agreement we call stopped must not stay chargeable there. A failure is a
      // 503, and cancelling again (idempotent at Alipay) finishes it.
      await unsignAgreement(config(c.env), row.provider_agreement_no).catch(providerFailure);
    }
    const stopped = (await agreementById(c.env.DB, agreement_id))!;
    const body: AutoTopupResponse = { agreement: await agreementView(c.env.DB, stopped, now_ms) };
    return c.json(body, 200, NO_STORE);
  });
