// One saved card as the home screen shows it: school, masked name, kind, balance, pending.
import type { SavedCard } from '../data/db.ts';
import { useI18n } from '../i18n.ts';
import { cardPath } from '../router.ts';
import { Link, Yuan } from './common.tsx';

export function CardSummary({ card, online }: { card: SavedCard; online: boolean }) {
  const { t, time } = useI18n();
  return (
    <article class="card" aria-label={`${card.school_name} ${card.holder_name_masked}`}>
      <header class="card-head">
        <span class="card-school">{card.school_name}</span>
        <span class="card-kind">{t(`kind_${card.kind}`)}</span>
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
      <div class="card-actions">
        <Link href={cardPath(card.id, 'records')} class="button button-secondary">
          {t('records')}
        </Link>
        {online ? (
          <Link href={cardPath(card.id, 'topup')} class="button">
            {t('topup')}
          </Link>
        ) : (
          <button type="button" class="button" disabled aria-describedby="offline-reason">
            {t('topup')}
          </button>
        )}
      </div>
    </article>
  );
}
