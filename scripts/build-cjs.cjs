#!/usr/bin/env node
// Finishes the CommonJS build that `tsc -p tsconfig.cjs.json` wrote to
// dist/cjs: a package.json there makes Node (and TypeScript) read its .js and
// .d.ts files as CommonJS, and the one import.meta.url (src/package_root.ts)
// becomes the CommonJS file's URL.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const out = path.resolve(__dirname, '..', 'dist', 'cjs');
if (!fs.existsSync(path.join(out, 'api.js'))) {
  console.error(`build-cjs: ${out}/api.js is missing; run tsc -p tsconfig.cjs.json first`);
  process.exit(1);
}
// src/index.ts awaits TRAX_BACKEND=webgpu's device at the top level, which CommonJS
// cannot; require('trax-ts') gets the same API (select webgpu with await setBackend).
fs.writeFileSync(path.join(out, 'index.js'), "'use strict';\nmodule.exports = require('./api.js');\n");
fs.writeFileSync(path.join(out, 'index.d.ts'), "export * from './api.js';\n");
fs.writeFileSync(path.join(out, 'package.json'), JSON.stringify({ type: 'commonjs' }) + '\n');

const rootFile = path.join(out, 'package_root.js');
const src = fs.readFileSync(rootFile, 'utf8');
const cjsUrl = 'require("node:url").pathToFileURL(__filename).href';
// An incremental tsc run leaves an unchanged file as this script left it.
if (!src.includes('import.meta.url') && !src.includes(cjsUrl)) {
  console.error(`build-cjs: ${rootFile} no longer reads import.meta.url; update scripts/build-cjs.cjs`);
  process.exit(1);
}
fs.writeFileSync(rootFile, src.replace(/import\.meta\.url/g, cjsUrl));

// Anything else that reads import.meta would fail to parse as CommonJS.
const bad = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.js') && fs.readFileSync(p, 'utf8').includes('import.meta')) bad.push(path.relative(out, p));
  }
})(out);
if (bad.length) {
  console.error(`build-cjs: import.meta outside src/package_root.ts breaks the CommonJS build: ${bad.join(', ')}`);
  process.exit(1);
}
