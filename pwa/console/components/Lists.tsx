// The card office's plain listings: auto top-up agreements, SMS notices with their dead
// letters, and the audit trail of every console action. Each pages through the server.
import type { AdminNotice } from '../../../protocol/notices.ts';
import type { AutoTopupAgreement } from '../../../protocol/auto-topup.ts';
import type { ConsoleAuditEntry } from '../../../protocol/console.ts';
import type { CursorPages } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { orderPath } from '../router.ts';
import { Badge, Field, Link, Page, Paged, RefreshButton, Table, Time, Yuan, type Column } from './common.tsx';

export function Agreements({ pages }: { pages: CursorPages<AutoTopupAgreement> }) {
  const { t } = useI18n();
  const columns: Column<AutoTopupAgreement>[] = [
    { label: 'col_card', render: (a) => a.card_no },
    {
      label: 'col_status',
      render: (a) => (
        <Badge tone={a.state === 'active' ? 'ok' : a.state === 'signing' ? 'warn' : 'neutral'}>
          {t(`agreement_${a.state}`)}
          {a.stop_reason ? ` · ${t(`agreement_stop_${a.stop_reason}`)}` : ''}
        </Badge>
      ),
    },
    { label: 'col_threshold', numeric: true, render: (a) => <Yuan amount_fen={a.threshold_fen} /> },
    { label: 'col_amount', numeric: true, render: (a) => <Yuan amount_fen={a.amount_fen} /> },
    { label: 'col_daily_cap', numeric: true, render: (a) => <Yuan amount_fen={a.daily_cap_fen} /> },
    { label: 'col_charged_today', numeric: true, render: (a) => <Yuan amount_fen={a.charged_today_fen} /> },
    { label: 'col_signed', render: (a) => <Time at_ms={a.signed_at} /> },
    { label: 'col_error', render: (a) => (a.last_error ? <span class="field-error">{a.last_error}</span> : '—') },
  ];
  return (
    <Page title={t('nav_agreements')}>
      <Paged pages={pages}>
        {(page) => <Table caption={t('nav_agreements')} columns={columns} rows={page.rows} rowKey={(a) => a.agreement_id} testid="agreements-table" />}
      </Paged>
    </Page>
  );
}

export const NOTICE_FILTERS = ['', 'pending', 'queued', 'sending', 'sent', 'dead'] as const;

export function Notices({ state, onState, pages }: { state: string; onState: (state: string) => void; pages: CursorPages<AdminNotice> }) {
  const { t } = useI18n();
  const columns: Column<AdminNotice>[] = [
    { label: 'col_notice', render: (n) => n.notice_id },
    { label: 'col_order', render: (n) => <Link href={orderPath(n.order_id)}>{n.order_id}</Link> },
    { label: 'col_kind', render: (n) => t(`notice_kind_${n.kind}`) },
    { label: 'col_phone', render: (n) => n.phone_masked },
    {
      label: 'col_status',
      render: (n) => <Badge tone={n.state === 'sent' ? 'ok' : n.state === 'dead' ? 'bad' : 'warn'}>{t(`notice_${n.state}`)}</Badge>,
    },
    { label: 'col_attempts', numeric: true, render: (n) => n.attempts },
    { label: 'col_error', render: (n) => (n.last_error ? <span class="field-error">{n.last_error}</span> : '—') },
    { label: 'col_updated', render: (n) => <Time at_ms={n.updated_at_ms} /> },
  ];
  return (
    <Page title={t('nav_notices')}>
      <div class="filters">
        <Field id="notices-state" label={t('filter_state')}>
          <select id="notices-state" value={state} onChange={(e) => onState(e.currentTarget.value)}>
            {NOTICE_FILTERS.map((s) => (
              <option value={s}>{s === '' ? t('filter_all') : s === 'dead' ? t('notice_dead_letters') : t(`notice_${s}`)}</option>
            ))}
          </select>
        </Field>
      </div>
      <Paged pages={pages}>
        {(page) => <Table caption={t('nav_notices')} columns={columns} rows={page.rows} rowKey={(n) => String(n.notice_id)} testid="notices-table" />}
      </Paged>
    </Page>
  );
}

// A before/after value in the trail is a small JSON object; longer is cut for the row.
const AUDIT_VALUE_CHARS_MAX = 160;

function short(value: unknown): string {
  if (value === null || value === undefined) return '—';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > AUDIT_VALUE_CHARS_MAX ? `${text.slice(0, AUDIT_VALUE_CHARS_MAX)}…` : text;
}

export function Audit({ pages }: { pages: CursorPages<ConsoleAuditEntry> }) {
  const { t } = useI18n();
  const columns: Column<ConsoleAuditEntry>[] = [
    { label: 'col_at', render: (e) => <Time at_ms={e.at_ms} /> },
    { label: 'col_operator', nowrap: true, render: (e) => e.operator_id },
    { label: 'col_action', nowrap: true, render: (e) => t(`action_${e.action}`) },
    { label: 'col_target', render: (e) => (/^Y[0-9A-Za-z]{10,31}$/.test(e.target) ? <Link href={orderPath(e.target)}>{e.target}</Link> : e.target) },
    { label: 'col_before', render: (e) => <code class="wrap">{short(e.before)}</code> },
    { label: 'col_after', render: (e) => <code class="wrap">{short(e.after)}</code> },
    { label: 'col_address', nowrap: true, render: (e) => e.address ?? '—' },
  ];
  return (
    <Page title={t('nav_audit')} actions={<RefreshButton onClick={pages.reload} />}>
      <Paged pages={pages}>
        {(page) => <Table caption={t('nav_audit')} columns={columns} rows={page.rows} rowKey={(e) => String(e.audit_id)} testid="audit-table" />}
      </Paged>
    </Page>
  );
}
