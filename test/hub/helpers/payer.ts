// A payer on a phone: creates a top-up at the Worker and pays it at the simulated cashier
// the way a browser would (open pay_url, submit its pay form).
import type { RechargeCreated, RechargeRecord } from '../../../protocol/api.ts';

function decodeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[entity]!);
}

export async function pressPay(pay_url: string): Promise<void> {
  const page = await fetch(pay_url, { redirect: 'follow', signal: AbortSignal.timeout(15_000) });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`cashier page ${page.status}: ${html.slice(0, 300)}`);
  for (const match of html.matchAll(/<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const action = new URL(decodeHtml(match[1]!), page.url);
    if (!action.pathname.endsWith('/pay')) continue;
    const fields = new URLSearchParams();
    for (const input of match[2]!.matchAll(/<input\b[^>]*>/g)) {
      const name = /\bname="([^"]*)"/.exec(input[0])?.[1];
      const value = /\bvalue="([^"]*)"/.exec(input[0])?.[1] ?? '';
      if (name !== undefined) fields.append(decodeHtml(name), decodeHtml(value));
    }
    const paid = await fetch(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fields.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
    await paid.body?.cancel();
    if (paid.status >= 400) throw new Error(`cashier pay answered ${paid.status}`);
    return;
  }
  throw new Error(`no pay form on the cashier page:\n${html.slice(0, 500)}`);
}

export async function recharge(worker_url: string, order_id: string): Promise<RechargeRecord> {
  const response = await fetch(`${worker_url}/api/v1/recharges/${order_id}`, { signal: AbortSignal.timeout(15_000) });
  if (response.status !== 200) throw new Error(`recharge ${order_id}: ${response.status}`);
  return (await response.json()) as RechargeRecord;
}

/** Polls (bounded) until the order reaches `status`. */
export async function waitForStatus(worker_url: string, order_id: string, status: string, timeout_ms: number): Promise<RechargeRecord> {
  const deadline_ms = Date.now() + timeout_ms;
  let last: RechargeRecord | null = null;
  while (Date.now() < deadline_ms) {
    last = await recharge(worker_url, order_id);
    if (last.status === status) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`order ${order_id} not ${status} within ${timeout_ms} ms; last: ${JSON.stringify(last)}`);
}

/** Creates an unpaid Alipay top-up; returns its order id and cashier URL. */
export async function createTopUp(
  worker_url: string,
  card: { school_id: string; name: string; card_no: string },
  amount_fen: number,
): Promise<RechargeCreated> {
  const response = await fetch(`${worker_url}/api/v1/recharges`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...card, amount_fen, channel: 'alipay', agree_terms: true }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST /api/v1/recharges ${response.status}: ${text}`);
  return JSON.parse(text) as RechargeCreated;
}

/** Creates and pays a top-up; resolves once the Worker has it as pending_claim. */
export async function payTopUp(
  worker_url: string,
  card: { school_id: string; name: string; card_no: string },
  amount_fen: number,
): Promise<{ order_id: string; paid_at_ms: number }> {
  const created = await createTopUp(worker_url, card, amount_fen);
  await pressPay(created.pay_url);
  await waitForStatus(worker_url, created.order_id, 'pending_claim', 20_000);
  return { order_id: created.order_id, paid_at_ms: Date.now() };
}
