// Records as the phone keeps them: every state in words, the times that matter, month totals,
// and the same rows after they have gone through Dexie.
import { screen, waitFor, within } from '@testing-library/preact';
import { describe, expect, it } from 'vitest';
import type { MonthTotal, RechargeRecord } from '../../protocol/api.ts';
import { App } from '../../pwa/src/app.tsx';
import { RecordsList } from '../../pwa/src/components/Records.tsx';
import { cardId, getCard, saveCard, storeRecords } from '../../pwa/src/data/db.ts';
import { cardPath } from '../../pwa/src/router.ts';
import { renderIn } from './render.tsx';
import { render } from '@testing-library/preact';

// 2026-11-20 10:00 in China Standard Time.
const T0 = Date.UTC(2026, 10, 20, 2, 0);
const MIN = 60_000;

const RECORDS: RechargeRecord[] = [
  { order_id: 'Y00000000005', status: 'refunded', amount_fen: 2_000, channel: 'alipay', created_at: T0 + 50 * MIN, paid_at: T0 + 51 * MIN, refunded_at: T0 + 90 * MIN },
  { order_id: 'Y00000000004', status: 'closed', amount_fen: 5_000, channel: 'wechat', created_at: T0 + 40 * MIN, closed_at: T0 + 60 * MIN },
  { order_id: 'Y00000000003', status: 'unpaid', amount_fen: 3_000, channel: 'alipay', created_at: T0 + 30 * MIN },
  { order_id: 'Y00000000002', status: 'pending_claim', amount_fen: 10_000, channel: 'alipay', created_at: T0 + 20 * MIN, paid_at: T0 + 21 * MIN },
  {
    order_id: 'Y00000000001',
    status: 'claimed',
    amount_fen: 20_000,
    channel: 'alipay',
    created_at: T0 - 30 * 24 * 60 * MIN,
    paid_at: T0 - 30 * 24 * 60 * MIN + MIN,
    claimed_at: T0 - 30 * 24 * 60 * MIN + 5 * MIN,
    terminal_id: 'canteen-01',
  },
];
const TOTALS: MonthTotal[] = [
  { month: '2026-10', amount_fen: 20_000, count: 1 },
  { month: '2026-11', amount_fen: 12_000, count: 2 },
];

describe('records', () => {
  it('shows each top-up with its state, its times and the terminal that loaded it', () => {
    renderIn('zh', <RecordsList records={RECORDS} month_totals={TOTALS} />);
    const rows = screen.getAllByTestId('record');
    expect(rows.map((row) => row.querySelector('.status')!.textContent)).toEqual(['已退款', '已关闭', '待支付', '待圈存', '已圈存']);
    expect(rows.map((row) => row.querySelector('.money')!.textContent)).toEqual(['¥20.00', '¥50.00', '¥30.00', '¥100.00', '¥200.00']);
    expect(within(rows[3]!).getByText('下单 2026/11/20 10:20')).toBeTruthy();
    expect(within(rows[3]!).getByText('支付 2026/11/20 10:21')).toBeTruthy();
    expect(within(rows[4]!).getByText('圈存 2026/10/21 10:05')).toBeTruthy();
    expect(within(rows[4]!).getByText('终端 canteen-01')).toBeTruthy();
    expect(within(rows[1]!).getByText('关闭 2026/11/20 11:00')).toBeTruthy();
    expect(within(rows[0]!).getByText('退款 2026/11/20 11:30')).toBeTruthy();
  });

  it('shows monthly totals, newest month first, in both languages', async () => {
    await saveCard(card(), T0);
    await storeRecords(card().id, RECORDS, TOTALS, T0);
    history.replaceState(null, '', cardPath(card().id, 'records'));
    render(<App />);
    await waitFor(() => expect(screen.getAllByTestId('month-total').length).toBe(2));
    expect(screen.getAllByTestId('month-total').map((row) => row.textContent)).toEqual([
      '2026年11月 合计 120.00 元 · 2 笔',
      '2026年10月 合计 200.00 元 · 1 笔',
    ]);
    expect(screen.getAllByTestId('record').length).toBe(5);
    // The pending amount of the card is what its records say is waiting for a swipe.
    expect(document.querySelector('.quick-card')!.textContent).toBe('北京交通大学威海校区张* · 学生卡 · 20230001待圈存 ¥100.00');
  });

  it('keeps the pending amount in step with the records, and the last known balance unless a newer one comes', async () => {
    await saveCard(card(), T0);
    await storeRecords(card().id, RECORDS, TOTALS, T0 + 1);
    expect(await getCard(card().id)).toMatchObject({ pending_fen: 10_000, balance_fen: 12_282, balance_as_of: T0, refreshed_at_ms: T0 + 1 });
    const claimed = RECORDS.map((record) => (record.status === 'pending_claim' ? { ...record, status: 'claimed' as const, claimed_at: T0 + 2 } : record));
    await storeRecords(card().id, claimed, TOTALS, T0 + 3, { balance_fen: 22_282, balance_as_of: T0 + 2 });
    expect(await getCard(card().id)).toMatchObject({ pending_fen: 0, balance_fen: 22_282, balance_as_of: T0 + 2, refreshed_at_ms: T0 + 3 });
  });

  it('says so when a card has no top-ups yet', () => {
    renderIn('en', <RecordsList records={[]} month_totals={[]} />);
    expect(screen.getByText('No top-ups yet.')).toBeTruthy();
  });
});

function card() {
  return {
    id: cardId('bjtu-weihai', '20230001'),
    card_token: 'token-1',
    school_id: 'bjtu-weihai',
    school_name: '北京交通大学威海校区',
    card_no: '20230001',
    holder_name_masked: '张*',
    kind: 'student' as const,
    balance_fen: 12_282,
    pending_fen: 0,
    balance_as_of: T0,
  };
}
