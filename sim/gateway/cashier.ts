// The cashier pages a payer sees on the simulated gateway (Chinese, as Alipay's own): the
// trade's amount and subject with 确认付款 / 取消 buttons, and short result pages.
import { fenToYuan } from '../../protocol/money.ts';
import type { AlipayTrade } from './alipay.ts';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function page(title: string, main: string): string {
  return `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - 支付宝（模拟）</title>
<style>
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f5f5f5;color:#333}
header{background:#1677ff;color:#fff;padding:12px 16px;font-size:18px}
main{background:#fff;margin:16px;padding:20px;border-radius:8px;text-align:center}
.amount{font-size:36px;font-weight:600;margin:12px 0}
.subject{color:#666;margin-bottom:24px;word-break:break-all}
button{display:block;width:100%;padding:12px;margin:8px 0;font-size:17px;border-radius:6px;border:1px solid #1677ff}
button.pay{background:#1677ff;color:#fff}
button.cancel{background:#fff;color:#1677ff}
small{color:#999}
</style>
</head>
<body>
<header>支付宝 · 模拟收银台</header>
<main>
${main}
</main>
</body>
</html>
`;
}

export function cashierPage(trade: AlipayTrade): string {
  const no = escapeHtml(trade.out_trade_no);
  return page(
    '确认付款',
    `<div class="subject" data-testid="subject">${escapeHtml(trade.subject)}</div>
<div class="amount" data-testid="amount">¥${fenToYuan(trade.total_amount_fen)}</div>
<form method="post" action="/cashier/pay"><input type="hidden" name="out_trade_no" value="${no}"><button class="pay" type="submit">确认付款</button></form>
<form method="post" action="/cashier/cancel"><input type="hidden" name="out_trade_no" value="${no}"><button class="cancel" type="submit">取消</button></form>
<small>订单号 ${no}</small>`,
  );
}

/** A result or error page; `back_url` (the merchant's return_url) gets a link back. */
export function messagePage(title: string, detail: string, back_url: string | null = null): string {
  const back = back_url === null ? '' : `<p><a href="${escapeHtml(back_url)}">返回商户</a></p>`;
  return page(title, `<h2>${escapeHtml(title)}</h2><p>${escapeHtml(detail)}</p>${back}`);
}
