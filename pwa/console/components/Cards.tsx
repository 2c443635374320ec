// The card registry: search by number or holder, and mark a card lost, frozen or active again
// (a lost card takes no top-up and no load; its pending money waits for the card office).
import { useState } from 'preact/hooks';
import type { ConsoleCard } from '../../../protocol/console.ts';
import type { CursorPages } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { pagePath } from '../router.ts';
import { Badge, ErrorText, Field, Link, Loading, Page, Pager, Table, Time, Yuan, type Column } from './common.tsx';

export type SettableStatus = 'active' | 'lost' | 'frozen';
const SETTABLE: SettableStatus[] = ['active', 'lost', 'frozen'];

export function Cards(props: {
  q: string;
  onSearch: (q: string) => void;
  pages: CursorPages<ConsoleCard>;
  setStatus: (card_no: string, status: SettableStatus) => Promise<string | null>;
}) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(props.q);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const columns: Column<ConsoleCard>[] = [
    { label: 'col_card', render: (c) => c.card_no },
    { label: 'col_holder', render: (c) => c.holder_name },
    { label: 'col_kind', render: (c) => t(`kind_${c.kind}`) },
    {
      label: 'col_status',
      render: (c) => (
        <Badge tone={c.status === 'active' ? 'ok' : c.status === 'closed' ? 'neutral' : 'bad'} testid="card-status">
          {t(`card_${c.status}`)}
        </Badge>
      ),
    },
    { label: 'col_balance', numeric: true, render: (c) => <Yuan amount_fen={c.balance_fen} /> },
    { label: 'col_pending', numeric: true, render: (c) => <Yuan amount_fen={c.pending_fen} /> },
    { label: 'col_balance_as_of', render: (c) => <Time at_ms={c.balance_as_of_ms} /> },
    { label: 'col_asn', render: (c) => <code>{c.asn ?? '—'}</code> },
    {
      label: 'col_actions',
      render: (c) =>
        c.status === 'closed' ? (
          '—'
        ) : (
          <div class="actions-inline">
            {SETTABLE.filter((status) => status !== c.status).map((status) => (
              <button
                type="button"
                class={status === 'active' ? 'button button-small button-secondary' : 'button button-small button-danger'}
                aria-label={t('card_set_label', { card: c.card_no, status: t(`card_set_${status}`) })}
                onClick={async () => {
                  if (status !== 'active' && !confirm(t('card_set_confirm', { card: c.card_no, status: t(`card_set_${status}`) }))) return;
                  setDone(null);
                  const failure = await props.setStatus(c.card_no, status);
                  setError(failure);
                  if (failure === null) {
                    setDone(t('card_set_done', { card: c.card_no, status: t(`card_${status}`) }));
                    props.pages.reload();
                  }
                }}
              >
                {t(`card_set_${status}`)}
              </button>
            ))}
          </div>
        ),
    },
  ];
  return (
    <Page
      title={t('nav_cards')}
      actions={
        <Link href={pagePath('cards_import')} class="button">
          {t('nav_cards_import')}
        </Link>
      }
    >
      <form
        class="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          props.onSearch(draft.trim());
        }}
      >
        <Field id="cards-q" label={t('cards_search')}>
          <input id="cards-q" type="search" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
        </Field>
        <div class="filters-actions">
          <button type="submit" class="button">
            {t('search')}
          </button>
        </div>
      </form>
      <ErrorText code={error ?? props.pages.error} />
      {done ? (
        <p class="note note-ok" role="status">
          {done}
        </p>
      ) : null}
      <Loading loading={props.pages.loading && props.pages.value === null} />
      {props.pages.value ? <Table caption={t('nav_cards')} columns={columns} rows={props.pages.value.rows} rowKey={(c) => c.card_no} testid="cards-table" /> : null}
      <Pager pages={props.pages} />
    </Page>
  );
}
