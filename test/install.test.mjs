// Install and build steps stay fast on repeat runs: the addon is rebuilt only
// when native/, binding.gyp or the Node ABI change, a shipped prebuilt binary
// is used when it matches the sources, and `npm run build` skips compiling
// when the TypeScript sources are unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'trax-ts-install-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const require = createRequire(import.meta.url);

/** A copy of the parts of the package the install step looks at. */
function packageCopy(name) {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  cpSync(join(root, 'native'), join(dir, 'native'), { recursive: true });
  copyFileSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
  copyFileSync(join(root, 'scripts', 'build-addon.cjs'), join(dir, 'scripts', 'build-addon.cjs'));
  return { dir, addon: require(join(dir, 'scripts', 'build-addon.cjs')) };
}

const built = join(root, 'build', 'Release', 'trax_native.node');

test('the addon is rebuilt only when its sources or the Node ABI change', () => {
  const { dir, addon } = packageCopy('local');
  assert.equal(addon.plan([]).action, 'build', 'nothing built yet');
  mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
  writeFileSync(join(dir, 'build', 'Release', 'trax_native.node'), 'binary');
  const stamp = (o) => writeFileSync(join(dir, 'build', 'Release', 'trax-build.json'), JSON.stringify(o));
  assert.equal(addon.plan([]).action, 'build', 'a build without a record of its sources');
  stamp({ sources: addon.sourcesHash(), modules: process.versions.modules });
  assert.equal(addon.plan([]).action, 'up-to-date');
  assert.equal(addon.plan(['--force']).action, 'build');
  assert.equal(addon.plan([], { TRAX_SKIP_NATIVE: '1' }).action, 'skip');
  stamp({ sources: addon.sourcesHash(), modules: '1' });
  assert.equal(addon.plan([]).action, 'build', 'another Node ABI');
  stamp({ sources: addon.sourcesHash(), modules: process.versions.modules });
  writeFileSync(join(dir, 'native', 'pool.h'), readFileSync(join(dir, 'native', 'pool.h'), 'utf8') + '\n// changed\n');
  assert.equal(addon.plan([]).action, 'build', 'a changed source file');
});

test('a shipped prebuilt binary is used when it matches the sources and loads', { skip: !existsSync(built) && 'no native build here' }, () => {
  const { dir, addon } = packageCopy('prebuilt');
  const target = addon.prebuiltCandidates()[0];
  assert.match(target, new RegExp(`prebuilds[\\\\/]${process.platform}-${process.arch}[\\\\/]node\\.napi\\.`));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(built, target);
  assert.equal(addon.plan([]).action, 'build', 'no record of what the binary was built from');
  writeFileSync(join(dir, 'prebuilds', 'sources.json'), JSON.stringify({ sources: addon.sourcesHash() }));
  assert.deepEqual([addon.plan([]).action, addon.plan([]).file], ['prebuilt', target]);
  writeFileSync(join(dir, 'prebuilds', 'sources.json'), JSON.stringify({ sources: 'other' }));
  assert.equal(addon.plan([]).action, 'build', 'built from other sources');
});

test('npm run build skips compiling when the sources are unchanged', () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.cjs')], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const again = spawnSync(process.execPath, [join(root, 'scripts', 'build.cjs')], { cwd: root, encoding: 'utf8' });
  assert.match(again.stdout, /dist\/ is up to date with the sources/);
  assert.ok(existsSync(join(root, 'dist', 'cjs', 'package.json')));
});
