// The top-up form: the card number preview a user sees while typing, the amount rules
// against the school's maximum, and the school picker's city filter, search and index.
import { fireEvent, screen, waitFor } from '@testing-library/preact';
import { describe, expect, it } from 'vitest';
import type { School } from '../../protocol/api.ts';
import { MOBILE_PATTERN as PROTOCOL_MOBILE_PATTERN } from '../../protocol/api.ts';
import { cacheSchools } from '../../pwa/src/data/db.ts';
import { MOBILE_PATTERN } from '../../pwa/src/form.ts';
import { TopupForm } from '../../pwa/src/components/TopupForm.tsx';
import { attempt, loadSchools, startNewCardTopup } from '../../pwa/src/data/actions.ts';
import { AmountPicker } from '../../pwa/src/components/AmountPicker.tsx';
import { renderIn } from './render.tsx';
import { render } from '@testing-library/preact';
import { App } from '../../pwa/src/app.tsx';
import { useState } from 'preact/hooks';

const SCHOOLS: School[] = [
  { id: 'bjtu-weihai', name: '北京交通大学威海校区', city: '威海', initial: 'B', max_amount_fen: 100_000 },
  { id: 'hrbust-rongcheng', name: '哈尔滨理工大学(荣成)', city: '威海', initial: 'H', max_amount_fen: 100_000 },
  { id: 'whovc', name: '威海海洋职业学院', city: '威海', initial: 'W', max_amount_fen: 100_000 },
  { id: 'sdu-jinan', name: '山东大学', city: '济南', initial: 'S', max_amount_fen: 20_000 },
];

/** The form wired to the real actions, as the app wires it; no Worker listens in these tests. */
function Form(props: { online: boolean; onPay?: (pay_url: string) => void }) {
  return (
    <TopupForm
      online={props.online}
      onPay={props.onPay ?? (() => undefined)}
      loadSchools={() => attempt(loadSchools)}
      start={(input) => attempt(() => startNewCardTopup(input))}
    />
  );
}

function cardInput(): HTMLInputElement {
  return screen.getByLabelText('卡号') as HTMLInputElement;
}

describe('card number preview', () => {
  it('shows the number that will be matched, as the Worker normalises it', async () => {
    renderIn('zh', <Form online={true} />);
    const preview = screen.getByTestId('card-preview');
    const cases: [string, string][] = [
      ['SN：000999', '将充值到卡号：999'],
      ['sn:000999', '将充值到卡号：999'],
      ['F000999', '将充值到卡号：F000999'],
      ['  ２０２３０００１ ', '将充值到卡号：20230001'],
      ['t1001', '将充值到卡号：T1001'],
    ];
    for (const [typed, shown] of cases) {
      fireEvent.input(cardInput(), { target: { value: typed } });
      await waitFor(() => expect(preview.textContent).toBe(shown));
    }
    fireEvent.input(cardInput(), { target: { value: '2023#0001' } });
    await waitFor(() => expect(preview.textContent).toBe('卡号只能由字母、数字和短横线组成，最多 32 位。'));
    expect(cardInput().getAttribute('aria-invalid')).toBe('true');
  });

  it('gives a hint for the kind of card chosen', async () => {
    renderIn('en', <Form online={true} />);
    expect(screen.getByText(/Student card: your student number/)).toBeTruthy();
    fireEvent.click(screen.getByLabelText('Visitor'));
    await waitFor(() => expect(screen.getByText(/printed “SN：000999” → enter 999/)).toBeTruthy());
    fireEvent.click(screen.getByLabelText('Staff'));
    await waitFor(() => expect(screen.getByText(/your staff number, e.g. T1001/)).toBeTruthy());
  });

  it('keeps the mobile rule of the protocol', () => {
    expect(MOBILE_PATTERN.source).toBe(PROTOCOL_MOBILE_PATTERN.source);
  });
});

function Amount({ max_amount_fen }: { max_amount_fen: number }) {
  const [text, setText] = useState('100.00');
  return <AmountPicker text={text} onChange={setText} max_amount_fen={max_amount_fen} touched={false} />;
}

describe('amount', () => {
  it('defaults to 100.00 and refuses what the school does not allow', async () => {
    renderIn('zh', <Amount max_amount_fen={100_000} />);
    const input = screen.getByLabelText('其他金额（元）') as HTMLInputElement;
    expect(input.value).toBe('100.00');
    expect(screen.getByRole('button', { name: '100.00' }).getAttribute('aria-pressed')).toBe('true');
    expect(screen.queryByRole('alert')).toBeNull();

    const refusals: [string, string][] = [
      ['1000.01', '该校单笔最多充值 1000.00 元。'],
      ['12.345', '请输入金额，最多两位小数，如 100.00。'],
      ['0', '金额至少 0.01 元。'],
      ['-5', '请输入金额，最多两位小数，如 100.00。'],
      ['abc', '请输入金额，最多两位小数，如 100.00。'],
    ];
    for (const [typed, message] of refusals) {
      fireEvent.input(input, { target: { value: typed } });
      await waitFor(() => expect(screen.getByRole('alert').textContent).toBe(message));
    }
    fireEvent.input(input, { target: { value: '1000' } });
    await waitFor(() => expect(screen.queryByRole('alert')).toBeNull());
    fireEvent.click(screen.getByRole('button', { name: '50.00' }));
    await waitFor(() => expect(input.value).toBe('50.00'));
  });

  it('offers only presets within a lower school maximum', async () => {
    renderIn('en', <Amount max_amount_fen={20_000} />);
    const presets = screen.getAllByRole('button').map((button) => button.textContent);
    expect(presets).toEqual(['50.00', '100.00', '200.00']);
    fireEvent.input(screen.getByLabelText('Other amount (yuan)'), { target: { value: '300' } });
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('This school allows at most 200.00 yuan per top-up.'));
  });
});

describe('school picker', () => {
  it('filters by city and name, indexes by initial letter, and sets the school on the form', async () => {
    // No Worker listens here: the form falls back to the schools cached on the phone.
    await cacheSchools(SCHOOLS);
    renderIn('zh', <Form online={true} />);
    fireEvent.click(screen.getByRole('button', { name: /学校/ }));
    await waitFor(() => expect(screen.getByRole('dialog', { name: '选择学校' })).toBeTruthy(), { timeout: 5000 });
    await waitFor(() => expect(screen.getAllByRole('button', { name: /大学|学院/ }).length).toBe(4), { timeout: 5000 });

    const index = screen.getByRole('navigation', { name: '首字母索引' });
    expect([...index.querySelectorAll('a')].map((link) => link.textContent)).toEqual(['B', 'H', 'S', 'W']);

    fireEvent.change(screen.getByLabelText('城市'), { target: { value: '威海' } });
    await waitFor(() => expect(screen.queryByText('山东大学')).toBeNull());
    expect(screen.getAllByRole('button', { name: /威海|荣成/ }).length).toBe(3);

    fireEvent.input(screen.getByLabelText('搜索学校名称'), { target: { value: '海洋' } });
    await waitFor(() => expect(screen.queryByText('北京交通大学威海校区')).toBeNull());
    fireEvent.input(screen.getByLabelText('搜索学校名称'), { target: { value: '没有这所' } });
    await waitFor(() => expect(screen.getByText('没有找到学校')).toBeTruthy());

    fireEvent.change(screen.getByLabelText('城市'), { target: { value: '' } });
    fireEvent.input(screen.getByLabelText('搜索学校名称'), { target: { value: '山东' } });
    await waitFor(() => expect(screen.getByText('山东大学')).toBeTruthy());
    fireEvent.click(screen.getByText('山东大学'));

    await waitFor(() => expect(screen.getByText('山东大学')).toBeTruthy());
    expect(screen.queryByRole('dialog')).toBeNull();
    // The chosen school's lower maximum now governs the amount.
    expect(screen.queryByRole('button', { name: '300.00' })).toBeNull();
  });

  it('explains what is missing when the form is sent incomplete', async () => {
    let paid = '';
    renderIn('zh', <Form online={true} onPay={(url) => (paid = url)} />);
    fireEvent.click(screen.getByRole('button', { name: /充值 ¥100.00/ }));
    await waitFor(() => expect(screen.getByText('请先阅读并同意充值服务协议。')).toBeTruthy());
    expect(screen.getByText('请输入持卡人姓名')).toBeTruthy();
    expect(screen.getByText('请输入卡号')).toBeTruthy();
    expect(paid).toBe('');
  });

  it('keeps the form and says so when the Worker cannot be reached', async () => {
    await cacheSchools(SCHOOLS);
    let paid = '';
    renderIn('zh', <Form online={true} onPay={(url) => (paid = url)} />);
    fireEvent.click(screen.getByRole('button', { name: /学校/ }));
    fireEvent.click(await screen.findByText('北京交通大学威海校区'));
    fireEvent.input(screen.getByLabelText('持卡人姓名'), { target: { value: '张三' } });
    fireEvent.input(cardInput(), { target: { value: '20230001' } });
    fireEvent.click(screen.getByLabelText(/我已阅读并同意/));
    fireEvent.click(screen.getByRole('button', { name: '充值 ¥100.00' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('无法完成：网络连接失败，请检查网络后重试。'));
    expect(paid).toBe('');
    expect((screen.getByLabelText('持卡人姓名') as HTMLInputElement).value).toBe('张三');
    expect((screen.getByRole('button', { name: '充值 ¥100.00' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('links the terms page and keeps what was typed when coming back', async () => {
    history.replaceState(null, '', '/topup');
    render(<App />);
    fireEvent.input(await screen.findByLabelText('持卡人姓名'), { target: { value: '李小红' } });
    fireEvent.input(cardInput(), { target: { value: 'SN：000999' } });
    fireEvent.click(screen.getByRole('link', { name: '《一卡通充值服务协议》' }));
    await waitFor(() => expect(screen.getByRole('heading', { name: '一卡通充值服务协议' })).toBeTruthy());
    expect(location.pathname).toBe('/terms');
    expect(screen.getByText(/未支付的订单在 15 分钟后自动关闭/)).toBeTruthy();
    history.back();
    await waitFor(() => expect((screen.getByLabelText('持卡人姓名') as HTMLInputElement).value).toBe('李小红'));
    expect(screen.getByTestId('card-preview').textContent).toBe('将充值到卡号：999');
  });

  it('disables paying offline and says why', async () => {
    renderIn('zh', <Form online={false} />);
    const submit = screen.getByRole('button', { name: /充值/ , description: '当前离线，无法支付。联网后即可充值。' });
    expect((submit as HTMLButtonElement).disabled).toBe(true);
  });
});
