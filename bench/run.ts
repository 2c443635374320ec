// `npm run bench` (issue 11): one command for every figure. Runs the suites below in order,
// each figure beside its same-run baseline, and writes a table (.md) and the figures (.json)
// to bench/results/<date>-<host>.* with the machine they were measured on. A suite that
// throws is reported as failed and the others still run: one broken part must not hide the
// figures of the rest.
//
//   npm run bench                       every suite
//   npm run bench -- --only hub-tap     some suites (comma list of names)
//   npm run bench -- --quick            fewer samples, shorter runs: a smoke test, not figures
//   npm run bench -- --out-dir DIR      write the results elsewhere (the runner's own test)
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchMachine, BenchResults, BenchSuite } from './lib/types.ts';
import { formatTable } from './lib/table.ts';

// The fixed list, in run order. Loaded lazily: `--only` pays only for the suites it names.
const SUITES: readonly (readonly [string, () => Promise<{ suite: BenchSuite }>])[] = [
  ['hub-tap', () => import('./suites/hub-tap.ts')],
  ['hub-scale', () => import('./suites/hub-scale.ts')],
  ['claimable', () => import('./suites/claimable.ts')],
  ['d1-queries', () => import('./suites/d1-queries.ts')],
  ['capacity', () => import('./suites/capacity.ts')],
  ['nat-topups', () => import('./suites/nat-topups.ts')],
  ['pwa-network', () => import('./suites/pwa-network.ts')],
];

function machine(): BenchMachine {
  const cpus = os.cpus();
  const [a, b, c] = os.loadavg();
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    load_average_start: [round(a!), round(b!), round(c!)],
    node_version: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    total_memory_bytes: os.totalmem(),
    host: os.hostname(),
  };
}

export async function runBench(options: { only: string[] | null; quick: boolean; out_dir: string; log: (line: string) => void }): Promise<{ results: BenchResults; json_path: string; md_path: string }> {
  const known = new Set(SUITES.map(([name]) => name));
  const unknown = (options.only ?? []).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new Error(`unknown suite(s): ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  const started = new Date();
  const results: BenchResults = {
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    date: started.toISOString(),
    quick: options.quick,
    machine: machine(),
    suites: [],
  };
  options.log(`machine: ${results.machine.cpu_model}, ${results.machine.cores} cores, load average ${results.machine.load_average_start.join(' ')}, node ${results.machine.node_version}`);
  for (const [name, load] of SUITES) {
    if (options.only !== null && !options.only.includes(name)) continue;
    options.log(`== ${name}`);
    const suite_started = performance.now();
    const log = (line: string) => options.log(`[${name}] ${line}`);
    try {
      const { suite } = await load();
      const figures = await suite.run({ quick: options.quick, log });
      results.suites.push({ name, duration_ms: Math.round(performance.now() - suite_started), figures });
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`FAILED: ${message}`);
      results.suites.push({ name, duration_ms: Math.round(performance.now() - suite_started), figures: [], error: message.slice(0, 2_000) });
    }
  }
  mkdirSync(options.out_dir, { recursive: true });
  const stem = `${started.toISOString().slice(0, 10)}-${results.machine.host.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  const json_path = path.join(options.out_dir, `${stem}.json`);
  const md_path = path.join(options.out_dir, `${stem}.md`);
  writeFileSync(json_path, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(md_path, formatTable(results));
  return { results, json_path, md_path };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'out-dir': { type: 'string', default: path.join(import.meta.dirname, 'results') },
    },
  });
  const only = values.only === undefined ? null : values.only.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const { results, json_path, md_path } = await runBench({ only, quick: values.quick, out_dir: values['out-dir'], log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`\n${formatTable(results)}\nwritten: ${json_path}\n         ${md_path}\n`);
  // Exit explicitly: a suite's stray handle (a keep-alive socket) must not keep the command alive.
  process.exit(results.suites.some((suite) => suite.error !== undefined) ? 1 : 0);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`npm run bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  });
}
