// Runs in Node before the workerd tests: generates sandbox keys and provides them to the
// Worker as bindings, the way `.dev.vars` does for `wrangler dev`.
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    workerBindings: Record<string, string>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  project.provide('workerBindings', {
    ADMIN_TOKEN: 'test-admin-token-0123456789abcdef',
    CARD_TOKEN_SECRET: 'test-card-token-secret-0123456789abcdef',
  });
  return async () => {};
}
