// Where the cashier returns the payer: the order is followed until it settles.
import type { RechargeRecord } from '../../../protocol/api.ts';
import { useEffect, useState } from 'preact/hooks';
import type { FollowedOrder } from '../data/db.ts';
import { useI18n } from '../i18n.ts';
import { cardPath } from '../router.ts';
import { ErrorText, Link, Page, Yuan } from './common.tsx';
import { lazyScreen } from '../lazy.ts';

const QrCode = lazyScreen(() => import('./QrCode.tsx').then((module) => module.QrCode));

/** A desktop payment: the provider's code for a phone to scan, while the page follows the order. */
function QrPanel({ order }: { order: FollowedOrder & { qr_code: string } }) {
  const { t } = useI18n();
  return (
    <section class="qr-panel">
      <h2>{t(order.channel === 'wechat' ? 'qr_title_wechat' : 'qr_title_alipay')}</h2>
      <QrCode text={order.qr_code} label={t('qr_label')} />
      <p class="muted small">{t('qr_help')}</p>
    </section>
  );
}

export function OrderStatusView({ record, order }: { record: RechargeRecord; order: FollowedOrder | undefined }) {
  const { t, time } = useI18n();
  const help =
    record.status === 'unpaid'
      ? t('order_unpaid_help')
      : record.status === 'pending_claim'
        ? t('order_pending_claim_help')
        : record.status === 'claimed'
          ? record.terminal_id
            ? t('order_claimed_help', { time: time(record.claimed_at ?? record.created_at), terminal: record.terminal_id })
            : t('order_claimed_help_no_terminal', { time: time(record.claimed_at ?? record.created_at) })
          : record.status === 'closed'
            ? t('order_closed_help')
            : t('order_refunded_help');
  return (
    <section class={`order order-${record.status}`} aria-live="polite">
      <p class="order-amount">
        <Yuan amount_fen={record.amount_fen} />
      </p>
      <p class={`status status-${record.status}`} data-testid="order-status">
        {t(`status_${record.status}`)}
      </p>
      <p class="order-help">{help}</p>
      {order ? (
        <p class="muted">
          {order.card.school_name} · {order.card.holder_name_masked} · {order.card.card_no}
        </p>
      ) : null}
      <p class="muted small">{t('order_no', { order_id: record.order_id })}</p>
      <p class="muted small">{t('created_at', { time: time(record.created_at) })}</p>
      {record.paid_at !== undefined ? <p class="muted small">{t('paid_at', { time: time(record.paid_at) })}</p> : null}
    </section>
  );
}

export type OrderFollower = (onUpdate: (record: RechargeRecord | null, failure_code: string | null) => void, signal: AbortSignal) => Promise<void>;

export function OrderPage(props: { order_id: string; order: FollowedOrder | undefined; online: boolean; follow: OrderFollower }) {
  const { t } = useI18n();
  const [record, setRecord] = useState<RechargeRecord | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [round, setRound] = useState(0);

  useEffect(() => {
    if (!props.online) return;
    const controller = new AbortController();
    void props.follow((next, failure_code) => {
      if (next !== null) setRecord(next);
      setFailure(failure_code);
    }, controller.signal);
    return () => controller.abort();
  }, [props.order_id, props.online, round]);

  const shown: RechargeRecord | null =
    record ??
    (props.order
      ? { order_id: props.order.order_id, status: props.order.status, amount_fen: props.order.amount_fen, channel: 'alipay', created_at: props.order.created_at_ms }
      : null);

  return (
    <Page title={t('order_title')} back="/">
      {shown === null ? <p class="muted">{t('order_waiting')}</p> : <OrderStatusView record={shown} order={props.order} />}
      {shown?.status === 'unpaid' && props.order?.qr_code && props.online ? <QrPanel order={{ ...props.order, qr_code: props.order.qr_code }} /> : null}
      <ErrorText code={failure ?? (props.online ? null : 'offline')} />
      <div class="actions">
        {shown?.status === 'unpaid' && props.order && !props.order.qr_code && props.online ? (
          <a class="button" href={props.order.pay_url}>
            {t('order_go_pay')}
          </a>
        ) : null}
        <button
          type="button"
          class="button button-secondary"
          disabled={!props.online}
          onClick={() => setRound((value) => value + 1)}
        >
          {t('order_check')}
        </button>
        {props.order ? (
          <Link href={cardPath(props.order.card.id, 'records')} class="button button-secondary">
            {t('order_records')}
          </Link>
        ) : null}
        <Link href="/" class="button button-secondary">
          {t('order_home')}
        </Link>
      </div>
    </Page>
  );
}
