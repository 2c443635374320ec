// 挂失 (report lost) of a saved card from the phone: behind a confirmation whose safe choice has
// the focus, the card shown as 已挂失 afterwards with no way to top it up; a failure says why and
// leaves the card as it was. The Worker's side is test/worker/report-lost.test.ts; the whole path
// in Chromium is a step of test/pwa/e2e.test.ts.
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { describe, expect, it } from 'vitest';
import { App } from '../../pwa/src/app.tsx';
import { Home } from '../../pwa/src/components/Home.tsx';
import { cardId, getCard, listCards, saveCard, setCardStatus, type SavedCard } from '../../pwa/src/data/db.ts';
import { renderIn } from './render.tsx';

const T0 = Date.UTC(2026, 10, 20, 2, 0);
const ID = cardId('bjtu-weihai', '20230001');

async function seedCard(): Promise<void> {
  await saveCard(
    {
      id: ID,
      card_token: 'token-1',
      school_id: 'bjtu-weihai',
      school_name: '北京交通大学威海校区',
      card_no: '20230001',
      holder_name_masked: '张*',
      kind: 'student',
      balance_fen: 12_282,
      pending_fen: 300,
      balance_as_of: T0,
    },
    T0,
  );
}

/** Home over the real Dexie store, re-rendered from it after every change, as the app's live query does. */
async function renderHome(lang: 'zh' | 'en', onReportLost: (card: SavedCard) => Promise<string | null>) {
  const view = renderIn(lang, <Home cards={await listCards()} online onReportLost={onReportLost} />);
  return {
    rerender: async () => view.rerender(<Home cards={await listCards()} online onReportLost={onReportLost} />),
  };
}

describe('挂失 of a saved card', () => {
  it('asks first, with the focus on keeping the card; cancelling changes nothing', async () => {
    await seedCard();
    const asked: string[] = [];
    await renderHome('zh', async (card) => {
      asked.push(card.id);
      return null;
    });
    fireEvent.click(screen.getByRole('button', { name: '挂失 北京交通大学威海校区 张* 20230001' }));
    const dialog = screen.getByRole('alertdialog', { name: '确认挂失这张卡？' });
    expect(dialog.getAttribute('aria-describedby')).toBeTruthy();
    expect(within(dialog).getByText(/只有学校卡务中心可以解除挂失/)).toBeTruthy();
    expect(document.activeElement?.textContent).toBe('不挂失');
    fireEvent.click(within(dialog).getByRole('button', { name: '不挂失' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(asked).toEqual([]);
    expect((await getCard(ID))?.status).toBeUndefined();
  });

  it('shows the card as 已挂失 after the confirmation, with no top-up and no second 挂失', async () => {
    await seedCard();
    const asked: string[] = [];
    const home = await renderHome('zh', async (card) => {
      asked.push(card.id);
      // What reportCardLost does once the Worker answered: the phone's copy says lost.
      await setCardStatus(card.id, 'lost');
      return null;
    });
    expect(screen.getByRole('link', { name: '充值' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: /^挂失 / }));
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: '确认挂失' }));
    await waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
    expect(asked).toEqual([ID]);
    await home.rerender();
    const card = screen.getByRole('article', { name: '北京交通大学威海校区 张*' });
    expect(within(card).getByText('已挂失')).toBeTruthy();
    expect(within(card).getByText(/这张卡已挂失，不能充值/)).toBeTruthy();
    expect(within(card).queryByRole('link', { name: '充值' })).toBeNull();
    expect(within(card).queryByRole('button', { name: /挂失/ })).toBeNull();
    // Records stay readable: the money already paid is still there to see.
    expect(within(card).getByRole('link', { name: '充值记录' })).toBeTruthy();
  });

  it('shows a replaced (closed) card as 已注销, pointing to the new card, with neither top-up nor 挂失', async () => {
    await seedCard();
    await setCardStatus(ID, 'closed');
    await renderHome('zh', async () => null);
    const card = screen.getByRole('article', { name: '北京交通大学威海校区 张*' });
    expect(within(card).getByText('已注销')).toBeTruthy();
    expect(within(card).getByText(/待圈存的钱已转到新卡/)).toBeTruthy();
    expect(within(card).queryByRole('link', { name: '充值' })).toBeNull();
    expect(within(card).queryByRole('button', { name: /挂失/ })).toBeNull();
  });

  it('keeps the dialog and says why when the report fails, in English too', async () => {
    await seedCard();
    await renderHome('en', async () => 'rate_limited');
    fireEvent.click(screen.getByRole('button', { name: 'Report 北京交通大学威海校区 张* 20230001 lost' }));
    fireEvent.click(within(screen.getByRole('alertdialog', { name: 'Report this card lost?' })).getByRole('button', { name: 'Report lost' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('Too many attempts'));
    expect(screen.getByRole('alertdialog')).toBeTruthy();
    expect((await getCard(ID))?.status).toBeUndefined();
  });

  it('in the app, a report the Worker never received leaves the card active and says the network failed', async () => {
    await seedCard();
    render(<App />);
    await waitFor(() => expect(screen.getByText('北京交通大学威海校区')).toBeTruthy());
    fireEvent.click(screen.getByRole('button', { name: /^挂失 / }));
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: '确认挂失' }));
    // The component tests' API origin is a closed port: the request cannot reach anything.
    await waitFor(() => expect(within(screen.getByRole('alertdialog')).getByRole('alert').getAttribute('data-code')).toBe('network'));
    expect((await getCard(ID))?.status).toBeUndefined();
    expect(screen.getByRole('link', { name: '充值' })).toBeTruthy();
  });
});
