// Which built files belong to one entry alone. The card holders' service worker precaches the
// app, not the card office's console: a phone should not download pages it never opens. Files
// both entries use (the Preact runtime, shared helpers) stay in the precache, or the app would
// lose them offline.
import type { Plugin } from 'vite';

type Bundle = Parameters<NonNullable<Extract<Plugin['generateBundle'], (...args: never[]) => unknown>>>[1];
// A bundle of more files than this has lost its structure anyway.
const BUNDLE_FILES_MAX = 4_096;

/** Every file an entry can load: its chunk, static and dynamic imports, their CSS and assets. */
export function reachableFrom(bundle: Bundle, entry_name: string): Set<string> {
  const seen = new Set<string>();
  const queue = Object.values(bundle)
    .filter((output) => output.type === 'chunk' && output.isEntry && output.name === entry_name)
    .map((output) => output.fileName);
  while (queue.length > 0) {
    if (seen.size > BUNDLE_FILES_MAX) throw new Error(`entry ${entry_name} reaches more than ${BUNDLE_FILES_MAX} files`);
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const output = bundle[name];
    if (output?.type !== 'chunk') continue;
    queue.push(...output.imports, ...output.dynamicImports);
    for (const file of output.viteMetadata?.importedCss ?? []) seen.add(file);
    for (const file of output.viteMetadata?.importedAssets ?? []) seen.add(file);
  }
  return seen;
}

/**
 * Collects, at every build, the files only `entry_name` reaches (and its HTML page) into
 * `into`, which the service worker's manifestTransforms then leaves out.
 */
export function entryOnlyFilesPlugin(entry_name: string, html_file: string, other_entry: string, into: Set<string>): Plugin {
  return {
    name: 'yikatong-entry-only-files',
    apply: 'build',
    generateBundle(_options, bundle) {
      into.clear();
      const others = reachableFrom(bundle, other_entry);
      for (const file of reachableFrom(bundle, entry_name)) if (!others.has(file)) into.add(file);
      into.add(html_file);
    },
  };
}
