// Top-ups and orders: search by card, order id, the provider's trade id or day, a page at a time.
import { useState } from 'preact/hooks';
import type { ConsoleOrder } from '../../../protocol/console.ts';
import type { OrderSearch } from '../data/api.ts';
import type { CursorPages } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { orderPath } from '../router.ts';
import { Field, Link, Page, Paged, Table, Time, Yuan, type Column } from './common.tsx';
import { TopupBadge } from './status.tsx';

export function Orders(props: { search: OrderSearch; onSearch: (search: OrderSearch) => void; pages: CursorPages<ConsoleOrder> }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState<OrderSearch>(props.search);
  const set = (name: keyof OrderSearch) => (event: Event) => setDraft({ ...draft, [name]: (event.currentTarget as HTMLInputElement).value });
  const columns: Column<ConsoleOrder>[] = [
    { label: 'col_order', render: (o) => <Link href={orderPath(o.order_id)}>{o.order_id}</Link> },
    { label: 'col_card', render: (o) => o.card_no },
    { label: 'col_amount', numeric: true, render: (o) => <Yuan amount_fen={o.amount_fen} /> },
    { label: 'col_channel', render: (o) => t(`channel_${o.channel}`) + (o.origin === 'auto' ? ` · ${t('origin_auto')}` : '') },
    { label: 'col_status', render: (o) => <TopupBadge status={o.topup_status} /> },
    { label: 'col_provider_trade', render: (o) => o.provider_trade_no ?? '—' },
    { label: 'col_created', render: (o) => <Time at_ms={o.created_at_ms} /> },
    { label: 'col_paid', render: (o) => <Time at_ms={o.paid_at_ms} /> },
  ];
  return (
    <Page title={t('nav_orders')}>
      <form
        class="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          props.onSearch({
            card_no: draft.card_no?.trim() || undefined,
            order_id: draft.order_id?.trim() || undefined,
            provider_trade_no: draft.provider_trade_no?.trim() || undefined,
            date: draft.date || undefined,
          });
        }}
      >
        <Field id="orders-card" label={t('search_card_no')}>
          <input id="orders-card" value={draft.card_no ?? ''} onInput={set('card_no')} />
        </Field>
        <Field id="orders-order" label={t('search_order_id')}>
          <input id="orders-order" value={draft.order_id ?? ''} onInput={set('order_id')} />
        </Field>
        <Field id="orders-trade" label={t('search_provider_trade')}>
          <input id="orders-trade" value={draft.provider_trade_no ?? ''} onInput={set('provider_trade_no')} />
        </Field>
        <Field id="orders-date" label={t('search_date')}>
          <input id="orders-date" type="date" value={draft.date ?? ''} onInput={set('date')} />
        </Field>
        <div class="filters-actions">
          <button type="submit" class="button">
            {t('search')}
          </button>
          <button
            type="button"
            class="button button-secondary"
            onClick={() => {
              setDraft({});
              props.onSearch({});
            }}
          >
            {t('search_clear')}
          </button>
        </div>
      </form>
      <Paged pages={props.pages}>
        {(page) => <Table caption={t('nav_orders')} columns={columns} rows={page.rows} rowKey={(o) => o.order_id} testid="orders-table" />}
      </Paged>
    </Page>
  );
}
