// A QR code's dark modules as one SVG path, from the kept QR library (uqr). Imported only by the
// lazily loaded QrCode component, so the library never weighs on the app shell.
import { encode } from 'uqr';

/** Unit squares of the dark modules; the quiet zone (4 modules) is included in `size`. */
export function qrPath(text: string): { size: number; d: string } {
  // Error correction M: the codes are short URLs, and M survives a glare on the screen.
  const qr = encode(text, { ecc: 'M', border: 4 });
  let d = '';
  for (let y = 0; y < qr.size; y++) {
    const row = qr.data[y]!;
    for (let x = 0; x < qr.size; x++) if (row[x]) d += `M${x} ${y}h1v1h-1z`;
  }
  return { size: qr.size, d };
}
