// The local D1 that `wrangler dev` uses, reached through wrangler itself (the same SQLite files
// under `--persist-to`), so scripts and tests see exactly what the Worker sees.
import path from 'node:path';
import { runCommand } from './processes.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
/** wrangler dev's own default persist directory. */
export const DEFAULT_PERSIST_DIR = path.join(REPO_ROOT, '.wrangler', 'state');
const WRANGLER_BIN = path.join(REPO_ROOT, 'node_modules', '.bin', 'wrangler');
// A cold wrangler start on a busy 2-core machine takes several seconds; a minute is a hang.
const WRANGLER_TIMEOUT_MS = 60_000;

export type Row = Record<string, unknown>;

interface ExecuteResult {
  results?: Row[];
  success?: boolean;
}

function wranglerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' };
}

/** Applies every migration in migrations/ that the local database has not seen yet. */
export async function applyLocalMigrations(persist_dir: string): Promise<void> {
  await runCommand(WRANGLER_BIN, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist_dir], {
    cwd: REPO_ROOT,
    env: wranglerEnv(),
    timeout_ms: WRANGLER_TIMEOUT_MS,
  });
}

/**
 * Runs one or more `;`-separated statements against the local database and returns the rows
 * of each statement, in order.
 */
export async function executeLocalSql(persist_dir: string, statements: string): Promise<Row[][]> {
  if (statements.trim().length === 0) throw new RangeError('no SQL to execute');
  const stdout = await runCommand(
    WRANGLER_BIN,
    ['d1', 'execute', 'DB', '--local', '--persist-to', persist_dir, '--json', '--command', statements],
    { cwd: REPO_ROOT, env: wranglerEnv(), timeout_ms: WRANGLER_TIMEOUT_MS },
  );
  // --json prints only the JSON array on stdout; anything before it would be a wrangler banner.
  const start = stdout.indexOf('[');
  if (start < 0) throw new Error(`wrangler d1 execute printed no JSON:\n${stdout}`);
  const parsed = JSON.parse(stdout.slice(start)) as ExecuteResult[];
  return parsed.map((result, index) => {
    if (result.success === false) throw new Error(`statement ${index + 1} failed`);
    return result.results ?? [];
  });
}

/** Quotes a value for inclusion in SQL text (wrangler's --command takes no parameters). */
export function sqlLiteral(value: string | number | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`only safe integers in SQL: ${value}`);
    return String(value);
  }
  return `'${value.replaceAll("'", "''")}'`;
}
