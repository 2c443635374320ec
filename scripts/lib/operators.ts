// Console operators in D1 from Node (issue 10): what `npm run operator` and `npm start` write,
// as SQL through wrangler (scripts/lib/local-d1.ts), hashed exactly as the Worker checks.
import { OPERATOR_ID_PATTERN, OPERATOR_SCHOOLS_MAX, PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN } from '../../protocol/console.ts';
import { bytesToBase64Url } from '../../protocol/encoding.ts';
import { hashPassword } from '../../worker/console/password.ts';
import { executeD1Sql, sqlLiteral, type D1Target, type Row } from './local-d1.ts';

export interface OperatorInput {
  operator_id: string;
  display_name: string;
  school_ids: string[];
  password?: string;
  access_email?: string;
}

/** 18 random bytes: 24 characters nobody guesses, typed once from the terminal. */
export function generatePassword(): string {
  return bytesToBase64Url(crypto.getRandomValues(new Uint8Array(18)));
}

function checkInput(input: OperatorInput): void {
  if (!OPERATOR_ID_PATTERN.test(input.operator_id)) throw new RangeError(`operator id ${input.operator_id}: 2-48 lower-case letters, digits, . _ -`);
  if (input.school_ids.length === 0 || input.school_ids.length > OPERATOR_SCHOOLS_MAX) throw new RangeError(`1 to ${OPERATOR_SCHOOLS_MAX} schools`);
  if (input.display_name.trim() === '' || input.display_name.length > 64) throw new RangeError('a display name of 1-64 characters');
  if (input.password !== undefined && (input.password.length < PASSWORD_LENGTH_MIN || input.password.length > PASSWORD_LENGTH_MAX)) {
    throw new RangeError(`a password of ${PASSWORD_LENGTH_MIN}-${PASSWORD_LENGTH_MAX} characters`);
  }
  if (input.password === undefined && input.access_email === undefined) throw new RangeError('a password or an access e-mail');
}

/** Creates or updates an operator; a new password ends the sessions of the old one. */
export async function upsertOperator(target: D1Target, input: OperatorInput, now_ms = Date.now()): Promise<void> {
  checkInput(input);
  const schools = await executeD1Sql(target, `SELECT id FROM schools WHERE id IN (${input.school_ids.map(sqlLiteral).join(', ')})`);
  const known = new Set((schools[0] ?? []).map((row) => String(row.id)));
  const missing = input.school_ids.filter((id) => !known.has(id));
  if (missing.length > 0) throw new RangeError(`no school ${missing.join(', ')}`);
  const hash = input.password === undefined ? null : await hashPassword(input.password);
  const id = sqlLiteral(input.operator_id);
  const statements = [
    `INSERT INTO operators (id, display_name, school_ids, password_hash, password_salt, password_iterations, access_email, disabled, created_at_ms, updated_at_ms)
     VALUES (${id}, ${sqlLiteral(input.display_name)}, ${sqlLiteral(JSON.stringify([...new Set(input.school_ids)].sort()))},
             ${sqlLiteral(hash?.password_hash ?? null)}, ${sqlLiteral(hash?.password_salt ?? null)}, ${sqlLiteral(hash?.password_iterations ?? null)},
             ${sqlLiteral(input.access_email?.trim().toLowerCase() ?? null)}, 0, ${now_ms}, ${now_ms})
     ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, school_ids = excluded.school_ids,
       password_hash = COALESCE(excluded.password_hash, operators.password_hash),
       password_salt = COALESCE(excluded.password_salt, operators.password_salt),
       password_iterations = COALESCE(excluded.password_iterations, operators.password_iterations),
       access_email = COALESCE(excluded.access_email, operators.access_email), disabled = 0, updated_at_ms = excluded.updated_at_ms`,
  ];
  if (hash !== null) statements.push(revokeSql(input.operator_id, now_ms));
  await executeD1Sql(target, statements.join(';\n'));
}

function revokeSql(operator_id: string, now_ms: number): string {
  return `UPDATE operator_sessions SET revoked_at_ms = ${now_ms} WHERE operator_id = ${sqlLiteral(operator_id)} AND revoked_at_ms IS NULL AND expires_at_ms > ${now_ms}`;
}

export async function listOperators(target: D1Target): Promise<Row[]> {
  const [rows] = await executeD1Sql(
    target,
    `SELECT id, display_name, school_ids, password_hash IS NOT NULL AS has_password, access_email, disabled FROM operators ORDER BY id LIMIT 500`,
  );
  return rows ?? [];
}

/** Disables the operator and ends their sessions, in one statement list; false when unknown. */
export async function disableOperator(target: D1Target, operator_id: string, now_ms = Date.now()): Promise<boolean> {
  const id = sqlLiteral(operator_id);
  const results = await executeD1Sql(target, [`UPDATE operators SET disabled = 1, updated_at_ms = ${now_ms} WHERE id = ${id}`, revokeSql(operator_id, now_ms), `SELECT changes() AS n`, `SELECT COUNT(*) AS n FROM operators WHERE id = ${id}`].join(';\n'));
  return Number(results[3]?.[0]?.n ?? 0) > 0;
}

/** Ends every live session of the operator; returns how many. */
export async function revokeSessions(target: D1Target, operator_id: string, now_ms = Date.now()): Promise<number> {
  const results = await executeD1Sql(target, `${revokeSql(operator_id, now_ms)};\nSELECT COUNT(*) AS n FROM operator_sessions WHERE operator_id = ${sqlLiteral(operator_id)} AND revoked_at_ms = ${now_ms}`);
  return Number(results[1]?.[0]?.n ?? 0);
}
