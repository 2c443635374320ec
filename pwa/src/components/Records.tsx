// A card's top-ups with their states and times, monthly totals, and pull to refresh.
import type { MonthTotal, RechargeRecord } from '../../../protocol/api.ts';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SavedCard } from '../data/db.ts';
import { formatMonth, useI18n } from '../i18n.ts';
import { fenToYuan } from '../../../protocol/money.ts';
import { ErrorText, OfflineNote, Page, Yuan } from './common.tsx';

export function RecordsList({ records, month_totals }: { records: readonly RechargeRecord[]; month_totals: readonly MonthTotal[] }) {
  const { t, time, lang } = useI18n();
  if (records.length === 0) return <p class="empty">{t('records_empty')}</p>;
  return (
    <>
      {month_totals.length > 0 ? (
        <ul class="totals" aria-label={t('records_title')}>
          {month_totals.map((total) => (
            <li key={total.month} data-testid="month-total">
              {t('month_total', { month: formatMonth(lang, total.month), amount: fenToYuan(total.amount_fen), count: total.count })}
            </li>
          ))}
        </ul>
      ) : null}
      <ul class="records">
        {records.map((record) => (
          <li key={record.order_id} class="record" data-testid="record">
            <div class="record-main">
              <Yuan amount_fen={record.amount_fen} />
              <span class={`status status-${record.status}`}>{t(`status_${record.status}`)}</span>
            </div>
            <p class="record-times muted">
              <span>{t('created_at', { time: time(record.created_at) })}</span>
              {record.paid_at !== undefined ? <span>{t('paid_at', { time: time(record.paid_at) })}</span> : null}
              {record.claimed_at !== undefined ? <span>{t('claimed_at', { time: time(record.claimed_at) })}</span> : null}
              {record.terminal_id !== undefined ? <span>{t('terminal', { terminal: record.terminal_id })}</span> : null}
              {record.closed_at !== undefined ? <span>{t('closed_at', { time: time(record.closed_at) })}</span> : null}
              {record.refunded_at !== undefined ? <span>{t('refunded_at', { time: time(record.refunded_at) })}</span> : null}
            </p>
          </li>
        ))}
      </ul>
    </>
  );
}

// How far a finger must pull down (px) before letting go refreshes.
const PULL_THRESHOLD_PX = 64;

export function Records(props: {
  card: SavedCard | null | undefined;
  records: RechargeRecord[] | undefined;
  month_totals: MonthTotal[] | undefined;
  online: boolean;
  onRefresh: () => Promise<string | null>;
}) {
  const { t } = useI18n();
  const [pull_px, setPull] = useState(0);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const start = useRef<number | null>(null);
  // Opening the records online fetches the latest; offline they are the saved copy.
  useEffect(() => {
    if (props.online) void refresh();
  }, [props.online]);

  async function refresh() {
    if (busy) return;
    setBusy(true);
    setFailure(await props.onRefresh());
    setBusy(false);
  }

  const card = props.card;
  const title = card ? `${t('records_title')} · ${card.holder_name_masked}` : t('records_title');
  return (
    <Page
      title={title}
      back="/"
      actions={
        <button type="button" class="bar-link" onClick={() => void refresh()} disabled={busy || !props.online}>
          {busy ? t('refreshing') : t('refresh')}
        </button>
      }
    >
      <div
        class="pull"
        onTouchStart={(event) => {
          start.current = window.scrollY <= 0 ? (event.touches[0]?.clientY ?? null) : null;
        }}
        onTouchMove={(event) => {
          if (start.current === null) return;
          setPull(Math.max(0, Math.min(2 * PULL_THRESHOLD_PX, (event.touches[0]?.clientY ?? 0) - start.current)));
        }}
        onTouchEnd={() => {
          if (pull_px >= PULL_THRESHOLD_PX && props.online) void refresh();
          start.current = null;
          setPull(0);
        }}
      >
        {pull_px > 0 || busy ? (
          <p class="pull-hint muted" style={{ height: `${busy ? PULL_THRESHOLD_PX / 2 : pull_px / 2}px` }} aria-hidden="true">
            {busy ? t('refreshing') : pull_px >= PULL_THRESHOLD_PX ? t('release_to_refresh') : t('pull_to_refresh')}
          </p>
        ) : null}
        <OfflineNote online={props.online} as_of_ms={card?.refreshed_at_ms ?? null} />
        <ErrorText code={props.online ? failure : null} />
        {card === null ? (
          <ErrorText code="not_found" />
        ) : card !== undefined ? (
          <p class="quick-card">
            <strong>{card.school_name}</strong>
            <br />
            {card.holder_name_masked} · {t(`kind_${card.kind}`)} · {card.card_no}
            {card.pending_fen > 0 ? (
              <>
                <br />
                {t('pending')} <Yuan amount_fen={card.pending_fen} />
              </>
            ) : null}
          </p>
        ) : null}
        {props.records !== undefined ? <RecordsList records={props.records} month_totals={props.month_totals ?? []} /> : null}
      </div>
    </Page>
  );
}
