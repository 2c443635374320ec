// Refunds (DESIGN sections 3, 6 and 7): only of a credit nobody loaded onto the card. While the
// credit has never been sent to a hub the Worker voids it itself; once a hub may hold it, only
// the hub decides, so the refund asks for a void and completes when the hub answers `voided`.
// The money goes back only after the credit is voided, and the order is `refunded` only after
// the provider accepted; a provider failure leaves the refund in `provider_pending`, retried.
import type { Channel } from '../../protocol/api.ts';
import type { RefundView, VoidsResponse } from '../../protocol/hub.ts';
import { VOIDS_BATCH_MAX } from '../../protocol/hub.ts';
import type { Env } from '../env.ts';
import type { HubIdentity } from '../hub/auth.ts';
import { ProviderError, type RefundRequest, type RefundState } from '../pay/channel.ts';
import { paymentChannel } from '../pay/channels.ts';
import { HUB_MOVE_REFUSALS_SQL, HUB_MOVE_SQL } from './replace.ts';

export const REFUND_ORDER_SQL = `SELECT o.id, o.school_id, o.status, o.channel, o.amount_fen,
        cr.id AS credit_id, cr.state AS credit_state, r.id AS refund_id, m.state AS move_state
   FROM orders o
   LEFT JOIN credits cr ON cr.order_id = o.id AND cr.state <> 'moved'
   LEFT JOIN refunds r ON r.order_id = o.id
   LEFT JOIN credit_moves m ON m.credit_id = cr.id
  WHERE o.id = ?`;

export const REFUND_INSERT_SQL = `INSERT INTO refunds (id, order_id, credit_id, school_id, amount_fen, state, provider_attempts, created_at_ms, updated_at_ms)
  SELECT ?1, o.id, cr.id, o.school_id, o.amount_fen, 'requested', 0, ?3, ?3
    FROM orders o JOIN credits cr ON cr.order_id = o.id AND cr.state <> 'moved'
   WHERE o.id = ?2 AND o.status = 'paid' AND cr.state = 'pending'
     AND NOT EXISTS (SELECT 1 FROM credit_moves m WHERE m.credit_id = cr.id AND m.state = 'requested')
  ON CONFLICT DO NOTHING`;

export const REFUND_DIRECT_VOID_SQL = `UPDATE credits SET state = 'voided', voided_at_ms = ?2
  WHERE id = ?1 AND state = 'pending' AND void_requested_at_ms IS NULL
    AND EXISTS (SELECT 1 FROM refunds r WHERE r.credit_id = ?1 AND r.state = 'requested' AND r.route IS NULL)
    AND NOT EXISTS (
      SELECT 1 FROM hubs h
       WHERE h.school_id = credits.school_id
         AND COALESCE(h.sent_through_seq, 0) >=
             COALESCE((SELECT MIN(ch.seq) FROM changes ch WHERE ch.ref = credits.id AND ch.kind = 'credit'), 0))`;

export const REFUND_VOID_REQUEST_SQL = `UPDATE credits SET void_requested_at_ms = ?2
  WHERE id = ?1 AND state = 'pending' AND void_requested_at_ms IS NULL
    AND EXISTS (SELECT 1 FROM refunds r WHERE r.credit_id = ?1 AND r.state = 'requested' AND r.route IS NULL)`;

export const REFUND_DIRECT_PENDING_SQL = `UPDATE refunds SET state = 'provider_pending', route = 'direct', voided_at_ms = ?2, updated_at_ms = ?2
  WHERE id = ?1 AND state = 'requested' AND route IS NULL
    AND EXISTS (SELECT 1 FROM credits cr WHERE cr.id = refunds.credit_id AND cr.state = 'voided')`;

export const VOID_TARGETS_SQL = `SELECT cr.id, cr.school_id, cr.state, cr.void_requested_at_ms, cr.claim_id, r.state AS refund_state,
        m.state AS move_state
   FROM credits cr LEFT JOIN refunds r ON r.credit_id = cr.id LEFT JOIN credit_moves m ON m.credit_id = cr.id
  WHERE cr.id IN (SELECT value FROM json_each(?1))`;

export const VOID_CREDITS_SQL = `UPDATE credits SET state = 'voided', voided_at_ms = ?3
  WHERE id IN (SELECT value FROM json_each(?1)) AND +school_id = ?2
    AND +state = 'pending' AND void_requested_at_ms IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM credit_moves m WHERE m.credit_id = credits.id)`;

export const VOID_REFUNDS_SQL = `UPDATE refunds SET state = 'provider_pending', route = 'hub', voided_at_ms = ?2, updated_at_ms = ?2
   WHERE +state = 'requested' AND credit_id IN (SELECT value FROM json_each(?1))
     AND EXISTS (SELECT 1 FROM credits cr WHERE cr.id = refunds.credit_id AND cr.state = 'voided')
  RETURNING id`;

export const VOID_REFUSALS_SQL = `UPDATE refunds SET state = 'refused', reason = 'the hub had already loaded it onto the card', updated_at_ms = ?2
  WHERE +state = 'requested' AND credit_id IN (SELECT value FROM json_each(?1))
    AND NOT EXISTS (SELECT 1 FROM credits cr WHERE cr.id = refunds.credit_id AND cr.state = 'voided')`;

// A provider that keeps failing is left for the card office after this many automatic tries;
// an administrator asking again still tries.
export const REFUND_PROVIDER_ATTEMPTS_AUTO_MAX = 48;
export const REFUND_RETRY_BATCH_MAX = 20;
const ERROR_TEXT_MAX = 500;

export interface RefundRow {
  id: string;
  order_id: string;
  credit_id: string;
  school_id: string;
  amount_fen: number;
  state: RefundView['state'];
  route: RefundView['route'];
  reason: string | null;
  provider_attempts: number;
  last_error: string | null;
  created_at_ms: number;
  updated_at_ms: number;
  voided_at_ms: number | null;
  refunded_at_ms: number | null;
  provider_status: RefundView['provider_status'] | null;
  failed_at_ms: number | null;
}

/** The refund's id is its order's with another letter: one full refund per order, ever. */
export function refundIdForOrder(order_id: string): string {
  if (!order_id.startsWith('Y')) throw new RangeError(`not an order id: ${order_id}`);
  return `R${order_id.slice(1)}`;
}

export function toView(row: RefundRow): RefundView {
  const view: RefundView = {
    refund_id: row.id,
    order_id: row.order_id,
    credit_id: row.credit_id,
    amount_fen: row.amount_fen,
    state: row.state,
    route: row.route,
    provider_attempts: row.provider_attempts,
    created_at_ms: row.created_at_ms,
    updated_at_ms: row.updated_at_ms,
  };
  if (row.reason !== null) view.reason = row.reason;
  if (row.last_error !== null) view.last_error = row.last_error;
  if (row.voided_at_ms !== null) view.voided_at_ms = row.voided_at_ms;
  if (row.refunded_at_ms !== null) view.refunded_at_ms = row.refunded_at_ms;
  if (row.provider_status !== null) view.provider_status = row.provider_status;
  if (row.failed_at_ms !== null) view.failed_at_ms = row.failed_at_ms;
  return view;
}

async function readRefund(d1: D1Database, refund_id: string): Promise<RefundRow | null> {
  return d1.prepare('SELECT * FROM refunds WHERE id = ?').bind(refund_id).first<RefundRow>();
}

export type RefundOutcome =
  | { kind: 'not_found' }
  | { kind: 'not_allowed'; reason: string }
  // `void_requested`: a void change was written for the school's hub; poke it.
  | { kind: 'ok'; refund: RefundView; school_id: string; void_requested: boolean };

interface OrderForRefund {
  id: string;
  school_id: string;
  status: 'unpaid' | 'paid' | 'closed' | 'refunded';
  channel: Channel;
  amount_fen: number;
  credit_id: string | null;
  credit_state: 'pending' | 'claimed' | 'voided' | null;
  refund_id: string | null;
  move_state: 'requested' | 'moved' | 'refused' | null;
}

/**
 * An administrator's refund of an order. Idempotent: asking again reports the refund's state,
 * and retries the provider when the credit is voided but the money has not gone back yet.
 */
export async function requestRefund(
  env: Env,
  order_id: string,
  now_ms: number,
  options: {
    /** Run in the same D1 batch as the refund's creation, after it (the console's audit row). */
    with_batch?: (refund_id: string) => D1PreparedStatement[];
  } = {},
): Promise<RefundOutcome> {
  const d1 = env.DB;
  const order = await d1.prepare(REFUND_ORDER_SQL).bind(order_id).first<OrderForRefund>();
  if (order === null) return { kind: 'not_found' };

  if (order.refund_id !== null) {
    const existing = await readRefund(d1, order.refund_id);
    if (existing === null) throw new Error(`refund ${order.refund_id} vanished`);
    if (existing.state === 'refused') return { kind: 'not_allowed', reason: existing.reason ?? 'the credit was loaded onto the card' };
    if (existing.state === 'failed') {
      return { kind: 'not_allowed', reason: `the refund failed at the provider; settle it with the payer (${existing.reason ?? 'failed'})` };
    }
    if (existing.state === 'provider_pending') {
      const refund = await completeRefund(env, existing.id, now_ms);
      return { kind: 'ok', refund, school_id: order.school_id, void_requested: false };
    }
    // 'requested' waits for the hub (poke it again: a lost push is what polling would repair
    // anyway, but sooner is better); 'refunded' is done.
    return { kind: 'ok', refund: toView(existing), school_id: order.school_id, void_requested: existing.state === 'requested' };
  }
  if (order.status === 'refunded') return { kind: 'not_allowed', reason: 'the order is already refunded' };
  if (order.status !== 'paid') return { kind: 'not_allowed', reason: `the order is ${order.status}: nothing was paid` };
  if (order.credit_id === null || order.credit_state === null) {
    // Invariant 1 says a paid order has its credit; refusing keeps money from leaving twice.
    console.error(JSON.stringify({ level: 'error', msg: 'paid order without credit', order_id }));
    return { kind: 'not_allowed', reason: 'the order has no credit' };
  }
  if (order.credit_state === 'claimed') return { kind: 'not_allowed', reason: 'the top-up is already loaded onto the card' };
  if (order.credit_state === 'voided') return { kind: 'not_allowed', reason: 'the credit is already voided' };
  if (order.move_state === 'requested') {
    return { kind: 'not_allowed', reason: 'the credit is moving to a replacement card; ask again once its hub has answered' };
  }

  const refund_id = refundIdForOrder(order.id);
  const credit_id = order.credit_id;
  // One transaction decides the route. The credit is voided here only if no hub of the school
  // has ever been sent its change (changes are read in the batch that raises sent_through_seq,
  // so a credit in flight to a hub counts as sent); otherwise the void request goes to the hub.
  const results = await d1.batch([
    d1.prepare(REFUND_INSERT_SQL).bind(refund_id, order.id, now_ms),
    d1.prepare(REFUND_DIRECT_VOID_SQL).bind(credit_id, now_ms),
    d1.prepare(REFUND_VOID_REQUEST_SQL).bind(credit_id, now_ms),
    d1.prepare(REFUND_DIRECT_PENDING_SQL).bind(refund_id, now_ms),
    d1
      .prepare(`UPDATE refunds SET route = 'hub', updated_at_ms = ?2 WHERE id = ?1 AND state = 'requested' AND route IS NULL`)
      .bind(refund_id, now_ms),
    ...(options.with_batch?.(refund_id) ?? []),
  ]);
  const void_requested = (results[2]?.meta.changes ?? 0) > 0;
  const row = await readRefund(d1, refund_id);
  if (row === null) {
    // The insert found the order no longer paid or the credit no longer pending: a claim or
    // another refund got there between our read and the batch. Ask again to see which.
    return { kind: 'not_allowed', reason: 'the order changed while refunding; look at it again' };
  }
  if (row.state === 'provider_pending') {
    const refund = await completeRefund(env, row.id, now_ms);
    return { kind: 'ok', refund, school_id: order.school_id, void_requested: false };
  }
  return { kind: 'ok', refund: toView(row), school_id: order.school_id, void_requested };
}

/**
 * Returns a voided credit's money through the provider. Only a `provider_pending` refund calls
 * the provider, always with the same refund id, so the provider refunds once: a refund the
 * provider has not accepted yet is submitted (again), one it accepted is asked about. What the
 * provider answers goes through applyRefundState; a failed call counts an attempt and keeps
 * the error for the card office.
 */
export async function completeRefund(env: Env, refund_id: string, now_ms: number): Promise<RefundView> {
  const d1 = env.DB;
  const row = await d1
    .prepare(
      `SELECT r.*, o.channel AS channel, o.amount_fen AS order_amount_fen
         FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.id = ?`,
    )
    .bind(refund_id)
    .first<RefundRow & { channel: Channel; order_amount_fen: number }>();
  if (row === null) throw new RangeError(`no refund ${refund_id}`);
  if (row.state !== 'provider_pending') return toView(row);
  if (!(row.amount_fen > 0 && row.amount_fen <= row.order_amount_fen)) {
    throw new RangeError(`refund ${refund_id} of ${row.amount_fen} fen out of ${row.order_amount_fen}`);
  }
  const request: RefundRequest = {
    order_id: row.order_id,
    refund_id: row.id,
    amount_fen: row.amount_fen,
    total_fen: row.order_amount_fen,
    notify_url: refundNotifyUrl(env, row.channel),
  };
  const provider = paymentChannel(env, row.channel);
  let state: RefundState;
  try {
    state = row.provider_status === null ? await provider.refund(request) : await provider.queryRefund(request);
    // Accepted once, unknown now: the provider lost it or never had it. Submitting again is
    // safe (same refund id) and is the only way the money goes back.
    if (state.state === 'not_found') state = await provider.refund(request);
  } catch (err) {
    const message = err instanceof ProviderError ? `${err.provider_code}: ${err.message}` : String(err);
    console.warn(JSON.stringify({ level: 'warn', msg: 'provider refund failed', refund_id, error: message }));
    await d1
      .prepare(
        `UPDATE refunds SET provider_attempts = provider_attempts + 1, last_error = ?2, updated_at_ms = ?3
          WHERE id = ?1 AND state = 'provider_pending'`,
      )
      .bind(refund_id, message.slice(0, ERROR_TEXT_MAX), now_ms)
      .run();
    return toView((await readRefund(d1, refund_id))!);
  }
  await applyRefundState(d1, refund_id, state, now_ms);
  return toView((await readRefund(d1, refund_id))!);
}

/** Only WeChat Pay takes a notify_url per refund; without PUBLIC_BASE_URL it uses the merchant platform's. */
function refundNotifyUrl(env: Env, channel: Channel): string | null {
  if (channel !== 'wechat') return null;
  const base = env.PUBLIC_BASE_URL?.trim().replace(/\/+$/, '') ?? '';
  return /^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(base) ? `${base}/api/v1/notify/wechat` : null;
}

export type RefundApplied = 'refunded' | 'processing' | 'failed' | 'resubmit' | 'unchanged';

export const REFUND_SUCCEEDED_ORDER_SQL = `UPDATE orders SET status = 'refunded', refunded_at_ms = ?2
  WHERE status = 'paid' AND id = (SELECT order_id FROM refunds WHERE id = ?1 AND state = 'provider_pending')`;
export const REFUND_SUCCEEDED_SQL = `UPDATE refunds SET state = 'refunded', provider_status = 'SUCCESS', refunded_at_ms = ?2,
       updated_at_ms = ?2, provider_attempts = provider_attempts + 1, last_error = NULL,
       provider_refund_no = coalesce(?3, provider_refund_no), provider_bill_at_ms = coalesce(provider_bill_at_ms, ?4)
  WHERE id = ?1 AND state = 'provider_pending'`;

/**
 * The one way a provider's word moves a refund on (its answer, its query, a WeChat Pay REFUND.*
 * notification, the bill at reconciliation). Only a `provider_pending` refund moves, so a
 * word repeated or arriving late changes nothing: SUCCESS refunds the order in the same batch,
 * PROCESSING waits, ABNORMAL and CLOSED fail the refund with its credit still voided (the money
 * is owed to the payer and the card office must settle it), and an unknown refund is marked for
 * submitting again.
 */
export async function applyRefundState(d1: D1Database, refund_id: string, state: RefundState, now_ms: number): Promise<RefundApplied> {
  if (!Number.isSafeInteger(now_ms) || now_ms <= 0) throw new RangeError(`now_ms ${now_ms}`);
  switch (state.state) {
    case 'succeeded': {
      const [, refunded] = await d1.batch([
        d1.prepare(REFUND_SUCCEEDED_ORDER_SQL).bind(refund_id, now_ms),
        d1.prepare(REFUND_SUCCEEDED_SQL).bind(refund_id, now_ms, state.provider_refund_no, state.bill_at_ms),
      ]);
      return (refunded?.meta.changes ?? 0) > 0 ? 'refunded' : 'unchanged';
    }
    case 'processing': {
      const result = await d1
        .prepare(
          `UPDATE refunds SET provider_status = 'PROCESSING', updated_at_ms = ?2, last_error = NULL,
                  provider_refund_no = coalesce(?3, provider_refund_no), provider_bill_at_ms = coalesce(provider_bill_at_ms, ?4)
            WHERE id = ?1 AND state = 'provider_pending'`,
        )
        .bind(refund_id, now_ms, state.provider_refund_no, state.bill_at_ms)
        .run();
      return result.meta.changes > 0 ? 'processing' : 'unchanged';
    }
    case 'failed': {
      const reason = state.provider_status === 'ABNORMAL'
        ? 'the provider could not pay the refund back (ABNORMAL): the money is still owed to the payer'
        : 'the provider closed the refund (CLOSED): the money is still owed to the payer';
      const result = await d1
        .prepare(
          `UPDATE refunds SET state = 'failed', provider_status = ?2, failed_at_ms = ?3, updated_at_ms = ?3, reason = ?4,
                  provider_refund_no = coalesce(?5, provider_refund_no), provider_bill_at_ms = coalesce(provider_bill_at_ms, ?6)
            WHERE id = ?1 AND state = 'provider_pending'`,
        )
        .bind(refund_id, state.provider_status, now_ms, reason, state.provider_refund_no, state.bill_at_ms)
        .run();
      if (result.meta.changes > 0) {
        console.error(JSON.stringify({ level: 'error', msg: 'refund failed at the provider', refund_id, provider_status: state.provider_status }));
      }
      return result.meta.changes > 0 ? 'failed' : 'unchanged';
    }
    case 'not_found': {
      const result = await d1
        .prepare(`UPDATE refunds SET provider_status = NULL, updated_at_ms = ?2 WHERE id = ?1 AND state = 'provider_pending'`)
        .bind(refund_id, now_ms)
        .run();
      return result.meta.changes > 0 ? 'resubmit' : 'unchanged';
    }
  }
}

/** For a cron: retries refunds whose provider call failed, oldest first, a bounded number. */
export async function retryPendingRefunds(env: Env, now_ms: number, limit = REFUND_RETRY_BATCH_MAX): Promise<number> {
  const rows = await env.DB.prepare(
    `SELECT id FROM refunds WHERE state = 'provider_pending' AND provider_attempts < ?1
      ORDER BY updated_at_ms LIMIT ?2`,
  )
    .bind(REFUND_PROVIDER_ATTEMPTS_AUTO_MAX, Math.min(limit, REFUND_RETRY_BATCH_MAX))
    .all<{ id: string }>();
  let refunded = 0;
  for (const { id } of rows.results) {
    if ((await completeRefund(env, id, now_ms)).state === 'refunded') refunded += 1;
  }
  return refunded;
}

interface VoidTarget {
  id: string;
  school_id: string;
  state: 'pending' | 'claimed' | 'voided' | 'moved';
  void_requested_at_ms: number | null;
  claim_id: string | null;
  refund_state: RefundView['state'] | null;
  move_state: 'requested' | 'moved' | 'refused' | null;
}

type VoidAnswer = { credit_id: string; result: 'voided' | 'already_claimed'; claim_id?: string | undefined };
type VoidResult = VoidsResponse['results'][number];

/**
 * The hub's answers to void requests. `voided` voids the credit and moves its refund on to the
 * provider (the caller completes those refunds), or, when the void was a card replacement's,
 * moves the credit to the new card (`credits_moved` > 0: poke the hub); `already_claimed` ends
 * the refund or the move as refused and leaves the credit alone: the claim itself arrives
 * through the claims route.
 */
export async function applyVoidAnswers(
  d1: D1Database,
  hub: HubIdentity,
  answers: readonly VoidAnswer[],
  now_ms: number,
): Promise<{ response: VoidsResponse; refunds_to_complete: string[]; credits_moved: number }> {
  if (answers.length === 0 || answers.length > VOIDS_BATCH_MAX) throw new RangeError(`voids batch of ${answers.length}`);
  const ids = [...new Set(answers.map((answer) => answer.credit_id))];
  const read = await d1.prepare(VOID_TARGETS_SQL).bind(JSON.stringify(ids)).all<VoidTarget>();
  const targets = new Map(read.results.map((row) => [row.id, row]));
  const results: VoidResult[] = [];
  const to_void: string[] = [];
  const to_refuse: string[] = [];
  const seen = new Map<string, VoidAnswer['result']>();
  for (const answer of answers) {
    const reject = (reason: string): VoidResult => ({ credit_id: answer.credit_id, status: 'rejected', reason });
    const earlier = seen.get(answer.credit_id);
    if (earlier !== undefined) {
      results.push(earlier === answer.result ? { credit_id: answer.credit_id, status: 'duplicate' } : reject('two different answers for one credit'));
      continue;
    }
    seen.set(answer.credit_id, answer.result);
    const credit = targets.get(answer.credit_id);
    let verdict: VoidResult;
    if (credit === undefined || credit.school_id !== hub.school_id) verdict = reject('unknown credit');
    else if (credit.void_requested_at_ms === null) verdict = reject('no void was requested for this credit');
    else if (answer.result === 'voided') {
      if (credit.state === 'pending') {
        to_void.push(credit.id);
        verdict = { credit_id: credit.id, status: 'accepted' };
      } else if (credit.state === 'voided' || credit.state === 'moved') verdict = { credit_id: credit.id, status: 'duplicate' };
      else verdict = reject(`the credit is already claimed by ${credit.claim_id}`);
    } else if (credit.state === 'voided') verdict = reject('the credit was voided');
    else if (credit.state === 'moved') verdict = reject('the credit was moved to a replacement card');
    else if (credit.refund_state === 'requested' || credit.move_state === 'requested') {
      to_refuse.push(credit.id);
      verdict = { credit_id: credit.id, status: 'accepted' };
    } else verdict = { credit_id: credit.id, status: 'duplicate' };
    if (verdict.status === 'rejected') {
      console.warn(
        JSON.stringify({ level: 'warn', msg: 'void answer rejected', hub_id: hub.hub_id, credit_id: answer.credit_id, reason: verdict.reason }),
      );
    }
    results.push(verdict);
  }
  if (to_void.length === 0 && to_refuse.length === 0) return { response: { results }, refunds_to_complete: [], credits_moved: 0 };

  const void_json = JSON.stringify(to_void);
  // The unary `+` in VOID_CREDITS_SQL and VOID_REFUNDS_SQL keeps SQLite on the credit-id lookups
  // instead of walking every pending credit (or requested refund) by its state index.
  const refuse_json = JSON.stringify(to_refuse);
  // A void request is a refund's or a replacement's, never both (neither starts while the other
  // is open), so the refund statements and the move statements act on disjoint credits.
  const written = await d1.batch([
    d1.prepare(VOID_CREDITS_SQL).bind(void_json, hub.school_id, now_ms),
    d1.prepare(VOID_REFUNDS_SQL).bind(void_json, now_ms),
    d1.prepare(VOID_REFUSALS_SQL).bind(refuse_json, now_ms),
    d1.prepare(HUB_MOVE_SQL.move).bind(void_json, now_ms),
    d1.prepare(HUB_MOVE_SQL.mint).bind(void_json, now_ms),
    d1.prepare(HUB_MOVE_SQL.done).bind(void_json, now_ms),
    d1.prepare(HUB_MOVE_REFUSALS_SQL).bind(refuse_json, now_ms),
  ]);
  const refunds_to_complete = ((written[1]?.results ?? []) as { id: string }[]).map((row) => row.id);
  const credits_moved = written[4]?.meta.changes ?? 0;
  if (credits_moved !== (written[3]?.meta.changes ?? 0)) {
    // Committed already (one transaction), so refusing the hub now would only make it resend;
    // the audit names the chain (moved_credit_without_successor).
    console.error(JSON.stringify({ level: 'error', msg: 'moved credits without successors', moved: written[3]?.meta.changes, minted: credits_moved }));
  }
  return { response: { results }, refunds_to_complete, credits_moved };
}
