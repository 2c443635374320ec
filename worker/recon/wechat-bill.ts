// WeChat Pay's trade bill (`GET /v3/bill/tradebill?bill_date=&bill_type=ALL`): a UTF-8 CSV in
// which every data field begins with a backtick (so spreadsheets keep ids as text), a header
// line, one line per payment (交易状态 SUCCESS) or refund (REFUND, with 商户退款单号 and the
// refund's status as it was initiated: the row never changes after), then a totals header
// (总交易单数, …) and its line. The file is believed only once its SHA-1 equals the hash the
// signed tradebill answer gave (checked by the caller, sha1Hex below); the totals must then
// equal the rows' sums.
import { parseChinaTime } from '../../protocol/alipay.ts';
import { BILL_BYTES_MAX, BILL_ROWS_MAX, BillFormatError, columnsOf, csvRecords, signedYuanToFen, type Bill, type BillRow } from './bill.ts';

const DETAIL_NAMES = [
  '交易时间', '商户号', '微信订单号', '商户订单号', '交易状态', '应结订单金额', '商户退款单号', '退款金额', '退款状态', '商品名称', '手续费',
] as const;
const TOTAL_NAMES = ['总交易单数', '应结订单总金额', '退款总金额', '手续费总金额'] as const;

export async function sha1Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', bytes.slice()));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function unquote(field: string): string {
  return field.startsWith('`') ? field.slice(1).trim() : field;
}

export function parseWechatBill(bytes: Uint8Array, bill_date: string, mch_id: string): Bill {
  if (bytes.byteLength > BILL_BYTES_MAX) throw new BillFormatError(`bill of ${bytes.byteLength} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new BillFormatError('bill is not UTF-8');
  }
  const records = csvRecords(text, { comments: false }).map((record) => record.map(unquote));
  const col = columnsOf(records[0], DETAIL_NAMES, 'header');
  const totals_at = records.findIndex((record) => record[0] === '总交易单数');
  if (totals_at < 1 || records[totals_at + 1] === undefined) throw new BillFormatError('bill without its totals');
  const data = records.slice(1, totals_at);
  if (data.length > BILL_ROWS_MAX) throw new BillFormatError(`bill of ${data.length} rows`);
  const width = records[0]!.length;
  const rows: BillRow[] = [];
  let settled_fen = 0;
  let refunded_fen = 0;
  for (const [index, record] of data.entries()) {
    const where = `row ${index + 1}`;
    if (record.length !== width) throw new BillFormatError(`${where}: ${record.length} columns, header has ${width}`);
    if (record[col['商户号']] !== mch_id) throw new BillFormatError(`${where}: merchant ${String(record[col['商户号']]).slice(0, 16)}`);
    const at_ms = parseChinaTime(record[col['交易时间']]!);
    if (at_ms === null) throw new BillFormatError(`${where}: 交易时间 ${record[col['交易时间']]}`);
    const fee_fen = signedYuanToFen(record[col['手续费']]!, `${where} 手续费`);
    const base = { order_id: record[col['商户订单号']]!, provider_trade_no: record[col['微信订单号']]!, fee_fen, at_ms, subject: record[col['商品名称']]! };
    const state = record[col['交易状态']];
    if (state === 'SUCCESS') {
      const amount_fen = signedYuanToFen(record[col['应结订单金额']]!, `${where} 应结订单金额`);
      if (amount_fen <= 0) throw new BillFormatError(`${where}: payment of ${amount_fen} fen`);
      settled_fen += amount_fen;
      rows.push({ ...base, kind: 'payment', refund_id: null, amount_fen, refund_done: false });
    } else if (state === 'REFUND') {
      const amount_fen = signedYuanToFen(record[col['退款金额']]!, `${where} 退款金额`);
      const refund_id = record[col['商户退款单号']]!;
      if (amount_fen <= 0 || refund_id === '') throw new BillFormatError(`${where}: refund of ${amount_fen} fen, ${refund_id}`);
      refunded_fen += amount_fen;
      rows.push({ ...base, kind: 'refund', refund_id, amount_fen, refund_done: record[col['退款状态']] === 'SUCCESS' });
    } else {
      throw new BillFormatError(`${where}: 交易状态 ${String(state).slice(0, 16)}`);
    }
  }
  const tcol = columnsOf(records[totals_at], TOTAL_NAMES, 'totals');
  const totals = records[totals_at + 1]!;
  const checks = [
    [Number(totals[tcol['总交易单数']]), rows.length, '总交易单数'],
    [signedYuanToFen(totals[tcol['应结订单总金额']]!, '应结订单总金额'), settled_fen, '应结订单总金额'],
    [signedYuanToFen(totals[tcol['退款总金额']]!, '退款总金额'), refunded_fen, '退款总金额'],
    [signedYuanToFen(totals[tcol['手续费总金额']]!, '手续费总金额'), rows.reduce((s, r) => s + r.fee_fen, 0), '手续费总金额'],
  ] as const;
  for (const [stated, computed, name] of checks) {
    if (stated !== computed) throw new BillFormatError(`totals ${name} ${stated} disagree with the rows' ${computed}`);
  }
  return { channel: 'wechat', bill_date, rows };
}
