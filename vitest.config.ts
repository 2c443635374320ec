// Two kinds of test: inside workerd with a real local D1 (test/worker), and in Node against
// real processes, sockets and files (everything else under test/). Every project's setup starts
// with test/helpers/assertions.ts: a test that asserts nothing fails.
import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

const root = import.meta.dirname;

export default defineConfig({
  test: {
    // Two files at a time on two cores: most Node-side files wait on the processes they start
    // (wrangler dev, hubs, Chromium), so one at a time left a core idle for most of the run.
    maxWorkers: 2,
    projects: [
      {
        plugins: [
          cloudflareTest(async ({ inject }) => ({
            wrangler: { configPath: path.join(root, 'wrangler.toml') },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations(path.join(root, 'migrations')),
                ...inject('workerBindings'),
              },
            },
          })),
        ],
        test: {
          name: 'worker',
          include: ['test/worker/**/*.test.ts'],
          // A guard against a hang, not a timing goal: beside another file a busy test's D1
          // batches may take longer than vitest's 5 s default.
          testTimeout: 30_000,
          hookTimeout: 60_000,
          setupFiles: ['test/helpers/assertions.ts', 'test/worker/setup/apply-migrations.ts'],
          globalSetup: ['test/worker/setup/global.ts'],
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/{protocol,sim,e2e,hub,pwa,scripts,chaos,bench,console}/**/*.test.ts'],
          environment: 'node',
          setupFiles: ['test/helpers/assertions.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // PWA components in a DOM (happy-dom) with an IndexedDB (fake-indexeddb); the PWA's
        // end-to-end tests in real Chromium are *.test.ts files of the node project.
        oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
        test: {
          name: 'pwa',
          include: ['test/pwa/**/*.test.tsx'],
          environment: 'happy-dom',
          setupFiles: ['test/helpers/assertions.ts', 'test/pwa/setup.ts'],
        },
      },
    ],
  },
});
