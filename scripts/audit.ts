// `npm run audit [-- --persist-to DIR]`: checks the ledger invariants (DESIGN section 3) against
// the local D1 that `wrangler dev` / `npm start` use. Prints every violation with the records
// involved and exits 1, or prints one summary line and exits 0.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { auditReportFrom, auditStatements, formatTotals, formatViolation, type AuditReport } from '../worker/ledger/audit.ts';
import { DEFAULT_PERSIST_DIR, executeLocalSql } from './lib/local-d1.ts';

/** Runs the audit against the local D1 under persist_dir (all checks in one wrangler call). */
export async function auditLocalD1(persist_dir: string): Promise<AuditReport> {
  const results = await executeLocalSql(persist_dir, auditStatements().join(';\n'));
  return auditReportFrom(results);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { 'persist-to': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run audit [-- --persist-to DIR]   (default .wrangler/state)');
    return 0;
  }
  const persist_dir = path.resolve(values['persist-to'] ?? process.env.YIKATONG_STATE_DIR ?? DEFAULT_PERSIST_DIR);
  if (!existsSync(path.join(persist_dir, 'v3', 'd1'))) {
    console.error(`audit: no local D1 under ${persist_dir} (run npm start first, or pass --persist-to DIR)`);
    return 2;
  }
  const report = await auditLocalD1(persist_dir);
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
