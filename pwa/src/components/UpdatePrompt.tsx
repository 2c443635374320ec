// Offered when a new version has been deployed and its service worker is waiting.
import type { UpdateHandle } from '../sw/register.ts';
import { useI18n } from '../i18n.ts';

export function UpdatePrompt({ update, onDismiss }: { update: UpdateHandle | null; onDismiss: () => void }) {
  const { t } = useI18n();
  if (update === null) return null;
  return (
    <div class="update" role="alertdialog" aria-labelledby="update-text">
      <p id="update-text">{t('update_available')}</p>
      <button type="button" class="button" onClick={() => update.apply()}>
        {t('update_reload')}
      </button>
      <button type="button" class="button button-secondary" onClick={onDismiss}>
        {t('update_later')}
      </button>
    </div>
  );
}
