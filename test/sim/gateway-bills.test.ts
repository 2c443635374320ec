// The simulated gateway's daily bills and refund follow-ups, in the providers' own formats, read
// by the Worker's production code from Node (worker/pay/*.ts and worker/recon/*.ts run on plain
// WebCrypto and fetch): Alipay's zip of two GBK CSV files with `#` comment lines and tab-padded
// fields; WeChat Pay's backtick CSV behind a signed SHA-1.
import { unzipSync } from 'fflate';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chinaDate } from '../../protocol/alipay.ts';
import { startGateway, type RunningGateway } from '../../sim/gateway/server.ts';
import { generateSandboxKeys, workerVars, type SandboxKeys } from '../../sim/keys.ts';
import { alipayChannelWith, alipayTradeBill, type AlipayConfig } from '../../worker/pay/alipay.ts';
import { ProviderError } from '../../worker/pay/channel.ts';
import { wechatChannel, wechatTradeBill, type WechatVars } from '../../worker/pay/wechat.ts';
import { ALIPAY_DETAIL_COLUMNS, parseAlipayBill } from '../../worker/recon/alipay-bill.ts';
import { parseWechatBill } from '../../worker/recon/wechat-bill.ts';

let keys: SandboxKeys;
let gateway: RunningGateway;
let alipay: AlipayConfig;
let wechat: WechatVars;
let sequence = 0;
const SUBJECT = '山东大学（威海） 校园卡充值';

function orderId(): string {
  sequence += 1;
  return `Y${Date.now()}BILL${String(sequence).padStart(4, '0')}`;
}

async function control(path: string, body: unknown = {}): Promise<any> {
  const response = await fetch(`${gateway.origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  expect(response.status, text).toBeLessThan(300);
  return JSON.parse(text);
}

beforeAll(async () => {
  keys = await generateSandboxKeys();
  gateway = await startGateway({ config: { keys, notify_retry_schedule_ms: [0] }, port: 0 });
  const vars = workerVars(keys, gateway.origin);
  alipay = { app_id: vars.ALIPAY_APP_ID!, seller_id: vars.ALIPAY_SELLER_ID!, gateway: vars.ALIPAY_GATEWAY!, private_key: vars.ALIPAY_PRIVATE_KEY!, public_key: vars.ALIPAY_PUBLIC_KEY! };
  wechat = vars;
});

afterAll(async () => {
  await gateway?.close();
});

describe('Alipay trade bill', () => {
  it('is a zip of the 业务明细 and 汇总 GBK files, # comments, 25 tab-padded columns, refunds negative with their request number', async () => {
    const channel = alipayChannelWith(alipay);
    const paid = orderId();
    const refunded = orderId();
    for (const [order_id, amount_fen] of [[paid, 1_000], [refunded, 2_500]] as const) {
      const { pay_url } = await channel.createPayment({ order_id, amount_fen, subject: SUBJECT, expires_at_ms: Date.now() + 900_000 }, { notify_url: 'http://127.0.0.1:9/n', return_url: 'http://127.0.0.1:9/r' });
      expect((await fetch(pay_url)).status).toBe(200);
      await control(`/sim/alipay/trades/${order_id}/pay`);
    }
    const refund = { order_id: refunded, refund_id: `R${refunded.slice(1)}`, amount_fen: 2_500, total_fen: 2_500 };
    expect(await channel.refund(refund)).toMatchObject({ state: 'succeeded' });
    expect(await channel.queryRefund(refund)).toMatchObject({ state: 'succeeded', bill_at_ms: expect.any(Number) });
    expect(await channel.queryRefund({ ...refund, refund_id: 'R-never-made' })).toEqual({ state: 'not_found' });

    const date = chinaDate(Date.now());
    const zip = (await alipayTradeBill(alipay, date))!;
    const files = unzipSync(zip);
    const day = date.replace(/-/g, '');
    const names = Object.keys(files).sort();
    expect(names).toEqual([`${keys.alipay.seller_id}_${day}_业务明细(汇总).csv`, `${keys.alipay.seller_id}_${day}_业务明细.csv`]);
    const detail = iconv.decode(Buffer.from(files[`${keys.alipay.seller_id}_${day}_业务明细.csv`]!), 'gbk');
    const lines = detail.split('\r\n').filter((line) => line.length > 0);
    expect(lines[0]).toBe('#支付宝业务明细查询');
    expect(lines.at(-1)).toMatch(/^#导出时间：\[/);
    const header = lines.find((line) => line.startsWith('支付宝交易号'))!;
    expect(header.split(',')).toHaveLength(ALIPAY_DETAIL_COLUMNS);
    const refund_line = lines.find((line) => line.includes(`${refunded}\t`) && line.includes('退款'))!;
    const cells = refund_line.split(',');
    expect(cells).toHaveLength(ALIPAY_DETAIL_COLUMNS);
    expect(cells.every((cell) => cell.endsWith('\t'))).toBe(true);
    expect(cells[12]).toBe('-25.00\t');
    expect(cells[21]).toBe(`${refund.refund_id}\t`);

    const bill = parseAlipayBill(zip, date);
    expect(bill.rows.filter((row) => row.order_id === paid)).toEqual([
      expect.objectContaining({ kind: 'payment', amount_fen: 1_000, fee_fen: 6, subject: SUBJECT, refund_id: null }),
    ]);
    expect(bill.rows.filter((row) => row.order_id === refunded)).toEqual([
      expect.objectContaining({ kind: 'payment', amount_fen: 2_500, fee_fen: 15 }),
      expect.objectContaining({ kind: 'refund', amount_fen: 2_500, fee_fen: -15, refund_id: refund.refund_id, refund_done: true }),
    ]);
    // A detail that disagrees with its summary is refused, never half-believed.
    const summary_name = `${keys.alipay.seller_id}_${day}_业务明细(汇总).csv`;
    const summary = iconv.decode(Buffer.from(files[summary_name]!), 'gbk').replace(/^合计,,(\d+)/m, (_m, n: string) => `合计,,${Number(n) + 1}`);
    const { zipSync } = await import('fflate');
    const altered = zipSync({ ...files, [summary_name]: new Uint8Array(iconv.encode(summary, 'gbk')) });
    expect(() => parseAlipayBill(altered, date)).toThrow(/summary 交易订单总笔数/);
  });
});

describe('WeChat Pay trade bill and refunds', () => {
  it('serves a backtick CSV whose SHA-1 the signed answer gives; refunds stay PROCESSING until finished', async () => {
    const channel = wechatChannel(wechat);
    const order_id = orderId();
    await channel.createPayment({ order_id, amount_fen: 1_800, subject: SUBJECT, expires_at_ms: Date.now() + 900_000 }, { notify_url: 'http://127.0.0.1:9/n', return_url: 'http://127.0.0.1:9/r' });
    await control(`/sim/wechat/trades/${order_id}/pay?send=0`);
    await control(`/sim/wechat/trades/${order_id}/refund-mode`, { status: 'PROCESSING' });
    const refund = { order_id, refund_id: `R${order_id.slice(1)}`, amount_fen: 1_800, total_fen: 1_800 };
    expect(await channel.refund(refund)).toMatchObject({ state: 'processing', bill_at_ms: expect.any(Number) });
    expect(await channel.queryRefund(refund)).toMatchObject({ state: 'processing' });
    const finished = await control(`/sim/wechat/refunds/${refund.refund_id}/finish?send=0`, { status: 'ABNORMAL' });
    expect(JSON.parse(finished.notification.body)).toMatchObject({ event_type: 'REFUND.ABNORMAL', resource: { original_type: 'refund' } });
    expect(await channel.queryRefund(refund)).toMatchObject({ state: 'failed', provider_status: 'ABNORMAL' });
    expect(await channel.queryRefund({ ...refund, refund_id: 'R-never-made' })).toEqual({ state: 'not_found' });

    const date = chinaDate(Date.now());
    const file = (await wechatTradeBill(wechat, date))!;
    const text = new TextDecoder().decode(file.bytes);
    const lines = text.split('\r\n').filter((line) => line.length > 0);
    expect(lines[0]!.startsWith('交易时间,公众账号ID,商户号')).toBe(true);
    const data = lines.filter((line) => line.includes(`\`${order_id}`));
    expect(data).toHaveLength(2);
    for (const line of data) expect(line.split(',').every((cell) => cell.startsWith('`'))).toBe(true);
    const bill = parseWechatBill(file.bytes, date, keys.wechat.mch_id);
    expect(bill.rows.filter((row) => row.order_id === order_id)).toEqual([
      expect.objectContaining({ kind: 'payment', amount_fen: 1_800, fee_fen: 11, subject: SUBJECT }),
      // The refund row keeps the status it was initiated with, whatever came after.
      expect.objectContaining({ kind: 'refund', amount_fen: 1_800, fee_fen: -11, refund_id: refund.refund_id, refund_done: false }),
    ]);

    await control(`/sim/wechat/bills/${date}/tamper`);
    await expect(wechatTradeBill(wechat, date)).rejects.toSatisfy((error: unknown) => error instanceof ProviderError && error.provider_code === 'bill_hash_mismatch');
  });
});
