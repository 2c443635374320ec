// Renders a component the way the app does: inside the language context.
import { render } from '@testing-library/preact';
import type { ComponentChildren } from 'preact';
import { I18nContext, makeI18n, type Lang } from '../../pwa/src/i18n.ts';

export function renderIn(lang: Lang, children: ComponentChildren) {
  return render(<I18nContext.Provider value={makeI18n(lang)}>{children}</I18nContext.Provider>);
}

export function setOnline(online: boolean): void {
  Object.defineProperty(navigator, 'onLine', { value: online, configurable: true });
  window.dispatchEvent(new Event(online ? 'online' : 'offline'));
}
