// The school's hubs: health, how far each is behind the school's changes, last contact, and
// the pending credits each one owns (only the owner may load or void them).
import type { ConsoleHub } from '../../../protocol/console.ts';
import type { Loaded } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { Badge, ErrorText, Loading, Page, Table, Time, type Column } from './common.tsx';

export function Hubs({ hubs }: { hubs: Loaded<{ hubs: ConsoleHub[] }> }) {
  const { t } = useI18n();
  const columns: Column<ConsoleHub>[] = [
    { label: 'col_hub', render: (h) => h.hub_id },
    { label: 'col_health', render: (h) => <Badge tone={h.healthy ? 'ok' : 'bad'}>{h.healthy ? t('hub_healthy') : t('hub_unhealthy')}</Badge> },
    { label: 'col_hub_state', render: (h) => h.state ?? '—' },
    { label: 'col_last_seen', render: (h) => <Time at_ms={h.last_seen_at_ms} /> },
    { label: 'col_sync_lag', numeric: true, render: (h) => h.sync_lag },
    { label: 'col_outbox', render: (h) => t('hub_feed', { cursor: h.last_cursor ?? '—', sent: h.sent_through_seq ?? '—', head: h.feed_head_seq }) },
    { label: 'col_owned', numeric: true, render: (h) => h.pending_credits_owned ?? '—' },
    { label: 'col_created', render: (h) => <Time at_ms={h.created_at_ms} /> },
  ];
  return (
    <Page
      title={t('nav_hubs')}
      actions={
        <button type="button" class="button button-secondary" onClick={hubs.reload}>
          {t('refresh')}
        </button>
      }
    >
      <p class="muted">{t('hubs_intro')}</p>
      <ErrorText code={hubs.error} />
      <Loading loading={hubs.loading && hubs.value === null} />
      {hubs.value ? <Table caption={t('nav_hubs')} columns={columns} rows={hubs.value.hubs} rowKey={(h) => h.hub_id} empty="hubs_none" testid="hubs-table" /> : null}
    </Page>
  );
}
