// Where the package's own files are (pretrained/, data/, prebuilds/, build/),
// for the ES module build (dist/src) and the CommonJS one (dist/cjs).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The CommonJS build (scripts/build-cjs.cjs) rewrites the module URL below to
// pathToFileURL(__filename); ts-ignore because tsc rejects it there (TS1343).
// @ts-ignore
const HERE: string = dirname(fileURLToPath(import.meta.url));

function findRoot(): string {
  for (let dir = HERE; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'trax-ts') return dir;
      } catch { /* not ours; keep looking */ }
    }
    if (dirname(dir) === dir) return join(HERE, '..', '..');
  }
}

/** The folder holding trax-ts's package.json. */
export const PACKAGE_ROOT = findRoot();
