// tsc writes files without the executable bit; the bin runs directly, so mark
// it executable after every build. In the package's own checkout, also link
// node_modules/.bin/trax-ts to it: `npx trax-ts` then runs this build instead
// of copying the folder into npm's cache and installing it again.
const { chmodSync, existsSync, lstatSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } = require('node:fs');
const { join, relative, sep } = require('node:path');

const root = join(__dirname, '..');
const main = join(root, 'dist', 'src', 'apps', 'cli', 'main.js');
chmodSync(main, 0o755);

const insideNodeModules = root.split(sep).includes('node_modules');
if (!insideNodeModules && existsSync(join(root, 'node_modules'))) {
  const binDir = join(root, 'node_modules', '.bin');
  const link = join(binDir, 'trax-ts');
  const target = relative(binDir, main);
  let current = null;
  try { current = lstatSync(link).isSymbolicLink() ? readlinkSync(link) : ''; } catch { /* none yet */ }
  if (current !== target) {
    mkdirSync(binDir, { recursive: true });
    if (current !== null) unlinkSync(link);
    try { symlinkSync(target, link); } catch { /* e.g. no symlinks on this file system: npx still works, slower */ }
  }
}
