// The hub tap (issues 3 and 7) for `npm run bench`: bench/hub.ts's run — the POS v2
// three-request tap at fixed offered rates and at saturation, each beside the bare server's
// figure from the same run. Paid → claimable is its own suite (claimable.ts).
import { runHubBench, type DriverResult } from '../hub.ts';
import type { BenchFigure, BenchSuite } from '../lib/types.ts';

export const suite: BenchSuite = {
  name: 'hub-tap',
  async run({ quick, log }) {
    const rates = quick ? [200] : [500, 1000, 2000];
    const measured = await runHubBench({ cards: quick ? 10_000 : 200_000, seconds: quick ? 1 : 10, connections: quick ? 4 : 32, rates, claimable_samples: 0, log });
    const r = (label: string): DriverResult => measured.results[label]!;
    const figures: BenchFigure[] = [
      {
        name: 'three-request taps at saturation',
        value: r('hub saturation').taps_per_s,
        unit: 'taps/s',
        baseline: { name: 'bare server', value: r('bare saturation').taps_per_s },
        notes: [`requests/s hub / bare ${measured.ratio.toFixed(2)}; errors ${r('hub saturation').errors}`],
      },
      {
        name: 'read-only swipes at saturation',
        value: r('hub swipes only, sat.').swipes_per_s,
        unit: 'swipes/s',
        baseline: { name: 'bare server', value: r('bare swipes only, sat.').swipes_per_s },
        goal: '≥ 0.8× the bare server',
        ok: measured.swipe_ratio >= 0.8,
        notes: [`hub / bare ${measured.swipe_ratio.toFixed(2)}`],
      },
    ];
    for (const rate of rates) {
      const hub = r(`hub @ ${rate}/s`);
      const bare = r(`bare @ ${rate}/s`);
      figures.push({
        name: `tap p99 at ${rate} taps/s offered`,
        value: hub.tap.p99_ms,
        unit: 'ms',
        baseline: { name: 'bare server', value: bare.tap.p99_ms },
        goal: 'whole load p99 ≤ 10 ms, each request p99 ≤ 5 ms (DESIGN 9)',
        ok: hub.tap.p99_ms <= 10 && Math.max(hub.swipe.p99_ms, hub.load.p99_ms, hub.commit.p99_ms) <= 5 && hub.errors === 0,
        notes: [
          `hub swipe p50 ${hub.swipe.p50_ms} / p99 ${hub.swipe.p99_ms} / p99.9 ${hub.swipe.p999_ms} ms, load p99 ${hub.load.p99_ms} ms, commit p99 ${hub.commit.p99_ms} ms; ${hub.taps_per_s} taps/s done; errors ${hub.errors}`,
        ],
      });
    }
    figures.push({ name: 'hub RSS after the tap runs', value: Math.round(measured.rss_end / 2 ** 20), unit: 'MiB', notes: [`${Math.round(measured.rss_start / 2 ** 20)} MiB after start`] });
    return figures;
  },
};
