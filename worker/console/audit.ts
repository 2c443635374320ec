// The console's audit trail (issue 10, DESIGN section 8): who did what to which record, with the
// record before and after. Built as a statement the caller puts in the SAME D1 batch as the
// change, guarded by SQL that holds only once the change is there, so an action that changed
// nothing leaves no row and a row never describes a change that did not happen.
import type { ConsoleAction } from '../../protocol/console.ts';
import type { ConsoleOperator } from './context.ts';

// Bounds what one row may hold: a record's before and after, never a file.
export const AUDIT_JSON_CHARS_MAX = 16 * 1024;

export interface AuditEntry {
  school_id: string;
  action: ConsoleAction;
  target: string;
  before: unknown;
  /** A JSON value, or `{ sql }`: an expression over the batch's own result (params from ?9). */
  after: unknown;
  at_ms: number;
  address: string | null;
}

function json(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const text = JSON.stringify(value);
  if (text.length > AUDIT_JSON_CHARS_MAX) return JSON.stringify({ truncated: true, chars: text.length });
  return text;
}

/**
 * `INSERT INTO console_audit … WHERE guard`. `guard` and an `{ sql }` after may use ?9 onwards,
 * bound from `params`.
 */
export function auditStatement(
  d1: D1Database,
  operator: ConsoleOperator,
  entry: AuditEntry,
  options: { guard?: string; after_sql?: string; params?: readonly (string | number | null)[] } = {},
): D1PreparedStatement {
  const after = options.after_sql ?? '?7';
  return d1
    .prepare(
      `INSERT INTO console_audit (operator_id, school_id, action, target, before_json, after_json, at_ms, address)
       SELECT ?1, ?2, ?3, ?4, ?5, ${after}, ?6, ?8 WHERE ${options.guard ?? '1'}`,
    )
    .bind(
      operator.operator_id,
      entry.school_id,
      entry.action,
      entry.target,
      json(entry.before),
      entry.at_ms,
      json(entry.after),
      entry.address,
      ...(options.params ?? []),
    );
}
