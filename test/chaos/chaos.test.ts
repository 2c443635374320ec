// The short chaos run CI makes on every change: a fixed seed, so a red run is replayed with
// `npm run chaos -- --seed 20261201 --minutes 0.5 --cards 12 --terminals 3`. Every fault kind
// of the schedule happens at least once; the run's own checks (reconciliation, audit, Worker =
// hub, chips = paid − refunded − spent) are the assertions.
import { expect, it } from 'vitest';
import { FAULT_KINDS } from './schedule.ts';
import { runChaos } from './run.ts';

const SEED = 20261201;

it('the campus under every fault at once loses nothing and doubles nothing', async () => {
  const lines: string[] = [];
  const report = await runChaos({ seed: SEED, minutes: 0.5, cards: 12, terminals: 3, log: (line) => lines.push(line) });
  if (report.violations.length > 0) process.stderr.write(`${lines.join('\n')}\n`);
  expect(report.violations).toEqual([]);
  for (const kind of FAULT_KINDS) expect(report.counts[`faults (${kind})`], kind).toBeGreaterThan(0);
  // The faults bit: money moved through them, loads were interrupted and still settled.
  expect(report.counts['loads committed']).toBeGreaterThan(0);
  expect(Object.keys(report.counts).some((what) => what.startsWith('terminal deaths'))).toBe(true);
  expect(report.counts['chips gained (fen)']).toBe(report.counts['paid (fen)']! - report.counts['refunded (fen)']! - report.counts['spent (fen)']!);
}, 300_000);
