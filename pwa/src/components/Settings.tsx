// Language and the cards saved on this device.
import type { SavedCard } from '../data/db.ts';
import { LANGS, LANG_NAMES, useI18n, type Lang } from '../i18n.ts';
import { Link, Page } from './common.tsx';
import { cardPath } from '../router.ts';

export function Settings(props: {
  cards: SavedCard[] | undefined;
  onLang: (lang: Lang) => void;
  onForget: (card: SavedCard) => void;
  confirm?: (message: string) => boolean;
}) {
  const { t, lang } = useI18n();
  const confirm = props.confirm ?? ((message: string) => window.confirm(message));
  return (
    <Page title={t('settings_title')} back="/">
      <fieldset class="field">
        <legend>{t('language')}</legend>
        <div class="choices">
          {LANGS.map((option) => (
            <label key={option} class="choice" lang={option === 'zh' ? 'zh-CN' : 'en'}>
              <input type="radio" name="lang" value={option} checked={lang === option} onChange={() => props.onLang(option)} />
              <span>{LANG_NAMES[option]}</span>
            </label>
          ))}
        </div>
      </fieldset>
      <section aria-labelledby="saved-title">
        <h2 id="saved-title" class="section-title">
          {t('saved_cards')}
        </h2>
        {props.cards === undefined ? null : props.cards.length === 0 ? (
          <p class="empty">{t('no_saved_cards')}</p>
        ) : (
          <ul class="saved">
            {props.cards.map((card) => {
              const label = `${card.school_name} ${card.holder_name_masked} ${card.card_no}`;
              return (
                <li key={card.id} class="saved-card">
                  <span>
                    {card.school_name}
                    <br />
                    <span class="muted">
                      {card.holder_name_masked} · {card.card_no}
                    </span>
                    <br />
                    <Link href={cardPath(card.id, 'auto')} aria-label={`${t('auto_link')} ${label}`}>
                      {t('auto_link')}
                    </Link>
                  </span>
                  <button
                    type="button"
                    class="button button-danger"
                    aria-label={t('forget_card_label', { card: label })}
                    onClick={() => {
                      if (confirm(t('forget_confirm', { card: label }))) props.onForget(card);
                    }}
                  >
                    {t('forget_card')}
                  </button>
                </li>
              );
            })}
          </ul>
        )}
      </section>
    </Page>
  );
}
