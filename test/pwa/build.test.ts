// The PWA build's own checks: the shell budget fails a build above it, and the icons are real
// PNGs of the sizes the manifest names.
import { inflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { budgetPlugin } from '../../pwa/build/budget.ts';
import viteConfig from '../../pwa/vite.config.ts';
import { drawIcon, ICONS } from '../../pwa/build/icons.ts';

type WriteBundle = (this: unknown, options: unknown, bundle: Record<string, unknown>) => void;

function chunk(fileName: string, code: string, imports: string[] = [], css: string[] = [], isEntry = false) {
  return { type: 'chunk', fileName, code, imports, isEntry, viteMetadata: { importedCss: new Set(css) } };
}

function asset(fileName: string, source: string) {
  return { type: 'asset', fileName, source };
}

function runBudget(budget_bytes: number, bundle: Record<string, unknown>): string {
  const plugin = budgetPlugin(budget_bytes);
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    (plugin.writeBundle as WriteBundle).call({}, {}, bundle);
    return log.mock.calls.map((call) => String(call[0])).join('\n');
  } finally {
    log.mockRestore();
  }
}

describe('shell budget', () => {
  // Random text does not compress: its gzip size is about its length.
  const noise = (bytes: number) => randomBytes(bytes).toString('base64').slice(0, bytes);

  it('counts the entry, what it imports statically and its CSS, not lazy screens', () => {
    const bundle = {
      'index.js': chunk('index.js', noise(2_000), ['vendor.js'], ['index.css'], true),
      'vendor.js': chunk('vendor.js', noise(2_000)),
      'index.css': asset('index.css', noise(1_000)),
      'Lazy.js': chunk('Lazy.js', noise(50_000)),
    };
    const printed = runBudget(8_000, bundle);
    expect(printed).toContain('index.js');
    expect(printed).toContain('vendor.js');
    expect(printed).toContain('index.css');
    expect(printed).not.toContain('Lazy.js');
    expect(printed).toMatch(/within the budget of 7\.8 KB/);
  });

  it('holds an entry with a budget of its own (the console) apart: its chunks never count against the app shell', () => {
    const named = (fileName: string, name: string, code: string, imports: string[] = []) => ({ ...chunk(fileName, code, imports, [], true), name });
    const bundle = {
      'index.js': named('index.js', 'index', noise(2_000), ['shared.js']),
      'console.js': named('console.js', 'console', noise(20_000), ['shared.js']),
      'shared.js': chunk('shared.js', noise(1_000)),
    };
    const plugin = budgetPlugin(8_000, { console: 30_000 });
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      (plugin.writeBundle as WriteBundle).call({}, {}, bundle);
      const [app, console_shell] = log.mock.calls.map((call) => String(call[0]));
      expect(app).toContain('app shell');
      expect(app).not.toContain('console.js');
      expect(app).toMatch(/within the budget of 7\.8 KB/);
      expect(console_shell).toContain('console shell');
      expect(console_shell).toContain('shared.js');
      // Over its own budget, the console fails the build too.
      expect(() => (budgetPlugin(8_000, { console: 10_000 }).writeBundle as WriteBundle).call({}, {}, bundle)).toThrow(/console shell is .* over the budget of 9\.8 KB/);
    } finally {
      log.mockRestore();
    }
  });

  it('fails the build above the budget', () => {
    const bundle = { 'index.js': chunk('index.js', noise(20_000), [], [], true) };
    expect(() => runBudget(8_000, bundle)).toThrow(/over the budget of 7\.8 KB/);
  });

  it('is part of the real build, which refuses a shell over 60 KB gzip (issue 4) and takes one under it', () => {
    // The plugin as pwa/vite.config.ts wires it, not one made here: dropping it from the build,
    // or raising its budget, fails this test.
    const plugins = ((viteConfig.plugins ?? []) as unknown[]).flat(8) as { name?: string }[];
    const budget = plugins.find((plugin) => plugin?.name === 'yikatong-shell-budget') as { writeBundle: WriteBundle } | undefined;
    expect(budget).toBeDefined();
    // Random bytes do not compress: a shell's gzip size is about its raw size.
    const shell = (bytes: number) => ({
      'index.js': chunk('index.js', 'export {};', [], ['index.css'], true),
      'index.css': { type: 'asset', fileName: 'index.css', source: new Uint8Array(randomBytes(bytes)) },
    });
    const build = (bytes: number) => {
      const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
      try {
        budget!.writeBundle.call({}, {}, shell(bytes));
      } finally {
        log.mockRestore();
      }
    };
    expect(() => build(61 * 1024)).toThrow(/over the budget of 60\.0 KB/);
    expect(() => build(58 * 1024)).not.toThrow();
  });
});

describe('icons', () => {
  it('are PNGs of the declared sizes, opaque where maskable, with the card drawn in the middle', () => {
    for (const icon of ICONS) {
      const png = drawIcon(icon.size_px, icon.maskable);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const view = new DataView(png.buffer, png.byteOffset);
      expect(new TextDecoder().decode(png.subarray(12, 16))).toBe('IHDR');
      expect(view.getUint32(16)).toBe(icon.size_px);
      expect(view.getUint32(20)).toBe(icon.size_px);
      const idat_length = view.getUint32(33);
      expect(new TextDecoder().decode(png.subarray(37, 41))).toBe('IDAT');
      const raw = inflateSync(png.subarray(41, 41 + idat_length));
      const stride = 1 + icon.size_px * 4;
      expect(raw.length).toBe(stride * icon.size_px);
      const pixel = (x: number, y: number) => [...raw.subarray(y * stride + 1 + x * 4, y * stride + 5 + x * 4)];
      // Maskable icons fill the square (the platform cuts the shape); others have round corners.
      expect(pixel(0, 0)[3]).toBe(icon.maskable ? 0xff : 0);
      // Left edge of the card, on its white lower half.
      const x = Math.round(icon.size_px * (icon.maskable ? 0.25 : 0.15));
      expect(pixel(x, Math.round(icon.size_px * 0.62))).toEqual([0xff, 0xff, 0xff, 0xff]);
    }
  });

  it('refuses sizes no platform asks for', () => {
    expect(() => drawIcon(8, false)).toThrow(RangeError);
    expect(() => drawIcon(4096, false)).toThrow(RangeError);
  });
});
