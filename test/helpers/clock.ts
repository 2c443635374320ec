// Dates in tests: a fixed instant for code that takes `now_ms` as an argument, and dates
// computed relative to the real clock for code that reads it. Never a calendar date compared
// with today's: such a test changes what it checks, or stops checking, as the year turns.

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** China Standard Time, the time of every school and of the providers' bills: UTC+8, no DST. */
export const CHINA_OFFSET_MS = 8 * HOUR_MS;

/**
 * The fixed clock: 2026-11-22 00:00 UTC (08:00 in China), for code under test that is handed
 * `now_ms`. Only ever passed in, never compared with Date.now().
 */
export const FIXED_NOW_MS = Date.UTC(2026, 10, 22);

/** `at_ms` as China-time calendar fields (month 1-12). */
export function chinaFields(at_ms: number): { year: number; month: number; day: number } {
  const china = new Date(at_ms + CHINA_OFFSET_MS);
  return { year: china.getUTCFullYear(), month: china.getUTCMonth() + 1, day: china.getUTCDate() };
}

/** "YYYY-MM" of `at_ms` in China time. */
export function chinaMonthLabel(at_ms: number): string {
  const { year, month } = chinaFields(at_ms);
  return `${year}-${String(month).padStart(2, '0')}`;
}

/** The instant a China-time month begins, `months_back` months before the one holding `at_ms`. */
export function chinaMonthBeginMs(at_ms: number, months_back: number): number {
  if (!Number.isInteger(months_back) || months_back < 0 || months_back > 1_200) throw new RangeError(`months_back ${months_back}`);
  const { year, month } = chinaFields(at_ms);
  // Date.UTC carries a negative month into earlier years.
  return Date.UTC(year, month - 1 - months_back, 1) - CHINA_OFFSET_MS;
}
