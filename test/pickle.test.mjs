// Tests for the safe pickle reader and the pickle writer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP_PY, runPython } from './helpers/python.mjs';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

import {
  unpickle as unpickleTyped, PickleError, isPyTuple, pyTuple, PickledShapeDtype,
} from '../dist/src/io/pickle.js';
import {
  writePickle, PyFloat, PyObject, PyDefaultDict, PyGlobalRef, NumpyScalar,
} from '../dist/src/io/pickle_writer.js';
import { ndarray, ndarrayEqual, DTYPES } from '../dist/src/io/ndarray.js';

/**
 * Unpickled values are whatever the pickle held: the tests read them freely.
 * @type {(bytes: Uint8Array) => any}
 */
const unpickle = unpickleTyped;

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = join(here, 'fixtures', 'trax', 'transformerlm_copy.pkl.gz');

// ---------------------------------------------------------------------------
// Python helpers (interop tests skip when python3 + numpy are absent)

const python = runPython;

// ---------------------------------------------------------------------------

test('unpickles the real Trax fixture into documented JS shapes', () => {
  const d = unpickle(gunzipSync(readFileSync(FIXTURE)));
  assert.equal(Object.getPrototypeOf(d), Object.prototype, 'str-keyed dict -> plain object');
  assert.deepEqual(Object.keys(d), [
    'step', 'flat_weights', 'slots', 'opt_params', 'history', 'flat_state', 'input_signature', 'version_timestamp',
  ]);
  assert.equal(d.step, 5100);
  assert.ok(Array.isArray(d.flat_weights) && !isPyTuple(d.flat_weights), 'list -> plain Array');
  assert.equal(d.flat_weights[0].dtype, 'float32');
  assert.deepEqual(d.flat_weights[0].shape, [13, 64]);
  assert.ok(d.flat_weights[0].data instanceof Float32Array);
  assert.ok(isPyTuple(d.slots) && isPyTuple(d.slots[0]), 'tuples are marked');
  assert.equal(d.slots.length, 38);
  assert.deepEqual(d.opt_params.b1.shape, []);
  assert.equal(d.opt_params.b1.data[0], Math.fround(0.9));
  // History -> its state dict; defaultdict -> plain object; entries are (step, 0-d array) tuples.
  const acc = d.history._values.train['metrics/accuracy'];
  assert.equal(acc[0][0], 1);
  assert.ok(isPyTuple(acc[0]));
  assert.equal(/** @type {any} */ (acc[0][1]).data[0], Math.fround(0.10407521));
  assert.ok(d.input_signature[0] instanceof PickledShapeDtype);
  assert.deepEqual(d.input_signature.map((s) => [s.shape, s.dtype]),
    [[[128, 12], 'int64'], [[128, 12], 'int64'], [[128, 12], 'float64']]);
  assert.equal(d.version_timestamp, 'Jun-18-2020');
});

test('plain Python values round-trip through writer and reader', () => {
  const shared = [1, 2];
  const value = {
    none: null, t: true, f: false, small: 7, neg: -3, mid: 40000, i32: -2147483648, big: 2 ** 40,
    huge: 123456789012345678901234567890n, negHuge: -(2n ** 70n), float: 1.5, whole: new PyFloat(2),
    nan: NaN, inf: -Infinity, str: 'héllo ✓ 𝄞', empty: '', bytes: new Uint8Array([0, 255, 10]),
    list: [1, [2, [3]]], tuple: pyTuple([1, 'a', pyTuple([])]), t4: pyTuple([1, 2, 3, 4]),
    intKeys: new Map([[1, 'one'], [2, 'two']]), set: new Set([1, 2]),
    shared: [shared, shared], long: Array.from({ length: 2500 }, (_, i) => i),
    ['__proto__']: 'kept as an ordinary key',
  };
  Object.defineProperty(value, '__proto__', { value: 'kept as an ordinary key', enumerable: true });
  const back = unpickle(writePickle(value));
  assert.equal(back.none, null);
  assert.equal(back.t, true);
  assert.equal(back.f, false);
  assert.equal(back.small, 7);
  assert.equal(back.neg, -3);
  assert.equal(back.mid, 40000);
  assert.equal(back.i32, -2147483648);
  assert.equal(back.big, 2 ** 40);
  assert.equal(back.huge, 123456789012345678901234567890n);
  assert.equal(back.negHuge, -(2n ** 70n));
  assert.equal(back.float, 1.5);
  assert.equal(back.whole, 2);
  assert.ok(Number.isNaN(back.nan));
  assert.equal(back.inf, -Infinity);
  assert.equal(back.str, 'héllo ✓ 𝄞');
  assert.equal(back.empty, '');
  assert.deepEqual(back.bytes, new Uint8Array([0, 255, 10]));
  assert.deepEqual(back.list, [1, [2, [3]]]);
  assert.ok(!isPyTuple(back.list));
  assert.ok(isPyTuple(back.tuple) && isPyTuple(back.tuple[2]));
  assert.deepEqual([...back.tuple.slice(0, 2)], [1, 'a']);
  assert.deepEqual([...back.t4], [1, 2, 3, 4]);
  assert.ok(back.intKeys instanceof Map, 'non-str keys -> Map');
  assert.equal(back.intKeys.get(2), 'two');
  assert.deepEqual(back.set, new Set([1, 2]));
  assert.equal(back.shared[0], back.shared[1], 'shared references stay shared');
  assert.equal(back.long.length, 2500);
  assert.equal(back.long[2499], 2499);
  assert.equal(Object.getOwnPropertyDescriptor(back, '__proto__').value, 'kept as an ordinary key');
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
});

test('self-referencing lists round-trip', () => {
  const l = /** @type {unknown[]} */ ([1]);
  l.push(l);
  const back = unpickle(writePickle(l));
  assert.equal(back[1], back);
});

test('NdArrays of every numpy dtype round-trip byte-exactly', () => {
  for (const dtype of DTYPES) {
    if (dtype === 'bfloat16') continue; // numpy has no bfloat16
    const n = 6;
    const a = ndarray(dtype, [2, 3]);
    const bytes = new Uint8Array(a.data.buffer);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + 11) & 0xff;
    if (dtype === 'bool') for (let i = 0; i < n; i++) a.data[i] = i % 2;
    const zeroD = ndarray(dtype, []);
    const back = unpickle(writePickle([a, zeroD, ndarray(dtype, [0, 4])]));
    assert.ok(ndarrayEqual(back[0], a), dtype);
    assert.ok(ndarrayEqual(back[1], zeroD), `${dtype} 0-d`);
    assert.deepEqual(back[2].shape, [0, 4]);
  }
  assert.throws(() => writePickle(ndarray('bfloat16', [1])), /bfloat16/);
});

test('ShapeDtype, History, defaultdict and numpy scalars round-trip', () => {
  const v = {
    sig: pyTuple([new PickledShapeDtype([16, 10], 'int32'), new PickledShapeDtype([16, 10], 'float32')]),
    history: new PyObject('trax.supervised.history', 'History', [], {
      _values: { train: new PyDefaultDict({ 'metrics/loss': [pyTuple([1, new PyFloat(2.5)])] }) },
    }),
    scalar: new NumpyScalar(ndarray('float32', [], [0.25])),
  };
  const back = unpickle(writePickle(v));
  assert.deepEqual(back.sig.map((s) => [s.shape, s.dtype]), [[[16, 10], 'int32'], [[16, 10], 'float32']]);
  assert.deepEqual(back.history, { _values: { train: { 'metrics/loss': [[1, 2.5]] } } });
  assert.deepEqual(back.scalar.shape, []);
  assert.equal(back.scalar.data[0], 0.25);
});

// ---------------------------------------------------------------------------
// interoperability with real Python / numpy

test('Python reads what we write (numpy arrays, ShapeDtype, History, defaultdict)', { skip: SKIP_PY }, () => {
  const w = ndarray('float32', [2, 3], [1, 2, 3, 4, 5, 6.5]);
  const data = writePickle({
    w, i8: ndarray('int64', [3], [1, -2, 3]), b: ndarray('bool', [2], [1, 0]), h: ndarray('float16', [2], [0.5, -2]),
    s: ndarray('float32', [], [0.05]), sc: new NumpyScalar(ndarray('float64', [], [1.25])),
    sig: pyTuple([new PickledShapeDtype([1, 1], 'int32')]),
    hist: new PyObject('trax.supervised.history', 'History', [], {
      _values: { eval: new PyDefaultDict({ acc: [pyTuple([5, new PyFloat(0.5)])] }) },
    }),
    big: 2n ** 80n, keys: new Map([[3, pyTuple(['x'])]]),
  });
  const out = python(`
import pickle, sys, numpy as np, json, collections
d = pickle.loads(sys.stdin.buffer.read())
assert d['w'].dtype == np.float32 and d['w'].shape == (2, 3) and d['w'][1, 2] == 6.5
assert d['w'].flags['C_CONTIGUOUS']
assert d['i8'].dtype == np.int64 and d['i8'].tolist() == [1, -2, 3]
assert d['b'].dtype == np.bool_ and d['b'].tolist() == [True, False]
assert d['h'].dtype == np.float16 and d['h'].tolist() == [0.5, -2.0]
assert d['s'].shape == () and d['s'].dtype == np.float32
assert type(d['sc']) is np.float64 and d['sc'] == 1.25
s = d['sig'][0]
assert type(d['sig']) is tuple and s.shape == (1, 1) and s.dtype == np.int32
h = d['hist']
assert type(h).__name__ == 'History' and isinstance(h._values['eval'], collections.defaultdict)
assert h._values['eval'].default_factory is list and h._values['eval']['acc'] == [(5, 0.5)]
assert d['big'] == 2**80 and d['keys'] == {3: ('x',)}
print('ok')
`, Buffer.from(data)).toString().trim();
  assert.equal(out, 'ok');
});

test('we read what numpy pickles (protocols 2-5, fortran, big-endian, scalars, containers)', { skip: SKIP_PY }, () => {
  const raw = python(`
import pickle, sys, numpy as np, collections
a = np.arange(6, dtype='>i4').reshape(2, 3)
f = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
objs = {
  'p2': pickle.dumps(a, protocol=2), 'p3': pickle.dumps(a, protocol=3),
  'p4': pickle.dumps(a, protocol=4), 'p5': pickle.dumps(a, protocol=5),
  'fortran': pickle.dumps(f, protocol=3), 'fortran5': pickle.dumps(f, protocol=5),
  'scalar': pickle.dumps(np.float32(0.5), protocol=4),
  'i64scalar': pickle.dumps(np.int64(-7), protocol=3),
  'bool': pickle.dumps(np.array([True, False, True]), protocol=3),
  'f16': pickle.dumps(np.array([1.5, -0.25], dtype=np.float16), protocol=3),
  'ordered': pickle.dumps(collections.OrderedDict(a=1, b=(2, 3)), protocol=3),
  'sets': pickle.dumps({'s': {1, 2}, 'fs': frozenset([3])}, protocol=4),
  'dd': pickle.dumps(collections.defaultdict(list, {'x': [1]}), protocol=2),
  'nested': pickle.dumps({'k': [np.zeros((2, 0), np.uint8), (1.0, None, True)], 1: b'by'}, protocol=4),
}
sys.stdout.buffer.write(pickle.dumps({k: v for k, v in objs.items()}, protocol=3))
`);
  const blobs = unpickle(new Uint8Array(raw));
  for (const k of ['p2', 'p3', 'p4', 'p5']) {
    const a = unpickle(blobs[k]);
    assert.equal(a.dtype, 'int32', k);
    assert.deepEqual(a.shape, [2, 3], k);
    assert.deepEqual([...a.data], [0, 1, 2, 3, 4, 5], k);
  }
  for (const k of ['fortran', 'fortran5']) {
    const f = unpickle(blobs[k]);
    assert.deepEqual(f.shape, [3, 4]);
    assert.deepEqual([...f.data], Array.from({ length: 12 }, (_, i) => i), `${k} converted to C order`);
  }
  const s = unpickle(blobs.scalar);
  assert.deepEqual(s.shape, []);
  assert.equal(s.data[0], 0.5);
  assert.equal(unpickle(blobs.i64scalar).data[0], -7n);
  assert.deepEqual([...unpickle(blobs.bool).data], [1, 0, 1]);
  const h = unpickle(blobs.f16);
  assert.equal(h.dtype, 'float16');
  assert.deepEqual([...h.data], [0x3e00, 0xb400]);
  const od = unpickle(blobs.ordered);
  assert.equal(od.a, 1);
  assert.ok(isPyTuple(od.b));
  const sets = unpickle(blobs.sets);
  assert.deepEqual(sets.s, new Set([1, 2]));
  assert.deepEqual(sets.fs, new Set([3]));
  assert.deepEqual(unpickle(blobs.dd), { x: [1] });
  const nested = unpickle(blobs.nested);
  assert.ok(nested instanceof Map);
  assert.deepEqual(nested.get(1), new Uint8Array([98, 121]));
  assert.deepEqual(nested.get('k')[0].shape, [2, 0]);
  assert.deepEqual([...nested.get('k')[1]], [1, null, true]);
});

// ---------------------------------------------------------------------------
// malicious and malformed input

const hex = (s) => Uint8Array.from(Buffer.from(s, 'latin1'));

test('refuses os.system', () => {
  const evil = hex('\x80\x03cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.');
  assert.throws(() => unpickle(evil), (e) => e instanceof PickleError &&
    /refusing to load pickle global os\.system at byte 2: only numpy arrays and Trax checkpoint classes are allowed/.test(e.message));
});

test('refuses builtins.eval via GLOBAL and STACK_GLOBAL', () => {
  const viaGlobal = hex("\x80\x03cbuiltins\neval\nX\x04\x00\x00\x001+1)\x85R.");
  assert.throws(() => unpickle(viaGlobal), /refusing to load pickle global builtins\.eval at byte 2/);
  const viaStack = hex('\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x031+1\x85R.');
  assert.throws(() => unpickle(viaStack), /refusing to load pickle global builtins\.eval at byte 18/);
  const sub = hex('\x80\x04\x8c\nsubprocess\x8c\x05Popen\x93.');
  assert.throws(() => unpickle(sub), /subprocess\.Popen/);
  // Allowed names cannot be abused as callables either.
  const listAsBuild = hex('\x80\x03cnumpy\nndarray\n)R.');
  assert.throws(() => unpickle(listAsBuild), /numpy\.ndarray cannot be called/);
});

test('refuses unknown opcodes, INST/OBJ and persistent ids with the opcode and offset', () => {
  assert.throws(() => unpickle(hex('\x80\x03\xff.')), /unsupported pickle opcode 0xff at byte 2/);
  assert.throws(() => unpickle(hex('\x80\x03I1\n.')), /unsupported pickle opcode INT \(0x49\) at byte 2/);
  assert.throws(() => unpickle(hex('(ios\nsystem\n.')), /INST\/OBJ/);
  assert.throws(() => unpickle(hex('\x80\x03X\x01\x00\x00\x00aQ.')), /persistent IDs/);
  assert.throws(() => unpickle(hex('\x80\x09N.')), /unsupported pickle protocol 9/);
});

test('refuses numpy object arrays', { skip: SKIP_PY }, () => {
  const raw = python(`
import pickle, sys, numpy as np
sys.stdout.buffer.write(pickle.dumps(np.array([1, 'x'], dtype=object), protocol=3))
`);
  assert.throws(() => unpickle(new Uint8Array(raw)), /object/);
});

test('random bytes never crash or hang: always a PickleError', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let trial = 0; trial < 2000; trial++) {
    const len = 1 + (rand() % 64);
    const buf = new Uint8Array(len);
    for (let i = 0; i < len; i++) buf[i] = rand();
    if (trial % 2 === 0) { buf[0] = 0x80; if (len > 1) buf[1] = 3; }
    try {
      unpickle(buf);
    } catch (e) {
      assert.ok(e instanceof PickleError, `trial ${trial}: ${e}`);
    }
  }
});

test('every truncation of a real pickle gives a clear error', () => {
  const full = writePickle({ a: [ndarray('float32', [2], [1, 2]), pyTuple([1, 'x'])], b: 2n ** 70n, c: 1.5 });
  for (let cut = 0; cut < full.length; cut++) {
    assert.throws(() => unpickle(full.subarray(0, cut)), (e) => e instanceof PickleError &&
      /truncated pickle|stack underflow|no MARK|STOP/.test(e.message), `cut at ${cut}`);
  }
  assert.throws(() => unpickle(full.subarray(0, full.length - 1)), /truncated pickle: reached the end of the data/);
  const fixture = gunzipSync(readFileSync(FIXTURE));
  assert.throws(() => unpickle(fixture.subarray(0, 200000)), /truncated pickle/);
});

test('huge declared lengths are reported as truncation, not allocated', () => {
  assert.throws(() => unpickle(hex('\x80\x04\x8e\xff\xff\xff\xff\xff\xff\x0f\x00')), /truncated pickle|too large/);
  assert.throws(() => unpickle(hex('\x80\x03B\xff\xff\xff\xff')), /truncated pickle: BINBYTES at byte 2 needs 4294967295 bytes/);
});

test('array state whose byte count disagrees with its shape is refused', () => {
  const good = writePickle(ndarray('float32', [2], [1, 2]));
  // Patch the shape 2 -> 3 (the BININT1 after the first MARK + BININT1 1).
  const bad = Uint8Array.from(good);
  const i = Buffer.from(bad).indexOf(Buffer.from([0x28, 0x4b, 0x01, 0x4b, 0x02]));
  bad[i + 4] = 3;
  assert.throws(() => unpickle(bad), /needs 12 bytes of data, got 8/);
});

test('writer rejects values it cannot represent', () => {
  assert.throws(() => writePickle(undefined), /undefined/);
  assert.throws(() => writePickle(() => 1), /function/);
  assert.throws(() => writePickle(new Float32Array(2)), /NdArray/);
  assert.throws(() => writePickle(new (class Foo {})()), /Foo/);
  assert.ok(writePickle(new PyGlobalRef('builtins', 'list')).length > 0);
});
