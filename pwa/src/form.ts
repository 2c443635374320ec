// The top-up form's checks, as plain functions: the same rules the Worker applies, run while
// typing so a refusal is explained before anything is sent.
import { normaliseCardNo } from '../../protocol/card.ts';
import { AMOUNT_FEN_MIN, MAX_AMOUNT_FEN_DEFAULT, fenToYuan, yuanToFen } from '../../protocol/money.ts';
import type { MessageKey } from './i18n.ts';

// Mirrors protocol/api.ts MOBILE_PATTERN (a test keeps the two equal): importing it from there
// would pull zod into the app shell.
export const MOBILE_PATTERN = /^1[3-9][0-9]{9}$/;

export const AMOUNT_PRESETS_FEN: readonly number[] = [5_000, 10_000, 20_000, 30_000, 50_000];

export type Checked<T> = { ok: true; value: T } | { ok: false; error: MessageKey; params?: Record<string, string> };

export function checkAmount(text: string, max_amount_fen: number = MAX_AMOUNT_FEN_DEFAULT): Checked<number> {
  const amount_fen = yuanToFen(text);
  if (amount_fen === null) return { ok: false, error: 'amount_invalid' };
  if (amount_fen < AMOUNT_FEN_MIN) return { ok: false, error: 'amount_too_small' };
  if (amount_fen > max_amount_fen) return { ok: false, error: 'amount_too_large', params: { max: fenToYuan(max_amount_fen) } };
  return { ok: true, value: amount_fen };
}

export function checkCardNo(text: string): Checked<string> {
  if (text.trim().length === 0) return { ok: false, error: 'card_required' };
  const card_no = normaliseCardNo(text);
  return card_no === null ? { ok: false, error: 'card_invalid' } : { ok: true, value: card_no };
}

export function checkName(text: string): Checked<string> {
  const name = text.trim();
  return name.length === 0 ? { ok: false, error: 'name_required' } : { ok: true, value: name };
}

export function checkMobile(text: string): Checked<string | undefined> {
  const mobile = text.replace(/[\s-]/g, '');
  if (mobile.length === 0) return { ok: true, value: undefined };
  return MOBILE_PATTERN.test(mobile) ? { ok: true, value: mobile } : { ok: false, error: 'mobile_invalid' };
}
