// Puts the demo campus into the test's D1 through the same admin API an operator uses, so a
// test starts from data the product itself accepted.
import { SELF, env } from 'cloudflare:test';
import { DEMO_CARDS, DEMO_SCHOOLS } from '../../../sim/demo-campus.ts';
import { holderNameKey } from '../../../protocol/card.ts';

export const ADMIN_AUTH = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

/** Direct inserts: fast, and usable before the admin routes exist or in tests of them. */
export async function seedDemoCampus(): Promise<void> {
  const now_ms = Date.now();
  const statements: D1PreparedStatement[] = [];
  for (const school of DEMO_SCHOOLS) {
    statements.push(
      env.DB.prepare(
        `INSERT OR IGNORE INTO schools (id, name, city, initial, max_amount_fen, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).bind(school.id, school.name, school.city, school.initial, school.max_amount_fen, now_ms, now_ms),
    );
  }
  for (const card of DEMO_CARDS) {
    statements.push(
      env.DB.prepare(
        `INSERT OR IGNORE INTO cards (school_id, card_no, holder_name, holder_name_key, kind, status, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).bind(card.school_id, card.card_no, card.holder_name, holderNameKey(card.holder_name), card.kind, card.status, now_ms),
    );
  }
  await env.DB.batch(statements);
}

export function api(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`http://yikatong.test${path}`, init);
}

export function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return api(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
