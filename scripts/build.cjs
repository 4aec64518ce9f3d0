#!/usr/bin/env node
// npm run build (and prepare): the ES module build (dist/src, dist/bench,
// dist/examples), the CommonJS build (dist/cjs), the executable bin. Skipped
// when the TypeScript sources and configs hash to what the last build
// recorded and its outputs are there, so `npm install` and the first
// `npx trax-ts` in the checkout do not compile again; `--force` always builds.
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const stampFile = path.join(root, 'dist', '.build-stamp.json');

function inputsHash() {
  const h = crypto.createHash('sha256');
  const files = ['package.json', 'tsconfig.json', 'tsconfig.cjs.json', 'scripts/build-cjs.cjs'];
  const walk = (dir) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) files.push(rel);
    }
  };
  for (const d of ['src', 'bench', 'examples']) if (fs.existsSync(path.join(root, d))) walk(d);
  for (const f of files.sort()) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(root, f)));
  }
  h.update(process.versions.node.split('.')[0]);
  return h.digest('hex');
}

function run(args) {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const hash = inputsHash();
let stamp = null;
try { stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8')); } catch { /* first build */ }
const outputs = ['dist/src/index.js', 'dist/src/apps/cli/main.js', 'dist/cjs/index.js', 'dist/cjs/package.json'];
if (!process.argv.includes('--force') && stamp && stamp.inputs === hash && outputs.every((f) => fs.existsSync(path.join(root, f)))) {
  console.log('trax-ts: dist/ is up to date with the sources');
} else {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  run([tsc, '-p', 'tsconfig.json']);
  run([tsc, '-p', 'tsconfig.cjs.json']);
  run([path.join(__dirname, 'build-cjs.cjs')]);
  fs.writeFileSync(stampFile, JSON.stringify({ inputs: hash }) + '\n');
}
run([path.join(__dirname, 'chmod-bin.cjs')]);
