// `npm run operator` against a local D1 built by the real migrations, through wrangler: the
// account it creates signs in with the password it printed (the Worker's own PBKDF2 check), and
// disable and revoke-sessions end what they should.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyLocalMigrations, executeLocalSql, REPO_ROOT } from '../../scripts/lib/local-d1.ts';
import { runToExit } from '../../scripts/lib/processes.ts';
import { verifyPassword } from '../../worker/console/password.ts';

function operator(...args: string[]) {
  return runToExit(process.execPath, [path.join(REPO_ROOT, 'scripts', 'operator.ts'), ...args], { timeout_ms: 120_000 });
}

describe('npm run operator', () => {
  it('refuses to run without a local database, or with --remote and a directory', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'yikatong-operator-'));
    try {
      const missing = await operator('list', '--persist-to', empty);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(`no local D1 under ${empty}`);
      const both = await operator('list', '--remote', '--persist-to', empty);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain('--remote and --persist-to exclude each other');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  // Several wrangler runs, each a cold start: slow on a busy machine, not a hang.
  it('creates an operator whose printed password verifies, lists it, revokes its sessions and disables it', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'yikatong-operator-'));
    try {
      await applyLocalMigrations(dir);
      // The school, and a session of each of two operators: a new password ends the first's,
      // revoke-sessions the second's.
      await executeLocalSql(
        dir,
        `INSERT INTO schools (id, name, city, initial, created_at_ms, updated_at_ms) VALUES ('cli-school', '命令行学校', '威海', 'M', 1, 1);
         INSERT INTO operator_sessions (id, token_hash, operator_id, csrf_token, method, created_at_ms, last_seen_at_ms, expires_at_ms)
         VALUES ('s1', 'h1', 'clerk-1', 'c', 'password', 1, 1, 99999999999999), ('s2', 'h2', 'clerk-2', 'c', 'password', 1, 1, 99999999999999)`,
      );
      const unknown_school = await operator('create', 'clerk-1', '--school', 'no-such-school', '--persist-to', dir);
      expect(unknown_school.code).toBe(2);
      expect(unknown_school.stderr).toContain('no school no-such-school');

      const created = await operator('create', 'clerk-1', '--school', 'cli-school', '--name', '卡务一', '--persist-to', dir);
      expect(created.code, created.stderr).toBe(0);
      const password = /password \(shown once\): (\S+)/.exec(created.stdout)?.[1];
      expect(password).toBeDefined();

      const listed = await operator('list', '--persist-to', dir);
      expect(listed.stdout).toMatch(/^clerk-1\t卡务一\t\["cli-school"\]\tpassword$/m);
      const revoked = await operator('revoke-sessions', 'clerk-2', '--persist-to', dir);
      expect(revoked.stdout).toContain('1 sessions of clerk-2 ended');
      const disabled = await operator('disable', 'clerk-1', '--persist-to', dir);
      expect(disabled.code).toBe(0);

      const [rows, sessions] = await executeLocalSql(
        dir,
        `SELECT password_hash, password_salt, password_iterations, school_ids, disabled FROM operators WHERE id = 'clerk-1';
         SELECT id FROM operator_sessions WHERE revoked_at_ms IS NULL`,
      );
      expect(sessions).toEqual([]);
      const row = rows![0] as { password_hash: string; password_salt: string; password_iterations: number; school_ids: string; disabled: number };
      expect(row).toMatchObject({ school_ids: '["cli-school"]', disabled: 1 });
      // The Worker's own check accepts the printed password, and only it.
      expect(await verifyPassword(password!, row)).toBe(true);
      expect(await verifyPassword(`${password}x`, row)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
