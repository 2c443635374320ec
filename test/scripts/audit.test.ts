// `npm run audit` outside the happy path (the clean and failing runs are in test/e2e, against
// a ledger the real processes built): no database, and bad arguments.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/local-d1.ts';

function audit(...args: string[]) {
  return spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'audit.ts'), ...args], { encoding: 'utf8', timeout: 30_000 });
}

describe('npm run audit', () => {
  it('says there is no local database, and exits 2, rather than calling an empty directory clean', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'yikatong-audit-'));
    try {
      const result = audit('--persist-to', empty);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(`no local D1 under ${empty}`);
      expect(result.stdout).not.toContain('audit clean');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses an unknown option, and a local directory together with --remote', () => {
    const unknown = audit('--persist', 'x');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--persist'/);
    const both = audit('--remote', '--persist-to', 'x');
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('--remote and --persist-to exclude each other');
  });
});
