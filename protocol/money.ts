// Money is integer fen everywhere; yuan strings exist only at the edges (provider protocols,
// display). These helpers are the only place the two meet, so a rounding error cannot hide.

export const AMOUNT_FEN_MIN = 1;
// Default per-school ceiling of one top-up: 1000.00 yuan.
export const MAX_AMOUNT_FEN_DEFAULT = 100_000;
// No school may raise its ceiling past this: it bounds what one forged request could move.
export const MAX_AMOUNT_FEN_LIMIT = 10_000_000;
export const AMOUNT_FEN_DEFAULT = 10_000;

export function isAmountFen(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** 12345 → "123.45". */
export function fenToYuan(amount_fen: number): string {
  if (!isAmountFen(amount_fen)) throw new RangeError(`not an amount in fen: ${amount_fen}`);
  const yuan = Math.floor(amount_fen / 100);
  const fen = amount_fen % 100;
  return `${yuan}.${fen.toString().padStart(2, '0')}`;
}

const YUAN_PATTERN = /^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?$/;

/**
 * "123.45" → 12345; null for anything that is not a plain non-negative yuan amount with at
 * most two decimals. Parsed from the digits, never through a float, so "0.29" is 29 fen.
 */
export function yuanToFen(text: string): number | null {
  const match = YUAN_PATTERN.exec(text.trim());
  if (match === null) return null;
  const decimals = (match[2] ?? '').padEnd(2, '0');
  const amount_fen = Number(match[1]) * 100 + Number(decimals);
  if (!Number.isSafeInteger(amount_fen)) return null;
  return amount_fen;
}
