#!/usr/bin/env node
// Install step for the native CPU addon. In order:
//  1. build/Release/trax_native.node built from these very sources for this
//     Node ABI (recorded in build/Release/trax-build.json): nothing to do;
//  2. the binary shipped in prebuilds/<platform>-<arch>/ (N-API, so any Node
//     version) was built from these sources and loads: nothing to do;
//  3. otherwise build from source with the node-gyp that ships inside npm.
// A failed build is not fatal: the package then runs on its pure TypeScript
// backend, and we say how to fix it. `--force` (or TRAX_BUILD_FROM_SOURCE=1)
// always builds; TRAX_SKIP_NATIVE=1 never does.
'use strict';

const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'build', 'Release', 'trax_native.node');
const stampFile = path.join(root, 'build', 'Release', 'trax-build.json');

function warn(reason) {
  console.warn(
    `\ntrax-ts: WARNING: the native CPU addon was not built (${reason}).\n` +
    'trax-ts will still work, using its much slower pure TypeScript backend.\n' +
    'To get the native backend: install a C++ compiler (g++ or clang), make and python3,\n' +
    'then run `npm rebuild trax-ts` (or `npm run install` inside the trax-ts checkout).\n');
}

/** SHA-256 over binding.gyp and native/*: what the binary is built from. */
function sourcesHash() {
  const h = crypto.createHash('sha256');
  const files = ['binding.gyp', ...fs.readdirSync(path.join(root, 'native')).sort().map((f) => path.join('native', f))];
  for (const f of files) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(root, f)));
  }
  return h.digest('hex');
}

/** The prebuilt binaries for this platform, in the loader's order (src/backends/native.ts). */
function prebuiltCandidates() {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const libc = process.platform !== 'linux' ? [] : fs.existsSync('/etc/alpine-release') ? ['node.napi.musl.node'] : ['node.napi.glibc.node'];
  return [...libc, 'node.napi.node'].map((f) => path.join(dir, f));
}

function readJson(file) {
  try { return JSON.parse(fs.readFileSync(file, 'utf8')); } catch { return null; }
}

function loads(file) {
  try { require(file); return true; } catch { return false; }
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

/** node-gyp downloads Node's headers unless told where they are: use the running Node's own when it has them. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.dirname(path.dirname(process.execPath));
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function build(hash) {
  if (!fs.existsSync(path.join(root, 'binding.gyp'))) { warn('binding.gyp is missing from the package'); return false; }
  const gyp = findNodeGyp();
  if (!gyp) { warn('could not find node-gyp (it normally ships with npm)'); return false; }
  console.log('trax-ts: building the native addon from source (about a minute)...');
  const r = spawnSync(process.execPath, [gyp, 'rebuild', ...nodedirArgs()], { cwd: root, stdio: 'inherit', env: process.env });
  if (r.error) { warn(`could not run node-gyp: ${r.error.message}`); return false; }
  if (r.status !== 0) {
    warn(`node-gyp exited with ${r.signal ? `signal ${r.signal}` : `status ${r.status}`}; see the compiler output above`);
    return false;
  }
  if (!fs.existsSync(out)) { warn(`the build finished but ${out} is missing`); return false; }
  fs.writeFileSync(stampFile, JSON.stringify({ sources: hash, modules: process.versions.modules, napi: process.versions.napi }) + '\n');
  console.log(`trax-ts: built native addon ${path.relative(root, out)}`);
  return true;
}

/**
 * What install should do: 'skip' (TRAX_SKIP_NATIVE), 'up-to-date' (the local
 * build matches), 'prebuilt' (the shipped binary matches and loads) or 'build'.
 */
function plan(argv, env = process.env) {
  if (env.TRAX_SKIP_NATIVE === '1') return { action: 'skip', file: null };
  const hash = sourcesHash();
  if (argv.includes('--force') || env.TRAX_BUILD_FROM_SOURCE === '1') return { action: 'build', file: out, hash };
  const stamp = readJson(stampFile);
  if (stamp && stamp.sources === hash && stamp.modules === process.versions.modules && fs.existsSync(out)) {
    return { action: 'up-to-date', file: out, hash };
  }
  const shipped = readJson(path.join(root, 'prebuilds', 'sources.json'));
  const pre = prebuiltCandidates().find((f) => fs.existsSync(f));
  // The loader prefers build/Release, so a stale local build must be replaced, not skipped.
  if (pre && shipped && shipped.sources === hash && !fs.existsSync(out) && loads(pre)) return { action: 'prebuilt', file: pre, hash };
  return { action: 'build', file: out, hash };
}

/** Builds if needed; returns the addon in use, or null. */
function main(argv) {
  const p = plan(argv);
  switch (p.action) {
    case 'skip':
      console.log('trax-ts: TRAX_SKIP_NATIVE=1, not building the native addon (pure TypeScript backend will be used).');
      return null;
    case 'up-to-date':
      console.log(`trax-ts: native addon ${path.relative(root, p.file)} is up to date`);
      return p.file;
    case 'prebuilt':
      console.log(`trax-ts: using the prebuilt native addon ${path.relative(root, p.file)}`);
      return p.file;
    default:
      return build(p.hash) ? out : null;
  }
}

module.exports = { sourcesHash, prebuiltCandidates, plan, main };

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    warn(`unexpected error: ${e && e.message ? e.message : e}`);
  }
  process.exitCode = 0;
}
