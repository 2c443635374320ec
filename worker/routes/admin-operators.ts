// Console operators for the platform administrator (issue 10), behind requireAdmin:
// `PUT /operators/{operator_id}` creates or updates one (schools, name, a password or a
// Cloudflare Access e-mail, disabled), `GET /operators` lists them, `POST
// /operators/{id}/revoke-sessions` ends their sessions. Disabling an operator or changing the
// password ends every session of theirs in the same batch.
import { Hono } from 'hono';
import { adminOperatorRequest, OPERATOR_ID_PATTERN, type AdminOperator, type AdminOperatorsResponse } from '../../protocol/console.ts';
import { hashPassword } from '../console/password.ts';
import { parseSchoolIds, revokeOperatorSessionsStatement } from '../console/session.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../http/errors.ts';
import { readJson } from '../http/validate.ts';

const OPERATORS_LIST_MAX = 500;

interface OperatorRow {
  id: string;
  display_name: string;
  school_ids: string;
  password_hash: string | null;
  access_email: string | null;
  disabled: number;
  created_at_ms: number;
  updated_at_ms: number;
}

function toAdminOperator(row: OperatorRow): AdminOperator {
  return {
    operator_id: row.id,
    display_name: row.display_name,
    school_ids: parseSchoolIds(row.school_ids),
    has_password: row.password_hash !== null,
    access_email: row.access_email,
    disabled: row.disabled !== 0,
    created_at_ms: row.created_at_ms,
    updated_at_ms: row.updated_at_ms,
  };
}

function operatorIdParam(value: string): string {
  if (!OPERATOR_ID_PATTERN.test(value)) throw new ApiError(400, 'invalid_body', 'operator_id is 2-48 lower-case letters, digits, dots, dashes, underscores');
  return value;
}

export const adminOperatorRoutes = new Hono<AppEnv>()
  .put('/operators/:operator_id', async (c) => {
    const operator_id = operatorIdParam(c.req.param('operator_id'));
    const input = await readJson(c, adminOperatorRequest);
    const d1 = c.env.DB;
    const school_ids = [...new Set(input.school_ids)].sort();
    const known = await d1.prepare('SELECT id FROM schools WHERE id IN (SELECT value FROM json_each(?1))').bind(JSON.stringify(school_ids)).all<{ id: string }>();
    const missing = school_ids.filter((id) => !known.results.some((row) => row.id === id));
    if (missing.length > 0) throw new ApiError(404, 'school_not_found', `no school ${missing.join(', ')}`);
    const existing = await d1.prepare('SELECT * FROM operators WHERE id = ?1').bind(operator_id).first<OperatorRow>();
    if (existing === null && input.password === undefined && input.access_email === undefined) {
      throw new ApiError(400, 'invalid_body', 'a new operator needs a password or an access_email to sign in with');
    }
    if (input.access_email !== undefined) {
      const holder = await d1.prepare('SELECT id FROM operators WHERE access_email = ?1 AND id <> ?2').bind(input.access_email, operator_id).first();
      if (holder !== null) throw new ApiError(409, 'conflict', 'this access_email belongs to another operator');
    }
    const hash = input.password === undefined ? null : await hashPassword(input.password);
    const now_ms = Date.now();
    const disabled = input.disabled ?? (existing === null ? false : existing.disabled !== 0);
    const statements = [
      d1
        .prepare(
          `INSERT INTO operators (id, display_name, school_ids, password_hash, password_salt, password_iterations, access_email, disabled, created_at_ms, updated_at_ms)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
           ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, school_ids = excluded.school_ids,
             password_hash = COALESCE(excluded.password_hash, operators.password_hash),
             password_salt = COALESCE(excluded.password_salt, operators.password_salt),
             password_iterations = COALESCE(excluded.password_iterations, operators.password_iterations),
             access_email = COALESCE(excluded.access_email, operators.access_email),
             disabled = excluded.disabled, updated_at_ms = excluded.updated_at_ms`,
        )
        .bind(
          operator_id,
          input.display_name,
          JSON.stringify(school_ids),
          hash?.password_hash ?? null,
          hash?.password_salt ?? null,
          hash?.password_iterations ?? null,
          input.access_email ?? null,
          disabled ? 1 : 0,
          now_ms,
        ),
    ];
    // A session outliving a new password, a lost school or a disabled account would keep
    // what the administrator just took away.
    const narrowed = existing !== null && parseSchoolIds(existing.school_ids).some((id) => !school_ids.includes(id));
    if (disabled || hash !== null || narrowed) statements.push(revokeOperatorSessionsStatement(d1, operator_id, now_ms));
    await d1.batch(statements);
    const row = await d1.prepare('SELECT * FROM operators WHERE id = ?1').bind(operator_id).first<OperatorRow>();
    if (row === null) throw new Error(`operator ${operator_id} missing right after its upsert`);
    return c.json(toAdminOperator(row), existing === null ? 201 : 200);
  })
  .get('/operators', async (c) => {
    const rows = await c.env.DB.prepare(`SELECT * FROM operators ORDER BY id LIMIT ${OPERATORS_LIST_MAX}`).all<OperatorRow>();
    const body: AdminOperatorsResponse = { operators: rows.results.map(toAdminOperator) };
    return c.json(body, 200, { 'cache-control': 'no-store' });
  })
  .post('/operators/:operator_id/revoke-sessions', async (c) => {
    const operator_id = operatorIdParam(c.req.param('operator_id'));
    const exists = await c.env.DB.prepare('SELECT id FROM operators WHERE id = ?1').bind(operator_id).first();
    if (exists === null) throw new ApiError(404, 'not_found', 'no such operator');
    const result = await revokeOperatorSessionsStatement(c.env.DB, operator_id, Date.now()).run();
    return c.json({ revoked: result.meta.changes });
  });
