// `npm run bench` itself (not its figures): one cheap suite in quick mode writes the table and
// the JSON with the machine, every figure beside its baseline; an unknown suite name is refused
// before anything runs.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../../bench/lib/types.ts';
import { runToExit } from '../../scripts/lib/processes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const out_dir = mkdtempSync(path.join(tmpdir(), 'yikatong-bench-run-'));

afterAll(() => rmSync(out_dir, { recursive: true, force: true }));

function bench(args: string[]) {
  return runToExit(process.execPath, ['--disable-warning=ExperimentalWarning', 'bench/run.ts', ...args, '--out-dir', out_dir], { cwd: ROOT, timeout_ms: 60_000 });
}

describe('npm run bench', () => {
  it('--quick --only hub-scale writes a table and JSON with the machine and each figure beside its baseline', async () => {
    const run = await bench(['--quick', '--only', 'hub-scale']);
    expect(run.code, run.output).toBe(0);
    const files = readdirSync(out_dir).sort();
    expect(files).toHaveLength(2);
    const json_file = files.find((file) => file.endsWith('.json'))!;
    expect(json_file).toMatch(/^\d{4}-\d{2}-\d{2}-.+\.json$/);
    const results = JSON.parse(readFileSync(path.join(out_dir, json_file), 'utf8')) as BenchResults;
    expect(results.quick).toBe(true);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.node_version).toBe(process.version);
    expect(results.machine.load_average_start).toHaveLength(3);
    expect(results.suites.map((suite) => suite.name)).toEqual(['hub-scale']);
    const figures = results.suites[0]!.figures;
    expect(figures.map((figure) => figure.unit)).toEqual(['ms', 'MiB']);
    for (const figure of figures) {
      expect(figure.value).toBeGreaterThan(0);
      expect(figure.baseline?.value).toBeGreaterThan(0);
    }
    const table = readFileSync(path.join(out_dir, json_file.replace(/\.json$/, '.md')), 'utf8');
    expect(table).toContain(results.machine.cpu_model);
    expect(table).toMatch(/\| hub-scale \| hub RSS, 20,000 cards \| [\d,]+ MiB \| bare server/);
  }, 90_000);

  it('refuses an unknown suite name and names the known ones', async () => {
    const run = await bench(['--only', 'no-such-suite']);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('unknown suite(s): no-such-suite');
    expect(run.output).toContain('hub-tap');
  });
});
