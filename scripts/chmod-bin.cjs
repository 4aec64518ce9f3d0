// tsc writes files without the executable bit; `npx trax-ts` runs the bin
// directly, so mark it executable after every build.
const { chmodSync } = require('node:fs');
const { join } = require('node:path');
chmodSync(join(__dirname, '..', 'dist', 'src', 'apps', 'cli', 'main.js'), 0o755);
