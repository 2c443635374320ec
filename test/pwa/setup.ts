// Component tests: an in-memory IndexedDB for Dexie, a clean DOM and store for every test.
import 'fake-indexeddb/auto';
import { cleanup, configure } from '@testing-library/preact';
import { afterEach, beforeEach } from 'vitest';
import { db } from '../../pwa/src/data/db.ts';
import { resetTopupDraft } from '../../pwa/src/components/TopupForm.tsx';
import { setApiBase } from '../../pwa/src/data/api.ts';
import { unreachableOrigin } from '../helpers/ports.ts';

// The machine running the suite is shared and busy: waits are bounded, not tight.
configure({ asyncUtilTimeout: 5_000 });

// No Worker in component tests, explicitly: the client points at a port bound and closed here.
// Left same-origin it would call happy-dom's http://localhost:3000, and whatever happens to
// listen there on the machine would answer the tests.
setApiBase(await unreachableOrigin());

beforeEach(async () => {
  await Promise.all(db.tables.map((table) => table.clear()));
  history.replaceState(null, '', '/');
  resetTopupDraft();
  Object.defineProperty(navigator, 'onLine', { value: true, configurable: true });
});

afterEach(() => {
  cleanup();
});
