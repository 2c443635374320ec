// The console's pages under /console, by the History API through the router the app uses too
// (pwa/shared/router.ts): a pattern a page, links through navigate() so pages change without a
// reload, deep links work because the Worker answers every /console/... with the console's page.
import { createRouter } from '../shared/router.ts';

export const CONSOLE_BASE = '/console';

export const PAGES = [
  'overview',
  'orders',
  'pending',
  'refunds',
  'grey',
  'cards',
  'cards_import',
  'hubs',
  'reconciliation',
  'agreements',
  'notices',
  'charts',
  'audit',
  'sessions',
] as const;
export type PageName = (typeof PAGES)[number];

export type Route = { name: PageName } | { name: 'order'; order_id: string } | { name: 'not_found' };

const PATHS: Record<PageName, string> = {
  overview: '',
  orders: 'orders',
  pending: 'pending',
  refunds: 'refunds',
  grey: 'grey-records',
  cards: 'cards',
  cards_import: 'cards/import',
  hubs: 'hubs',
  reconciliation: 'reconciliation',
  agreements: 'agreements',
  notices: 'notices',
  charts: 'charts',
  audit: 'audit',
  sessions: 'sessions',
};

export function pagePath(name: PageName): string {
  return PATHS[name] === '' ? CONSOLE_BASE : `${CONSOLE_BASE}/${PATHS[name]}`;
}

export function orderPath(order_id: string): string {
  return `${CONSOLE_BASE}/orders/${encodeURIComponent(order_id)}`;
}

export function parseRoute(pathname: string): Route {
  if (pathname !== CONSOLE_BASE && !pathname.startsWith(`${CONSOLE_BASE}/`)) return { name: 'not_found' };
  const rest = pathname.slice(CONSOLE_BASE.length).split('/').filter((part) => part.length > 0);
  let parts: string[];
  try {
    parts = rest.map((part) => decodeURIComponent(part));
  } catch {
    return { name: 'not_found' };
  }
  const joined = parts.join('/');
  for (const name of PAGES) if (PATHS[name] === joined) return { name };
  if (parts.length === 2 && parts[0] === 'orders' && parts[1]) return { name: 'order', order_id: parts[1] };
  return { name: 'not_found' };
}

// Only links into the console navigate in place; a link out of it loads its page.
export const { navigate, takeFocusRequest, useRoute, onLinkClick } = createRouter(parseRoute, (href) => href.startsWith(CONSOLE_BASE));
