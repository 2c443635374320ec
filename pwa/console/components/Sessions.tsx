// The operator's own sessions: where and when each signed in, and a way to end any of them
// (a laptop left in the office, a session on a machine that was lost).
import type { ConsoleSessionView } from '../../../protocol/console.ts';
import type { Loaded } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { Badge, ErrorText, Loading, Page, Table, Time, type Column } from './common.tsx';
import { useState } from 'preact/hooks';

export function Sessions(props: { sessions: Loaded<{ sessions: ConsoleSessionView[] }>; revoke: (session: ConsoleSessionView) => Promise<string | null> }) {
  const { t } = useI18n();
  const [error, setError] = useState<string | null>(null);
  const columns: Column<ConsoleSessionView>[] = [
    { label: 'col_session', render: (s) => (s.current ? <Badge tone="info">{t('session_current')}</Badge> : <code>{s.session_id.slice(0, 8)}</code>) },
    { label: 'col_method', render: (s) => t(`session_method_${s.method}`) },
    { label: 'col_address', nowrap: true, render: (s) => s.address ?? '—' },
    { label: 'col_user_agent', render: (s) => <span class="wrap small">{s.user_agent ?? '—'}</span> },
    { label: 'col_created', render: (s) => <Time at_ms={s.created_at_ms} /> },
    { label: 'col_last_seen', render: (s) => <Time at_ms={s.last_seen_at_ms} /> },
    { label: 'col_session_expires', render: (s) => <Time at_ms={s.expires_at_ms} /> },
    {
      label: 'col_actions',
      render: (s) =>
        s.revoked_at_ms !== null ? (
          t('session_revoked')
        ) : (
          <button
            type="button"
            class="button button-small button-danger"
            aria-label={t('session_revoke_label', { id: s.current ? t('session_current') : s.session_id.slice(0, 8) })}
            onClick={async () => {
              const failure = await props.revoke(s);
              setError(failure);
              if (failure === null && !s.current) props.sessions.reload();
            }}
          >
            {s.current ? t('signout') : t('session_revoke')}
          </button>
        ),
    },
  ];
  return (
    <Page title={t('nav_sessions')}>
      <ErrorText code={error ?? props.sessions.error} />
      <Loading loading={props.sessions.loading && props.sessions.value === null} />
      {props.sessions.value ? (
        <Table caption={t('nav_sessions')} columns={columns} rows={props.sessions.value.sessions} rowKey={(s) => s.session_id} testid="sessions-table" />
      ) : null}
    </Page>
  );
}
