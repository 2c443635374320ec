// The card registry: search by number or holder, and mark a card lost, frozen or active again
// (a lost card takes no top-up and no load; its pending money waits for the card office).
import { useState } from 'preact/hooks';
import type { CardReplacementView } from '../../../protocol/card-replace.ts';
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
  replace: (card_no: string, new_card_no: string, new_asn: string) => Promise<{ replacement: CardReplacementView | null; error: string | null }>;
}) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(props.q);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [replacing, setReplacing] = useState<ConsoleCard | null>(null);
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
            <button
              type="button"
              class="button button-small button-secondary"
              aria-label={t('card_replace_label', { card: c.card_no })}
              onClick={() => {
                setDone(null);
                setError(null);
                setReplacing(c);
              }}
            >
              {t('card_replace')}
            </button>
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
      {replacing ? (
        <ReplaceForm
          card={replacing}
          onCancel={() => setReplacing(null)}
          replace={async (new_card_no, new_asn) => {
            const outcome = await props.replace(replacing.card_no, new_card_no, new_asn);
            if (outcome.replacement !== null) props.pages.reload();
            return outcome;
          }}
        />
      ) : null}
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

function ReplaceForm(props: {
  card: ConsoleCard;
  onCancel: () => void;
  replace: (new_card_no: string, new_asn: string) => Promise<{ replacement: CardReplacementView | null; error: string | null }>;
}) {
  const { t } = useI18n();
  const [new_card_no, setNewCardNo] = useState('');
  const [new_asn, setNewAsn] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ replacement: CardReplacementView | null; error: string | null } | null>(null);
  const asn_ok = /^[0-9A-Fa-f]{16}$/.test(new_asn.trim());
  const done = outcome?.replacement ?? null;
  return (
    <form
      class="panel form"
      aria-labelledby="replace-title"
      onSubmit={async (event) => {
        event.preventDefault();
        if (!asn_ok || !confirm(t('card_replace_confirm', { card: props.card.card_no, next: new_card_no.trim() }))) return;
        setBusy(true);
        setOutcome(await props.replace(new_card_no.trim(), new_asn.trim()));
        setBusy(false);
      }}
    >
      <h2 id="replace-title">{t('card_replace_title', { card: props.card.card_no, holder: props.card.holder_name })}</h2>
      <p class="muted">{t('card_replace_help')}</p>
      <div class="row">
        <Field id="replace-card" label={t('card_replace_new_no')}>
          <input id="replace-card" required value={new_card_no} onInput={(e) => setNewCardNo(e.currentTarget.value)} />
        </Field>
        <Field id="replace-asn" label={t('card_replace_new_asn')} hint={t('card_replace_asn_hint')}>
          <input
            id="replace-asn"
            required
            maxLength={16}
            value={new_asn}
            aria-invalid={new_asn !== '' && !asn_ok}
            aria-describedby="replace-asn-hint"
            onInput={(e) => setNewAsn(e.currentTarget.value)}
          />
        </Field>
      </div>
      <ErrorText code={outcome?.error ?? null} />
      {done ? (
        <p class="note note-ok" role="status" data-testid="replace-outcome">
          {t('card_replace_done', { card: done.old_card_no, next: done.new_card_no, moved: done.moved.length, moving: done.moving.length, refused: done.refused.length })}
        </p>
      ) : null}
      <div class="actions-inline">
        <button type="submit" class="button" disabled={busy || !asn_ok || new_card_no.trim() === '' || done !== null}>
          {t('card_replace_submit')}
        </button>
        <button type="button" class="button button-secondary" onClick={props.onCancel}>
          {done ? t('close') : t('cancel')}
        </button>
      </div>
    </form>
  );
}
