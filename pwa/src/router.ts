// A router of a few lines: the app has seven screens, so the History API and a pattern per
// route are all it needs. Links go through navigate() so screens change without a reload.
import { createRouter } from '../shared/router.ts';

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

export const { navigate, takeFocusRequest, useRoute, onLinkClick } = createRouter(parseRoute, (href) => href.startsWith('/'));
