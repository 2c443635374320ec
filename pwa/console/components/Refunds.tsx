// Refunds: start one for an order whose money still waits in 待圈存, and follow each through
// the owning hub (its void) and the provider until the money is back, or failed and owed.
import { useState } from 'preact/hooks';
import type { ConsoleRefund } from '../../../protocol/console.ts';
import type { CursorPages } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { orderPath } from '../router.ts';
import { ErrorText, Field, Filters, Link, Page, Paged, Table, Time, Yuan, type Column } from './common.tsx';
import { RefundBadge } from './status.tsx';

export const REFUND_FILTERS = ['', 'requested', 'provider_pending', 'refunded', 'refused', 'failed'] as const;

export function Refunds(props: {
  state: string;
  onState: (state: string) => void;
  pages: CursorPages<ConsoleRefund>;
  start: (order_id: string, reason: string) => Promise<{ refund: ConsoleRefund | null; error: string | null }>;
}) {
  const { t } = useI18n();
  const [order_id, setOrderId] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ refund: ConsoleRefund | null; error: string | null } | null>(null);
  const columns: Column<ConsoleRefund>[] = [
    { label: 'col_order', render: (r) => <Link href={orderPath(r.order_id)}>{r.order_id}</Link> },
    { label: 'col_amount', numeric: true, render: (r) => <Yuan amount_fen={r.amount_fen} /> },
    { label: 'col_status', render: (r) => <RefundBadge state={r.state} /> },
    { label: 'col_route', render: (r) => (r.route ? t(`refund_route_${r.route}`) : '—') },
    { label: 'col_provider_status', render: (r) => r.provider_status ?? '—' },
    { label: 'col_reason', render: (r) => r.reason ?? '—' },
    { label: 'col_error', render: (r) => (r.last_error ? <span class="field-error">{r.last_error}</span> : '—') },
    { label: 'col_created', render: (r) => <Time at_ms={r.created_at_ms} /> },
    { label: 'col_updated', render: (r) => <Time at_ms={r.updated_at_ms} /> },
  ];
  return (
    <Page title={t('nav_refunds')}>
      <form
        class="panel form"
        aria-labelledby="refund-new"
        onSubmit={async (event) => {
          event.preventDefault();
          if (!confirm(t('refund_confirm'))) return;
          setBusy(true);
          const result = await props.start(order_id.trim(), reason.trim());
          setOutcome(result);
          setBusy(false);
          if (result.error === null) {
            setOrderId('');
            setReason('');
          }
        }}
      >
        <h2 id="refund-new">{t('refund_start_title')}</h2>
        <p class="muted">{t('refund_start_help')}</p>
        <div class="row">
          <Field id="refund-order" label={t('search_order_id')}>
            <input id="refund-order" required value={order_id} onInput={(e) => setOrderId(e.currentTarget.value)} />
          </Field>
          <Field id="refund-new-reason" label={t('refund_reason')}>
            <input id="refund-new-reason" required maxLength={200} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          </Field>
        </div>
        <ErrorText code={outcome?.error ?? null} />
        {outcome?.refund ? (
          <p class="note" role="status" data-testid="refund-outcome">
            {t('refund_started', { order: outcome.refund.order_id })} <RefundBadge state={outcome.refund.state} />
          </p>
        ) : null}
        <button type="submit" class="button button-danger" disabled={busy}>
          {t('refund_submit')}
        </button>
      </form>
      <Filters onRefresh={props.pages.reload}>
        <Field id="refunds-state" label={t('filter_state')}>
          <select id="refunds-state" value={props.state} onChange={(e) => props.onState(e.currentTarget.value)}>
            {REFUND_FILTERS.map((state) => (
              <option value={state}>{state === '' ? t('filter_all') : t(`refund_${state}`)}</option>
            ))}
          </select>
        </Field>
      </Filters>
      <Paged pages={props.pages}>
        {(page) => <Table caption={t('nav_refunds')} columns={columns} rows={page.rows} rowKey={(r) => r.refund_id} testid="refunds-table" />}
      </Paged>
    </Page>
  );
}
