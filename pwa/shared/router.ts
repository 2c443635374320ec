// The History API part of a router, for the card holders' app (pwa/src/router.ts) and the card
// office's console (pwa/console/router.ts): each brings its own routes (a parse function) and
// which links are its own; this holds navigation, the route hook and focus after a change.
import { useEffect, useState } from 'preact/hooks';

export interface Router<R> {
  navigate: (path: string, options?: { replace?: boolean }) => void;
  /** Set by an in-page navigation, taken by the next screen: focus moves to it. */
  takeFocusRequest: () => boolean;
  useRoute: () => R;
  /** Click handler for own links: plain clicks navigate in place, modified clicks stay native. */
  onLinkClick: (event: MouseEvent) => void;
}

export function createRouter<R>(parseRoute: (pathname: string) => R, isOwnHref: (href: string) => boolean): Router<R> {
  const listeners = new Set<() => void>();
  // Focus moves to the new screen's content so a screen reader announces it; a first load
  // keeps the browser's own focus.
  let focus_pending = false;

  function navigate(path: string, options: { replace?: boolean } = {}): void {
    if (options.replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    focus_pending = true;
    for (const listener of listeners) listener();
    window.scrollTo?.(0, 0);
  }

  function takeFocusRequest(): boolean {
    const pending = focus_pending;
    focus_pending = false;
    return pending;
  }

  function useRoute(): R {
    const [route, setRoute] = useState(() => parseRoute(location.pathname));
    useEffect(() => {
      const update = () => setRoute(parseRoute(location.pathname));
      const back = () => {
        focus_pending = true;
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

  function onLinkClick(event: MouseEvent): void {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const href = (event.currentTarget as HTMLAnchorElement | null)?.getAttribute('href');
    if (!href || !isOwnHref(href)) return;
    event.preventDefault();
    navigate(href);
  }

  return { navigate, takeFocusRequest, useRoute, onLinkClick };
}
