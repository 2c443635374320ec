// `npm run lockfile:platforms`: after changing dependencies, adds to package-lock.json the
// other platforms' optional packages (rollup's, workerd's) that this machine's registry mirror
// does not carry at the pinned versions. npm then leaves them out of the lockfile, and `npm ci`
// refuses the lockfile as out of sync. Each added entry carries its os/cpu/libc, so npm skips
// it on Linux x64 and never fetches it; on the real registry it is what npm itself writes.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface LockEntry {
  version?: string;
  optionalDependencies?: Record<string, string>;
  [field: string]: unknown;
}

const LOCK_PATH = path.resolve(import.meta.dirname, '..', 'package-lock.json');
// Lookups are one per missing package name; a lockfile needing more is not this problem.
const LOOKUPS_MAX = 100;
const EXACT_VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/** The nearest `node_modules/<name>` npm would resolve from `parent`, or null. */
function resolved(packages: Record<string, LockEntry>, parent: string, name: string): string | null {
  let at = parent;
  for (;;) {
    const candidate = at === '' ? `node_modules/${name}` : `${at}/node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (at === '') return null;
    const cut = at.lastIndexOf('/node_modules/');
    at = cut >= 0 ? at.slice(0, cut) : '';
  }
}

const lock = JSON.parse(readFileSync(LOCK_PATH, 'utf8')) as { packages: Record<string, LockEntry> };
const packages = lock.packages;
const platforms = new Map<string, Record<string, unknown>>();
let added = 0;
for (const [parent, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    // Platform packages are pinned exactly; a range is met by whatever npm already put there.
    if (!EXACT_VERSION.test(spec)) continue;
    const found = resolved(packages, parent, name);
    if (found !== null && packages[found]!.version === spec) continue;
    if (!platforms.has(name)) {
      if (platforms.size >= LOOKUPS_MAX) throw new Error(`more than ${LOOKUPS_MAX} missing optional packages`);
      const out = execFileSync('npm', ['view', name, 'os', 'cpu', 'libc', 'license', '--json'], { encoding: 'utf8' });
      const meta = JSON.parse(out) as Record<string, unknown> | string;
      if (typeof meta !== 'object' || meta === null || meta.os === undefined) throw new Error(`${name} has no platform metadata`);
      platforms.set(name, meta);
    }
    const meta = platforms.get(name)!;
    const target = found === null ? `node_modules/${name}` : parent === '' ? `node_modules/${name}` : `${parent}/node_modules/${name}`;
    // Fields in npm's own order, so a later `npm install` leaves the file as it is.
    packages[target] = {
      version: spec,
      cpu: meta.cpu,
      ...(entry.dev === true ? { dev: true } : {}),
      ...(meta.libc === undefined ? {} : { libc: meta.libc }),
      license: meta.license,
      optional: true,
      os: meta.os,
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(LOCK_PATH, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: ${added} optional platform package(s) added`);
