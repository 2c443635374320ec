// Setup file of every vitest project (vitest.config.ts): a test that ends without running a
// single assertion fails. An early `return`, a loop over nothing, an `if` that stopped being
// true (a time bomb) or a callback that never ran would otherwise pass in silence.
import { beforeEach, expect } from 'vitest';

beforeEach(() => {
  expect.hasAssertions();
});
