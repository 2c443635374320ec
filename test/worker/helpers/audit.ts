// The ledger audit for any workerd test: `afterEach(expectLedgerClean)` (or afterAll) checks
// DESIGN section 3's invariants on whatever the test left in its D1, and fails naming each
// violation with its ids.
import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import { d1Runner, formatViolation, runAudit, type AuditReport } from '../../../worker/ledger/audit.ts';

export function auditTestLedger(): Promise<AuditReport> {
  return runAudit(d1Runner(env.DB));
}

export async function expectLedgerClean(): Promise<void> {
  const report = await auditTestLedger();
  expect(report.violations.map(formatViolation), 'ledger audit').toEqual([]);
}
