// Numeric helpers for the tensor tests: deterministic random inputs,
// closeness checks with readable diffs, a float64 finite-difference gradient
// checker, and an assertion for op error messages.
import assert from 'node:assert/strict';
import * as trax from '../../dist/src/index.js';

const fm = trax.fastmath;

/** Small deterministic PRNG (mulberry32) so test inputs do not depend on the library's RNG. */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function size(shape) { return shape.reduce((a, b) => a * b, 1); }

/**
 * Random float32 tensor with values in [lo, hi). awayFrom (a number) keeps
 * values at least `gap` from it, so kinks (relu at 0, abs at 0) are not hit
 * by finite differences.
 */
export function randTensor(shape, seed = 1, { lo = -1, hi = 1, awayFrom = null, gap = 0.1 } = {}) {
  const r = rng(seed);
  const n = size(shape);
  const buf = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = lo + (hi - lo) * r();
    if (awayFrom !== null) while (Math.abs(v - awayFrom) < gap) v = lo + (hi - lo) * r();
    buf[i] = v;
  }
  return trax.tensor(buf, { shape });
}

/** Random int32 tensor in [lo, hi). */
export function randInts(shape, seed, lo, hi) {
  const r = rng(seed);
  const buf = new Int32Array(size(shape));
  for (let i = 0; i < buf.length; i++) buf[i] = lo + Math.floor((hi - lo) * r());
  return trax.tensor(buf, { shape, dtype: 'int32' });
}

function flat(x) {
  if (x instanceof trax.Tensor) return Array.from(x.dataSync());
  if (ArrayBuffer.isView(x)) return Array.from(x);
  if (Array.isArray(x)) return x.flat(Infinity).map(Number);
  return [Number(x)];
}

function shapeOfNested(x) {
  const s = [];
  while (Array.isArray(x)) { s.push(x.length); x = x[0]; }
  return s;
}

/**
 * Asserts actual (a Tensor) is elementwise close to expected (nested array,
 * typed array or Tensor): |a - e| <= atol + rtol * |e|. NaN matches NaN and
 * infinities must match exactly. Checks the shape when expected carries one.
 */
export function allClose(actual, expected, { rtol = 1e-5, atol = 1e-6, shape = null, msg = '' } = {}) {
  const want = shape ?? (expected instanceof trax.Tensor ? expected.shape
    : Array.isArray(expected) && Array.isArray(expected[0]) ? shapeOfNested(expected) : null);
  if (actual instanceof trax.Tensor && want !== null) {
    assert.deepEqual([...actual.shape], [...want], `${msg} shape [${actual.shape}] != expected [${want}]`);
  }
  const a = flat(actual), e = flat(expected);
  assert.equal(a.length, e.length, `${msg} got ${a.length} values, expected ${e.length}`);
  const bad = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = e[i];
    let ok;
    if (Number.isNaN(y)) ok = Number.isNaN(x);
    else if (!Number.isFinite(y)) ok = x === y;
    else ok = Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (!ok) bad.push(i);
  }
  if (bad.length) {
    const lines = bad.slice(0, 8).map((i) => `  [${i}] got ${a[i]}, expected ${e[i]} (diff ${Math.abs(a[i] - e[i]).toExponential(2)})`);
    assert.fail(`${msg} ${bad.length}/${a.length} values differ (rtol ${rtol}, atol ${atol}):\n${lines.join('\n')}`);
  }
}

/** max|a - b| / max|b|: normwise relative error of a against reference b. */
export function relErr(a, b) {
  const x = flat(a), y = flat(b);
  assert.equal(x.length, y.length, 'relErr: lengths differ');
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    den = Math.max(den, Math.abs(y[i]));
  }
  if (num === 0) return 0;
  return num / (den || 1e-30);
}

function tensorWith(t, i, v) {
  const buf = Float32Array.from(t.dataSync());
  buf[i] = v;
  return trax.tensor(buf, { shape: t.shape });
}

/**
 * Checks gradients of f(...inputs) -> Tensor (any shape) against central
 * finite differences. The scalar checked is sum(f(...) * w) with fixed random
 * weights w, so every output element matters; the finite differences use the
 * float32 outputs but double-precision projection and differences. Every
 * float32 input is checked. Tolerance: |g - n| <= atol * scale + rtol * |n|
 * with scale = max|n| over that input (at least 1e-3).
 */
export function checkGrad(f, inputs, { eps = 1e-2, rtol = 2e-2, atol = 2e-3, seed = 99, msg = '' } = {}) {
  const out0 = f(...inputs);
  assert.ok(out0 instanceof trax.Tensor, `${msg} f must return a tensor`);
  const w = randTensor(out0.shape, seed, { lo: 0.5, hi: 1.5 });
  // Alternate signs so sums over an axis do not hide a wrong sign.
  const wb = Float32Array.from(w.dataSync(), (v, i) => (i % 3 === 1 ? -v : v));
  const wt = trax.tensor(wb, { shape: out0.shape });
  const proj = (xs) => {
    const o = f(...xs).dataSync();
    let s = 0;
    for (let i = 0; i < o.length; i++) s += o[i] * wb[i];
    return s;
  };
  const [val, grads] = trax.valueAndGrad((ps) => fm.sum(fm.mul(f(...ps), wt)))(inputs);
  assert.ok(Math.abs(val.item() - proj(inputs)) <= 1e-4 * (1 + Math.abs(proj(inputs))), `${msg} value under valueAndGrad differs`);
  inputs.forEach((x, k) => {
    if (x.dtype !== 'float32') return;
    const g = grads[k];
    assert.deepEqual([...g.shape], [...x.shape], `${msg} grad shape of input ${k}`);
    const num = new Float64Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const xp = Math.fround(x.dataSync()[i] + eps), xm = Math.fround(x.dataSync()[i] - eps);
      const hi = proj(inputs.map((t, j) => (j === k ? tensorWith(t, i, xp) : t)));
      const lo = proj(inputs.map((t, j) => (j === k ? tensorWith(t, i, xm) : t)));
      num[i] = (hi - lo) / (xp - xm);
    }
    let scale = 1e-3;
    for (const v of num) scale = Math.max(scale, Math.abs(v));
    const bad = [];
    for (let i = 0; i < x.size; i++) {
      if (!(Math.abs(g.dataSync()[i] - num[i]) <= atol * scale + rtol * Math.abs(num[i]))) bad.push(i);
    }
    if (bad.length) {
      const lines = bad.slice(0, 8).map((i) => `  [${i}] analytic ${g.dataSync()[i]}, numeric ${num[i]}`);
      assert.fail(`${msg} gradient of input ${k} (shape [${x.shape}]): ${bad.length}/${x.size} entries differ:\n${lines.join('\n')}`);
    }
  });
}

/**
 * Asserts fn throws an Error whose message names the op and contains every
 * string in `has` (typically shapes like '[2, 3]').
 */
export function throwsOp(fn, op, ...has) {
  let err = null;
  try { fn(); } catch (e) { err = e; }
  assert.ok(err !== null, `expected ${op} to throw`);
  assert.ok(err instanceof Error, `expected an Error from ${op}, got ${String(err)}`);
  assert.ok(err.message.includes(op), `message should name '${op}': ${err.message}`);
  for (const h of has) assert.ok(err.message.includes(h), `message should mention '${h}': ${err.message}`);
  return err;
}

/** Deterministic pseudo-random float32 values in [lo, hi) (xorshift; the layer tests' inputs). */
export function seeded(shape, seed, lo = -1, hi = 1) {
  let s = (seed * 2654435761) >>> 0 || 1;
  const n = size(shape);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return new trax.Tensor(out, shape);
}
