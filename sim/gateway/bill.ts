// The daily trade bill as Alipay serves it from `bill_download_url`: a zip holding two GBK
// CSV files, the detail (业务明细) and the summary (业务明细(汇总)), each wrapped in `#`
// comment lines. Every field of a detail row ends in a tab, as Alipay pads them so spreadsheets
// keep them as text; a reader must trim every field.
import { zipSync } from 'fflate';
import iconv from 'iconv-lite';
import { chinaDayStartMs, formatChinaTime } from '../../protocol/alipay.ts';
import { fenToYuan } from '../../protocol/money.ts';
import type { AlipayTrade } from './alipay.ts';

// The simulated service fee: 0.6% of each payment, rounded to the fen, returned pro rata on
// refunds. Negative in the bill because it is taken from the merchant.
export const SERVICE_FEE_PER_MILLE = 6;
// A bill covers one day of one merchant; a sandbox never comes near this, a runaway loop would.
const BILL_ROWS_MAX = 100_000;

export const DETAIL_HEADER = [
  '支付宝交易号', '商户订单号', '业务类型', '商品名称', '创建时间', '完成时间', '门店编号', '门店名称', '操作员',
  '终端号', '对方账户', '订单金额（元）', '商家实收（元）', '支付宝红包（元）', '集分宝（元）', '支付宝优惠（元）',
  '商家优惠（元）', '券核销金额（元）', '券名称', '商家红包消费金额（元）', '卡消费金额（元）', '退款批次号/请求号',
  '服务费（元）', '分润（元）', '备注',
] as const;

export const SUMMARY_HEADER = [
  '门店编号', '门店名称', '交易订单总笔数', '退款订单总笔数', '已收入金额（元）', '支付宝红包（元）', '集分宝（元）',
  '支付宝优惠（元）', '商家优惠（元）', '卡消费金额（元）', '服务费（元）', '分润（元）', '实收净额（元）',
] as const;

/** Signed fen → "-1.23" / "1.23". */
function signedYuan(amount_fen: number): string {
  return amount_fen < 0 ? `-${fenToYuan(-amount_fen)}` : fenToYuan(amount_fen);
}

export function serviceFeeFen(amount_fen: number): number {
  return Math.round((amount_fen * SERVICE_FEE_PER_MILLE) / 1000);
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function chineseDateTime(at_ms: number): string {
  const [date, time] = formatChinaTime(at_ms).split(' ') as [string, string];
  const [y, m, d] = date.split('-');
  return `${y}年${m}月${d}日 ${time}`;
}

export function billFileName(pid: string, bill_date: string): string {
  return `${pid}_${bill_date.replace(/-/g, '')}.csv.zip`;
}

export interface BillInput {
  trades: readonly AlipayTrade[];
  bill_date: string;
  pid: string;
  now_ms: number;
}

export interface BillRow {
  trade: AlipayTrade;
  kind: '交易' | '退款';
  amount_fen: number;
  fee_fen: number;
  done_at_ms: number;
  out_request_no: string;
}

/** Payments and refunds completed within the China calendar day `bill_date`, in time order. */
export function billRows(trades: readonly AlipayTrade[], bill_date: string): BillRow[] {
  const start_ms = chinaDayStartMs(bill_date);
  if (start_ms === null) throw new RangeError(`not a date: ${bill_date}`);
  const end_ms = start_ms + 86_400_000;
  const rows: BillRow[] = [];
  for (const trade of trades) {
    if (trade.paid_at_ms !== null && trade.paid_at_ms >= start_ms && trade.paid_at_ms < end_ms) {
      const amount_fen = trade.total_amount_fen;
      rows.push({ trade, kind: '交易', amount_fen, fee_fen: -serviceFeeFen(amount_fen), done_at_ms: trade.paid_at_ms, out_request_no: '' });
    }
    for (const refund of trade.refunds) {
      if (refund.refunded_at_ms !== null && refund.refunded_at_ms >= start_ms && refund.refunded_at_ms < end_ms) {
        rows.push({
          trade,
          kind: '退款',
          amount_fen: -refund.amount_fen,
          fee_fen: serviceFeeFen(refund.amount_fen),
          done_at_ms: refund.refunded_at_ms,
          out_request_no: refund.out_request_no,
        });
      }
    }
    if (rows.length > BILL_ROWS_MAX) throw new RangeError('bill too large');
  }
  return rows.sort((a, b) => a.done_at_ms - b.done_at_ms);
}

function commentHeader(title: string, pid: string, start_ms: number): string[] {
  return [
    `#${title}`,
    // Alipay prints the account as the partner id with its 4-digit account suffix.
    `#账号：[${pid}0156]`,
    `#起始日期：[${chineseDateTime(start_ms)}]   终止日期：[${chineseDateTime(start_ms + 86_400_000)}]`,
  ];
}

export function detailCsv(input: BillInput, rows: readonly BillRow[]): string {
  const start_ms = chinaDayStartMs(input.bill_date)!;
  const lines = commentHeader('支付宝业务明细查询', input.pid, start_ms);
  lines.push('#-----------------------------------------业务明细列表----------------------------------------');
  lines.push(DETAIL_HEADER.join(','));
  for (const row of rows) {
    const zero = '0.00';
    // Alipay pads every field of a detail row with a tab, so a spreadsheet keeps 28-digit ids
    // (and amounts) as text; a reader must trim every field.
    lines.push(
      [
        row.trade.trade_no,
        row.trade.out_trade_no,
        row.kind,
        row.trade.subject,
        formatChinaTime(row.trade.created_at_ms),
        formatChinaTime(row.done_at_ms),
        '', '', '', '',
        row.trade.buyer_logon_id,
        signedYuan(row.amount_fen),
        signedYuan(row.amount_fen),
        zero, zero, zero, zero, zero, '', zero, zero,
        row.out_request_no,
        signedYuan(row.fee_fen),
        zero,
        '',
      ].map((field) => csvField(`${field}\t`)).join(','),
    );
  }
  const paid = rows.filter((r) => r.kind === '交易');
  const refunded = rows.filter((r) => r.kind === '退款');
  const sum = (list: readonly BillRow[]) => list.reduce((total, r) => total + r.amount_fen, 0);
  lines.push('#-----------------------------------------业务明细列表结束------------------------------------');
  lines.push(`#交易合计：${paid.length}笔，商家实收共${signedYuan(sum(paid))}元，商家优惠共0.00元`);
  lines.push(`#退款合计：${refunded.length}笔，商家实收退款共${signedYuan(sum(refunded))}元，商家优惠退款共0.00元`);
  lines.push(`#导出时间：[${chineseDateTime(input.now_ms)}]`);
  return lines.join('\r\n') + '\r\n';
}

export function summaryCsv(input: BillInput, rows: readonly BillRow[]): string {
  const start_ms = chinaDayStartMs(input.bill_date)!;
  const lines = commentHeader('支付宝业务汇总查询', input.pid, start_ms);
  lines.push('#-----------------------------------------业务汇总列表----------------------------------------');
  lines.push(SUMMARY_HEADER.join(','));
  const paid_count = rows.filter((r) => r.kind === '交易').length;
  const refund_count = rows.filter((r) => r.kind === '退款').length;
  const income_fen = rows.reduce((total, r) => total + r.amount_fen, 0);
  const fee_fen = rows.reduce((total, r) => total + r.fee_fen, 0);
  const zero = '0.00';
  const figures = [
    String(paid_count), String(refund_count), signedYuan(income_fen), zero, zero, zero, zero, zero,
    signedYuan(fee_fen), zero, signedYuan(income_fen + fee_fen),
  ];
  lines.push(['', '', ...figures].join(','));
  lines.push(['合计', '', ...figures].join(','));
  lines.push('#-----------------------------------------业务汇总列表结束------------------------------------');
  lines.push(`#导出时间：[${chineseDateTime(input.now_ms)}]`);
  return lines.join('\r\n') + '\r\n';
}

/** The zip served at the download URL. */
export function buildTradeBill(input: BillInput): Uint8Array {
  const rows = billRows(input.trades, input.bill_date);
  const day = input.bill_date.replace(/-/g, '');
  const gbk = (text: string) => new Uint8Array(iconv.encode(text, 'gbk'));
  return zipSync({
    [`${input.pid}_${day}_业务明细.csv`]: gbk(detailCsv(input, rows)),
    [`${input.pid}_${day}_业务明细(汇总).csv`]: gbk(summaryCsv(input, rows)),
  });
}
