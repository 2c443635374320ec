// One saved card as the home screen shows it: school, masked name, kind, balance, pending, and
// its status once it is no longer active; with 挂失 (report lost) behind a confirmation.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SavedCard } from '../data/db.ts';
import { useI18n } from '../i18n.ts';
import { cardPath } from '../router.ts';
import { ErrorText, Link, Yuan } from './common.tsx';

/** Reports the card lost; resolves to null when done, or the error code to explain. */
export type ReportLost = (card: SavedCard) => Promise<string | null>;

export function CardSummary({ card, online, onReportLost }: { card: SavedCard; online: boolean; onReportLost?: ReportLost }) {
  const { t, time } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const status = card.status ?? 'active';
  const payable = status === 'active';
  const label = `${card.school_name} ${card.holder_name_masked} ${card.card_no}`;
  const dialog_id = `lost-${card.id.replace(/[^0-9A-Za-z-]/g, '-')}`;

  async function confirm(): Promise<void> {
    if (onReportLost === undefined || busy) return;
    setBusy(true);
    setError(null);
    const failure = await onReportLost(card);
    setBusy(false);
    if (failure === null) setConfirming(false);
    else setError(failure);
  }

  return (
    <article class="card" aria-label={`${card.school_name} ${card.holder_name_masked}`}>
      <header class="card-head">
        <span class="card-school">{card.school_name}</span>
        <span class="card-kind">{t(`kind_${card.kind}`)}</span>
        {status !== 'active' ? <span class={`card-status card-status-${status}`}>{t(`card_status_${status}`)}</span> : null}
      </header>
      <p class="card-holder">
        <span class="card-name">{card.holder_name_masked}</span> <span class="card-no">{card.card_no}</span>
      </p>
      <p class="card-balance">
        {card.balance_fen === null ? (
          <span class="muted">{t('balance_unknown')}</span>
        ) : (
          <>
            {t('balance')} <strong><Yuan amount_fen={card.balance_fen} /></strong>
          </>
        )}
        {card.pending_fen > 0 ? (
          <span class="card-pending">
            {' '}(<Yuan amount_fen={card.pending_fen} /> {t('pending')})
          </span>
        ) : null}
      </p>
      {card.balance_as_of !== null ? <p class="card-asof muted">{t('as_of', { time: time(card.balance_as_of) })}</p> : null}
      {status === 'lost' ? <p class="note">{t('card_lost_note')}</p> : null}
      {status === 'closed' ? <p class="note">{t('card_closed_note')}</p> : null}
      <div class="card-actions">
        <Link href={cardPath(card.id, 'records')} class="button button-secondary">
          {t('records')}
        </Link>
        {!payable ? null : online ? (
          <Link href={cardPath(card.id, 'topup')} class="button">
            {t('topup')}
          </Link>
        ) : (
          <button type="button" class="button" disabled aria-describedby="offline-reason">
            {t('topup')}
          </button>
        )}
        {onReportLost !== undefined && online && (status === 'active' || status === 'frozen') && !confirming ? (
          <button type="button" class="button button-danger" aria-label={t('report_lost_label', { card: label })} onClick={() => setConfirming(true)}>
            {t('report_lost')}
          </button>
        ) : null}
      </div>
      {confirming ? (
        <ConfirmLost id={dialog_id} busy={busy} error={error} onConfirm={() => void confirm()} onCancel={() => {
          setConfirming(false);
          setError(null);
        }} />
      ) : null}
    </article>
  );
}

function ConfirmLost(props: { id: string; busy: boolean; error: string | null; onConfirm: () => void; onCancel: () => void }) {
  const { t } = useI18n();
  const cancel = useRef<HTMLButtonElement>(null);
  // The safe choice has the focus: a stray tap on a phone must not stop the card.
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div
      class="confirm"
      role="alertdialog"
      aria-modal="true"
      aria-labelledby={`${props.id}-title`}
      aria-describedby={`${props.id}-body`}
      onKeyDown={(event) => {
        if (event.key === 'Escape') props.onCancel();
      }}
    >
      <h3 id={`${props.id}-title`}>{t('report_lost_title')}</h3>
      <p id={`${props.id}-body`}>{t('report_lost_body')}</p>
      <ErrorText code={props.error} />
      <div class="actions">
        <button type="button" class="button button-secondary" ref={cancel} onClick={props.onCancel} disabled={props.busy}>
          {t('report_lost_cancel')}
        </button>
        <button type="button" class="button button-danger" onClick={props.onConfirm} disabled={props.busy} aria-busy={props.busy}>
          {t('report_lost_confirm')}
        </button>
      </div>
    </div>
  );
}
