// Alipay's `trade` bill as `bill_download_url` serves it: a zip (unpacked with fflate) holding
// two GBK CSV files, the detail (…_业务明细.csv, 25 columns, every field padded with a tab so
// spreadsheets keep ids as text) and the summary (…_业务明细(汇总).csv), both wrapped in `#`
// comment lines. Refunds are negative rows carrying their out_request_no. The summary's
// 合计 line must equal the detail's sums, or the file is refused.
import { unzipSync } from 'fflate';
import { parseChinaTime } from '../../protocol/alipay.ts';
import { BILL_BYTES_MAX, BILL_ROWS_MAX, BillFormatError, columnsOf, csvRecords, signedYuanToFen, type Bill, type BillRow } from './bill.ts';

export const ALIPAY_DETAIL_COLUMNS = 25;
const DETAIL_NAMES = [
  '支付宝交易号', '商户订单号', '业务类型', '商品名称', '完成时间', '商家实收（元）', '退款批次号/请求号', '服务费（元）',
] as const;
const SUMMARY_NAMES = ['门店编号', '交易订单总笔数', '退款订单总笔数', '商家实收（元）', '服务费（元）'] as const;
// The summary's income column is 已收入金额（元） in some exports and 商家实收（元） in others.
const SUMMARY_INCOME_NAMES = ['商家实收（元）', '已收入金额（元）'] as const;

function gbk(bytes: Uint8Array, name: string): string {
  try {
    return new TextDecoder('gbk', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new BillFormatError(`${name} is not GBK text`);
  }
}

export function parseAlipayBill(zip: Uint8Array, bill_date: string): Bill {
  if (zip.byteLength > BILL_BYTES_MAX) throw new BillFormatError(`bill of ${zip.byteLength} bytes`);
  let files: Record<string, Uint8Array>;
  try {
    // Only the two CSV files are inflated; a zip bomb of other entries is never expanded.
    files = unzipSync(zip, { filter: (file) => file.name.endsWith('.csv') && file.originalSize <= BILL_BYTES_MAX });
  } catch (error) {
    throw new BillFormatError(`not a zip: ${String(error).slice(0, 120)}`);
  }
  const names = Object.keys(files);
  const day = bill_date.replace(/-/g, '');
  const detail_name = names.find((n) => n.includes(day) && n.endsWith('_业务明细.csv'));
  const summary_name = names.find((n) => n.includes(day) && n.endsWith('_业务明细(汇总).csv'));
  if (detail_name === undefined || summary_name === undefined) throw new BillFormatError(`zip without the detail and summary of ${bill_date}: ${names.join(', ').slice(0, 200)}`);

  const detail = csvRecords(gbk(files[detail_name]!, detail_name), { comments: true });
  const header = detail[0];
  if (header === undefined || header.length !== ALIPAY_DETAIL_COLUMNS) throw new BillFormatError(`detail header of ${header?.length ?? 0} columns`);
  const col = columnsOf(header, DETAIL_NAMES, 'detail');
  if (detail.length - 1 > BILL_ROWS_MAX) throw new BillFormatError(`detail of ${detail.length - 1} rows`);
  const rows: BillRow[] = [];
  for (const [index, record] of detail.slice(1).entries()) {
    const where = `detail row ${index + 1}`;
    if (record.length !== ALIPAY_DETAIL_COLUMNS) throw new BillFormatError(`${where}: ${record.length} columns`);
    const kind = record[col['业务类型']];
    const amount_fen = signedYuanToFen(record[col['商家实收（元）']]!, `${where} 商家实收`);
    const fee_fen = -signedYuanToFen(record[col['服务费（元）']]!, `${where} 服务费`);
    const at_ms = parseChinaTime(record[col['完成时间']]!);
    if (at_ms === null) throw new BillFormatError(`${where}: 完成时间 ${record[col['完成时间']]}`);
    const base = { order_id: record[col['商户订单号']]!, provider_trade_no: record[col['支付宝交易号']]!, fee_fen, at_ms, subject: record[col['商品名称']]! };
    if (kind === '交易') {
      if (amount_fen <= 0) throw new BillFormatError(`${where}: payment of ${amount_fen} fen`);
      rows.push({ ...base, kind: 'payment', refund_id: null, amount_fen, refund_done: false });
    } else if (kind === '退款') {
      const refund_id = record[col['退款批次号/请求号']]!;
      if (amount_fen >= 0 || refund_id === '') throw new BillFormatError(`${where}: refund of ${amount_fen} fen, request ${refund_id}`);
      rows.push({ ...base, kind: 'refund', refund_id, amount_fen: -amount_fen, refund_done: true });
    } else {
      throw new BillFormatError(`${where}: 业务类型 ${String(kind).slice(0, 10)}`);
    }
  }

  // The summary's 合计 line must agree with the detail we read, row count and money.
  const summary = csvRecords(gbk(files[summary_name]!, summary_name), { comments: true });
  const total = summary.find((record) => record[0] === '合计');
  const summary_header = summary[0];
  const scol = columnsOf(summary_header, SUMMARY_NAMES.filter((n) => n !== '商家实收（元）'), 'summary');
  const income_name = SUMMARY_INCOME_NAMES.find((n) => summary_header!.includes(n));
  if (total === undefined || income_name === undefined) throw new BillFormatError('summary without its 合计 line');
  const paid = rows.filter((r) => r.kind === 'payment');
  const refunded = rows.filter((r) => r.kind === 'refund');
  const income_fen = paid.reduce((s, r) => s + r.amount_fen, 0) - refunded.reduce((s, r) => s + r.amount_fen, 0);
  const fee_fen = rows.reduce((s, r) => s + r.fee_fen, 0);
  const expected = [
    [Number(total[scol['交易订单总笔数']]), paid.length, '交易订单总笔数'],
    [Number(total[scol['退款订单总笔数']]), refunded.length, '退款订单总笔数'],
    [signedYuanToFen(total[summary_header!.indexOf(income_name)]!, 'summary income'), income_fen, income_name],
    [-signedYuanToFen(total[scol['服务费（元）']]!, 'summary fee'), fee_fen, '服务费'],
  ] as const;
  for (const [stated, computed, name] of expected) {
    if (stated !== computed) throw new BillFormatError(`summary ${name} ${stated} disagrees with the detail's ${computed}`);
  }
  return { channel: 'alipay', bill_date, rows };
}
