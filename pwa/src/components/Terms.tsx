import { useI18n } from '../i18n.ts';
import { Page } from './common.tsx';

export function Terms() {
  const { t } = useI18n();
  return (
    <Page title={t('terms_title')} back="/topup">
      <article class="terms">
        <p>{t('terms_p1')}</p>
        <p>{t('terms_p2')}</p>
        <p>{t('terms_p3')}</p>
        <p>{t('terms_p4')}</p>
      </article>
    </Page>
  );
}
