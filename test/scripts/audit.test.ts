// `npm run audit` outside the happy path (the clean and failing runs are in test/e2e, against
// a ledger the real processes built): no database, and bad arguments.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyLocalMigrations, executeLocalSql, REPO_ROOT } from '../../scripts/lib/local-d1.ts';
import { runToExit } from '../../scripts/lib/processes.ts';

function audit(...args: string[]) {
  // A wrangler cold start on a loaded 2-core machine takes seconds; a minute is a hang.
  return runToExit(process.execPath, [path.join(REPO_ROOT, 'scripts', 'audit.ts'), ...args], { timeout_ms: 60_000 });
}

describe('npm run audit', () => {
  it('says there is no local database, and exits 2, rather than calling an empty directory clean', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'yikatong-audit-'));
    try {
      const result = await audit('--persist-to', empty);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`no local D1 under ${empty}`);
      expect(result.stdout).not.toContain('audit clean');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses an unknown option, and a local directory together with --remote', async () => {
    const unknown = await audit('--persist', 'x');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--persist'/);
    const both = await audit('--remote', '--persist-to', 'x');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--remote and --persist-to exclude each other');
  });

  // Three wrangler runs (migrations, the corruption, the audit): slow on a busy machine, not a hang.
  it('fails by name on invariant 4: a day reconciled as balanced whose paid orders no longer add up to the bill', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-audit-'));
    try {
      await applyLocalMigrations(dir);
      // A balanced day of 12.34 yuan whose one payment has since vanished from the ledger.
      await executeLocalSql(
        dir,
        `INSERT INTO reconciliations (bill_date, channel, school_id, day_start_ms, status, bill_total_fen, ours_total_fen, fee_fen, net_fen,
           bill_rows, discrepancy_count, discrepancies, error, first_run_at_ms)
         VALUES ('2026-11-30', 'alipay', 'bjtu-weihai', 1764432000000, 'balanced', 1234, 1234, 7, 1227, 1, 0, '[]', NULL, 1764500000000)`,
      );
      const result = await audit('--persist-to', dir);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toContain(
        'invariant 4 reconciled_day_differs_from_ledger: 2026-11-30 alipay bjtu-weihai: bill 1234 fen, ledger 0 fen',
      );
      expect(result.stdout).toMatch(/^audit FAILED: 1 violations/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
