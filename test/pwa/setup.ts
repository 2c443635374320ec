// Component tests: an in-memory IndexedDB for Dexie, a clean DOM and store for every test.
import 'fake-indexeddb/auto';
import { cleanup, configure } from '@testing-library/preact';
import { afterEach, beforeEach } from 'vitest';
import { db } from '../../pwa/src/data/db.ts';
import { resetTopupDraft } from '../../pwa/src/components/TopupForm.tsx';

// The machine running the suite is shared and busy: waits are bounded, not tight.
configure({ asyncUtilTimeout: 5_000 });

beforeEach(async () => {
  await Promise.all(db.tables.map((table) => table.clear()));
  history.replaceState(null, '', '/');
  resetTopupDraft();
  Object.defineProperty(navigator, 'onLine', { value: true, configurable: true });
});

afterEach(() => {
  cleanup();
});
