#!/usr/bin/env node
// Puts this platform's native addon into prebuilds/<platform>-<arch>/ (the
// node-gyp-build layout; N-API, so one binary serves every Node version) and
// records the sources it was built from in prebuilds/sources.json. Runs before
// `npm pack` / `npm publish`: the addon is rebuilt first when its sources
// changed, and packing fails when it cannot be built, so a package never
// ships a binary that does not match its native/ folder.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const addon = require('./build-addon.cjs');

const root = path.resolve(__dirname, '..');

function fail(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

if (process.env.TRAX_SKIP_NATIVE === '1') fail('TRAX_SKIP_NATIVE=1: cannot make a prebuilt binary');
const built = addon.main([]);
const local = path.join(root, 'build', 'Release', 'trax_native.node');
if (built !== local) fail(`${local} could not be built from these sources (see above)`);

const target = addon.prebuiltCandidates()[0];
fs.mkdirSync(path.dirname(target), { recursive: true });
const tmp = `${target}.${process.pid}.tmp`;
fs.copyFileSync(local, tmp);
// Debug symbols are half the file; the package does not need them.
const strip = spawnSync('strip', ['--strip-unneeded', tmp], { stdio: 'inherit' });
if (strip.error || strip.status !== 0) console.warn('prebuild: strip failed; shipping the unstripped binary');
fs.renameSync(tmp, target);
fs.writeFileSync(path.join(root, 'prebuilds', 'sources.json'), JSON.stringify({ sources: addon.sourcesHash() }) + '\n');
console.log(`prebuild: ${path.relative(root, target)} (${(fs.statSync(target).size / 1024).toFixed(0)} KiB)`);
