// Offline: the saved copy is shown with "离线 · 截至 …", paying is disabled with a reason,
// and the note goes away when the connection returns.
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { describe, expect, it } from 'vitest';
import { App } from '../../pwa/src/app.tsx';
import { cardId, getSetting, listCards, saveCard, storeRecords } from '../../pwa/src/data/db.ts';
import { setOnline } from './render.tsx';

const T0 = Date.UTC(2026, 10, 20, 2, 0);

async function seedCard(): Promise<void> {
  const id = cardId('bjtu-weihai', '20230001');
  await saveCard(
    {
      id,
      card_token: 'token-1',
      school_id: 'bjtu-weihai',
      school_name: '北京交通大学威海校区',
      card_no: '20230001',
      holder_name_masked: '张*',
      kind: 'student',
      balance_fen: 12_282,
      pending_fen: 0,
      balance_as_of: T0 - 3_600_000,
    },
    T0,
  );
  await storeRecords(id, [{ order_id: 'Y00000000002', status: 'pending_claim', amount_fen: 300, channel: 'alipay', created_at: T0 - 60_000, paid_at: T0 }], [], T0);
}

describe('offline', () => {
  it('shows saved cards with the time of the copy and disables paying with a reason', async () => {
    await seedCard();
    setOnline(false);
    render(<App />);
    await waitFor(() => expect(screen.getByText('北京交通大学威海校区')).toBeTruthy());
    expect(screen.getByRole('status').textContent).toBe('离线 · 截至 2026/11/20 10:00');
    // As the original screens show it: 余额 122.82 (3.00 待圈存).
    expect(document.querySelector('.card-balance')!.textContent).toBe('余额 ¥122.82 (¥3.00 待圈存)');
    expect(screen.getByText('截至 2026/11/20 09:00')).toBeTruthy();
    const topup = screen.getByRole('button', { name: '充值' }) as HTMLButtonElement;
    expect(topup.disabled).toBe(true);
    expect(topup.getAttribute('aria-describedby')).toBe('offline-reason');
    expect(document.getElementById('offline-reason')!.textContent).toBe('当前离线，无法支付。联网后即可充值。');
    expect((screen.getByRole('button', { name: '+ 新卡充值' }) as HTMLButtonElement).disabled).toBe(true);

    setOnline(true);
    await waitFor(() => expect(screen.queryByText(/离线 · 截至/)).toBeNull());
    expect(screen.getByRole('link', { name: '充值' })).toBeTruthy();
    expect(screen.getByRole('link', { name: '+ 新卡充值' })).toBeTruthy();
  });

  it('switches language in settings, remembers it, and forgets a card', async () => {
    await seedCard();
    history.replaceState(null, '', '/settings');
    render(<App />);
    await waitFor(() => expect(screen.getByText('已保存的卡')).toBeTruthy());
    fireEvent.click(screen.getByLabelText('English'));
    await waitFor(() => expect(screen.getByText('Saved cards')).toBeTruthy());
    expect(await getSetting('lang')).toBe('en');
    const originalConfirm = window.confirm;
    window.confirm = () => true;
    try {
      fireEvent.click(screen.getByRole('button', { name: /Forget 北京交通大学威海校区/ }));
      await waitFor(() => expect(screen.getByText('No saved cards.')).toBeTruthy());
    } finally {
      window.confirm = originalConfirm;
    }
    expect(await listCards()).toEqual([]);
  });
});
