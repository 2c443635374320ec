// Auto top-up agreements in D1 (DESIGN section 7): created `signing` by the holder, made
// `active` by Alipay's dut_user_sign (or the agreement query), `stopped` for good by an unsign,
// a cancel, a lost card or a refused charge. Every transition is one conditional UPDATE, so a
// replayed or late notification can never bring a stopped agreement back.
import { chinaDate } from '../../protocol/alipay.ts';
import type { AgreementState, AgreementStopReason, AutoTopupAgreement, AutoTopupCharge } from '../../protocol/auto-topup.ts';
import type { OrderStatus } from '../../protocol/api.ts';
import { newOrderId } from '../ledger/orders.ts';

// Charges shown with an agreement: the latest ones; the admin orders listing has the rest.
const AGREEMENT_CHARGES_SHOWN_MAX = 10;
const LAST_ERROR_CHARS_MAX = 300;

export interface AgreementRow {
  id: string;
  school_id: string;
  card_no: string;
  channel: 'alipay';
  state: AgreementState;
  stop_reason: AgreementStopReason | null;
  provider_agreement_no: string | null;
  provider_user_id: string | null;
  threshold_fen: number;
  amount_fen: number;
  daily_cap_fen: number;
  notify_phone: string | null;
  last_error: string | null;
  created_at_ms: number;
  signed_at_ms: number | null;
  stopped_at_ms: number | null;
  updated_at_ms: number;
}

/** An agreement's id is an order-style id with its own letter: never mistaken for an order. */
export function newAgreementId(now_ms: number): string {
  return `A${newOrderId(now_ms).slice(1)}`;
}

export async function agreementById(d1: D1Database, agreement_id: string): Promise<AgreementRow | null> {
  return d1.prepare('SELECT * FROM agreements WHERE id = ?1').bind(agreement_id).first<AgreementRow>();
}

/** The card's live agreement, else its latest stopped one. */
export async function latestAgreement(d1: D1Database, school_id: string, card_no: string): Promise<AgreementRow | null> {
  return d1
    .prepare(
      `SELECT * FROM agreements WHERE school_id = ?1 AND card_no = ?2
        ORDER BY CASE WHEN state = 'stopped' THEN 1 ELSE 0 END, created_at_ms DESC LIMIT 1`,
    )
    .bind(school_id, card_no)
    .first<AgreementRow>();
}

/**
 * A new agreement waiting for the holder's signature. A signing one not finished is replaced;
 * an active one must be cancelled first (null is returned), so a card never has two.
 */
export async function createSigningAgreement(
  d1: D1Database,
  input: { school_id: string; card_no: string; threshold_fen: number; amount_fen: number; daily_cap_fen: number; notify_phone: string | null },
  now_ms: number,
): Promise<AgreementRow | null> {
  if (input.daily_cap_fen < input.amount_fen) throw new RangeError('daily cap below the amount');
  const id = newAgreementId(now_ms);
  const [, inserted] = await d1.batch([
    d1
      .prepare(
        `UPDATE agreements SET state = 'stopped', stop_reason = 'replaced', stopped_at_ms = ?3, updated_at_ms = ?3
          WHERE school_id = ?1 AND card_no = ?2 AND state = 'signing'`,
      )
      .bind(input.school_id, input.card_no, now_ms),
    d1
      .prepare(
        `INSERT INTO agreements (id, school_id, card_no, channel, state, threshold_fen, amount_fen, daily_cap_fen, notify_phone,
                                 created_at_ms, updated_at_ms)
         SELECT ?1, ?2, ?3, 'alipay', 'signing', ?4, ?5, ?6, ?7, ?8, ?8
          WHERE NOT EXISTS (SELECT 1 FROM agreements WHERE school_id = ?2 AND card_no = ?3 AND state = 'active')`,
      )
      .bind(id, input.school_id, input.card_no, input.threshold_fen, input.amount_fen, input.daily_cap_fen, input.notify_phone, now_ms),
  ]);
  if (inserted!.meta.changes === 0) return null;
  return agreementById(d1, id);
}

/** signing → active; false when the agreement was not signing (a replay, or stopped meanwhile). */
export async function activateAgreement(
  d1: D1Database,
  input: { agreement_id: string; provider_agreement_no: string; provider_user_id: string | null; signed_at_ms: number },
  now_ms: number,
): Promise<boolean> {
  const result = await d1
    .prepare(
      `UPDATE agreements SET state = 'active', provider_agreement_no = ?2, provider_user_id = ?3, signed_at_ms = ?4, updated_at_ms = ?5
        WHERE id = ?1 AND state = 'signing'`,
    )
    .bind(input.agreement_id, input.provider_agreement_no, input.provider_user_id, input.signed_at_ms, now_ms)
    .run();
  return result.meta.changes === 1;
}

/** Any live state → stopped, once; false when it already was. */
export async function stopAgreement(
  d1: D1Database,
  input: { agreement_id: string; reason: AgreementStopReason; error?: string },
  now_ms: number,
): Promise<boolean> {
  return (await stopAgreementStatement(d1, input, now_ms).run()).meta.changes === 1;
}

export function stopAgreementStatement(
  d1: D1Database,
  input: { agreement_id: string; reason: AgreementStopReason; error?: string },
  now_ms: number,
): D1PreparedStatement {
  return d1
    .prepare(
      `UPDATE agreements SET state = 'stopped', stop_reason = ?2, last_error = COALESCE(?3, last_error), stopped_at_ms = ?4, updated_at_ms = ?4
        WHERE id = ?1 AND state <> 'stopped'`,
    )
    .bind(input.agreement_id, input.reason, input.error?.slice(0, LAST_ERROR_CHARS_MAX) ?? null, now_ms);
}

/** The agreement as the PWA and the admin API show it, with its latest charges. */
export async function agreementView(d1: D1Database, row: AgreementRow, now_ms: number): Promise<AutoTopupAgreement> {
  const [view] = await agreementViews(d1, [row], now_ms);
  return view!;
}

// The admin listing's page bound: one query for every agreement's latest charges.
const AGREEMENT_VIEWS_MAX = 256;

/** Views of many agreements with one query for all their charges. */
export async function agreementViews(d1: D1Database, rows: readonly AgreementRow[], now_ms: number): Promise<AutoTopupAgreement[]> {
  if (rows.length === 0) return [];
  if (rows.length > AGREEMENT_VIEWS_MAX) throw new RangeError(`${rows.length} agreements in one view`);
  const charges = await d1
    .prepare(
      `SELECT agreement_id, order_id, status, amount_fen, created_at_ms, failure, slot FROM (
         SELECT ac.agreement_id, ac.order_id, o.status, ac.amount_fen, ac.created_at_ms, ac.failure, ac.slot,
                ROW_NUMBER() OVER (PARTITION BY ac.agreement_id ORDER BY ac.created_at_ms DESC) AS n
           FROM auto_charges ac JOIN orders o ON o.id = ac.order_id
          WHERE ac.agreement_id IN (SELECT value FROM json_each(?1)))
        WHERE n <= ?2 ORDER BY created_at_ms DESC`,
    )
    .bind(JSON.stringify(rows.map((row) => row.id)), AGREEMENT_CHARGES_SHOWN_MAX)
    .all<{ agreement_id: string; order_id: string; status: OrderStatus; amount_fen: number; created_at_ms: number; failure: string | null; slot: string }>();
  const today = chinaDate(now_ms);
  return rows.map((row) => {
    const own = charges.results.filter((charge) => charge.agreement_id === row.id);
    const charged_today_fen = own
      .filter((charge) => charge.slot.startsWith(`${today}#`) && charge.status !== 'closed')
      .reduce((sum, charge) => sum + charge.amount_fen, 0);
    return {
      agreement_id: row.id,
      school_id: row.school_id,
      card_no: row.card_no,
      state: row.state,
      stop_reason: row.stop_reason,
      threshold_fen: row.threshold_fen,
      amount_fen: row.amount_fen,
      daily_cap_fen: row.daily_cap_fen,
      charged_today_fen,
      last_error: row.last_error,
      created_at: row.created_at_ms,
      signed_at: row.signed_at_ms,
      stopped_at: row.stopped_at_ms,
      charges: own.map(
        (charge): AutoTopupCharge => ({
          order_id: charge.order_id,
          status: charge.status,
          amount_fen: charge.amount_fen,
          created_at: charge.created_at_ms,
          failure: charge.failure,
        }),
      ),
    };
  });
}
