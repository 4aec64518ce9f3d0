// Forward values of every tensor op against float64 references, on every
// available backend, plus native-vs-js agreement when the addon is present.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';
import { describeBackends, nativeAvailable, nativeReason, withBackend } from './helpers/backends.mjs';
import { allClose, randTensor, randInts, relErr } from './helpers/check.mjs';
import { bmap, reduceRef, transposeRef, mm, erfRef, softmaxRow, unravel, ravel } from './helpers/ref.mjs';

const fm = trax.fastmath;
const T = (v, dtype) => trax.tensor(v, dtype ? { dtype } : {});
const F32 = 1e-6; // float32 relative rounding, with some slack

const BCAST_CASES = [
  [[2, 3], [2, 3]],
  [[2, 3], [3]],
  [[2, 1, 4], [3, 1]],
  [[], [2, 2]],
  [[4], []],
  [[1], [5]],
  [[3, 1], [1, 4]],
  [[0, 3], [1, 3]],
  [[2, 0], [2, 1]],
  [[2, 3, 4, 5], [3, 1, 5]],
];

describeBackends('elementwise binary ops', () => {
  const ops = {
    add: [fm.add, (a, b) => a + b],
    sub: [fm.sub, (a, b) => a - b],
    mul: [fm.mul, (a, b) => a * b],
    div: [fm.div, (a, b) => a / b],
    maximum: [fm.maximum, (a, b) => Math.max(a, b)],
    minimum: [fm.minimum, (a, b) => Math.min(a, b)],
    pow: [fm.pow, (a, b) => Math.pow(a, b)],
  };
  for (const [name, [op, ref]] of Object.entries(ops)) {
    test(`${name} broadcasts like numpy`, () => {
      BCAST_CASES.forEach(([sa, sb], c) => {
        const a = randTensor(sa, 10 + c, name === 'pow' ? { lo: 0.2, hi: 2 } : {});
        const b = randTensor(sb, 50 + c, name === 'div' ? { lo: 0.5, hi: 2 } : {});
        const want = bmap([a, b], ref);
        const got = op(a, b);
        assert.equal(got.dtype, 'float32');
        allClose(got, want.data, { shape: want.shape, rtol: 2 * F32, atol: 1e-7, msg: `${name} ${JSON.stringify([sa, sb])}` });
      });
    });
  }

  test('numbers and nested arrays are accepted as operands', () => {
    allClose(fm.add([[1, 2], [3, 4]], 10), [[11, 12], [13, 14]]);
    allClose(fm.sub(1, T([1, 2, 3])), [0, -1, -2]);
    allClose(fm.mul(2, 3), 6, { shape: [] });
    allClose(fm.div(T([1, 2]), [[2], [4]]), [[0.5, 1], [0.25, 0.5]]);
  });

  test('int32 arithmetic stays int32, division gives float32', () => {
    const a = T([7, -7, 3], 'int32'), b = T([2, 2, 5], 'int32');
    const s = fm.add(a, b);
    assert.equal(s.dtype, 'int32');
    assert.deepEqual([...s.dataSync()], [9, -5, 8]);
    assert.deepEqual([...fm.mul(a, b).dataSync()], [14, -14, 15]);
    assert.equal(fm.mul(a, b).dtype, 'int32');
    const q = fm.div(a, b);
    assert.equal(q.dtype, 'float32');
    allClose(q, [3.5, -3.5, 0.6]);
    const mixed = fm.add(a, T([0.5, 0.5, 0.5]));
    assert.equal(mixed.dtype, 'float32');
    allClose(mixed, [7.5, -6.5, 3.5]);
    assert.equal(fm.neg(a).dtype, 'int32');
    assert.deepEqual([...fm.neg(a).dataSync()], [-7, 7, -3]);
  });

  test('comparisons give float32 0/1 masks with broadcasting and ties', () => {
    const a = T([[1, 2, 3], [4, 5, 6]]), b = T([2, 2, 7]);
    const cases = {
      equal: (x, y) => x === y, notEqual: (x, y) => x !== y, less: (x, y) => x < y,
      lessEqual: (x, y) => x <= y, greater: (x, y) => x > y, greaterEqual: (x, y) => x >= y,
    };
    for (const [name, ref] of Object.entries(cases)) {
      const got = fm[name](a, b);
      assert.equal(got.dtype, 'float32', name);
      const want = bmap([a, b], (x, y) => (ref(x, y) ? 1 : 0));
      allClose(got, want.data, { shape: want.shape, rtol: 0, atol: 0, msg: name });
      // int operands compare exactly too
      const gi = fm[name](T([[1, 2, 3], [4, 5, 6]], 'int32'), T([2, 2, 7], 'int32'));
      allClose(gi, want.data, { shape: want.shape, rtol: 0, atol: 0, msg: `${name} int32` });
    }
    allClose(fm.equal(T([NaN, 1]), T([NaN, 1])), [0, 1]);
  });

  test('where selects with broadcasting', () => {
    const c = T([[1], [0]]), a = T([[1, 2, 3], [4, 5, 6]]), b = T(-1);
    allClose(fm.where(c, a, b), [[1, 2, 3], [-1, -1, -1]]);
    allClose(fm.where(T([0, 1, 0]), 5, T([[7, 8, 9]])), [[7, 5, 9]]);
    const wi = fm.where(T([1, 0]), T([1, 2], 'int32'), T([3, 4], 'int32'));
    assert.equal(wi.dtype, 'int32');
    assert.deepEqual([...wi.dataSync()], [1, 4]);
    const cond = fm.greater(a, 3);
    allClose(fm.where(cond, a, fm.neg(a)), [[-1, -2, -3], [4, 5, 6]]);
  });

  test('empty tensors pass through elementwise ops', () => {
    const e = fm.zeros([0, 3]);
    assert.deepEqual([...fm.add(e, T([1, 2, 3])).shape], [0, 3]);
    assert.deepEqual([...fm.exp(e).shape], [0, 3]);
    assert.deepEqual([...fm.less(e, 1).shape], [0, 3]);
    assert.deepEqual([...fm.mul(T([[1], [2]]), fm.zeros([2, 0])).shape], [2, 0]);
  });
});

describeBackends('elementwise unary ops', () => {
  const gelu = (x) => 0.5 * x * (1 + erfRef(x / Math.SQRT2));
  const fastGelu = (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const cases = {
    neg: [(x) => -x, {}],
    exp: [Math.exp, {}],
    log: [Math.log, { lo: 0.01, hi: 5 }],
    tanh: [Math.tanh, {}],
    sqrt: [Math.sqrt, { lo: 0, hi: 5 }],
    rsqrt: [(x) => 1 / Math.sqrt(x), { lo: 0.05, hi: 5 }],
    relu: [(x) => Math.max(x, 0), {}],
    gelu: [gelu, {}],
    fastGelu: [fastGelu, {}],
    sigmoid: [(x) => 1 / (1 + Math.exp(-x)), {}],
    abs: [Math.abs, {}],
    square: [(x) => x * x, {}],
    reciprocal: [(x) => 1 / x, { lo: 0.1, hi: 3 }],
    softplus: [(x) => Math.log1p(Math.exp(x)), {}],
    erf: [erfRef, {}],
  };
  for (const [name, [ref, range]] of Object.entries(cases)) {
    test(`${name} matches a float64 reference`, () => {
      const x = randTensor([3, 7], 3, { lo: range.lo ?? -4, hi: range.hi ?? 4 });
      allClose(fm[name](x), Array.from(x.dataSync(), ref), { shape: [3, 7], rtol: 4 * F32, atol: 1e-7, msg: name });
      // scalars keep rank 0
      const s = fm[name](T(range.lo !== undefined ? 0.5 : -0.5));
      assert.deepEqual([...s.shape], [], `${name} of a scalar`);
    });
  }

  test('extreme arguments stay finite and accurate', () => {
    allClose(fm.softplus(T([30, -30, 100, -100])), [30, Math.log1p(Math.exp(-30)), 100, Math.exp(-100)], { rtol: 1e-6, atol: 1e-38 });
    allClose(fm.sigmoid(T([-100, 100, 0])), [1 / (1 + Math.exp(100)), 1, 0.5], { rtol: 1e-6, atol: 1e-38 });
    allClose(fm.tanh(T([-50, 50])), [-1, 1]);
    allClose(fm.erf(T([-6, 6, 0, 3.5])), [-1, 1, 0, erfRef(3.5)], { rtol: 1e-6, atol: 1e-7 });
    allClose(fm.gelu(T([-10, 10])), [gelu(-10), 10], { rtol: 1e-6, atol: 1e-7 });
    allClose(fm.exp(T([-Infinity, 0])), [0, 1]);
    allClose(fm.log(T([0, -1])), [-Infinity, NaN]);
  });

  test('known values of erf and gelu', () => {
    // Tabulated erf values.
    allClose(fm.erf(T([0.5, 1, 2, -0.3])), [0.5204998778130465, 0.8427007929497149, 0.9953222650189527, -0.3286267594591911], { rtol: 1e-6 });
    allClose(fm.gelu(T([1])), [0.8413447460685429], { rtol: 1e-6 });
  });

  test('unary ops on int32 inputs compute in float32', () => {
    const y = fm.square(T([2, -3], 'int32'));
    assert.equal(y.dtype, 'float32');
    allClose(y, [4, 9]);
  });

  test('cast converts between float32 and int32 (truncating toward zero)', () => {
    const i = fm.cast(T([1.7, -1.7, 2.5, -0.2]), 'int32');
    assert.equal(i.dtype, 'int32');
    assert.deepEqual([...i.dataSync()], [1, -1, 2, 0]);
    const f = fm.cast(T([3, -4], 'int32'), 'float32');
    assert.equal(f.dtype, 'float32');
    allClose(f, [3, -4]);
    const same = T([1, 2]);
    assert.equal(fm.cast(same, 'float32'), same);
  });

  test('clip bounds values', () => {
    allClose(fm.clip(T([-3, 0.5, 7]), -1, 2), [-1, 0.5, 2]);
  });
});

function axesList(axis, rank) {
  if (axis === null || axis === undefined) return [...Array(rank).keys()];
  return [...new Set((typeof axis === 'number' ? [axis] : axis).map((a) => (a < 0 ? a + rank : a)))].sort();
}

describeBackends('reductions', () => {
  const x = randTensor([2, 3, 4], 21, { lo: -3, hi: 3 });
  const AXES = [null, 0, 1, 2, -1, [0, 2], [1, 2], [0, 1, 2], [-1, 0]];
  const refs = {
    sum: [(a, v) => a + v, 0, null],
    max: [(a, v) => Math.max(a, v), -Infinity, null],
    min: [(a, v) => Math.min(a, v), Infinity, null],
  };
  for (const [name, [fn, init]] of Object.entries(refs)) {
    test(`${name} over single and multiple axes, keepDims`, () => {
      for (const axis of AXES) for (const keep of [false, true]) {
        const want = reduceRef(x, axesList(axis, 3), keep, fn, init);
        allClose(fm[name](x, axis, keep), want.data, { shape: want.shape, rtol: 4 * F32, atol: 1e-6, msg: `${name} axis=${JSON.stringify(axis)} keep=${keep}` });
      }
    });
  }

  test('mean over single and multiple axes, keepDims', () => {
    for (const axis of AXES) for (const keep of [false, true]) {
      const axes = axesList(axis, 3);
      const n = axes.reduce((s, a) => s * x.shape[a], 1);
      const want = reduceRef(x, axes, keep, (a, v) => a + v / n, 0);
      allClose(fm.mean(x, axis, keep), want.data, { shape: want.shape, rtol: 4 * F32, atol: 1e-6, msg: `mean axis=${JSON.stringify(axis)}` });
    }
  });

  test('reductions of int32 and of empty axes', () => {
    allClose(fm.sum(T([[1, 2], [3, 4]], 'int32'), 0), [4, 6]);
    allClose(fm.sum(fm.zeros([0, 3]), 0), [0, 0, 0]);
    allClose(fm.sum(fm.zeros([2, 0]), 1, true), [[0], [0]]);
    allClose(fm.max(T([[1, 5], [7, 2]])), 7, { shape: [] });
  });

  test('argmax picks the first maximum along an axis', () => {
    const a = T([[1, 9, 9], [4, 2, 4], [0, 0, 0]]);
    assert.deepEqual([...fm.argmax(a).dataSync()], [1, 0, 0]);
    assert.deepEqual([...fm.argmax(a, 0).dataSync()], [1, 0, 0]);
    assert.equal(fm.argmax(a).dtype, 'int32');
    for (const axis of [0, 1, 2, -1]) {
      const want = reduceRef(x, [axis < 0 ? 2 : axis], false, (a) => a, 0);
      const got = fm.argmax(x, axis);
      assert.deepEqual([...got.shape], want.shape);
      // The value at the argmax equals the max.
      const mx = fm.max(x, axis);
      const ax = axis < 0 ? 2 : axis;
      for (let i = 0; i < got.size; i++) {
        const idx = unravel(i, got.shape);
        idx.splice(ax, 0, got.dataSync()[i]);
        assert.equal(x.dataSync()[ravel(idx, x.shape)], mx.dataSync()[i]);
      }
    }
  });

  test('logSumExp over axes, stable for large values', () => {
    for (const axis of [-1, 0, [0, 2], [0, 1, 2]]) for (const keep of [false, true]) {
      const want = reduceRef(x, axesList(axis, 3), keep, (a, v) => a + Math.exp(v), 0);
      allClose(fm.logSumExp(x, axis, keep), Array.from(want.data, Math.log), { shape: want.shape, rtol: 4 * F32, atol: 1e-6 });
    }
    allClose(fm.logSumExp(T([1000, 1000]), -1), 1000 + Math.log(2), { shape: [], rtol: 1e-6 });
    allClose(fm.logSumExp(T([-1000, -1000]), -1), -1000 + Math.log(2), { shape: [], rtol: 1e-6 });
    allClose(fm.logSumExp(T([-Infinity, -Infinity]), -1), -Infinity, { shape: [] });
  });
});

describeBackends('shape ops', () => {
  const x = randTensor([2, 3, 4], 31);

  test('reshape with -1, and errors for impossible shapes', () => {
    const r = fm.reshape(x, [4, -1]);
    assert.deepEqual([...r.shape], [4, 6]);
    allClose(r, x.dataSync(), { shape: [4, 6] });
    assert.deepEqual([...fm.reshape(x, [-1]).shape], [24]);
    assert.deepEqual([...fm.reshape(fm.zeros([0, 3]), [-1, 3]).shape], [0, 3]);
    assert.deepEqual([...fm.reshape(T(5), [1, 1]).shape], [1, 1]);
    assert.deepEqual([...fm.expandDims(x, -1).shape], [2, 3, 4, 1]);
    assert.deepEqual([...fm.expandDims(x, 0).shape], [1, 2, 3, 4]);
    assert.deepEqual([...fm.squeeze(fm.zeros([1, 3, 1])).shape], [3]);
    assert.deepEqual([...fm.squeeze(fm.zeros([1, 3, 1]), 0).shape], [3, 1]);
  });

  test('transpose with every permutation of a 3-D tensor and a 4-D one', () => {
    const perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    for (const p of perms) {
      const want = transposeRef(x, p);
      allClose(fm.transpose(x, p), want.data, { shape: want.shape, rtol: 0, atol: 0, msg: `perm ${p}` });
    }
    const want = transposeRef(x, [2, 1, 0]);
    allClose(fm.transpose(x), want.data, { shape: want.shape, rtol: 0, atol: 0 });
    allClose(fm.transpose(x, [-1, 0, 1]), transposeRef(x, [2, 0, 1]).data, { rtol: 0, atol: 0 });
    const y = randTensor([2, 1, 3, 2], 32);
    const w4 = transposeRef(y, [3, 0, 2, 1]);
    allClose(fm.transpose(y, [3, 0, 2, 1]), w4.data, { shape: w4.shape, rtol: 0, atol: 0 });
    const yi = randInts([2, 3], 4, -5, 5);
    const ti = fm.transpose(yi);
    assert.equal(ti.dtype, 'int32');
    allClose(ti, transposeRef(yi, [1, 0]).data, { rtol: 0, atol: 0 });
    assert.deepEqual([...fm.transpose(fm.zeros([0, 2])).shape], [2, 0]);
    assert.deepEqual([...fm.swapAxes(x, 0, 2).shape], [4, 3, 2]);
  });

  test('slice and sliceAxis, with negative begins and size -1', () => {
    const s = fm.slice(x, [1, 0, 1], [1, 2, -1]);
    assert.deepEqual([...s.shape], [1, 2, 3]);
    const want = [];
    for (let j = 0; j < 2; j++) for (let k = 1; k < 4; k++) want.push(x.dataSync()[ravel([1, j, k], x.shape)]);
    allClose(s, want, { rtol: 0, atol: 0 });
    const n = fm.slice(x, [-1, -2]);
    assert.deepEqual([...n.shape], [1, 2, 4]);
    assert.equal(n.dataSync()[0], x.dataSync()[ravel([1, 1, 0], x.shape)]);
    const sa = fm.sliceAxis(x, -1, 1, 3);
    assert.deepEqual([...sa.shape], [2, 3, 2]);
    assert.equal(sa.dataSync()[1], x.dataSync()[2]);
    assert.deepEqual([...fm.sliceAxis(x, 1, 2, 2).shape], [2, 0, 4]);
  });

  test('concat along any axis, with mixed dtypes and empty pieces', () => {
    const a = T([[1, 2], [3, 4]]), b = T([[5], [6]]);
    allClose(fm.concat([a, b], 1), [[1, 2, 5], [3, 4, 6]]);
    allClose(fm.concat([a, b], -1), [[1, 2, 5], [3, 4, 6]]);
    allClose(fm.concat([a, T([[7, 8]])], 0), [[1, 2], [3, 4], [7, 8]]);
    const m = fm.concat([T([1], 'int32'), T([2.5])], 0);
    assert.equal(m.dtype, 'float32');
    allClose(m, [1, 2.5]);
    const ii = fm.concat([T([1], 'int32'), T([2], 'int32')], 0);
    assert.equal(ii.dtype, 'int32');
    allClose(fm.concat([a, fm.zeros([2, 0])], 1), [[1, 2], [3, 4]]);
    allClose(fm.concat([a], 0), [[1, 2], [3, 4]]);
  });

  test('stack and split', () => {
    const a = T([1, 2, 3]), b = T([4, 5, 6]);
    allClose(fm.stack([a, b]), [[1, 2, 3], [4, 5, 6]]);
    allClose(fm.stack([a, b], 1), [[1, 4], [2, 5], [3, 6]]);
    allClose(fm.stack([a, b], -1), [[1, 4], [2, 5], [3, 6]]);
    const parts = fm.split(x, 2, -1);
    assert.equal(parts.length, 2);
    allClose(parts[1], fm.sliceAxis(x, 2, 2, 4), { rtol: 0, atol: 0 });
    const rows = fm.split(x, 3, 1);
    assert.deepEqual(rows.map((p) => [...p.shape]), [[2, 1, 4], [2, 1, 4], [2, 1, 4]]);
    allClose(fm.concat(rows, 1), x, { rtol: 0, atol: 0 });
  });

  test('pad with zeros or a value on any axis', () => {
    allClose(fm.pad(T([[1, 2]]), [[1, 0], [0, 2]]), [[0, 0, 0, 0], [1, 2, 0, 0]]);
    allClose(fm.pad(T([1, 2]), [[2, 1]], -1), [-1, -1, 1, 2, -1]);
    const p = fm.pad(x, [[0, 1], [1, 1], [2, 0]]);
    assert.deepEqual([...p.shape], [3, 5, 6]);
    allClose(fm.slice(p, [0, 1, 2], [2, 3, 4]), x, { rtol: 0, atol: 0 });
    assert.equal(fm.sum(p).item().toFixed(4), fm.sum(x).item().toFixed(4));
    const pi = fm.pad(T([1], 'int32'), [[1, 1]]);
    assert.equal(pi.dtype, 'int32');
    assert.deepEqual([...pi.dataSync()], [0, 1, 0]);
    assert.deepEqual([...fm.pad(fm.zeros([0, 2]), [[1, 0], [0, 0]]).shape], [1, 2]);
  });

  test('broadcastTo materializes a broadcast', () => {
    allClose(fm.broadcastTo(T([1, 2]), [2, 2]), [[1, 2], [1, 2]]);
    allClose(fm.broadcastTo(T([[1], [2]]), [2, 3]), [[1, 1, 1], [2, 2, 2]]);
  });

  test('reverse and cumsum along any axis', () => {
    for (const axis of [0, 1, 2, -1]) {
      const a = axis < 0 ? 2 : axis;
      const rev = fm.reverse(x, axis), cs = fm.cumsum(x, axis);
      const wr = new Float64Array(x.size), wc = new Float64Array(x.size);
      for (let i = 0; i < x.size; i++) {
        const idx = unravel(i, x.shape);
        const ri = idx.slice(); ri[a] = x.shape[a] - 1 - idx[a];
        wr[i] = x.dataSync()[ravel(ri, x.shape)];
        let s = 0;
        for (let j = 0; j <= idx[a]; j++) { const q = idx.slice(); q[a] = j; s += x.dataSync()[ravel(q, x.shape)]; }
        wc[i] = s;
      }
      allClose(rev, wr, { shape: x.shape, rtol: 0, atol: 0, msg: `reverse ${axis}` });
      allClose(cs, wc, { shape: x.shape, rtol: 4 * F32, atol: 1e-6, msg: `cumsum ${axis}` });
    }
    const ci = fm.cumsum(T([1, 2, 3], 'int32'));
    assert.equal(ci.dtype, 'int32');
    assert.deepEqual([...ci.dataSync()], [1, 3, 6]);
  });
});

describeBackends('indexing ops', () => {
  const x = randTensor([3, 4, 2], 41);

  function takeRef(t, ids, idsShape, axis, clip) {
    const n = t.shape[axis];
    const shape = [...t.shape.slice(0, axis), ...idsShape, ...t.shape.slice(axis + 1)];
    const total = shape.reduce((a, b) => a * b, 1);
    const out = new Float64Array(total);
    for (let i = 0; i < total; i++) {
      const idx = unravel(i, shape);
      const mid = idx.slice(axis, axis + idsShape.length);
      let j = ids[ravel(mid, idsShape)];
      if (clip) j = Math.min(Math.max(j, 0), n - 1);
      const src = [...idx.slice(0, axis), j, ...idx.slice(axis + idsShape.length)];
      out[i] = t.dataSync()[ravel(src, t.shape)];
    }
    return { shape, data: out };
  }

  test('take along every axis with nested index shapes (raise mode)', () => {
    for (const axis of [0, 1, 2, -1, -3]) {
      const a = axis < 0 ? axis + 3 : axis;
      const n = x.shape[a];
      const ids = [[n - 1, 0, 1], [0, 0, n - 1]];
      const want = takeRef(x, ids.flat(), [2, 3], a, false);
      allClose(fm.take(x, ids, axis), want.data, { shape: want.shape, rtol: 0, atol: 0, msg: `take axis ${axis}` });
      allClose(fm.take(x, T(ids.flat(), 'int32'), axis), takeRef(x, ids.flat(), [6], a, false).data, { rtol: 0, atol: 0 });
    }
    // scalar index drops the axis
    allClose(fm.take(x, 2, 1), takeRef(x, [2], [], 1, false).data, { shape: [3, 2], rtol: 0, atol: 0 });
    const xi = randInts([3, 2], 5, 0, 100);
    const ti = fm.take(xi, [2, 0]);
    assert.equal(ti.dtype, 'int32');
    assert.deepEqual([...ti.dataSync()], [xi.dataSync()[4], xi.dataSync()[5], xi.dataSync()[0], xi.dataSync()[1]]);
  });

  test('take in clip mode clamps out-of-range indices on any axis', () => {
    for (const axis of [0, 1, 2]) {
      const ids = [-5, 0, 1, 99];
      const want = takeRef(x, ids, [4], axis, true);
      allClose(fm.take(x, ids, axis, 'clip'), want.data, { shape: want.shape, rtol: 0, atol: 0, msg: `clip axis ${axis}` });
    }
  });

  test('takeAlongAxis gathers per position', () => {
    for (const axis of [0, 1, 2, -1]) {
      const a = axis < 0 ? axis + 3 : axis;
      const ishape = x.shape.slice(); ishape[a] = 3;
      const idx = randInts(ishape, 7 + a, 0, x.shape[a]);
      const got = fm.takeAlongAxis(x, idx, axis);
      const want = new Float64Array(idx.size);
      for (let i = 0; i < idx.size; i++) {
        const p = unravel(i, ishape); p[a] = idx.dataSync()[i];
        want[i] = x.dataSync()[ravel(p, x.shape)];
      }
      allClose(got, want, { shape: ishape, rtol: 0, atol: 0, msg: `takeAlongAxis ${axis}` });
    }
  });

  test('scatterAdd accumulates duplicate indices on any axis', () => {
    const base = T([[1, 2], [3, 4], [5, 6]]);
    allClose(fm.scatterAdd(base, [0, 2, 0], T([[10, 10], [20, 20], [30, 30]])), [[41, 42], [3, 4], [25, 26]]);
    allClose(fm.scatterAdd(base, [1, 1], T([[1, 2], [3, 4], [5, 6]]), 1), [[1, 5], [3, 11], [5, 17]]);
    allClose(fm.scatterAdd(fm.zeros([2, 3]), [[2]], T([[[1]], [[2]]]), 1), [[0, 0, 1], [0, 0, 2]]);
    // scatterAdd is the transpose of take: <take(x, i), u> == <x, scatterAdd(0, i, u)>
    const ids = [3, 1, 3, 0, 2];
    for (const axis of [0, 1, 2]) {
      const n = x.shape[axis];
      const ii = ids.map((v) => v % n);
      const u = randTensor(fm.take(x, ii, axis).shape, 8 + axis);
      const lhs = fm.sum(fm.mul(fm.take(x, ii, axis), u)).item();
      const rhs = fm.sum(fm.mul(x, fm.scatterAdd(fm.zeros(x.shape), ii, u, axis))).item();
      assert.ok(Math.abs(lhs - rhs) < 1e-4, `axis ${axis}: ${lhs} vs ${rhs}`);
    }
  });

  test('oneHot, tril', () => {
    allClose(fm.oneHot([2, 0, 5], 3), [[0, 0, 1], [1, 0, 0], [0, 0, 0]]);
    assert.deepEqual([...fm.oneHot([[1], [0]], 2).shape], [2, 1, 2]);
    allClose(fm.oneHot(T([1.5, 1]), 3), [[0, 0, 0], [0, 1, 0]]);
    allClose(fm.oneHot(T([2, -1], 'int32'), 3), [[0, 0, 1], [0, 0, 0]]);
    allClose(fm.tril(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]]);
    allClose(fm.tril(2, 4, 1), [[1, 1, 0, 0], [1, 1, 1, 0]]);
    allClose(fm.tril(3, 2, -1), [[0, 0], [1, 0], [1, 1]]);
  });
});

function matmulRef(a, b, tA, tB) {
  // Plain float64: transpose last two axes, broadcast batch, multiply.
  const A = tA ? transposeRef(a, [...Array(a.rank - 2).keys(), a.rank - 1, a.rank - 2]) : { shape: [...a.shape], data: a.dataSync() };
  const B = tB ? transposeRef(b, [...Array(b.rank - 2).keys(), b.rank - 1, b.rank - 2]) : { shape: [...b.shape], data: b.dataSync() };
  const [m, k] = A.shape.slice(-2), n = B.shape[B.shape.length - 1];
  const ab = A.shape.slice(0, -2), bb = B.shape.slice(0, -2);
  const r = Math.max(ab.length, bb.length);
  const batch = [];
  for (let i = 0; i < r; i++) {
    const da = ab[ab.length - r + i] ?? 1, db = bb[bb.length - r + i] ?? 1;
    batch.push(da === 1 ? db : da);
  }
  const nb = batch.reduce((s, d) => s * d, 1);
  const out = new Float64Array(nb * m * n);
  for (let t = 0; t < nb; t++) {
    const idx = unravel(t, batch);
    const pick = (bs) => {
      const j = idx.slice(r - bs.length).map((v, q) => (bs[q] === 1 ? 0 : v));
      return bs.length ? ravel(j, bs) : 0;
    };
    const ia = pick(ab), ib = pick(bb);
    out.set(mm(A.data.slice(ia * m * k, (ia + 1) * m * k), B.data.slice(ib * k * n, (ib + 1) * k * n), m, k, n), t * m * n);
  }
  return { shape: [...batch, m, n], data: out };
}

describeBackends('matmul', () => {
  const CASES = [
    [[3, 4], [4, 5]],
    [[2, 3, 4], [2, 4, 5]],
    [[2, 1, 3, 4], [3, 4, 2]],
    [[2, 3, 4], [4, 5]],
    [[3, 4], [2, 4, 5]],
    [[1, 3, 4], [2, 4, 5]],
    [[2, 1, 2, 3], [1, 2, 3, 2]],
    [[1, 1], [1, 1]],
  ];
  test('2-D, batched and broadcast batches, all transpose flags', () => {
    CASES.forEach(([sa, sb], c) => {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const shA = tA ? [...sa.slice(0, -2), sa[sa.length - 1], sa[sa.length - 2]] : sa;
        const shB = tB ? [...sb.slice(0, -2), sb[sb.length - 1], sb[sb.length - 2]] : sb;
        const a = randTensor(shA, 60 + c), b = randTensor(shB, 80 + c);
        const want = matmulRef(a, b, tA, tB);
        allClose(fm.matmul(a, b, tA, tB), want.data, { shape: want.shape, rtol: 1e-5, atol: 1e-6, msg: `matmul ${JSON.stringify([shA, shB])} tA=${tA} tB=${tB}` });
      }
    });
  });

  test('1-D operands follow numpy (vector @ matrix, matrix @ vector, dot)', () => {
    const v = T([1, 2, 3]), m = T([[1, 0], [0, 1], [1, 1]]);
    allClose(fm.matmul(v, m), [4, 5]);
    allClose(fm.matmul(T([[1, 2, 3], [4, 5, 6]]), v), [14, 32]);
    allClose(fm.matmul(v, v), 14, { shape: [] });
    const bm = randTensor([2, 3, 2], 5);
    const want = matmulRef(fm.reshape(v, [1, 3]), bm, false, false);
    allClose(fm.matmul(v, bm), want.data, { shape: [2, 2], rtol: 1e-5 });
    allClose(fm.matmul(m, T([1, 1, 1]), true, false), matmulRef(m, T([[1], [1], [1]]), true, false).data, { shape: [2] });
  });

  test('int32 operands are multiplied in float32; empty inner axis gives zeros', () => {
    const p = fm.matmul(T([[1, 2]], 'int32'), T([[3], [4]], 'int32'));
    assert.equal(p.dtype, 'float32');
    allClose(p, [[11]]);
    allClose(fm.matmul(fm.zeros([2, 0]), fm.zeros([0, 3])), [[0, 0, 0], [0, 0, 0]]);
  });
});

describeBackends('softmax family', () => {
  test('softmax and logSoftmax over the last axis', () => {
    const x = randTensor([3, 5], 71, { lo: -5, hi: 5 });
    const sm = [], lsm = [];
    for (let r = 0; r < 3; r++) {
      const row = Array.from(x.dataSync().slice(r * 5, r * 5 + 5));
      const p = softmaxRow(row);
      sm.push(...p); lsm.push(...p.map(Math.log));
    }
    allClose(fm.softmax(x), sm, { shape: [3, 5], rtol: 4 * F32, atol: 1e-7 });
    allClose(fm.logSoftmax(x), lsm, { shape: [3, 5], rtol: 4 * F32, atol: 1e-6 });
    allClose(fm.softmax(x, 1), sm, { shape: [3, 5], rtol: 4 * F32, atol: 1e-7 });
    allClose(fm.softmax(T([1000, 0, 1000])), [0.5, 0, 0.5]);
    allClose(fm.logSoftmax(T([1000, 0])), [0, -1000], { rtol: 1e-6 });
    allClose(fm.softmax(T([-Infinity, 0])), [0, 1]);
    allClose(fm.softmax(T([2])), [1]);
  });
});

/** Float64 attention reference for one (bh, lq, lk, d) problem. */
function attentionRef(q, k, v, { causal = false, offset = 0, keyMask = null, dropMask = null } = {}) {
  const [bh, lq, d] = q.shape, lk = k.shape[1];
  const out = new Float64Array(bh * lq * d);
  for (let h = 0; h < bh; h++) for (let i = 0; i < lq; i++) {
    const s = [];
    for (let j = 0; j < lk; j++) {
      let dot = 0;
      for (let p = 0; p < d; p++) dot += q.dataSync()[(h * lq + i) * d + p] * k.dataSync()[(h * lk + j) * d + p];
      let val = dot / Math.sqrt(d);
      if ((causal && j > i + offset) || (keyMask && keyMask.dataSync()[h * lk + j] === 0)) val = -1e9;
      s.push(val);
    }
    const p = softmaxRow(s);
    for (let j = 0; j < lk; j++) {
      const pj = p[j] * (dropMask ? dropMask.dataSync()[(h * lq + i) * lk + j] : 1);
      for (let c = 0; c < d; c++) out[(h * lq + i) * d + c] += pj * v.dataSync()[(h * lk + j) * d + c];
    }
  }
  return out;
}

describeBackends('fused ops', () => {
  test('layerNorm matches (x - mean) / sqrt(var + eps) * scale + bias', () => {
    const x = randTensor([2, 3, 5], 91, { lo: -2, hi: 3 }), s = randTensor([5], 92), b = randTensor([5], 93);
    for (const eps of [1e-6, 0.5]) {
      const want = new Float64Array(x.size);
      for (let r = 0; r < 6; r++) {
        const row = Array.from(x.dataSync().slice(r * 5, r * 5 + 5));
        const mu = row.reduce((a, c) => a + c, 0) / 5;
        const va = row.reduce((a, c) => a + (c - mu) ** 2, 0) / 5;
        row.forEach((c, j) => { want[r * 5 + j] = (c - mu) / Math.sqrt(va + eps) * s.dataSync()[j] + b.dataSync()[j]; });
      }
      allClose(fm.layerNorm(x, s, b, eps), want, { shape: [2, 3, 5], rtol: 1e-5, atol: 1e-5 });
    }
  });

  test('softmaxCrossEntropy gives -w * log_softmax[target]', () => {
    const logits = randTensor([2, 3, 6], 94, { lo: -4, hi: 4 });
    const tg = [[0, 5, 2], [3, 3, 1]], w = [[1, 0, 0.5], [2, 1, 1]];
    const want = [];
    for (let r = 0; r < 6; r++) {
      const row = Array.from(logits.dataSync().slice(r * 6, r * 6 + 6));
      const lp = softmaxRow(row).map(Math.log);
      want.push(-w.flat()[r] * lp[tg.flat()[r]]);
    }
    allClose(fm.softmaxCrossEntropy(logits, tg, w), want, { shape: [2, 3], rtol: 1e-5, atol: 1e-6 });
    const unw = fm.softmaxCrossEntropy(logits, T(tg, 'int32'));
    allClose(unw, want.map((v, i) => (w.flat()[i] === 0 ? NaN : v / w.flat()[i])).map((v, i) => (Number.isNaN(v) ? unw.dataSync()[i] : v)), { rtol: 1e-5, atol: 1e-6 });
    allClose(fm.softmaxCrossEntropy(T([[1000, 0]]), [1]), [1000], { rtol: 1e-6 });
  });

  test('dotProductAttention: plain, causal with offsets, key mask, dropout mask', () => {
    const q = randTensor([2, 3, 4], 95, { lo: -2, hi: 2 }), k = randTensor([2, 5, 4], 96, { lo: -2, hi: 2 }), v = randTensor([2, 5, 4], 97);
    const keyMask = T([[1, 1, 0, 1, 1], [1, 1, 1, 1, 0]]);
    const dropMask = fm.mul(fm.greater(randTensor([2, 3, 5], 98), -0.4), 1 / 0.7);
    const variants = [
      {}, { causal: true }, { causal: true, offset: 2 }, { causal: true, offset: -1 }, { keyMask }, { dropMask },
      { causal: true, offset: 1, keyMask, dropMask },
    ];
    for (const opts of variants) {
      const probsOut = {};
      const got = fm.dotProductAttention(q, k, v, { ...opts, probsOut });
      allClose(got, attentionRef(q, k, v, opts), { shape: [2, 3, 4], rtol: 1e-5, atol: 1e-6, msg: JSON.stringify(Object.keys(opts)) });
      assert.deepEqual([...probsOut.probs.shape], [2, 3, 5]);
      for (let r = 0; r < 6; r++) {
        const s = probsOut.probs.dataSync().slice(r * 5, r * 5 + 5).reduce((a, c) => a + c, 0);
        assert.ok(Math.abs(s - 1) < 1e-5, `probabilities of row ${r} sum to ${s}`);
      }
    }
  });

  test('embeddingLookup gathers rows and clips out-of-range ids', () => {
    const table = randTensor([4, 3], 99);
    const got = fm.embeddingLookup(table, [[0, 3], [-2, 10]]);
    assert.deepEqual([...got.shape], [2, 2, 3]);
    const rows = [0, 3, 0, 3];
    allClose(got, rows.flatMap((r) => Array.from(table.dataSync().slice(r * 3, r * 3 + 3))), { rtol: 0, atol: 0 });
  });
});

// The same random inputs through both backends; float32 ops must agree to 1e-5.
describe('native agrees with js', { skip: nativeAvailable ? false : `native backend unavailable: ${nativeReason}` }, () => {
  const a = randTensor([4, 33], 201, { lo: -3, hi: 3 }), b = randTensor([33], 202, { lo: 0.5, hi: 2 });
  const pos = randTensor([4, 33], 203, { lo: 0.1, hi: 4 });
  const m1 = randTensor([3, 17, 24], 204), m2 = randTensor([3, 24, 19], 205);
  const q = randTensor([2, 7, 8], 206), k = randTensor([2, 9, 8], 207), v = randTensor([2, 9, 8], 208);
  const CASES = {
    add: () => fm.add(a, b), sub: () => fm.sub(a, b), mul: () => fm.mul(a, b), div: () => fm.div(a, b),
    maximum: () => fm.maximum(a, b), minimum: () => fm.minimum(a, b), pow: () => fm.pow(pos, b),
    less: () => fm.less(a, b), equal: () => fm.equal(a, fm.maximum(a, 0)),
    exp: () => fm.exp(a), log: () => fm.log(pos), tanh: () => fm.tanh(a), sqrt: () => fm.sqrt(pos),
    rsqrt: () => fm.rsqrt(pos), relu: () => fm.relu(a), gelu: () => fm.gelu(a), fastGelu: () => fm.fastGelu(a),
    sigmoid: () => fm.sigmoid(a), abs: () => fm.abs(a), square: () => fm.square(a), softplus: () => fm.softplus(a),
    erf: () => fm.erf(a), neg: () => fm.neg(a), reciprocal: () => fm.reciprocal(pos),
    sum0: () => fm.sum(a, 0), sum1: () => fm.sum(a, 1), mean: () => fm.mean(a, [0, 1]), max: () => fm.max(a, 1),
    min: () => fm.min(a, 0), logSumExp: () => fm.logSumExp(a, -1),
    matmul: () => fm.matmul(m1, m2), matmulTA: () => fm.matmul(m1, m1, true, false),
    matmulTB: () => fm.matmul(m2, m2, false, true), matmulBcast: () => fm.matmul(m1, fm.sliceAxis(m2, 0, 0, 1)),
    softmax: () => fm.softmax(a), logSoftmax: () => fm.logSoftmax(a),
    layerNorm: () => fm.layerNorm(a, b, fm.neg(b)),
    crossEntropy: () => fm.softmaxCrossEntropy(a, randInts([4], 9, 0, 33), T([1, 0.5, 0, 2])),
    attention: () => fm.dotProductAttention(q, k, v, { causal: true, offset: 1 }),
    attentionMasked: () => fm.dotProductAttention(q, k, v, { keyMask: fm.greater(randTensor([2, 9], 210), -0.5) }),
    take: () => fm.take(a, [3, 0, 2], 0), embedding: () => fm.embeddingLookup(a, [[1, 2], [3, 0]]),
    scatterAdd: () => fm.scatterAdd(a, [1, 1, 3], fm.ones([3, 33])),
  };
  for (const [name, fn] of Object.entries(CASES)) {
    test(name, () => {
      const js = withBackend('js', fn), nat = withBackend('native', fn);
      assert.deepEqual([...nat.shape], [...js.shape]);
      const e = relErr(nat, js);
      assert.ok(e <= 1e-5, `${name}: relative error ${e.toExponential(2)} > 1e-5`);
    });
  }

  // Backward kernels, one op at a time: d/dx sum(f(x) * w) on both backends.
  const w3 = randTensor([1000], 220);
  const GRADS = {
    softmax: [(x) => fm.softmax(x), a], logSoftmax: [(x) => fm.logSoftmax(x), a],
    layerNorm: [(x) => fm.layerNorm(x, b, b), a],
    crossEntropy: [(x) => fm.softmaxCrossEntropy(x, [0, 5, 32, 7], [1, 2, 0.5, 0]), a],
    embedding: [(t) => fm.embeddingLookup(t, [[1, 1], [3, 0]]), a],
    matmul: [(x) => fm.matmul(x, m1, false, true), randTensor([3, 5, 24], 221)],
    maxReduce: [(x) => fm.max(x, 0), a],
  };
  for (const [name, [f, x]] of Object.entries(GRADS)) {
    test(`gradient of ${name}`, () => {
      const loss = (p) => { const y = f(p); return fm.sum(fm.mul(y, fm.reshape(fm.slice(w3, [0], [y.size]), y.shape))); };
      const gj = withBackend('js', () => trax.grad(loss)(x)), gn = withBackend('native', () => trax.grad(loss)(x));
      const e = relErr(gn, gj);
      assert.ok(e <= 1e-5, `${name}: relative error ${e.toExponential(2)} > 1e-5`);
    });
  }

  test('gradients agree', () => {
    const f = (p) => fm.sum(fm.mul(fm.dotProductAttention(fm.matmul(p.x, p.w), p.k, p.v, { causal: true }), 0.5));
    const p = { x: randTensor([2, 7, 8], 211), w: randTensor([8, 8], 212), k, v };
    const gj = withBackend('js', () => trax.grad(f)(p)), gn = withBackend('native', () => trax.grad(f)(p));
    for (const key of ['x', 'w', 'k', 'v']) {
      const e = relErr(gn[key], gj[key]);
      assert.ok(e <= 1e-4, `grad ${key}: relative error ${e.toExponential(2)}`);
    }
  });
});

test('backends: js is always selectable', () => {
  withBackend('js', () => assert.equal(trax.backendName(), 'js'));
  if (!nativeAvailable) assert.throws(() => trax.setBackend('native'), /native backend unavailable/);
});
