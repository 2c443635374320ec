// Builds the PWA when pwa/dist is missing or older than its sources: `npm start` runs it first
// (prestart), because wrangler refuses to start when the [assets] directory does not exist.
// An up-to-date build is left alone, so a running `wrangler dev` never sees it vanish.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BUILT = path.join(ROOT, 'pwa', 'dist', 'index.html');
const SOURCES = ['pwa/src', 'pwa/build', 'pwa/public', 'pwa/index.html', 'pwa/vite.config.ts', 'protocol', 'package-lock.json'];
// The app has tens of source files; the bound only stops a walk into something unexpected.
const FILES_MAX = 5_000;
const BUILD_TIMEOUT_MS = 180_000;

function newestMtimeMs(entry: string, budget: { files: number }): number {
  if (!existsSync(entry)) return 0;
  const stats = statSync(entry);
  if (!stats.isDirectory()) {
    budget.files += 1;
    if (budget.files > FILES_MAX) throw new Error(`more than ${FILES_MAX} PWA source files`);
    return stats.mtimeMs;
  }
  let newest = 0;
  for (const name of readdirSync(entry)) newest = Math.max(newest, newestMtimeMs(path.join(entry, name), budget));
  return newest;
}

export function pwaBuildIsCurrent(): boolean {
  if (!existsSync(BUILT)) return false;
  const budget = { files: 0 };
  const sources_ms = Math.max(...SOURCES.map((entry) => newestMtimeMs(path.join(ROOT, entry), budget)));
  return statSync(BUILT).mtimeMs >= sources_ms;
}

if (import.meta.main) {
  if (pwaBuildIsCurrent()) {
    console.log('[pwa] pwa/dist is up to date');
  } else {
    console.log('[pwa] building the app into pwa/dist…');
    const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
    const result = spawnSync(process.execPath, [vite, 'build', '--config', 'pwa/vite.config.ts'], {
      cwd: ROOT,
      stdio: 'inherit',
      timeout: BUILD_TIMEOUT_MS,
    });
    if (result.status !== 0) {
      console.error(`[pwa] build failed (${result.status ?? result.signal})`);
      process.exit(1);
    }
  }
  console.log('[pwa] the app is served by the Worker at its own address (/), the API under /api/v1/');
}
