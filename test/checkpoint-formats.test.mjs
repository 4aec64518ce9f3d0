// Tests for Trax checkpoints, .npy and safetensors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP_PY, runPython } from './helpers/python.mjs';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, gunzipSync } from 'node:zlib';

import {
  readTraxCheckpoint, readTraxCheckpointSync, writeTraxCheckpoint, writeSafetensors, readSafetensors,
  writeWeightsNpyGz, readWeightsNpyGz, CheckpointError,
} from '../dist/src/io/trax_checkpoint.js';
import {
  readNpy, readNpyRecords, writeNpy, writeNpyRecords, NpyError,
} from '../dist/src/io/npy.js';
import { parseSafetensors, serializeSafetensors, SafetensorsError } from '../dist/src/io/safetensors.js';
import { ndarray, ndarrayEqual, toFloat32, toInt32, DTYPES } from '../dist/src/io/ndarray.js';
import { PickleError, PickledShapeDtype, isPyTuple } from '../dist/src/io/pickle.js';
import { writePickle } from '../dist/src/io/pickle_writer.js';

const here = dirname(fileURLToPath(import.meta.url));
const LM = join(here, 'fixtures', 'trax', 'transformerlm_copy.pkl.gz');
const ENCDEC = join(here, 'fixtures', 'trax', 'transformer_copy.pkl.gz');

const work = mkdtempSync(join(tmpdir(), 'trax-ts-ckpt-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const python = (code) => runPython(code).toString('utf8').trim();

/** TransformerLM flat weight shapes in reference §3.4 order (old 3-D positional table). */
function transformerLmShapes({ vocab, d, dff, nLayers, maxLen }) {
  const shapes = [[vocab, d], [1, maxLen, d]];
  for (let b = 0; b < nLayers; b++) {
    shapes.push([d], [d]); // LayerNorm
    for (let k = 0; k < 4; k++) shapes.push([d, d], [d]); // Q, K, V, Out
    shapes.push([d], [d]); // LayerNorm
    shapes.push([d, dff], [dff], [dff, d], [d]); // FF1, FF2
  }
  shapes.push([d], [d], [d, vocab], [vocab]);
  return shapes;
}

// ---------------------------------------------------------------------------
// real fixtures

test('reads the TransformerLM trainer_lib fixture', async () => {
  const c = await readTraxCheckpoint(LM);
  assert.equal(c.format, 'trainer_lib');
  assert.equal(c.step, 5100);
  assert.equal(c.versionTimestamp, 'Jun-18-2020');
  assert.equal(c.flatWeights.length, 38);
  const expected = transformerLmShapes({ vocab: 13, d: 64, dff: 128, nLayers: 2, maxLen: 256 });
  assert.deepEqual(c.flatWeights.map((w) => w.shape), expected);
  assert.ok(c.flatWeights.every((w) => w.dtype === 'float32'));
  assert.equal(c.flatWeights.reduce((s, w) => s + w.data.length, 0), 13 * 64 + 256 * 64 + 2 * 33472 + 128 + 13 * 64 + 13);
  assert.equal(c.flatState.length, 7);
  for (const s of c.flatState) {
    assert.deepEqual(/** @type {any} */ (s).shape, []);
    assert.equal(/** @type {any} */ (s).data[0], Math.fround(0.05));
  }
  assert.ok(isPyTuple(c.inputSignature));
  assert.deepEqual(c.inputSignature.map((s) => [/** @type {any} */ (s).shape, /** @type {any} */ (s).dtype]),
    [[[128, 12], 'int64'], [[128, 12], 'int64'], [[128, 12], 'float64']]);
  assert.equal(/** @type {any} */ (c.slots).length, 38);
  assert.deepEqual(c.slots[1].map((s) => s.shape), [[1, 256, 64], [1, 256, 64]]);
  assert.deepEqual(Object.keys(c.optParams), ['b1', 'b2', 'eps', 'learning_rate', 'weight_decay_rate']);
  assert.deepEqual(Object.keys(/** @type {any} */ (c.history)._values), ['train', 'eval']);
  // Spot-check values against numpy's reading of the same file.
  assert.equal(c.flatWeights[0].data[0], new DataView(Uint8Array.from([0xf9, 0xcc, 0x31, 0x3f]).buffer).getFloat32(0, true));
  assert.equal(readTraxCheckpointSync(LM).flatWeights[37].data.length, 13);
});

test('reads the encoder-decoder Transformer fixture', async () => {
  const c = await readTraxCheckpoint(ENCDEC);
  assert.equal(c.format, 'trainer_lib');
  assert.equal(c.step, 4500);
  assert.equal(c.flatWeights.length, 93);
  assert.deepEqual(c.flatWeights[0].shape, [13, 64]);
  assert.deepEqual(c.flatWeights[1].shape, [1, 256, 64]);
  assert.deepEqual(c.flatWeights[36].shape, [1, 256, 64]);
  assert.deepEqual(c.flatWeights[91].shape, [64, 13]);
  assert.equal(c.flatState.length, 15);
  assert.ok(c.flatState.every((s) => /** @type {any} */ (s).data[0] === Math.fround(0.05)));
  assert.deepEqual(/** @type {any} */ (c.inputSignature).map((s) => s.shape), [[128, 21], [128, 21], [128, 21]]);
});

test('values match numpy exactly', { skip: SKIP_PY }, async () => {
  const c = await readTraxCheckpoint(LM);
  const sums = python(`
import gzip, pickle, numpy as np
d = pickle.load(gzip.open(${JSON.stringify(LM)}))
print(' '.join(repr(float(np.asarray(w, np.float64).sum())) for w in d['flat_weights']))
`).split(' ').map(Number);
  c.flatWeights.forEach((w, i) => {
    let s = 0;
    for (const v of w.data) s += Number(v);
    assert.ok(Math.abs(s - sums[i]) <= 1e-9 * Math.max(1, Math.abs(s)), `weight ${i}: ${s} vs ${sums[i]}`);
  });
});

// ---------------------------------------------------------------------------
// writing Trax checkpoints

test('a written Trax checkpoint reads back byte-exactly and leaves no temp file', async () => {
  const src = /** @type {any} */ (await readTraxCheckpoint(LM));
  const path = join(work, 'model.pkl.gz');
  await writeTraxCheckpoint(path, {
    step: src.step, flatWeights: src.flatWeights, flatState: src.flatState, slots: src.slots,
    optParams: src.optParams, history: src.history, inputSignature: src.inputSignature,
  });
  assert.deepEqual(readdirSync(dirname(path)).filter((f) => f.endsWith('._tmp_')), []);
  const back = await readTraxCheckpoint(path);
  assert.equal(back.format, 'trainer_lib');
  assert.equal(back.step, 5100);
  assert.equal(back.flatWeights.length, 38);
  back.flatWeights.forEach((w, i) => assert.ok(ndarrayEqual(w, src.flatWeights[i]), `weight ${i}`));
  back.flatState.forEach((s, i) => assert.ok(ndarrayEqual(/** @type {any} */ (s), /** @type {any} */ (src.flatState[i]))));
  assert.ok(ndarrayEqual(back.slots[5][1], src.slots[5][1]));
  assert.deepEqual(back.inputSignature, src.inputSignature);
  assert.deepEqual(Object.keys(back.raw), [
    'step', 'flat_weights', 'slots', 'opt_params', 'history', 'flat_state', 'input_signature', 'version_timestamp',
  ]);
  assert.equal(back.raw.version_timestamp, 'Jun-18-2020');
  assert.deepEqual(/** @type {any} */ (back.history)._values.eval['metrics/loss'].length, /** @type {any} */ (src.history)._values.eval['metrics/loss'].length);
  // gzip level 2 like Trax: the header's XFL byte is 0 for levels 2-8.
  const bytes = readFileSync(path);
  assert.equal(bytes[0], 0x1f);
  assert.equal(bytes[8], 0);
});

test('minimal checkpoint with numbers and plain signatures', async () => {
  const path = join(work, 'small.pkl.gz');
  await writeTraxCheckpoint(path, {
    step: 3,
    flatWeights: [ndarray('float32', [2, 2], [1, 2, 3, 4])],
    flatState: [ndarray('float32', [], [0.1])],
    optParams: { learning_rate: 0.001 },
    history: { _values: { train: { 'metrics/loss': [[1, 2.5]] } } },
    inputSignature: [{ shape: [16, 10], dtype: 'int32' }, { shape: [16, 10], dtype: 'int32' }],
  });
  const c = await readTraxCheckpoint(path);
  assert.equal(c.step, 3);
  assert.deepEqual([...c.flatWeights[0].data], [1, 2, 3, 4]);
  assert.equal(/** @type {any} */ (c.optParams.learning_rate).data[0], Math.fround(0.001));
  assert.deepEqual(c.history, { _values: { train: { 'metrics/loss': [[1, 2.5]] } } });
  assert.ok(c.inputSignature[0] instanceof PickledShapeDtype);
  assert.deepEqual(c.inputSignature[1].shape, [16, 10]);
});

test('real Python loads a checkpoint we wrote, as Trax would', { skip: SKIP_PY }, async () => {
  const src = /** @type {any} */ (await readTraxCheckpoint(LM));
  const path = join(work, 'for_python.pkl.gz');
  await writeTraxCheckpoint(path, {
    step: src.step, flatWeights: src.flatWeights, flatState: src.flatState, slots: src.slots,
    optParams: src.optParams, history: src.history, inputSignature: src.inputSignature,
  });
  const out = python(`
import gzip, pickle, numpy as np, collections
a = pickle.load(gzip.open(${JSON.stringify(LM)}))
b = pickle.load(gzip.open(${JSON.stringify(path)}))
assert list(a.keys()) == list(b.keys())
assert b['step'] == 5100 and b['version_timestamp'] == 'Jun-18-2020'
assert len(b['flat_weights']) == 38
for x, y in zip(a['flat_weights'], b['flat_weights']):
  assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
assert type(b['slots']) is tuple and all(type(s) is tuple for s in b['slots'])
for x, y in zip(a['slots'], b['slots']):
  assert all(np.array_equal(p, q) for p, q in zip(x, y))
assert {k: float(v) for k, v in a['opt_params'].items()} == {k: float(v) for k, v in b['opt_params'].items()}
assert all(v.shape == () and v.dtype == np.float32 for v in b['opt_params'].values())
h = b['history']
assert type(h).__name__ == 'History'
assert isinstance(h._values['train'], collections.defaultdict) and h._values['train'].default_factory is list
assert [(s, float(v)) for s, v in h._values['train']['metrics/loss']] == [(s, float(v)) for s, v in a['history']._values['train']['metrics/loss']]
assert [float(s) for s in b['flat_state']] == [float(s) for s in a['flat_state']]
sig = b['input_signature']
assert type(sig) is tuple and [(s.shape, s.dtype) for s in sig] == [((128, 12), np.int64), ((128, 12), np.int64), ((128, 12), np.float64)]
print('ok')
`);
  assert.equal(out, 'ok');
});

test('reads a Loop-format checkpoint (weights in model.weights.npy.gz)', { skip: SKIP_PY }, async () => {
  const dir = join(work, 'loop');
  mkdirSync(dir);
  python(`
import gzip, pickle, numpy as np
d = ${JSON.stringify(dir)}
ws = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], np.int32), np.zeros((0,), np.float32)]
with gzip.GzipFile(d + '/model.weights.npy.gz', 'wb', compresslevel=2) as f:
  for w in ws: np.save(f, w, allow_pickle=False)
with gzip.GzipFile(d + '/model.opt_slots0.npy.gz', 'wb', compresslevel=2) as f:
  np.save(f, np.ones((2, 3), np.float32), allow_pickle=False)
state = {'step': 7, 'flat_weights': 2, 'flat_state': [np.array(0.1, np.float32)], 'flat_eval_state': [],
         'history': {'_values': {}}, 'slots_per_task': 1, 'input_signature': None,
         'version_timestamp': 'Mar-10-2021'}
for name in ('model.pkl.gz', 'model_7.pkl.gz'):
  with gzip.GzipFile(d + '/' + name, 'wb', compresslevel=2) as f:
    pickle.dump(state, f, protocol=3)
import shutil
shutil.copy(d + '/model.weights.npy.gz', d + '/model_7.weights.npy.gz')
`);
  for (const name of ['model.pkl.gz', 'model_7.pkl.gz']) {
    const c = await readTraxCheckpoint(join(dir, name));
    assert.equal(c.format, 'loop');
    assert.equal(c.step, 7);
    assert.deepEqual(c.flatWeights.map((w) => [w.dtype, w.shape]), [['float32', [2, 3]], ['int32', [2]], ['float32', [0]]]);
    assert.deepEqual([...c.flatWeights[0].data], [0, 1, 2, 3, 4, 5]);
    assert.equal(c.flatState.length, 1);
    assert.equal(c.versionTimestamp, 'Mar-10-2021');
  }
  const c = await readTraxCheckpoint(join(dir, 'model.pkl.gz'));
  assert.deepEqual(c.slots[0][0].shape, [2, 3]);
});

test('Loop weights file we write is read by numpy', { skip: SKIP_PY }, async () => {
  const path = join(work, 'w.weights.npy.gz');
  const ws = [ndarray('float32', [2, 2], [1, 2, 3, 4.5]), ndarray('int64', [3], [1, 2, -3]), ndarray('bool', [], [1])];
  await writeWeightsNpyGz(path, ws);
  assert.ok(readWeightsNpyGz(path).every((w, i) => ndarrayEqual(w, ws[i])));
  const out = python(`
import gzip, numpy as np
res = []
with gzip.GzipFile(${JSON.stringify(path)}) as f:
  while True:
    try: res.append(np.load(f, allow_pickle=False))
    except Exception: break
print(repr([(str(r.dtype), r.shape, r.tolist()) for r in res]))
`);
  assert.equal(out, "[('float32', (2, 2), [[1.0, 2.0], [3.0, 4.5]]), ('int64', (3,), [1, 2, -3]), ('bool', (), True)]");
});

// ---------------------------------------------------------------------------
// npy

test('npy round trips for every dtype, 0-d and empty arrays', () => {
  for (const dtype of DTYPES) {
    const a = ndarray(dtype, [3, 2]);
    const b = new Uint8Array(a.data.buffer);
    for (let i = 0; i < b.length; i++) b[i] = (i * 29 + 3) & 0xff;
    if (dtype === 'bool') a.data.forEach((_, i) => { a.data[i] = i & 1; });
    const back = readNpy(writeNpy(a));
    // bfloat16 is stored as uint16 bits (like Trax); everything else is exact.
    assert.equal(back.dtype, dtype === 'bfloat16' ? 'uint16' : dtype);
    assert.deepEqual(new Uint8Array(back.data.buffer), b);
    assert.deepEqual(back.shape, [3, 2]);
  }
  const zero = readNpy(writeNpy(ndarray('float64', [], [Math.PI])));
  assert.deepEqual(zero.shape, []);
  assert.equal(zero.data[0], Math.PI);
  assert.deepEqual(readNpy(writeNpy(ndarray('int32', [0, 5]))).shape, [0, 5]);
  const rec = writeNpyRecords([ndarray('float32', [1], [1]), ndarray('int32', [2], [7, 8])]);
  const arrays = readNpyRecords(rec);
  assert.equal(arrays.length, 2);
  assert.deepEqual([...arrays[1].data], [7, 8]);
  assert.equal(writeNpy(ndarray('float32', [7])).indexOf(0x0a) % 64, 63, 'data starts on a 64-byte boundary');
});

test('we read .npy files numpy writes (v1/v2/v3, fortran, big-endian) and numpy reads ours', { skip: SKIP_PY }, () => {
  const dir = join(work, 'npy');
  mkdirSync(dir);
  writeFileSync(join(dir, 'ours.npy'), writeNpy(ndarray('float16', [2, 2], [1, -2, 0.5, 65504])));
  python(`
import numpy as np
from numpy.lib import format as fmt
d = ${JSON.stringify(dir)}
a = np.arange(12, dtype=np.float32).reshape(3, 4)
np.save(d + '/v1.npy', a)
for v in ((2, 0), (3, 0)):
  with open(d + '/v%d.npy' % v[0], 'wb') as f: fmt.write_array(f, a, version=v)
np.save(d + '/fortran.npy', np.asfortranarray(a.astype(np.int64)))
np.save(d + '/big.npy', a.astype('>f8'))
np.save(d + '/bool.npy', np.array([[True, False]]))
np.save(d + '/obj.npy', np.array([1, 'x'], dtype=object), allow_pickle=True)
with open(d + '/multi.npy', 'wb') as f:
  np.save(f, a); np.save(f, np.array(3, np.uint8))
b = np.load(d + '/ours.npy', allow_pickle=False)
assert b.dtype == np.float16 and b.tolist() == [[1.0, -2.0], [0.5, 65504.0]]
`);
  const want = Array.from({ length: 12 }, (_, i) => i);
  for (const v of ['v1', 'v2', 'v3']) {
    const a = readNpy(readFileSync(join(dir, `${v}.npy`)));
    assert.deepEqual(a.shape, [3, 4]);
    assert.deepEqual([...a.data], want, v);
  }
  const f = readNpy(readFileSync(join(dir, 'fortran.npy')));
  assert.equal(f.dtype, 'int64');
  assert.deepEqual([...toInt32(f)], want);
  const big = readNpy(readFileSync(join(dir, 'big.npy')));
  assert.equal(big.dtype, 'float64');
  assert.deepEqual([...toFloat32(big)], want);
  assert.deepEqual([...readNpy(readFileSync(join(dir, 'bool.npy'))).data], [1, 0]);
  assert.throws(() => readNpy(readFileSync(join(dir, 'obj.npy'))), /object array/);
  const multi = readNpyRecords(readFileSync(join(dir, 'multi.npy')));
  assert.equal(multi.length, 2);
  assert.equal(multi[1].data[0], 3);
});

// ---------------------------------------------------------------------------
// safetensors

test('safetensors round trip with config metadata, atomically', async () => {
  const tensors = new Map([
    ['embed', ndarray('float32', [2, 3], [1, 2, 3, 4, 5, 6])],
    ['ids', ndarray('int64', [2], [1, -1])],
    ['half', ndarray('bfloat16', [1], [1.5])],
    ['scalar', ndarray('float64', [], [2.5])],
    ['flag', ndarray('bool', [3], [1, 0, 1])],
  ]);
  const path = join(work, 'model.safetensors');
  await writeSafetensors(path, tensors, { config: { d_model: 64, n_layers: 2 } });
  assert.deepEqual(readdirSync(dirname(path)).filter((f) => f.endsWith('._tmp_')), []);
  const back = await readSafetensors(path);
  assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
  for (const [k, v] of tensors) assert.ok(ndarrayEqual(back.tensors.get(k), v), k);
  assert.deepEqual(back.config, { d_model: 64, n_layers: 2 });
  assert.equal(back.metadata.format, 'trax-ts');
  // header length keeps the data 8-byte aligned
  const bytes = readFileSync(path);
  assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
  // A list of weights keeps its order even past index 9.
  const list = Array.from({ length: 12 }, (_, i) => ndarray('int32', [1], [i]));
  const p2 = join(work, 'list.safetensors');
  await writeSafetensors(p2, list);
  const b2 = await readSafetensors(p2);
  assert.deepEqual([...b2.tensors.values()].map((t) => t.data[0]), list.map((_, i) => i));
});

test('safetensors validation errors', () => {
  const good = serializeSafetensors({ a: ndarray('float32', [2], [1, 2]), b: ndarray('int32', [1], [3]) });
  const header = (obj) => {
    const j = Buffer.from(JSON.stringify(obj));
    const out = Buffer.alloc(8 + j.length + 12);
    out.writeBigUInt64LE(BigInt(j.length));
    j.copy(out, 8);
    return new Uint8Array(out);
  };
  assert.throws(() => parseSafetensors(good.subarray(0, 5)), SafetensorsError);
  assert.throws(() => parseSafetensors(good.subarray(0, 20)), /truncated safetensors data/);
  assert.throws(() => parseSafetensors(good.subarray(0, good.length - 1)), /cover 12 bytes but the data buffer has 11|beyond/);
  const huge = Uint8Array.from(good);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 60n, true);
  assert.throws(() => parseSafetensors(huge), /declared header size .* too large/);
  const notJson = Uint8Array.from(good);
  notJson[8] = 0x7b + 1;
  assert.throws(() => parseSafetensors(notJson), /not valid UTF-8 JSON/);
  assert.throws(() => parseSafetensors(header({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } })), /overlap or gap/);
  assert.throws(() => parseSafetensors(header({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } })), /beyond the 12-byte data buffer/);
  assert.throws(() => parseSafetensors(header({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } })), /needs 8 bytes/);
  assert.throws(() => parseSafetensors(header({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 12] } })), /unsupported dtype/);
  assert.throws(() => parseSafetensors(header({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 12] } })), /invalid shape/);
  assert.throws(() => parseSafetensors(header({ a: { dtype: 'F32', shape: [3], data_offsets: [12, 0] } })), /end before they begin/);
  assert.throws(() => parseSafetensors(header({ __metadata__: { x: 1 }, a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } })), /__metadata__\.x is not a string/);
  assert.throws(() => parseSafetensors(header([1, 2])), /expected a JSON object/);
});

// ---------------------------------------------------------------------------
// malformed checkpoints

test('clear errors for bad checkpoint files', async () => {
  const notGz = join(work, 'not.pkl.gz');
  writeFileSync(notGz, 'hello, this is text');
  await assert.rejects(readTraxCheckpoint(notGz), (e) => e instanceof CheckpointError && /^not gzip: /.test(e.message));

  const full = readFileSync(LM);
  const trunc = join(work, 'trunc.pkl.gz');
  writeFileSync(trunc, full.subarray(0, 50000));
  await assert.rejects(readTraxCheckpoint(trunc), /truncated gzip/);

  const truncPickle = join(work, 'trunc_pickle.pkl.gz');
  writeFileSync(truncPickle, gzipSync(gunzipSync(full).subarray(0, 300000)));
  await assert.rejects(readTraxCheckpoint(truncPickle), (e) => e instanceof PickleError && /truncated pickle/.test(e.message));

  const noWeights = join(work, 'noweights.pkl.gz');
  writeFileSync(noWeights, gzipSync(writePickle({ step: 1 })));
  await assert.rejects(readTraxCheckpoint(noWeights), /not a Trax checkpoint: missing key flat_weights/);

  const aList = join(work, 'list.pkl.gz');
  writeFileSync(aList, gzipSync(writePickle([1, 2])));
  await assert.rejects(readTraxCheckpoint(aList), /not a Trax checkpoint: .* holds a list/);

  const evil = join(work, 'evil.pkl.gz');
  writeFileSync(evil, gzipSync(Buffer.from('\x80\x03cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.', 'latin1')));
  await assert.rejects(readTraxCheckpoint(evil), /refusing to load pickle global os\.system/);

  const loopMissing = join(work, 'loopmissing.pkl.gz');
  writeFileSync(loopMissing, gzipSync(writePickle({ step: 1, flat_weights: 2, flat_state: [] })));
  await assert.rejects(readTraxCheckpoint(loopMissing), /keeps its weights in a separate file/);

  await assert.rejects(readTraxCheckpoint(join(work, 'does-not-exist.pkl.gz')), /ENOENT/);
});

test('clear errors for truncated or malformed .npy', () => {
  const good = writeNpy(ndarray('float32', [4], [1, 2, 3, 4]));
  assert.throws(() => readNpy(good.subarray(0, 5)), (e) => e instanceof NpyError && /truncated \.npy/.test(e.message));
  assert.throws(() => readNpy(good.subarray(0, 40)), /truncated \.npy data at byte 0: header needs/);
  assert.throws(() => readNpy(good.subarray(0, good.length - 3)), /truncated \.npy data at byte 0: float32\[4\] needs 16 bytes, 13 remain/);
  assert.throws(() => readNpyRecords(Buffer.concat([good, good.subarray(0, 70)])), new RegExp(`truncated \\.npy data at byte ${good.length}`));
  assert.throws(() => readNpy(new TextEncoder().encode('PK\x03\x04 not npy at all')), /missing \\x93NUMPY magic/);
  const badHeader = Uint8Array.from(good);
  badHeader.set(new TextEncoder().encode("{'descr': '<c8'"), 10);
  assert.throws(() => readNpy(badHeader), /unsupported \.npy dtype|bad \.npy header/);
  const v9 = Uint8Array.from(good);
  v9[6] = 9;
  assert.throws(() => readNpy(v9), /unsupported \.npy format version 9/);
  assert.throws(() => readNpy(Buffer.concat([good, Buffer.from([0])])), /unexpected 1 bytes after/);
});

test('no temp files are left in the work dir', () => {
  assert.deepEqual(readdirSync(work).filter((f) => f.endsWith('._tmp_')), []);
});
