// Card numbers and holder names as DESIGN section 4 fixes them. The PWA previews the same
// normalisation the Worker applies, so a user sees the number that will be matched.

export const CARD_NO_LENGTH_MAX = 32;
export const HOLDER_NAME_LENGTH_MAX = 64;

export const CARD_KINDS = ['student', 'staff', 'visitor'] as const;
export type CardKind = (typeof CARD_KINDS)[number];
export const CARD_STATUSES = ['active', 'lost', 'frozen', 'closed'] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

/** Full-width ASCII (U+FF01..U+FF5E) and the ideographic space to their half-width forms. */
function toHalfWidth(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 0xff01 && code <= 0xff5e) out += String.fromCodePoint(code - 0xfee0);
    else if (code === 0x3000) out += ' ';
    else out += ch;
  }
  return out;
}

const SERIAL_PATTERN = /^SN\s*:\s*([0-9]+)$/;
const CARD_NO_PATTERN = /^[0-9A-Z][0-9A-Z-]*$/;

/**
 * Returns the canonical card number, or null when the input cannot be a card number.
 * Visitor cards print `SN：000999`; the registry knows them as `999`, so the serial's leading
 * zeros go. A letter-prefixed number such as `F000999` is a different card and stays whole.
 */
export function normaliseCardNo(input: string): string | null {
  let text = toHalfWidth(input).trim().toUpperCase();
  text = text.replace(/\s+/g, ' ');
  const serial = SERIAL_PATTERN.exec(text);
  if (serial !== null) {
    const digits = serial[1]!.replace(/^0+(?=[0-9])/, '');
    return digits.length <= CARD_NO_LENGTH_MAX ? digits : null;
  }
  text = text.replace(/ /g, '');
  if (text.length === 0 || text.length > CARD_NO_LENGTH_MAX) return null;
  if (!CARD_NO_PATTERN.test(text)) return null;
  return text;
}

/** The form a holder name is compared in: NFKC, no white space at all. */
export function holderNameKey(name: string): string {
  return name.normalize('NFKC').replace(/\s+/gu, '');
}

/** `张三丰` → `张**`, `Li Lei` → `L****`: enough to recognise one's own card, no more. */
export function maskHolderName(name: string): string {
  const chars = Array.from(holderNameKey(name));
  if (chars.length === 0) return '';
  return chars[0] + '*'.repeat(Math.max(1, chars.length - 1));
}
