// Saved cards and the way to top up a new one.
import type { SavedCard } from '../data/db.ts';
import { useI18n } from '../i18n.ts';
import { CardSummary, type ReportLost } from './CardSummary.tsx';
import { Link, OfflineNote, Page } from './common.tsx';

/** The oldest refresh among the cards: the honest "as of" for everything on screen. */
export function oldestRefresh(cards: readonly SavedCard[]): number | null {
  let oldest: number | null = null;
  for (const card of cards) {
    if (card.refreshed_at_ms === null) return null;
    oldest = oldest === null ? card.refreshed_at_ms : Math.min(oldest, card.refreshed_at_ms);
  }
  return oldest;
}

export function Home({ cards, online, onReportLost }: { cards: SavedCard[] | undefined; online: boolean; onReportLost?: ReportLost }) {
  const { t } = useI18n();
  return (
    <Page
      title={t('app_title')}
      actions={
        <Link href="/settings" class="bar-link">
          {t('nav_settings')}
        </Link>
      }
    >
      <OfflineNote online={online} as_of_ms={cards && cards.length > 0 ? oldestRefresh(cards) : null} />
      {!online ? (
        <p class="note" id="offline-reason">
          {t('pay_disabled_offline')}
        </p>
      ) : null}
      <section aria-labelledby="cards-title">
        <h2 id="cards-title" class="section-title">
          {t('home_cards')}
        </h2>
        {cards === undefined ? null : cards.length === 0 ? (
          <p class="empty">{t('home_empty')}</p>
        ) : (
          <ul class="cards">
            {cards.map((card) => (
              <li key={card.id}>
                <CardSummary card={card} online={online} onReportLost={onReportLost} />
              </li>
            ))}
          </ul>
        )}
      </section>
      {online ? (
        <Link href="/topup" class="button button-wide">
          {t('new_card')}
        </Link>
      ) : (
        <button type="button" class="button button-wide" disabled aria-describedby="offline-reason">
          {t('new_card')}
        </button>
      )}
    </Page>
  );
}
