// The Markdown table of a bench run: one row per figure, its baseline and goal beside it, the
// machine and the command above it — what the README quotes.
import type { BenchResults } from './types.ts';

function number(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function formatTable(results: BenchResults): string {
  const m = results.machine;
  const lines = [
    `# Bench ${results.date}${results.quick ? ' (quick: not figures)' : ''}`,
    '',
    `\`${results.command}\` on ${m.cpu_model}, ${m.cores} cores, ${(m.total_memory_bytes / 2 ** 30).toFixed(1)} GiB, load average at start ${m.load_average_start.join(' ')}, node ${m.node_version}, ${m.platform}`,
    '',
    '| suite | figure | value | baseline (same run) | goal | ok |',
    '|---|---|---:|---|---|---|',
  ];
  const notes: string[] = [];
  for (const suite of results.suites) {
    if (suite.error !== undefined) lines.push(`| ${suite.name} | FAILED | | | | no |`);
    for (const figure of suite.figures) {
      const baseline = figure.baseline === undefined ? '' : `${figure.baseline.name}: ${number(figure.baseline.value)} ${figure.unit}`;
      const ok = figure.ok === undefined ? '' : figure.ok ? 'yes' : 'no';
      lines.push(`| ${suite.name} | ${cell(figure.name)} | ${number(figure.value)} ${figure.unit} | ${cell(baseline)} | ${cell(figure.goal ?? '')} | ${ok} |`);
      for (const note of figure.notes ?? []) notes.push(`- ${suite.name} / ${figure.name}: ${note}`);
    }
    if (suite.error !== undefined) notes.push(`- ${suite.name} failed: ${suite.error.split('\n')[0]}`);
  }
  if (notes.length > 0) lines.push('', 'Notes:', '', ...notes);
  return `${lines.join('\n')}\n`;
}
