// The WeChat Pay trade bill as `GET /v3/bill/tradebill` leads to it: UTF-8 CSV whose data
// fields each begin with a backtick, one row per payment (交易状态 SUCCESS, on the day it
// succeeded) and per refund (REFUND, on the day it was initiated, with the status it had then:
// the row never changes afterwards), then the totals header and line. The simulated fee is the
// same 0.6% as the Alipay sandbox's, returned pro rata on refunds.
import { chinaDayStartMs, formatChinaTime } from '../../protocol/alipay.ts';
import { fenToYuan } from '../../protocol/money.ts';
import { serviceFeeFen } from './bill.ts';

export const WECHAT_BILL_HEADER = [
  '交易时间', '公众账号ID', '商户号', '特约商户号', '设备号', '微信订单号', '商户订单号', '用户标识', '交易类型', '交易状态',
  '付款银行', '货币种类', '应结订单金额', '代金券金额', '微信退款单号', '商户退款单号', '退款金额', '充值券退款金额', '退款类型',
  '退款状态', '商品名称', '商户数据包', '手续费', '费率', '订单金额', '申请退款金额', '费率备注',
] as const;
const TOTALS_HEADER = ['总交易单数', '应结订单总金额', '退款总金额', '充值券退款总金额', '手续费总金额', '订单总金额', '申请退款总金额'] as const;
const BILL_ROWS_MAX = 100_000;

export interface WechatBillTrade {
  appid: string;
  mchid: string;
  out_trade_no: string;
  transaction_id: string | null;
  openid: string;
  trade_type: string;
  description: string;
  attach: string;
  amount_fen: number;
  success_time_ms: number | null;
  refunds: { refund_id: string; out_refund_no: string; refund_fen: number; created_at_ms: number; initial_status: string }[];
}

function signedYuan(amount_fen: number): string {
  return amount_fen < 0 ? `-${fenToYuan(-amount_fen)}` : fenToYuan(amount_fen);
}

/** WeChat Pay prints fees with five decimals. */
function fee(amount_fen: number): string {
  return `${signedYuan(amount_fen)}000`;
}

function field(value: string): string {
  const text = `\`${value}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The bill of China calendar day `bill_date`, or null when the day had no trade (NO_STATEMENT_EXIST). */
export function buildWechatBill(trades: Iterable<WechatBillTrade>, bill_date: string): string | null {
  const start_ms = chinaDayStartMs(bill_date);
  if (start_ms === null) throw new RangeError(`not a date: ${bill_date}`);
  const end_ms = start_ms + 86_400_000;
  const rows: { at_ms: number; cells: string[] }[] = [];
  let settled_fen = 0;
  let refunded_fen = 0;
  let fee_fen = 0;
  let ordered_fen = 0;
  let asked_fen = 0;
  for (const trade of trades) {
    const common = (at_ms: number) => [formatChinaTime(at_ms), trade.appid, trade.mchid, '0', '', trade.transaction_id ?? '', trade.out_trade_no, trade.openid, trade.trade_type];
    if (trade.success_time_ms !== null && trade.success_time_ms >= start_ms && trade.success_time_ms < end_ms) {
      const f = serviceFeeFen(trade.amount_fen);
      settled_fen += trade.amount_fen;
      ordered_fen += trade.amount_fen;
      fee_fen += f;
      rows.push({
        at_ms: trade.success_time_ms,
        cells: [...common(trade.success_time_ms), 'SUCCESS', 'OTHERS', 'CNY', fenToYuan(trade.amount_fen), '0.00', '0', '0', '0.00', '0.00', '', '',
          trade.description, trade.attach, fee(f), '0.60%', fenToYuan(trade.amount_fen), '0.00', ''],
      });
    }
    for (const refund of trade.refunds) {
      if (refund.created_at_ms < start_ms || refund.created_at_ms >= end_ms) continue;
      const f = -serviceFeeFen(refund.refund_fen);
      refunded_fen += refund.refund_fen;
      asked_fen += refund.refund_fen;
      fee_fen += f;
      rows.push({
        at_ms: refund.created_at_ms,
        cells: [...common(refund.created_at_ms), 'REFUND', 'OTHERS', 'CNY', '0.00', '0.00', refund.refund_id, refund.out_refund_no, fenToYuan(refund.refund_fen),
          '0.00', 'ORIGINAL', refund.initial_status, trade.description, trade.attach, fee(f), '0.60%', fenToYuan(trade.amount_fen), fenToYuan(refund.refund_fen), ''],
      });
    }
    if (rows.length > BILL_ROWS_MAX) throw new RangeError('bill too large');
  }
  if (rows.length === 0) return null;
  rows.sort((a, b) => a.at_ms - b.at_ms);
  const lines = [WECHAT_BILL_HEADER.join(','), ...rows.map((row) => row.cells.map(field).join(','))];
  lines.push(TOTALS_HEADER.join(','));
  lines.push([String(rows.length), fenToYuan(settled_fen), fenToYuan(refunded_fen), '0.00', fee(fee_fen), fenToYuan(ordered_fen), fenToYuan(asked_fen)].map(field).join(','));
  return lines.join('\r\n') + '\r\n';
}
