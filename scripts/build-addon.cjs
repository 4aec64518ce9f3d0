#!/usr/bin/env node
// Builds the optional native CPU addon (build/Release/trax_native.node) with
// the node-gyp that ships inside npm. A failed build is not fatal: the package
// then runs on its pure TypeScript backend, and we say how to fix it.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function warn(reason) {
  console.warn(
    `\ntrax-ts: WARNING: the native CPU addon was not built (${reason}).\n` +
    'trax-ts will still work, using its much slower pure TypeScript backend.\n' +
    'To get the native backend: install a C++ compiler (g++ or clang), make and python3,\n' +
    'then run `npm rebuild trax-ts` (or `npm run install` inside the trax-ts checkout).\n');
}

function findNodeGyp() {
  const candidates = [];
  // npm sets this for lifecycle scripts.
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  // npm's own copy, relative to the running npm (npm_execpath) or to node.
  if (process.env.npm_execpath) {
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  const prefix = path.dirname(path.dirname(process.execPath));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try { candidates.push(require.resolve('node-gyp/bin/node-gyp.js')); } catch { /* not installed locally */ }
  return candidates.find((p) => { try { return fs.statSync(p).isFile(); } catch { return false; } });
}

function main() {
  if (process.env.TRAX_SKIP_NATIVE === '1') {
    console.log('trax-ts: TRAX_SKIP_NATIVE=1, not building the native addon (pure TypeScript backend will be used).');
    return;
  }
  if (!fs.existsSync(path.join(root, 'binding.gyp'))) {
    warn('binding.gyp is missing from the package');
    return;
  }
  const gyp = findNodeGyp();
  if (!gyp) {
    warn('could not find node-gyp (it normally ships with npm)');
    return;
  }
  const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit', env: process.env });
  if (r.error) { warn(`could not run node-gyp: ${r.error.message}`); return; }
  if (r.status !== 0) {
    warn(`node-gyp exited with ${r.signal ? `signal ${r.signal}` : `status ${r.status}`}; see the compiler output above`);
    return;
  }
  const out = path.join(root, 'build', 'Release', 'trax_native.node');
  if (!fs.existsSync(out)) { warn(`the build finished but ${out} is missing`); return; }
  console.log(`trax-ts: built native addon ${path.relative(root, out)}`);
}

try {
  main();
} catch (e) {
  warn(`unexpected error: ${e && e.message ? e.message : e}`);
}
process.exitCode = 0;
