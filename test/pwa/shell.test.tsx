// The app around the screens: the update prompt, in-app navigation and focus, the order
// back-off, and pull to refresh.
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { describe, expect, it } from 'vitest';
import { App } from '../../pwa/src/app.tsx';
import { Records } from '../../pwa/src/components/Records.tsx';
import { UpdatePrompt } from '../../pwa/src/components/UpdatePrompt.tsx';
import {
  FOLLOW_DELAY_MS_FIRST,
  FOLLOW_DELAY_MS_PAID_MAX,
  FOLLOW_DELAY_MS_UNPAID_MAX,
  FOLLOW_ATTEMPTS_MAX,
  nextFollowDelayMs,
} from '../../pwa/src/data/actions.ts';
import { parseRoute } from '../../pwa/src/router.ts';
import { renderIn } from './render.tsx';

describe('update prompt', () => {
  it('offers the new version and applies it only when asked', async () => {
    let applied = 0;
    let dismissed = 0;
    const { rerender } = renderIn('zh', <UpdatePrompt update={{ apply: () => applied++ }} onDismiss={() => dismissed++} />);
    expect(screen.getByRole('alertdialog').textContent).toContain('有新版本可用。');
    expect(applied).toBe(0);
    fireEvent.click(screen.getByRole('button', { name: '稍后' }));
    expect(dismissed).toBe(1);
    fireEvent.click(screen.getByRole('button', { name: '立即更新' }));
    expect(applied).toBe(1);
    rerender(<UpdatePrompt update={null} onDismiss={() => undefined} />);
    expect(screen.queryByRole('alertdialog')).toBeNull();
  });

  it('appears over the app when the service worker reports a waiting version', async () => {
    render(<App update={{ apply: () => undefined }} />);
    await waitFor(() => expect(screen.getByRole('alertdialog')).toBeTruthy());
  });
});

describe('navigation', () => {
  it('knows every screen by its address, and nothing else', () => {
    expect(parseRoute('/')).toEqual({ name: 'home' });
    expect(parseRoute('/topup')).toEqual({ name: 'topup' });
    expect(parseRoute('/orders/Y123')).toEqual({ name: 'order', order_id: 'Y123' });
    expect(parseRoute('/cards/bjtu-weihai%7C20230001/records')).toEqual({ name: 'records', card_id: 'bjtu-weihai|20230001' });
    expect(parseRoute('/cards/bjtu-weihai%7C20230001/topup')).toEqual({ name: 'card_topup', card_id: 'bjtu-weihai|20230001' });
    expect(parseRoute('/settings')).toEqual({ name: 'settings' });
    expect(parseRoute('/terms')).toEqual({ name: 'terms' });
    expect(parseRoute('/admin')).toEqual({ name: 'not_found' });
    expect(parseRoute('/orders/Y1/extra')).toEqual({ name: 'not_found' });
  });

  it('answers an unknown address with a page that leads home', async () => {
    history.replaceState(null, '', '/no/such/page');
    render(<App />);
    await waitFor(() => expect(screen.getByRole('heading', { name: '没有这个页面' })).toBeTruthy());
    fireEvent.click(screen.getByRole('link', { name: '返回首页' }));
    await waitFor(() => expect(screen.getByRole('heading', { name: '一卡通充值' })).toBeTruthy());
    expect(location.pathname).toBe('/');
  });

  it('moves between screens without a reload and puts focus on the new screen', async () => {
    render(<App />);
    await waitFor(() => expect(screen.getByRole('link', { name: '设置' })).toBeTruthy());
    fireEvent.click(screen.getByRole('link', { name: '设置' }));
    await waitFor(() => expect(screen.getByRole('heading', { name: '设置' })).toBeTruthy());
    expect(location.pathname).toBe('/settings');
    await waitFor(() => expect(document.activeElement?.id).toBe('main'));
  });
});

describe('following an order', () => {
  it('backs off from a second up to a cap, slower once paid, within a bounded number of checks', () => {
    let delay_ms = 0;
    const unpaid: number[] = [];
    for (let i = 0; i < 10; i++) unpaid.push((delay_ms = nextFollowDelayMs(delay_ms, 'unpaid')));
    expect(unpaid[0]).toBe(FOLLOW_DELAY_MS_FIRST);
    for (let i = 1; i < unpaid.length; i++) expect(unpaid[i]!).toBeGreaterThanOrEqual(unpaid[i - 1]!);
    expect(unpaid.at(-1)).toBe(FOLLOW_DELAY_MS_UNPAID_MAX);
    expect(nextFollowDelayMs(FOLLOW_DELAY_MS_UNPAID_MAX, 'pending_claim')).toBeGreaterThan(FOLLOW_DELAY_MS_UNPAID_MAX);
    expect(nextFollowDelayMs(FOLLOW_DELAY_MS_PAID_MAX, 'pending_claim')).toBe(FOLLOW_DELAY_MS_PAID_MAX);
    // Long enough to see an unpaid order expire (15 min) and be closed by the 5-minute cron.
    let total_ms = 0;
    delay_ms = 0;
    for (let i = 0; i < FOLLOW_ATTEMPTS_MAX; i++) total_ms += delay_ms = nextFollowDelayMs(delay_ms, 'unpaid');
    expect(total_ms).toBeGreaterThan(20 * 60_000);
  });
});

describe('pull to refresh', () => {
  it('refreshes when the list is pulled far enough, not for a small pull', async () => {
    let refreshes = 0;
    renderIn(
      'zh',
      <Records card={undefined} records={[]} month_totals={[]} online={true} onRefresh={async () => (refreshes++, null)} />,
    );
    // Opening the records online fetches once.
    await waitFor(() => expect(refreshes).toBe(1));
    await waitFor(() => expect(screen.getByRole('button', { name: '刷新' })).toBeTruthy());
    const area = document.querySelector('.pull')!;
    fireEvent.touchStart(area, { touches: [{ clientY: 100 }] });
    fireEvent.touchMove(area, { touches: [{ clientY: 130 }] });
    // The pull registered, short of the threshold.
    await waitFor(() => expect(screen.getByText('下拉刷新')).toBeTruthy());
    fireEvent.touchEnd(area, { touches: [] });
    // The hint is gone once the release was handled, and the release is where a refresh starts.
    await waitFor(() => expect(screen.queryByText('下拉刷新')).toBeNull());
    expect(refreshes).toBe(1);
    fireEvent.touchStart(area, { touches: [{ clientY: 100 }] });
    fireEvent.touchMove(area, { touches: [{ clientY: 200 }] });
    await waitFor(() => expect(screen.getByText('松开刷新')).toBeTruthy());
    fireEvent.touchEnd(area, { touches: [] });
    await waitFor(() => expect(refreshes).toBe(2));
  });

  it('does not refresh offline', async () => {
    let refreshes = 0;
    renderIn('zh', <Records card={undefined} records={[]} month_totals={[]} online={false} onRefresh={async () => (refreshes++, null)} />);
    const area = document.querySelector('.pull')!;
    fireEvent.touchStart(area, { touches: [{ clientY: 100 }] });
    fireEvent.touchMove(area, { touches: [{ clientY: 250 }] });
    // Pulled far enough: online, letting go now would refresh.
    await waitFor(() => expect(screen.getByText('松开刷新')).toBeTruthy());
    fireEvent.touchEnd(area, { touches: [] });
    await waitFor(() => expect(screen.queryByText('松开刷新')).toBeNull());
    expect(refreshes).toBe(0);
    expect((screen.getByRole('button', { name: '刷新' }) as HTMLButtonElement).disabled).toBe(true);
  });
});
