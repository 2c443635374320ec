// Auto top-up charges (DESIGN section 7): a card whose reported balance, plus what is already
// on its way to it, is below its agreement's threshold gets one withholding charge per day-slot.
// The slot row (auto_charges, unique per card and slot) is inserted first and the order only
// if that insert won, in one D1 batch: however many card reports and cron runs race, one of
// them owns the slot and calls Alipay. The charge is then paid through the one payment path
// (worker/ledger/payment.ts), so its credit reaches the hub like any other.
import { chinaDate } from '../../protocol/alipay.ts';
import { AUTO_CHARGES_PER_DAY_MAX } from '../../protocol/auto-topup.ts';
import { openDb } from '../db/client.ts';
import type { Env } from '../env.ts';
import { notifySchoolHub } from '../hub/push.ts';
import { newOrderId, orderExpiryMs } from '../ledger/orders.ts';
import { applyPaid } from '../ledger/payment.ts';
import { alipayConfig, type AlipayConfig } from '../pay/alipay.ts';
import { chargeAgreement, unsignAgreement } from '../pay/alipay-agreement.ts';
import { ProviderError } from '../pay/channel.ts';
import { stopAgreementStatement } from './agreements.ts';
import { flushNotices } from '../notices/outbox.ts';

// Cards looked at per call: a card-reports batch holds at most 500; the cron takes this many.
export const AUTO_CARDS_PER_RUN_MAX = 500;
// Alipay calls per run, one at a time: a run is bounded in time, the rest waits for the next.
export const AUTO_CHARGES_PER_RUN_MAX = 20;

interface Candidate {
  agreement_id: string;
  school_id: string;
  school_name: string;
  card_no: string;
  card_status: string;
  balance_fen: number | null;
  threshold_fen: number;
  amount_fen: number;
  daily_cap_fen: number;
  provider_agreement_no: string | null;
  on_its_way_fen: number;
  slots_today: number;
  charged_today_fen: number;
}

export interface AutoRunReport {
  charged: number;
  refused: number;
  deferred: number;
  stopped: number;
}

// Every active agreement of the given cards, with what decides whether a charge starts: the
// card's status and balance, money already on its way (pending credits, unpaid auto charges),
// and today's slots. `?3` is today's China date; slots of the day sort between `D#` and `D$`.
const CANDIDATES_SQL = `
SELECT a.id AS agreement_id, a.school_id, s.name AS school_name, a.card_no, c.status AS card_status, c.balance_fen,
       a.threshold_fen, a.amount_fen, a.daily_cap_fen, a.provider_agreement_no,
       (SELECT COALESCE(SUM(cr.amount_fen), 0) FROM credits cr
         WHERE cr.school_id = a.school_id AND cr.card_no = a.card_no AND cr.state = 'pending')
     + (SELECT COALESCE(SUM(o.amount_fen), 0) FROM auto_charges ac JOIN orders o ON o.id = ac.order_id
         WHERE ac.school_id = a.school_id AND ac.card_no = a.card_no AND o.status = 'unpaid') AS on_its_way_fen,
       (SELECT COUNT(*) FROM auto_charges ac
         WHERE ac.school_id = a.school_id AND ac.card_no = a.card_no AND ac.slot > ?3 || '#' AND ac.slot < ?3 || '$') AS slots_today,
       (SELECT COALESCE(SUM(o.amount_fen), 0) FROM auto_charges ac JOIN orders o ON o.id = ac.order_id
         WHERE ac.school_id = a.school_id AND ac.card_no = a.card_no AND ac.slot > ?3 || '#' AND ac.slot < ?3 || '$'
           AND o.status <> 'closed') AS charged_today_fen
  FROM agreements a
  JOIN cards c ON c.school_id = a.school_id AND c.card_no = a.card_no
  JOIN schools s ON s.id = a.school_id
 WHERE a.state = 'active' AND a.school_id = ?1
   AND a.card_no IN (SELECT value FROM json_each(?2) LIMIT ${AUTO_CARDS_PER_RUN_MAX})`;

// The cron's view: every active agreement whose card reported a balance, a page at a time.
const CRON_CARDS_SQL = `
SELECT a.school_id, a.card_no FROM agreements a
  JOIN cards c ON c.school_id = a.school_id AND c.card_no = a.card_no
 WHERE a.state = 'active' AND (c.status <> 'active' OR c.balance_fen < a.threshold_fen)
 ORDER BY a.school_id LIMIT ${AUTO_CARDS_PER_RUN_MAX}`;

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
  console[level === 'info' ? 'log' : level](JSON.stringify({ level, msg, ...fields }));
}

type Decision = { start: false; stop?: 'card_not_active' } | { start: true; slot: string };

/** Whether this agreement's card gets a charge now, and in which slot. */
export function decide(candidate: Candidate, today: string): Decision {
  if (candidate.card_status !== 'active') return { start: false, stop: 'card_not_active' };
  // No report yet: nothing says the card is low.
  if (candidate.balance_fen === null || candidate.provider_agreement_no === null) return { start: false };
  if (candidate.balance_fen + candidate.on_its_way_fen >= candidate.threshold_fen) return { start: false };
  if (candidate.charged_today_fen + candidate.amount_fen > candidate.daily_cap_fen) return { start: false };
  if (candidate.slots_today >= AUTO_CHARGES_PER_DAY_MAX) return { start: false };
  return { start: true, slot: `${today}#${candidate.slots_today}` };
}

function notifyUrl(env: Env): string | undefined {
  const base = env.PUBLIC_BASE_URL?.trim().replace(/\/+$/, '') ?? '';
  return /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(base) ? `${base}/api/v1/notify/alipay` : undefined;
}

/** Claims the slot and opens the charge's order, atomically; null when another run won the slot. */
async function openCharge(env: Env, candidate: Candidate, slot: string, now_ms: number, expiry_ms: number): Promise<{ order_id: string; expires_at_ms: number } | null> {
  const order_id = newOrderId(now_ms);
  const expires_at_ms = now_ms + expiry_ms;
  const [slot_insert] = await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO auto_charges (order_id, agreement_id, school_id, card_no, slot, amount_fen, created_at_ms)
       SELECT ?1, a.id, a.school_id, a.card_no, ?2, a.amount_fen, ?3 FROM agreements a WHERE a.id = ?4 AND a.state = 'active'
       ON CONFLICT DO NOTHING`,
    ).bind(order_id, slot, now_ms, candidate.agreement_id),
    env.DB.prepare(
      `INSERT INTO orders (id, school_id, card_no, amount_fen, channel, origin, status, notify_phone, created_at_ms, expires_at_ms)
       SELECT ac.order_id, ac.school_id, ac.card_no, ac.amount_fen, 'alipay', 'auto', 'unpaid', a.notify_phone, ?2, ?3
         FROM auto_charges ac JOIN agreements a ON a.id = ac.agreement_id WHERE ac.order_id = ?1`,
    ).bind(order_id, now_ms, expires_at_ms),
  ]);
  return slot_insert!.meta.changes === 1 ? { order_id, expires_at_ms } : null;
}

async function charge(env: Env, config: AlipayConfig, candidate: Candidate, slot: string, now_ms: number, expiry_ms: number): Promise<keyof AutoRunReport | null> {
  const opened = await openCharge(env, candidate, slot, now_ms, expiry_ms);
  if (opened === null) return null;
  const { order_id } = opened;
  if (candidate.provider_agreement_no === null) throw new Error('an active agreement has its Alipay agreement_no');
  const notify_url = notifyUrl(env);
  let outcome;
  try {
    outcome = await chargeAgreement(config, {
      order_id,
      amount_fen: candidate.amount_fen,
      subject: `${candidate.school_name} 校园卡自动充值`,
      agreement_no: candidate.provider_agreement_no,
      expires_at_ms: opened.expires_at_ms,
      ...(notify_url === undefined ? {} : { notify_url }),
    });
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    // Unknown outcome: the order stays unpaid and the expiry cron asks Alipay, as for any order.
    log('warn', 'auto top-up charge deferred', { order_id, agreement_id: candidate.agreement_id, provider_code: error.provider_code });
    return 'deferred';
  }
  const after_ms = Date.now();
  if (outcome.state === 'refused') {
    const failure = `${outcome.provider_code}: ${outcome.message}`.slice(0, 300);
    await env.DB.batch([
      env.DB.prepare(`UPDATE orders SET status = 'closed', closed_at_ms = ?2 WHERE id = ?1 AND status = 'unpaid'`).bind(order_id, after_ms),
      env.DB.prepare('UPDATE auto_charges SET failure = ?2 WHERE order_id = ?1').bind(order_id, failure),
      stopAgreementStatement(env.DB, { agreement_id: candidate.agreement_id, reason: 'charge_failed', error: failure }, after_ms),
    ]);
    log('warn', 'auto top-up charge refused; agreement stopped', { order_id, agreement_id: candidate.agreement_id, provider_code: outcome.provider_code });
    return 'refused';
  }
  const verdict = await applyPaid(
    openDb(env.DB),
    { channel: 'alipay', order_id, amount_fen: outcome.amount_fen, provider_trade_no: outcome.provider_trade_no, paid_at_ms: outcome.paid_at_ms },
    null,
    after_ms,
  );
  // The hub hears of the new credit at once, as after a paid notification.
  if (verdict === 'applied') await notifySchoolHub(env, candidate.school_id);
  log('info', 'auto top-up charged', { order_id, agreement_id: candidate.agreement_id, amount_fen: candidate.amount_fen, verdict });
  return 'charged';
}

/**
 * A lost or closed card's agreement is ended at Alipay too, so nothing can charge the holder
 * for a card they no longer have. Best effort: it is already stopped here, whatever Alipay says.
 */
async function unsignStopped(env: Env, candidate: Candidate): Promise<void> {
  if (candidate.provider_agreement_no === null) return;
  try {
    await unsignAgreement(alipayConfig(env), candidate.provider_agreement_no);
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    log('warn', 'auto top-up unsign failed', { agreement_id: candidate.agreement_id, provider_code: error.provider_code });
  }
}

/** Looks at these cards of one school and starts the charges their agreements call for. */
export async function startAutoTopups(env: Env, school_id: string, card_nos: readonly string[], now_ms: number): Promise<AutoRunReport> {
  const report: AutoRunReport = { charged: 0, refused: 0, deferred: 0, stopped: 0 };
  if (card_nos.length === 0) return report;
  if (card_nos.length > AUTO_CARDS_PER_RUN_MAX) throw new RangeError(`${card_nos.length} cards in one auto top-up run`);
  const today = chinaDate(now_ms);
  const candidates = await env.DB.prepare(CANDIDATES_SQL).bind(school_id, JSON.stringify(card_nos), today).all<Candidate>();
  let calls = 0;
  let config: AlipayConfig | null = null;
  for (const candidate of candidates.results) {
    const decision = decide(candidate, today);
    if (!decision.start) {
      if (decision.stop !== undefined) {
        const stopped = (await stopAgreementStatement(env.DB, { agreement_id: candidate.agreement_id, reason: decision.stop }, now_ms).run()).meta.changes === 1;
        if (stopped) {
          report.stopped += 1;
          await unsignStopped(env, candidate);
        }
      }
      continue;
    }
    if (calls >= AUTO_CHARGES_PER_RUN_MAX) break;
    calls += 1;
    try {
      config ??= alipayConfig(env);
    } catch (error) {
      // Without Alipay nothing can be charged; the agreements stay active for when it returns.
      log('error', 'auto top-up not configured', { error: String(error).slice(0, 200) });
      return report;
    }
    const outcome = await charge(env, config, candidate, decision.slot, now_ms, orderExpiryMs(env.ORDER_EXPIRY_MINUTES));
    if (outcome !== null) report[outcome] += 1;
  }
  // A charge's SMS (auto_charged) was written by the ledger trigger: send it now, not at the cron.
  if (report.charged > 0) await flushNotices(env, Date.now()).catch((error: unknown) => log('warn', 'notice flush failed', { error: String(error).slice(0, 200) }));
  return report;
}

/** The cron: agreements whose card is lost or below its threshold with no report since. */
export async function autoTopupCron(env: Env, now_ms: number): Promise<AutoRunReport> {
  const total: AutoRunReport = { charged: 0, refused: 0, deferred: 0, stopped: 0 };
  const rows = await env.DB.prepare(CRON_CARDS_SQL).all<{ school_id: string; card_no: string }>();
  const by_school = new Map<string, string[]>();
  for (const row of rows.results) by_school.set(row.school_id, [...(by_school.get(row.school_id) ?? []), row.card_no]);
  for (const [school_id, card_nos] of by_school) {
    const report = await startAutoTopups(env, school_id, card_nos, now_ms);
    for (const key of Object.keys(total) as (keyof AutoRunReport)[]) total[key] += report[key];
  }
  return total;
}
