// `npm run audit` outside the happy path (the clean and failing runs are in test/e2e, against
// a ledger the real processes built): no database, and bad arguments.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/local-d1.ts';
import { runToExit } from '../../scripts/lib/processes.ts';

function audit(...args: string[]) {
  return runToExit(process.execPath, [path.join(REPO_ROOT, 'scripts', 'audit.ts'), ...args], { timeout_ms: 30_000 });
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
});
