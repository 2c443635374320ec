// Setup files run before each test file, outside per-test storage; applying is idempotent.
import { applyD1Migrations, env } from 'cloudflare:test';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
