// `npm run audit [-- --persist-to DIR | --remote]`: checks the ledger invariants (DESIGN
// section 3) against the local D1 that `wrangler dev` / `npm start` use, or the deployed one.
// Prints every violation with the records involved and exits 1, or prints one summary line and
// exits 0; exits 2 when it cannot run at all.
import { parseArgs } from 'node:util';
import { auditReportFrom, auditStatements, formatTotals, formatViolation, type AuditReport } from '../worker/ledger/audit.ts';
import { d1TargetOf, executeD1Sql, type D1Target } from './lib/local-d1.ts';

/** Runs the audit against the local D1 under persist_dir (all checks in one wrangler call). */
export function auditLocalD1(persist_dir: string): Promise<AuditReport> {
  return auditD1({ local: persist_dir });
}

export async function auditD1(target: D1Target): Promise<AuditReport> {
  const results = await executeD1Sql(target, auditStatements().join(';\n'));
  return auditReportFrom(results);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { 'persist-to': { type: 'string' }, remote: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run audit [-- --persist-to DIR]   (default .wrangler/state)');
    console.log('       npm run audit -- --remote            (the deployed D1; after wrangler login)');
    return 0;
  }
  const target = d1TargetOf('audit', values);
  if (target === null) return 2;
  const report = await auditD1(target);
  if (report.violations.length > 0) {
    for (const violation of report.violations) console.log(formatViolation(violation));
    console.log(`audit FAILED: ${report.violations.length} violations; ledger: ${formatTotals(report.totals)}`);
    return 1;
  }
  console.log(`audit clean: ${formatTotals(report.totals)}`);
  return 0;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`audit could not run: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(2);
    },
  );
}
