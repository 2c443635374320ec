// Paid → claimable at the hub (issues 3 and 11): the real Worker (`wrangler dev`) and gateway
// started as `npm start` starts them, a hub synced with it (push channel + the default 5 s
// poll), and a payer paying top-ups one after another. Measured from pressing "pay" at the
// cashier to the first swipe that is offered the load (the terminal swipes every 20 ms).
//
// Every sample over a second gets its reason from the timeline of that top-up: the gateway's
// delivery log (was the notification answered the first time, or retried?), the push
// messages the hub received and what woke the sync round that applied the credit (the hub's
// own log: push, poll, a commit, a retry).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startCampus } from '../scripts/start.ts';
import { HubHarness } from '../test/hub/helpers/hub.ts';
import { createTopUp, pressPay } from '../test/hub/helpers/payer.ts';

const SCHOOL_ID = 'bjtu-weihai';
const SWIPE_EVERY_MS = 20;
const WAIT_MS_MAX = 30_000;
const SLOW_MS = 1_000;
// The Worker rate-limits top-ups per card and per holder name (10 a minute each): the
// samples rotate over cards imported for the bench, each at most a few times a minute.
const TOPUPS_PER_CARD_MAX = 4;
const HUB_LOG_LINES_MAX = 100_000;

interface HubLogLine {
  msg: string;
  at_ms: number;
  cursor?: number;
  data?: string;
  woken_by?: string[];
}

interface Delivery {
  state: string;
  first_attempt_at_ms: number | null;
  attempts: { at_ms: number; status: number | null; acknowledged: boolean }[];
}

export interface ClaimableSample {
  ms: number;
  order_id: string;
  // Offsets from "pay" pressed, in ms; null when it did not happen.
  notified_ms: number | null;
  notify_attempts: number;
  push_ms: number | null;
  applied_ms: number | null;
  woken_by: string[];
  reason: string | null;
}

export interface ClaimableResult {
  samples: ClaimableSample[];
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  push_connected: boolean;
  poll_interval_ms: number;
}

function percentile(sorted: number[], p: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN);
}

/** Why a sample took over a second, from its timeline; null when it did not. */
export function slowReason(sample: Omit<ClaimableSample, 'reason'>, poll_interval_ms: number): string | null {
  if (sample.ms <= SLOW_MS) return null;
  const parts: string[] = [];
  if (sample.notified_ms === null) parts.push('the notification never reached the Worker');
  else if (sample.notify_attempts > 1) parts.push(`retry: the notification was answered only at attempt ${sample.notify_attempts} (+${sample.notified_ms} ms)`);
  else if (sample.notified_ms > SLOW_MS) parts.push(`notification late (+${sample.notified_ms} ms)`);
  if (sample.applied_ms === null) parts.push('never applied at the hub');
  else if (sample.woken_by.includes('push')) {
    const waited = sample.push_ms === null ? null : sample.applied_ms - sample.push_ms;
    if (sample.push_ms !== null && sample.push_ms > SLOW_MS) parts.push(`push late: the Worker's push message reached the hub at +${sample.push_ms} ms`);
    else parts.push(`push +${sample.push_ms ?? '?'} ms; the pull it woke applied it at +${sample.applied_ms} ms${waited !== null && waited > SLOW_MS ? ` (${waited} ms after the push: a slow pull or a round in flight)` : ''}`);
  } else {
    const by = sample.woken_by.join('+');
    parts.push(`push missed: ${sample.push_ms === null ? 'no push message' : `push +${sample.push_ms} ms did not wake a pull`}; applied +${sample.applied_ms} ms by ${by === 'poll' ? `the ${poll_interval_ms} ms poll` : by}`);
  }
  if (sample.applied_ms !== null && sample.ms - sample.applied_ms > SLOW_MS) parts.push(`swipe offered it only ${Math.round(sample.ms - sample.applied_ms)} ms after it was applied`);
  return parts.join('; ');
}

function benchCardsCsv(count: number): string {
  const rows = ['card_no,name,kind,status,asn'];
  for (let i = 0; i < count; i++) {
    const card_no = `8800${String(i).padStart(4, '0')}`;
    rows.push(`${card_no},压测${String(i).padStart(4, '0')},student,active,0B000000${card_no}`);
  }
  return `${rows.join('\n')}\n`;
}

export async function measureClaimable(samples: number, poll_interval_ms: number, log: (line: string) => void = () => {}): Promise<ClaimableResult> {
  if (!(Number.isSafeInteger(samples) && samples >= 1 && samples <= 10_000)) throw new RangeError(`samples 1..10000: ${samples}`);
  const work_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-bench-claimable-'));
  const campus = await startCampus({ worker_port: 0, gateway_port: 0, state_dir: path.join(work_dir, 'state'), dev_dir: work_dir });
  const hub = new HubHarness({ worker_url: campus.worker_url, hub_id: 'bench-claimable', poll_interval_ms });
  const hub_log: HubLogLine[] = [];
  const previous_level = process.env.HUB_LOG_LEVEL;
  try {
    const admin = { authorization: `Bearer ${campus.keys.admin_token}` };
    const card_count = Math.ceil(samples / TOPUPS_PER_CARD_MAX);
    const imported = await fetch(`${campus.worker_url}/api/v1/admin/schools/${SCHOOL_ID}/cards`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'text/csv; charset=utf-8' },
      body: benchCardsCsv(card_count),
    });
    if (!imported.ok) throw new Error(`card import: ${imported.status} ${await imported.text()}`);
    await hub.init();
    const registered = await fetch(`${campus.worker_url}/api/v1/admin/hubs/bench-claimable`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ school_id: SCHOOL_ID, public_key: hub.public_key }),
    });
    if (!registered.ok) throw new Error(`hub registration: ${registered.status} ${await registered.text()}`);
    const registered_terminal = await hub.addTerminal('bench-pos');
    // The hub's debug log carries the push messages; read live, as the kept tail is bounded.
    process.env.HUB_LOG_LEVEL = 'debug';
    await hub.start();
    let partial = '';
    hub.service!.child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (hub_log.length >= HUB_LOG_LINES_MAX || !line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as HubLogLine;
          if (entry.msg === 'push message' || entry.msg === 'changes applied') hub_log.push(entry);
        } catch {
          // Not one of the hub's JSON lines.
        }
      }
    });
    const terminal = hub.terminal(registered_terminal);
    const cards = Array.from({ length: card_count }, (_, i) => {
      const card_no = `8800${String(i).padStart(4, '0')}`;
      return { card: { school_id: SCHOOL_ID, name: `压测${String(i).padStart(4, '0')}`, card_no }, chip: hub.card(card_no, { balance_fen: 0, online_serial: 0 }, `0B000000${card_no}`) };
    });
    // Wait (bounded) for the first pull (the imported cards) and the push channel.
    for (let i = 0; i < 400; i++) {
      const health = await hub.health();
      if (health.push_connected === true && (health.cards as number) >= card_count) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const push_connected = (await hub.health()).push_connected === true;
    const timelines: { order_id: string; paid_at_ms: number; ms: number }[] = [];
    for (let i = 0; i < samples; i++) {
      const { card, chip } = cards[i % cards.length]!;
      const created = await createTopUp(campus.worker_url, card, 100 + i);
      const paid_at_ms = Date.now();
      const paid_at = performance.now();
      await pressPay(created.pay_url);
      let loaded = false;
      while (!loaded && performance.now() - paid_at < WAIT_MS_MAX) {
        const tap = await terminal.tap(card.card_no, chip);
        if (tap.load !== null) loaded = true;
        else await new Promise((r) => setTimeout(r, SWIPE_EVERY_MS));
      }
      const ms = loaded ? performance.now() - paid_at : Number.POSITIVE_INFINITY;
      timelines.push({ order_id: created.order_id, paid_at_ms, ms });
      if ((i + 1) % 20 === 0) log(`${i + 1}/${samples} top-ups`);
    }
    terminal.close();
    const result_samples: ClaimableSample[] = [];
    for (const [i, t] of timelines.entries()) {
      const answer = (await (await fetch(`${campus.gateway_url}/sim/deliveries?out_trade_no=${encodeURIComponent(t.order_id)}`)).json()) as { deliveries: Delivery[] };
      const attempts = answer.deliveries.flatMap((d) => d.attempts).sort((a, b) => a.at_ms - b.at_ms);
      const acked = attempts.findIndex((a) => a.acknowledged);
      const next_paid_at_ms = timelines[i + 1]?.paid_at_ms ?? Infinity;
      const mine = (line: HubLogLine) => line.at_ms >= t.paid_at_ms && line.at_ms < next_paid_at_ms;
      const applied = hub_log.find((line) => line.msg === 'changes applied' && mine(line));
      const push = hub_log.find((line) => line.msg === 'push message' && mine(line));
      const sample = {
        ms: Math.round(t.ms),
        order_id: t.order_id,
        notified_ms: acked < 0 ? null : attempts[acked]!.at_ms - t.paid_at_ms,
        notify_attempts: acked < 0 ? attempts.length : acked + 1,
        push_ms: push === undefined ? null : push.at_ms - t.paid_at_ms,
        applied_ms: applied === undefined ? null : applied.at_ms - t.paid_at_ms,
        woken_by: applied?.woken_by ?? [],
      };
      result_samples.push({ ...sample, reason: slowReason(sample, poll_interval_ms) });
    }
    const sorted = result_samples.map((s) => s.ms).sort((a, b) => a - b);
    return { samples: result_samples, p50_ms: percentile(sorted, 0.5), p99_ms: percentile(sorted, 0.99), max_ms: sorted.at(-1) ?? NaN, push_connected, poll_interval_ms };
  } finally {
    if (previous_level === undefined) delete process.env.HUB_LOG_LEVEL;
    else process.env.HUB_LOG_LEVEL = previous_level;
    if (process.env.BENCH_DEBUG !== undefined) process.stderr.write(hub.service?.output() ?? '');
    await hub.cleanup();
    await campus.stop();
    rmSync(work_dir, { recursive: true, force: true });
  }
}
