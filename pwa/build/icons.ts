// App icons drawn in code at build time: no binary in the repository, no download. A PNG is
// a signature, an IHDR chunk, zlib-compressed scanlines and an IEND chunk; nothing more is
// needed for a flat icon.
import { deflateSync } from 'node:zlib';
import type { Plugin } from 'vite';

export interface IconSpec {
  file: string;
  size_px: number;
  /** Maskable icons keep their drawing inside the central 80 % safe zone. */
  maskable: boolean;
}

export const ICONS: readonly IconSpec[] = [
  { file: 'icons/icon-192.png', size_px: 192, maskable: false },
  { file: 'icons/icon-512.png', size_px: 512, maskable: false },
  { file: 'icons/maskable-512.png', size_px: 512, maskable: true },
  { file: 'icons/apple-touch-icon.png', size_px: 180, maskable: true },
];

const ICON_SIZE_PX_MAX = 1024;
const BRAND = [0x0b, 0x5f, 0xa5] as const;
const CARD = [0xff, 0xff, 0xff] as const;
const STRIPE = [0xf5, 0xa6, 0x23] as const;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function inRoundedRect(x: number, y: number, left: number, top: number, right: number, bottom: number, radius: number): boolean {
  if (x < left || x >= right || y < top || y >= bottom) return false;
  const cx = Math.min(Math.max(x, left + radius), right - radius);
  const cy = Math.min(Math.max(y, top + radius), bottom - radius);
  return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2;
}

/** A white campus card with an orange chip stripe on the brand blue. */
export function drawIcon(size_px: number, maskable: boolean): Uint8Array {
  if (!Number.isInteger(size_px) || size_px < 16 || size_px > ICON_SIZE_PX_MAX) throw new RangeError(`icon size ${size_px}`);
  const inset = maskable ? size_px * 0.22 : size_px * 0.12;
  const left = inset;
  const right = size_px - inset;
  const cardHeight = (right - left) * 0.63;
  const top = (size_px - cardHeight) / 2;
  const bottom = top + cardHeight;
  const radius = size_px * 0.05;
  const stripeTop = top + cardHeight * 0.22;
  const stripeBottom = top + cardHeight * 0.4;
  const chipLeft = left + (right - left) * 0.12;
  const chipRight = chipLeft + (right - left) * 0.2;
  const chipTop = top + cardHeight * 0.52;
  const chipBottom = chipTop + cardHeight * 0.26;
  const outerRadius = maskable ? 0 : size_px * 0.18;

  const stride = 1 + size_px * 4;
  const raw = new Uint8Array(stride * size_px);
  for (let y = 0; y < size_px; y++) {
    raw[y * stride] = 0; // filter: none
    for (let x = 0; x < size_px; x++) {
      let rgba: readonly number[] = [...BRAND, 0xff];
      if (!maskable && !inRoundedRect(x, y, 0, 0, size_px, size_px, outerRadius)) rgba = [0, 0, 0, 0];
      else if (inRoundedRect(x, y, left, top, right, bottom, radius)) {
        rgba = [...CARD, 0xff];
        if (y >= stripeTop && y < stripeBottom) rgba = [...BRAND, 0xff];
        else if (inRoundedRect(x, y, chipLeft, chipTop, chipRight, chipBottom, radius / 2)) rgba = [...STRIPE, 0xff];
      }
      raw.set(rgba, y * stride + 1 + x * 4);
    }
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, size_px);
  view.setUint32(4, size_px);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, deflate, no interlace
  const signature = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const parts = [signature, chunk('IHDR', header), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array())];
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Emits the icons into the build (so the service worker precaches them) and serves them in dev. */
export function iconsPlugin(): Plugin {
  return {
    name: 'yikatong-icons',
    generateBundle() {
      for (const icon of ICONS) {
        this.emitFile({ type: 'asset', fileName: icon.file, source: drawIcon(icon.size_px, icon.maskable) });
      }
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const icon = ICONS.find((candidate) => req.url === `/${candidate.file}`);
        if (icon === undefined) return next();
        res.setHeader('content-type', 'image/png');
        res.end(drawIcon(icon.size_px, icon.maskable));
      });
    },
  };
}
