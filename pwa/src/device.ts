// Desktop or phone, for how to pay (DESIGN section 8): a desktop browser shows the provider's QR
// code for a phone to scan, a phone goes to the provider's wap / H5 page. "Desktop" is a wide
// window driven by a precise pointer that can hover (a mouse): a phone or tablet has a coarse
// pointer, and a narrow window cannot show a code large enough to scan reliably.
import type { PayScene } from '../../protocol/api.ts';

export const DESKTOP_QUERY = '(min-width: 768px) and (hover: hover) and (pointer: fine)';

export function payScene(): PayScene {
  return typeof matchMedia === 'function' && matchMedia(DESKTOP_QUERY).matches ? 'qr' : 'page';
}
