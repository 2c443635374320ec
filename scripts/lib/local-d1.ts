// The local D1 that `wrangler dev` uses, reached through wrangler itself (the same SQLite files
// under `--persist-to`), so scripts and tests see exactly what the Worker sees.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from './processes.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
/** wrangler dev's own default persist directory. */
export const DEFAULT_PERSIST_DIR = path.join(REPO_ROOT, '.wrangler', 'state');
const WRANGLER_BIN = path.join(REPO_ROOT, 'node_modules', '.bin', 'wrangler');
// A cold wrangler start on a busy 2-core machine takes several seconds; a minute is a hang.
const WRANGLER_TIMEOUT_MS = 60_000;
// Retries of a statement a running `wrangler dev` kept locked, with a growing pause between.
const LOCAL_BUSY_ATTEMPTS_MAX = 5;
const LOCAL_BUSY_BACKOFF_MS = 250;

export type Row = Record<string, unknown>;

interface ExecuteResult {
  results?: Row[];
  success?: boolean;
}

function wranglerEnv(options: { interactive: boolean } = { interactive: false }): NodeJS.ProcessEnv {
  // CI=true keeps wrangler from asking questions a script cannot answer; the remote database
  // needs the operator's own `wrangler login` session instead, which CI mode would not use.
  const env: NodeJS.ProcessEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' };
  if (!options.interactive) env.CI = 'true';
  return env;
}

/** Applies every migration in migrations/ that the local database has not seen yet. */
export async function applyLocalMigrations(persist_dir: string): Promise<void> {
  await runCommand(WRANGLER_BIN, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist_dir], {
    cwd: REPO_ROOT,
    env: wranglerEnv(),
    timeout_ms: WRANGLER_TIMEOUT_MS,
  });
}

/** Which D1: the local one under a persist directory, or the deployed one (`--remote`). */
export type D1Target = { local: string } | { remote: true };

/**
 * The D1 a command's `--remote` / `--persist-to DIR` options name: the deployed one, or the local
 * one under DIR (else YIKATONG_STATE_DIR, else wrangler's default). Null, once it has told the
 * user on stderr as `command`, when no local D1 is there: the command cannot run (exit 2).
 */
export function d1TargetOf(command: string, options: { remote?: boolean; 'persist-to'?: string }): D1Target | null {
  if (options.remote) {
    if (options['persist-to'] !== undefined) throw new Error('--remote and --persist-to exclude each other');
    return { remote: true };
  }
  const persist_dir = path.resolve(options['persist-to'] ?? process.env.YIKATONG_STATE_DIR ?? DEFAULT_PERSIST_DIR);
  if (!existsSync(path.join(persist_dir, 'v3', 'd1'))) {
    console.error(`${command}: no local D1 under ${persist_dir} (run npm start first, or pass --persist-to DIR)`);
    return null;
  }
  return { local: persist_dir };
}

/**
 * Runs one or more `;`-separated statements against the local database and returns the rows
 * of each statement, in order.
 */
export function executeLocalSql(persist_dir: string, statements: string): Promise<Row[][]> {
  return executeD1Sql({ local: persist_dir }, statements);
}

/** As executeLocalSql, against either D1; the remote one needs `wrangler login` and network. */
export async function executeD1Sql(target: D1Target, statements: string): Promise<Row[][]> {
  if (statements.trim().length === 0) throw new RangeError('no SQL to execute');
  const where = 'local' in target ? ['--local', '--persist-to', target.local] : ['--remote'];
  const run = () =>
    runCommand(WRANGLER_BIN, ['d1', 'execute', 'DB', ...where, '--json', '--command', statements], {
      cwd: REPO_ROOT,
      env: wranglerEnv({ interactive: !('local' in target) }),
      timeout_ms: WRANGLER_TIMEOUT_MS,
    });
  let stdout: string | null = null;
  for (let attempt = 1; stdout === null; attempt++) {
    try {
      stdout = await run();
    } catch (error) {
      // A `wrangler dev` running on the same files (its crons, queues and hub traffic) may hold
      // SQLite's lock for a moment: the statement never ran, so running it again is safe.
      const busy = 'local' in target && /SQLITE_BUSY|database is locked/.test(String((error as Error).message));
      if (!busy || attempt >= LOCAL_BUSY_ATTEMPTS_MAX) throw error;
      await new Promise((resolve) => setTimeout(resolve, LOCAL_BUSY_BACKOFF_MS * attempt));
    }
  }
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
