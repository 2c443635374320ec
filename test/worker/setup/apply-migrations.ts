// Runs around every workerd test file: migrations first (idempotent), and the ledger audit of
// DESIGN section 3 last, so every file's tests, whatever they did through the real code paths,
// must leave a ledger in which nothing is lost or doubled.
import { applyD1Migrations, env } from 'cloudflare:test';
import { afterAll } from 'vitest';
import { expectLedgerClean } from '../helpers/audit.ts';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

afterAll(expectLedgerClean);
