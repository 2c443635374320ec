// Builds the PWA into pwa/dist, which the Worker serves as static assets (wrangler.toml
// [assets]). `npm run build:pwa` runs it; the shell budget check prints at every build. The card
// office's console (`/console`, pwa/console) is a second entry: one build, one set of shared
// chunks, but its own budget, and its own files stay out of the card holders' precache.
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { budgetPlugin } from './build/budget.ts';
import { ICONS, iconsPlugin } from './build/icons.ts';
import { entryOnlyFilesPlugin } from './build/entry-files.ts';

const root = fileURLToPath(new URL('.', import.meta.url));
// The console's first screen (sign-in, the frame, its data module); its pages and uPlot load later.
export const CONSOLE_SHELL_BUDGET_BYTES = 60 * 1024;
const console_only_files = new Set<string>();

export default defineConfig({
  root,
  publicDir: 'public',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Every asset its own file: inlined data URLs would escape the precache list's sizes.
    assetsInlineLimit: 0,
    rollupOptions: {
      // The app keeps the input name `index`: its entry chunk stays assets/index-*.js.
      input: { index: `${root}index.html`, console: `${root}console/index.html` },
    },
  },
  server: {
    // `vite dev` alone has no API; point it at a running `wrangler dev` when developing.
    proxy: process.env.YIKATONG_API ? { '/api': process.env.YIKATONG_API } : undefined,
  },
  plugins: [
    preact(),
    iconsPlugin(),
    entryOnlyFilesPlugin('console', 'console/index.html', 'index', console_only_files),
    VitePWA({
      strategies: 'generateSW',
      // Registered by src/sw/register.ts through workbox-window, with our own update prompt.
      injectRegister: false,
      registerType: 'prompt',
      filename: 'sw.js',
      manifestFilename: 'manifest.webmanifest',
      includeAssets: ICONS.map((icon) => icon.file),
      manifest: {
        id: '/',
        name: '一卡通充值 Yikatong',
        short_name: '一卡通',
        description: '校园一卡通充值：充值、待圈存、充值记录，离线也能查看。Campus-card top-up.',
        lang: 'zh-CN',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        orientation: 'portrait',
        background_color: '#f4f6f9',
        theme_color: '#0b5fa5',
        icons: ICONS.filter((icon) => !icon.file.includes('apple')).map((icon) => ({
          src: `/${icon.file}`,
          sizes: `${icon.size_px}x${icon.size_px}`,
          type: 'image/png',
          purpose: icon.maskable ? 'maskable' : 'any',
        })),
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,png,svg,webmanifest}'],
        // Every app route opens the shell offline; the API never gets the shell instead of JSON.
        navigateFallback: '/index.html',
        // The console is another page with its own HTML, fetched from the network.
        navigateFallbackDenylist: [/^\/api\//, /^\/cdn-cgi\//, /^\/console(\/|$)/],
        manifestTransforms: [
          async (entries) => ({ manifest: entries.filter((entry) => !console_only_files.has(entry.url.replace(/^\//, ''))), warnings: [] }),
        ],
        cleanupOutdatedCaches: true,
        // The new version waits for the user's "reload" in the update prompt.
        skipWaiting: false,
        clientsClaim: false,
      },
    }),
    budgetPlugin(undefined, { console: CONSOLE_SHELL_BUDGET_BYTES }),
  ],
});
