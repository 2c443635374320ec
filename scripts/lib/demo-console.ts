// The demo school's console operator for `npm start` (issue 10): `demo-clerk`, with a password
// generated once and kept in `.dev/console.json` (git-ignored), created through the admin API of
// the running Worker the way a platform administrator would.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generatePassword } from './operators.ts';

export const DEMO_OPERATOR_ID = 'demo-clerk';
const REQUEST_TIMEOUT_MS = 15_000;

export interface DemoConsole {
  url: string;
  operator_id: string;
  password: string;
  config_path: string;
}

export async function ensureDemoOperator(options: { worker_url: string; admin_token: string; school_id: string; dev_dir: string }): Promise<DemoConsole> {
  const config_path = path.join(options.dev_dir, '.dev', 'console.json');
  let password: string | null = null;
  if (existsSync(config_path)) {
    try {
      const stored = JSON.parse(readFileSync(config_path, 'utf8')) as { password?: unknown };
      if (typeof stored.password === 'string' && stored.password.length >= 12) password = stored.password;
    } catch {
      // A broken file gets a new password below.
    }
  }
  password ??= generatePassword();
  const response = await fetch(`${options.worker_url}/api/v1/admin/operators/${DEMO_OPERATOR_ID}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${options.admin_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ school_ids: [options.school_id], display_name: '演示卡务员', password }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`creating ${DEMO_OPERATOR_ID} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  await response.body?.cancel();
  mkdirSync(path.dirname(config_path), { recursive: true });
  writeFileSync(config_path, `${JSON.stringify({ operator_id: DEMO_OPERATOR_ID, password, school_id: options.school_id }, null, 2)}\n`, { mode: 0o600 });
  return { url: `${options.worker_url}/console`, operator_id: DEMO_OPERATOR_ID, password, config_path };
}
