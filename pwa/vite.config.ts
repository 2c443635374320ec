// Builds the PWA into pwa/dist, which the Worker serves as static assets (wrangler.toml
// [assets]). `npm run build:pwa` runs it; the shell budget check prints at every build.
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { budgetPlugin } from './build/budget.ts';
import { ICONS, iconsPlugin } from './build/icons.ts';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  publicDir: 'public',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Every asset its own file: inlined data URLs would escape the precache list's sizes.
    assetsInlineLimit: 0,
  },
  server: {
    // `vite dev` alone has no API; point it at a running `wrangler dev` when developing.
    proxy: process.env.YIKATONG_API ? { '/api': process.env.YIKATONG_API } : undefined,
  },
  plugins: [
    preact(),
    iconsPlugin(),
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
        navigateFallbackDenylist: [/^\/api\//, /^\/cdn-cgi\//],
        cleanupOutdatedCaches: true,
        // The new version waits for the user's "reload" in the update prompt.
        skipWaiting: false,
        clientsClaim: false,
      },
    }),
    budgetPlugin(),
  ],
});
