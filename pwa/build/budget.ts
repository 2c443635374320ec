// The app shell's budget (issue 4): the JavaScript and CSS a first visit must load before the
// app can render, at most 60 KB gzip. Printed at every build; a build above it fails, so the
// budget is kept by the build rather than by a timing test. The card office's console is a
// second entry of the same build with a budget of its own: its pages never weigh on the phone's.
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

export const SHELL_BUDGET_BYTES = 60 * 1024;
// A shell that imports more chunks than this statically has lost its structure anyway.
const SHELL_CHUNKS_MAX = 64;

interface Sized {
  file: string;
  raw_bytes: number;
  gzip_bytes: number;
}

function sizeOf(file: string, source: string | Uint8Array): Sized {
  const bytes = typeof source === 'string' ? new TextEncoder().encode(source) : source;
  return { file, raw_bytes: bytes.length, gzip_bytes: gzipSync(bytes, { level: 9 }).length };
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

type Bundle = Parameters<NonNullable<Extract<Plugin['writeBundle'], (...args: never[]) => unknown>>>[1];

/**
 * `budget_bytes` holds for the entries not named in `entry_budgets` (the app's); an entry named
 * there (by its input name, e.g. `console`) is measured and held to its own figure.
 */
export function budgetPlugin(budget_bytes: number = SHELL_BUDGET_BYTES, entry_budgets: Record<string, number> = {}): Plugin {
  return {
    name: 'yikatong-shell-budget',
    apply: 'build',
    writeBundle(_options, bundle) {
      const entries = Object.values(bundle).filter((output) => output.type === 'chunk' && output.isEntry);
      const own = (output: (typeof entries)[number]) => 'name' in output && typeof output.name === 'string' && output.name in entry_budgets;
      checkShell(bundle, 'app shell', entries.filter((output) => !own(output)).map((output) => output.fileName), budget_bytes);
      for (const [name, bytes] of Object.entries(entry_budgets)) {
        const files = entries.filter((output) => 'name' in output && output.name === name).map((output) => output.fileName);
        if (files.length > 0) checkShell(bundle, `${name} shell`, files, bytes);
      }
    },
  };
}

function checkShell(bundle: Bundle, label: string, entry_files: string[], budget_bytes: number): void {
  const files = new Set<string>();
  const queue: string[] = [...entry_files];
  // Everything an entry imports statically loads before the first render; dynamic
  // imports (later screens) do not count.
  while (queue.length > 0) {
    if (files.size > SHELL_CHUNKS_MAX) throw new Error(`${label} has more than ${SHELL_CHUNKS_MAX} chunks`);
    const name = queue.shift()!;
    if (files.has(name)) continue;
    files.add(name);
    const output = bundle[name];
    if (output?.type !== 'chunk') continue;
    queue.push(...output.imports);
    for (const css of output.viteMetadata?.importedCss ?? []) files.add(css);
  }
  const sized: Sized[] = [];
  for (const name of files) {
    const output = bundle[name];
    if (output === undefined) continue;
    sized.push(sizeOf(name, output.type === 'chunk' ? output.code : output.source));
  }
  const total_gzip_bytes = sized.reduce((sum, item) => sum + item.gzip_bytes, 0);
  const lines = sized.map((item) => `  ${item.file.padEnd(40)} ${kb(item.raw_bytes).padStart(10)} ${kb(item.gzip_bytes).padStart(10)} gzip`);
  const verdict = total_gzip_bytes <= budget_bytes ? 'within' : 'OVER';
  console.log(`\n${label} (initial JS + CSS):\n${lines.join('\n')}\n  total ${kb(total_gzip_bytes)} gzip, ${verdict} the budget of ${kb(budget_bytes)}\n`);
  if (total_gzip_bytes > budget_bytes) {
    throw new Error(`${label} is ${kb(total_gzip_bytes)} gzip, over the budget of ${kb(budget_bytes)}`);
  }
}
