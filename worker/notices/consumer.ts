// The queue consumer of SMS notices (DESIGN section 7): each message names one outbox row; the
// row is claimed (queued → sending) before Aliyun is called, so a duplicate message never sends
// twice, and the row records what happened. Transient failures retry with exponential back-off;
// after the queue's max_retries the message lands in the dead-letter queue, whose consumer marks
// the row dead, where the card office sees it (GET /api/v1/admin/notices?state=dead).
import { maskPhone } from '../../protocol/aliyun-sms.ts';
import { fenToYuan } from '../../protocol/money.ts';
import type { NoticeKind, NoticeMessage } from '../../protocol/notices.ts';
import type { Env } from '../env.ts';
import { aliyunSmsConfig, sendSms, SmsError } from './aliyun-sms.ts';

// A consumer holds a row this long; past it, a redelivered message may take the row over (the
// holder crashed between claiming and recording).
export const NOTICE_LEASE_MS = 60_000;
const RETRY_DELAY_S_DEFAULT = 30;
// Cloudflare Queues allows a retry delay of at most 12 hours; ours stays far below.
const RETRY_DELAY_S_MAX = 15 * 60;
const LAST_ERROR_CHARS_MAX = 300;
// wrangler.toml's max_batch_size for the notices queues is 10; a bigger batch is a misconfiguration.
export const NOTICE_BATCH_MAX = 100;

const TEMPLATE_VARS: Record<NoticeKind, keyof Env> = {
  paid: 'ALIYUN_SMS_TEMPLATE_PAID',
  claimed: 'ALIYUN_SMS_TEMPLATE_CLAIMED',
  refunded: 'ALIYUN_SMS_TEMPLATE_REFUNDED',
  auto_charged: 'ALIYUN_SMS_TEMPLATE_AUTO_CHARGED',
};

interface ClaimedNotice {
  id: number;
  order_id: string;
  kind: NoticeKind;
  phone: string;
  amount_fen: number;
  card_no: string;
  school_name: string;
}

type Outcome = { done: true } | { done: false; delay_s: number };

function noticeIdOf(body: unknown): number | null {
  const id = (body as Partial<NoticeMessage> | null)?.notice_id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : null;
}

/** Exponential back-off from NOTICE_RETRY_DELAY_S (default 30 s): 30, 60, 120, … capped. */
export function retryDelayS(base_text: string | undefined, attempts: number): number {
  const base_s = base_text === undefined || base_text.trim() === '' ? RETRY_DELAY_S_DEFAULT : Number(base_text);
  if (!Number.isSafeInteger(base_s) || base_s < 0 || base_s > RETRY_DELAY_S_MAX) throw new RangeError(`NOTICE_RETRY_DELAY_S ${base_text}`);
  const exponent = Math.min(Math.max(attempts - 1, 0), 16);
  return Math.min(RETRY_DELAY_S_MAX, base_s * 2 ** exponent);
}

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
  console[level === 'info' ? 'log' : level](JSON.stringify({ level, msg, ...fields }));
}

/** The card number as an SMS shows it: its last four characters. */
function cardTail(card_no: string): string {
  return card_no.length <= 4 ? card_no : `****${card_no.slice(-4)}`;
}

async function claim(env: Env, id: number, now_ms: number): Promise<ClaimedNotice | 'held' | 'gone'> {
  const claimed = await env.DB.prepare(
    `UPDATE notices SET state = 'sending', attempts = attempts + 1, updated_at_ms = ?2
      WHERE id = ?1 AND (state = 'queued' OR (state = 'sending' AND updated_at_ms < ?3))
      RETURNING id`,
  )
    .bind(id, now_ms, now_ms - NOTICE_LEASE_MS)
    .first<{ id: number }>();
  if (claimed === null) {
    const row = await env.DB.prepare('SELECT state FROM notices WHERE id = ?1').bind(id).first<{ state: string }>();
    return row?.state === 'sending' ? 'held' : 'gone';
  }
  const notice = await env.DB.prepare(
    `SELECT n.id, n.order_id, n.kind, n.phone, o.amount_fen, o.card_no, s.name AS school_name
       FROM notices n JOIN orders o ON o.id = n.order_id JOIN schools s ON s.id = n.school_id
      WHERE n.id = ?1`,
  )
    .bind(id)
    .first<ClaimedNotice>();
  if (notice === null) throw new Error(`notice ${id} has no order or school`);
  return notice;
}

async function record(env: Env, id: number, state: 'sent' | 'queued' | 'dead', fields: { error?: string; biz_id?: string }, now_ms: number): Promise<void> {
  await env.DB.prepare(
    `UPDATE notices SET state = ?2, updated_at_ms = ?3, last_error = ?4,
            provider_biz_id = COALESCE(?5, provider_biz_id), sent_at_ms = CASE WHEN ?2 = 'sent' THEN ?3 ELSE sent_at_ms END
      WHERE id = ?1 AND state = 'sending'`,
  )
    .bind(id, state, now_ms, fields.error?.slice(0, LAST_ERROR_CHARS_MAX) ?? null, fields.biz_id ?? null)
    .run();
}

async function deliver(env: Env, id: number, attempts: number, now_ms: number): Promise<Outcome> {
  const notice = await claim(env, id, now_ms);
  if (notice === 'gone') return { done: true };
  if (notice === 'held') return { done: false, delay_s: NOTICE_LEASE_MS / 1000 };
  const masked = maskPhone(notice.phone);
  try {
    const config = aliyunSmsConfig(env);
    const template_code = env[TEMPLATE_VARS[notice.kind]];
    if (typeof template_code !== 'string' || template_code.trim() === '') {
      throw new SmsError('not_configured', `${TEMPLATE_VARS[notice.kind]} is not set`, false);
    }
    const { biz_id } = await sendSms(config, {
      phone: notice.phone,
      template_code: template_code.trim(),
      template_param: { school: notice.school_name, card: cardTail(notice.card_no), amount: fenToYuan(notice.amount_fen) },
      out_id: String(notice.id),
    });
    await record(env, id, 'sent', { biz_id }, Date.now());
    log('info', 'notice sent', { notice_id: id, kind: notice.kind, phone: masked, biz_id });
    return { done: true };
  } catch (error) {
    if (!(error instanceof SmsError)) throw error;
    if (!error.transient) {
      await record(env, id, 'dead', { error: `${error.code}: ${error.message}` }, Date.now());
      log('warn', 'notice refused', { notice_id: id, kind: notice.kind, phone: masked, code: error.code });
      return { done: true };
    }
    await record(env, id, 'queued', { error: `${error.code}: ${error.message}` }, Date.now());
    const delay_s = retryDelayS(env.NOTICE_RETRY_DELAY_S, attempts);
    log('warn', 'notice retry', { notice_id: id, kind: notice.kind, phone: masked, code: error.code, attempts, delay_s });
    return { done: false, delay_s };
  }
}

/** The notices queue's consumer. Messages are handled one by one: each is one SMS. */
export async function consumeNotices(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.messages.length > NOTICE_BATCH_MAX) throw new RangeError(`batch of ${batch.messages.length} notices`);
  for (const message of batch.messages) {
    const id = noticeIdOf(message.body);
    if (id === null) {
      // Not one of ours: retrying cannot make it readable.
      log('error', 'notice message malformed', { id: message.id });
      message.ack();
      continue;
    }
    let outcome: Outcome;
    try {
      outcome = await deliver(env, id, message.attempts, Date.now());
    } catch (error) {
      // The database or our own bug: the row is left sending, and its lease lets a retry take it.
      log('error', 'notice delivery failed', { notice_id: id, error: String(error).slice(0, 300) });
      outcome = { done: false, delay_s: NOTICE_LEASE_MS / 1000 };
    }
    if (outcome.done) message.ack();
    else message.retry({ delaySeconds: outcome.delay_s });
  }
}

/** The dead-letter queue's consumer: retries are exhausted, and the card office must see it. */
export async function consumeDeadNotices(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.messages.length > NOTICE_BATCH_MAX) throw new RangeError(`batch of ${batch.messages.length} dead notices`);
  const now_ms = Date.now();
  for (const message of batch.messages) {
    const id = noticeIdOf(message.body);
    if (id !== null) {
      await env.DB.prepare(
        `UPDATE notices SET state = 'dead', updated_at_ms = ?2,
                last_error = COALESCE(last_error || '; ', '') || 'retries exhausted'
          WHERE id = ?1 AND state IN ('queued', 'sending')`,
      )
        .bind(id, now_ms)
        .run();
      log('warn', 'notice dead-lettered', { notice_id: id });
    }
    message.ack();
  }
}
