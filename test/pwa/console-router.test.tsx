// The console's routes: every page's path parses back to that page, deep links to an order
// keep its number, and nothing outside /console is taken for a console page.
import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../pwa/console/i18n.ts';
import { orderPath, pagePath, PAGES, parseRoute } from '../../pwa/console/router.ts';

describe('console routes', () => {
  it('parse every page path back to its page', () => {
    for (const name of PAGES) expect(parseRoute(pagePath(name))).toEqual({ name });
    expect(parseRoute('/console/')).toEqual({ name: 'overview' });
  });

  it('keep an order number through its deep link, even one that needs escaping', () => {
    expect(parseRoute(orderPath('Y2026120206351966'))).toEqual({ name: 'order', order_id: 'Y2026120206351966' });
    expect(parseRoute(orderPath('a/b c'))).toEqual({ name: 'order', order_id: 'a/b c' });
  });

  it('take nothing else for a console page', () => {
    expect(parseRoute('/consoles')).toEqual({ name: 'not_found' });
    expect(parseRoute('/orders/Y1')).toEqual({ name: 'not_found' });
    expect(parseRoute('/console/orders/x/y')).toEqual({ name: 'not_found' });
    expect(parseRoute('/console/%E0%A4%A')).toEqual({ name: 'not_found' });
  });
});

describe('how long money waited', () => {
  it('reads in the two largest units, in both languages', () => {
    expect(formatDuration('zh', 59_000)).toBe('0 分钟');
    expect(formatDuration('zh', (3 * 60 + 12) * 60_000)).toBe('3 小时 12 分钟');
    expect(formatDuration('en', (2 * 1_440 + 5 * 60 + 7) * 60_000)).toBe('2 d 5 h');
  });
});
