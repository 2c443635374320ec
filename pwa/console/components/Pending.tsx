// Pending ageing: how long money has waited in 待圈存, by age bucket, then the oldest credits.
import type { ConsolePendingResponse, PendingCredit } from '../../../protocol/console.ts';
import type { CursorPages } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { orderPath } from '../router.ts';
import { Age, Badge, Link, Page, Paged, Table, Time, Yuan, type Column } from './common.tsx';

export interface PendingPage {
  rows: PendingCredit[];
  next_cursor: string | null;
  buckets: ConsolePendingResponse['buckets'];
}

export function Pending({ pages }: { pages: CursorPages<PendingCredit, PendingPage> }) {
  const { t } = useI18n();
  const columns: Column<PendingCredit>[] = [
    { label: 'col_order', render: (c) => <Link href={orderPath(c.order_id)}>{c.order_id}</Link> },
    { label: 'col_card', render: (c) => c.card_no },
    { label: 'col_amount', numeric: true, render: (c) => <Yuan amount_fen={c.amount_fen} /> },
    { label: 'col_paid', render: (c) => <Time at_ms={c.created_at_ms} /> },
    { label: 'col_age', render: (c) => <Age age_ms={c.age_ms} /> },
    { label: 'col_status', render: (c) => (c.void_requested ? <Badge tone="info">{t('pending_void_requested')}</Badge> : <Badge tone="warn">{t('topup_pending_claim')}</Badge>) },
  ];
  return (
    <Page title={t('nav_pending')}>
      <Paged pages={pages}>
        {(page) => (
          <>
            <ul class="tiles plain" data-testid="pending-buckets">
              {page.buckets.map((b) => (
                <li class="tile" key={b.bucket}>
                  <h2>{t(`bucket_${b.bucket}`)}</h2>
                  <p class="tile-figure">
                    <Yuan amount_fen={b.amount_fen} />
                  </p>
                  <p class="muted">{t('overview_count', { n: b.count })}</p>
                </li>
              ))}
            </ul>
            <h2>{t('pending_oldest')}</h2>
            <Table caption={t('pending_oldest')} columns={columns} rows={page.rows} rowKey={(c) => c.credit_id} testid="pending-table" />
          </>
        )}
      </Paged>
    </Page>
  );
}
