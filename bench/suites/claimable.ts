// Paid → claimable at the hub (DESIGN section 9: p99 about a second) for `npm run bench`:
// bench/claimable.ts over at least 100 top-ups, every sample over a second with its reason.
// The same-run baseline is the Worker's share of it: paid → the push message at the hub.
import { measureClaimable } from '../claimable.ts';
import type { BenchSuite } from '../lib/types.ts';

const POLL_INTERVAL_MS = 5_000;
const SLOW_REASONS_SHOWN_MAX = 20;

function p(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

export const suite: BenchSuite = {
  name: 'claimable',
  async run({ quick, log }) {
    const samples = quick ? 10 : 120;
    const result = await measureClaimable(samples, POLL_INTERVAL_MS, log);
    const push_sorted = result.samples.map((s) => s.push_ms ?? Infinity).sort((a, b) => a - b);
    const slow = result.samples.filter((s) => s.reason !== null);
    const by_push = result.samples.filter((s) => s.woken_by.includes('push')).length;
    const notes = [
      `${samples} top-ups, push channel ${result.push_connected ? 'connected' : 'NOT connected'}, ${POLL_INTERVAL_MS} ms poll; ${by_push} applied by a push-woken pull; max ${result.max_ms} ms`,
      slow.length === 0 ? 'no sample over 1,000 ms' : `${slow.length} samples over 1,000 ms:`,
      ...slow.slice(0, SLOW_REASONS_SHOWN_MAX).map((s) => `${s.ms} ms (${s.order_id}): ${s.reason}`),
    ];
    return [
      { name: 'paid → claimable p50', value: result.p50_ms, unit: 'ms', baseline: { name: 'paid → push message at the hub p50', value: Math.round(p(push_sorted, 0.5)) } },
      {
        name: 'paid → claimable p99',
        value: result.p99_ms,
        unit: 'ms',
        baseline: { name: 'paid → push message at the hub p99', value: Math.round(p(push_sorted, 0.99)) },
        goal: 'about a second (≤ 1,000 ms)',
        ok: result.p99_ms <= 1_000,
        notes,
      },
    ];
  },
};
