// `npm run chaos -- --seed S --minutes M [--cards N] [--terminals T]`: the whole campus under
// the seed's faults, then the verdict. Prints what it did and one line; exits 1 on any violation,
// 2 on bad arguments. Without --seed it draws one and prints it, so any run can be replayed.
import { parseArgs } from 'node:util';
import { CHAOS_CARDS_MAX, CHAOS_MINUTES_MAX, CHAOS_TERMINALS_MAX, runChaos } from './run.ts';

const USAGE = `usage: npm run chaos -- [--seed 0..4294967295] [--minutes 0.2..${CHAOS_MINUTES_MAX}] [--cards 2..${CHAOS_CARDS_MAX}] [--terminals 1..${CHAOS_TERMINALS_MAX}]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function numberOption(value: string | undefined, name: string, fallback: number, valid: (n: number) => boolean): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!valid(parsed)) fail(`--${name} ${value}: out of range`);
  return parsed;
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: { seed: { type: 'string' }, minutes: { type: 'string' }, cards: { type: 'string' }, terminals: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  }) as { values: Record<string, string | undefined> });
} catch (error) {
  fail((error as Error).message);
}
const seed = numberOption(values.seed, 'seed', Math.floor(Math.random() * 0xffff_ffff), (n) => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff);
const minutes = numberOption(values.minutes, 'minutes', 5, (n) => n >= 0.2 && n <= CHAOS_MINUTES_MAX);
const cards = numberOption(values.cards, 'cards', 40, (n) => Number.isInteger(n) && n >= 2 && n <= CHAOS_CARDS_MAX);
const terminals = numberOption(values.terminals, 'terminals', 6, (n) => Number.isInteger(n) && n >= 1 && n <= CHAOS_TERMINALS_MAX);

process.env.WRANGLER_SEND_METRICS ??= 'false';
const report = await runChaos({ seed, minutes, cards, terminals, log: (line) => process.stdout.write(`${line}\n`) });
process.stdout.write('\nwhat happened:\n');
for (const [what, n] of Object.entries(report.counts).sort(([a], [b]) => a.localeCompare(b))) process.stdout.write(`  ${what}: ${n}\n`);
for (const violation of report.violations) process.stdout.write(`  VIOLATION ${violation}\n`);
process.stdout.write(`\n${report.verdict}\n`);
process.exit(report.violations.length === 0 ? 0 : 1);
