// A router of a few lines: the app has seven screens, so the History API and a pattern per
// route are all it needs. Links go through navigate() so screens change without a reload.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { name: 'home' }
  | { name: 'topup' }
  | { name: 'card_topup'; card_id: string }
  | { name: 'records'; card_id: string }
  | { name: 'card_auto'; card_id: string }
  | { name: 'order'; order_id: string }
  | { name: 'settings' }
  | { name: 'terms' }
  | { name: 'not_found' };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter((part) => part.length > 0).map((part) => decodeURIComponent(part));
  if (parts.length === 0) return { name: 'home' };
  const [first, second, third] = parts;
  if (parts.length === 1 && first === 'topup') return { name: 'topup' };
  if (parts.length === 1 && first === 'settings') return { name: 'settings' };
  if (parts.length === 1 && first === 'terms') return { name: 'terms' };
  if (parts.length === 2 && first === 'orders' && second) return { name: 'order', order_id: second };
  if (parts.length === 3 && first === 'cards' && second && third === 'topup') return { name: 'card_topup', card_id: second };
  if (parts.length === 3 && first === 'cards' && second && third === 'records') return { name: 'records', card_id: second };
  if (parts.length === 3 && first === 'cards' && second && third === 'auto') return { name: 'card_auto', card_id: second };
  return { name: 'not_found' };
}

export function cardPath(card_id: string, screen: 'topup' | 'records' | 'auto'): string {
  return `/cards/${encodeURIComponent(card_id)}/${screen}`;
}

const listeners = new Set<() => void>();
// Set by an in-app navigation, taken by the next screen: focus moves to its content so a
// screen reader announces the new screen (a first load keeps the browser's own focus).
let focusPending = false;

export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  focusPending = true;
  for (const listener of listeners) listener();
  window.scrollTo?.(0, 0);
}

export function takeFocusRequest(): boolean {
  const pending = focusPending;
  focusPending = false;
  return pending;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    const back = () => {
      focusPending = true;
      update();
    };
    listeners.add(update);
    window.addEventListener('popstate', back);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', back);
    };
  }, []);
  return route;
}

/** Click handler for in-app links: plain clicks navigate in place, modified clicks stay native. */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.currentTarget as HTMLAnchorElement | null) ?? null;
  const href = anchor?.getAttribute('href');
  if (!href || !href.startsWith('/')) return;
  event.preventDefault();
  navigate(href);
}
