// Small pieces every screen uses: the page frame, the offline note, error text, money.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { fenToYuan } from '../../../protocol/money.ts';
import { useI18n } from '../i18n.ts';
import { navigate, onLinkClick, takeFocusRequest } from '../router.ts';

export function Yuan({ amount_fen }: { amount_fen: number }) {
  return <span class="money">¥{fenToYuan(amount_fen)}</span>;
}

export function Page(props: { title: string; back?: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const { t } = useI18n();
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    if (takeFocusRequest()) main.current?.focus({ preventScroll: true });
  }, []);
  return (
    <>
      <header class="bar">
        {props.back !== undefined ? (
          <button type="button" class="bar-back" onClick={() => (history.length > 1 ? history.back() : navigate(props.back!))} aria-label={t('back')}>
            ‹ <span>{t('back')}</span>
          </button>
        ) : null}
        <h1>{props.title}</h1>
        <div class="bar-actions">{props.actions}</div>
      </header>
      <main id="main" tabIndex={-1} ref={main}>
        {props.children}
      </main>
    </>
  );
}

export function Link(props: { href: string; class?: string; children: ComponentChildren; 'aria-label'?: string }) {
  return (
    <a href={props.href} class={props.class} onClick={onLinkClick} aria-label={props['aria-label']}>
      {props.children}
    </a>
  );
}

/** Shown whenever the phone is offline: what is on screen is the copy saved at that time. */
export function OfflineNote({ online, as_of_ms }: { online: boolean; as_of_ms: number | null }) {
  const { t, time } = useI18n();
  if (online) return null;
  return (
    <p class="note note-offline" role="status">
      {as_of_ms === null ? t('offline_note_never') : t('offline_note', { time: time(as_of_ms) })}
    </p>
  );
}

export function ErrorText({ code, id }: { code: string | null; id?: string }) {
  const { t, error } = useI18n();
  if (code === null) return null;
  return (
    <p class="note note-error" role="alert" id={id} data-code={code}>
      {t('error_prefix')}
      {error(code)}
    </p>
  );
}
