// The engine's boundaries: only src/engine and src/backends look inside a
// tensor's storage, and every backend implements exactly the kernels the
// registry declares (the native addon's function table included).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as trax from '../dist/src/index.js';
import { KERNELS, KERNEL_NAMES, kernelCoverage, checkKernels } from '../dist/src/engine/registry.js';
import { jsBackend, jsKernels } from '../dist/src/backends/js.js';
import { loadNativeKernels, NATIVE_KERNELS, NATIVE_CONTROL, NATIVE_PLAN, NATIVE_PLAN_KERNELS } from '../dist/src/backends/native.js';
import { nativeAvailable, nativeReason } from './helpers/backends.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

// Synchronous reads of values, allowed only in these files: each is a sync
// API kept for the CPU backends (it throws, naming the backend, elsewhere).
const SYNC_READS_ALLOWED = new Map([
  ['src/training/step.ts', 'trainStep returns the loss as a number (Trainer.trainStepOn, Loop.run)'],
  ['src/io/model_io.ts', 'tensorToNd for the sync checkpoint writers (tensorToNdAsync reads any backend)'],
  ['src/optimizers/base.ts', 'treeUpdate statistics, read only where values are on the host'],
]);

/** Lines of a source file that read host storage; `file` is relative to the repository. */
function hostReads(file, text) {
  const found = [];
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    const at = `${file}:${i + 1}: ${line.trim()}`;
    // `this.buf` is a byte reader's own field (pickle, protobuf), not a tensor's.
    if (/(?<!\bthis)(?<=[\w\])])\.buf\b/.test(code)) found.push(at);
    if (/\.storage\b/.test(code)) found.push(at);
    if (/\breadSync\s*\(/.test(code)) found.push(at);
    if (/\.(dataSync|arraySync)\s*\(|\.item\s*\(\s*\)/.test(code) && !SYNC_READS_ALLOWED.has(file)) found.push(at);
  });
  return found;
}

test('no code outside src/engine and src/backends reads host storage', () => {
  const offenders = [];
  for (const p of sources(join(root, 'src'))) {
    const file = relative(root, p).split('\\').join('/');
    if (file.startsWith('src/engine/') || file.startsWith('src/backends/')) continue;
    offenders.push(...hostReads(file, readFileSync(p, 'utf8')));
  }
  assert.deepEqual(offenders, [], `host storage read outside the engine:\n${offenders.join('\n')}`);
});

test('the host-storage check catches each kind of read', () => {
  assert.equal(hostReads('src/layers/x.ts', 'const v = t.buf[0];').length, 1);
  assert.equal(hostReads('src/layers/x.ts', 'kernels().adam(w.storage, g.storage);').length, 1);
  assert.equal(hostReads('src/layers/x.ts', 'const a = t.dataSync();').length, 1);
  assert.equal(hostReads('src/layers/x.ts', 'const a = t.item();').length, 1);
  assert.equal(hostReads('src/training/step.ts', 'const a = t.item();').length, 0);
  assert.equal(hostReads('src/training/trainer.ts', 'const a = t.item();').length, 1);
  assert.equal(hostReads('src/io/pickle.ts', 'return this.buf[this.pos++];').length, 0);
  assert.equal(hostReads('src/data/x.ts', 'f(...buf);').length, 0);
  assert.equal(hostReads('src/layers/x.ts', 'const v = ts[0].buf;').length, 1);
  assert.equal(hostReads('src/layers/x.ts', 'const a = await t.data();').length, 0);
});

test('the registry declares each kernel once, with inputs, outputs and attributes in call order', () => {
  assert.equal(new Set(KERNEL_NAMES).size, KERNEL_NAMES.length);
  for (const name of KERNEL_NAMES) {
    const d = KERNELS[name];
    assert.equal(d.name, name);
    assert.ok(d.args.length > 0 && d.dtypes.length > 0, name);
    const named = d.args.map((a) => a.name);
    assert.deepEqual([...d.inputs, ...d.outputs, ...d.attrs].sort(), [...named].sort(), name);
    assert.ok(d.outputs.length > 0, `${name} writes no storage`);
  }
  // A kernel never returns a host value: sumSquares writes a one-element storage.
  assert.deepEqual(KERNELS.sumSquares.outputs, ['out']);
});

test('the js backend implements exactly the declared kernels', () => {
  assert.deepEqual(kernelCoverage(jsBackend.kernels), { missing: [], extra: [] });
  assert.deepEqual(Object.keys(jsKernels).sort(), [...KERNEL_NAMES].sort());
});

test('the native backend implements exactly the declared kernels', { skip: nativeAvailable ? false : nativeReason }, () => {
  const loaded = loadNativeKernels();
  assert.deepEqual(kernelCoverage(loaded.backend.kernels), { missing: [], extra: [] });
  for (const k of NATIVE_KERNELS) assert.ok(KERNEL_NAMES.includes(k), `${k} is implemented in C++ but not declared`);
});

test("native/addon.cc's function table is exactly native.ts's C++ kernels, control functions and plan executor", () => {
  const src = readFileSync(join(root, 'native', 'addon.cc'), 'utf8');
  const table = src.slice(src.indexOf('fns[] = {'));
  // Callbacks may be namespace-qualified (trax::PlanRun).
  const names = [...table.matchAll(/\{\s*"(\w+)"\s*,\s*[\w:]+\s*\}/g)].map((m) => m[1]);
  assert.ok(names.length > 10, 'could not find the function table in native/addon.cc');
  assert.deepEqual(names.slice().sort(), [...NATIVE_KERNELS, ...NATIVE_CONTROL, ...NATIVE_PLAN].sort());
});

test("native/plan.cc's kernel ids are native.ts's plan kernel list, each a declared kernel", () => {
  const src = readFileSync(join(root, 'native', 'plan.cc'), 'utf8');
  const table = src.slice(src.indexOf('kNames[] = {'), src.indexOf('};', src.indexOf('kNames[] = {')));
  const names = [...table.matchAll(/"(\w+)"/g)].map((m) => m[1]);
  assert.deepEqual(names, [...NATIVE_PLAN_KERNELS]);
  for (const k of NATIVE_PLAN_KERNELS) assert.ok(KERNEL_NAMES.includes(k), `${k} runs in plans but is not declared`);
});

test('a backend that lacks a declared kernel, or brings an undeclared one, is refused by name', async () => {
  const { attention: _omit, ...partial } = jsKernels;
  assert.throws(() => checkKernels('partial', partial), /backend 'partial': kernel table lacks attention/);
  assert.throws(() => checkKernels('extra', { ...jsKernels, fancyKernel() {} }), /implements undeclared fancyKernel/);
  trax.registerBackend('test-partial', () => ({ ...jsBackend, name: 'test-partial', kernels: partial }));
  const prev = trax.backendName();
  assert.throws(() => trax.setBackend('test-partial'), /lacks attention/);
  assert.equal(trax.backendName(), prev);
});

test('a backend registered with an async factory is selected by await setBackend', async () => {
  const prev = trax.backendName();
  trax.registerBackend('test-async', async () => ({ ...jsBackend, name: 'test-async' }));
  try {
    await trax.setBackend('test-async');
    assert.equal(trax.backendInfo().name, 'test-async');
    assert.deepEqual(trax.fastmath.add([1, 2], 3).dataSync(), Float32Array.of(4, 5));
  } finally { await trax.setBackend(prev); }
  assert.throws(() => trax.setBackend('nope'), /unknown backend 'nope'/);
});

test('values of a tensor on a device backend are read with await data(); sync reads name the backend', async () => {
  // A stand-in device backend: storage wrapped in an object, so nothing can index it.
  const wrap = (a) => ({ values: a });
  const device = {
    ...jsBackend, name: 'fakedevice', onHost: false, family: 'fakedevice',
    fromHost: (v) => wrap(v.slice()),
    read: async (s, _d, n) => s.values.slice(0, n),
    readSync: undefined,
  };
  const t = new trax.Tensor(wrap(Float32Array.of(1, 2, 3)), [3], 'float32', device);
  assert.deepEqual(await t.data(), Float32Array.of(1, 2, 3));
  assert.deepEqual(await t.array(), [1, 2, 3]);
  assert.throws(() => t.dataSync(), /dataSync\(\): this tensor is on the fakedevice backend; use await t.data\(\)/);
  assert.throws(() => t.arraySync(), /fakedevice backend/);
  assert.throws(() => t.item(), /3 values/);
  assert.throws(() => new trax.Tensor(wrap(Float32Array.of(1)), [], 'float32', device).item(), /fakedevice backend/);
  assert.match(String(t), /Tensor\(<on fakedevice>, shape=\[3\], dtype=float32\)/);
  const u = new trax.Tensor(wrap(Float32Array.of(1)), [1], 'float32', device);
  u.dispose();
  await assert.rejects(u.data(), /was disposed/);
  // Ops on the CPU backends do not silently read another family's storage.
  assert.throws(() => trax.fastmath.add(t, 1), /on the fakedevice backend but ops run on/);
});
