// The schedule is the replay: the same seed must give the same faults, and a short run must
// still meet every kind.
import { expect, it } from 'vitest';
import { drawSchedule, FAULT_KINDS } from './schedule.ts';

it('one seed, one schedule; another seed, another; every kind in a short run', () => {
  const first = drawSchedule(7, 45_000);
  expect(drawSchedule(7, 45_000)).toEqual(first);
  expect(drawSchedule(8, 45_000)).not.toEqual(first);
  for (const kind of FAULT_KINDS) expect(first.some((fault) => fault.kind === kind), kind).toBe(true);
  const ends_ms = first.map((fault) => fault.at_ms + fault.duration_ms);
  expect(Math.max(...ends_ms)).toBeLessThan(45_000);
  expect(() => drawSchedule(7, 5_000)).toThrow(RangeError);
});
