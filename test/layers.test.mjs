// Leaf layers (core, activations), initializers, weight/state trees,
// printing and error messages, checked against float64 references and
// central finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seeded } from './helpers/check.mjs';
import * as F from '../dist/src/engine/index.js';
import { Tensor } from '../dist/src/engine/tensor.js';
import { valueAndGrad } from '../dist/src/engine/tape.js';
import { treeFlatten, treeUnflatten } from '../dist/src/engine/tree.js';
import * as random from '../dist/src/engine/random.js';
import { ShapeDtype } from '../dist/src/shapes.js';
import { setBackend, backendName, nativeUnavailableReason } from '../dist/src/backends/index.js';
import {
  LayerError, GET_WEIGHTS_FROM_CACHE, GET_STATE_FROM_CACHE, flattenWeightsAndState, unflattenWeightsAndState,
} from '../dist/src/layers/base.js';
import { Serial, Parallel, Branch, Residual } from '../dist/src/layers/combinators.js';
import {
  Dense, Embedding, Dropout, LayerNorm, LogSoftmax, Softmax, LogSumExp, Mean, Sum, Max, Min, Flatten,
  Negate, ToFloat, ArgMax, StopGradient,
} from '../dist/src/layers/core.js';
import * as A from '../dist/src/layers/activations.js';
import {
  GlorotUniformInitializer, GlorotNormalInitializer, LeCunUniformInitializer, RandomNormalInitializer,
  RandomUniformInitializer, ScaledInitializer, KaimingUniformInitializer,
} from '../dist/src/layers/initializers.js';

// ------------------------------------------------------------------ helpers

const f32 = (v, shape) => F.tensor(v, { dtype: 'float32', ...(shape ? { shape } : {}) });
const i32 = (v) => F.tensor(v, { dtype: 'int32' });

function flatNums(x) {
  if (x instanceof Tensor) return Array.from(x.dataSync());
  if (ArrayBuffer.isView(x)) return Array.from(x);
  if (Array.isArray(x)) return x.flat(Infinity);
  return [x];
}

function assertClose(actual, expected, { rtol = 1e-5, atol = 1e-6, msg = '' } = {}) {
  const a = flatNums(actual), e = flatNums(expected);
  assert.equal(a.length, e.length, `${msg} length ${a.length} vs ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const ok = Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]) || (Number.isNaN(a[i]) && Number.isNaN(e[i]));
    assert.ok(ok, `${msg} element ${i}: got ${a[i]}, expected ${e[i]}`);
  }
}


function outputsOf(y) {
  if (y instanceof Tensor) return [y];
  return y.flatMap((v) => outputsOf(v));
}

/**
 * Compares valueAndGrad of sum(outputs * probes) wrt the float inputs and the
 * weights against central differences computed in float64 from the layer's
 * float32 outputs.
 */
function checkGradients(layer, inputs, weights, { state = layer.state, rng = random.key(7), wrt, eps = 1e-2, rtol = 1e-2, atol = 1e-3, maxPerLeaf = 16 } = {}) {
  const multi = layer.nIn !== 1;
  const ins = multi ? inputs.slice() : [inputs];
  const idx = (wrt ?? ins.map((_, i) => i)).filter((k) => ins[k].dtype === 'float32');
  const run = (params) => {
    const xs = ins.slice();
    idx.forEach((k, j) => { xs[k] = params.x[j]; });
    return outputsOf(layer.pureFn(multi ? xs : xs[0], params.w, state, rng)[0]);
  };
  const params = { x: idx.map((k) => ins[k]), w: weights };
  const probes = run(params).map((o, i) => seeded(o.shape, 100 + i));
  const loss = (p) => run(p).reduce((acc, o, i) => {
    const t = F.sum(F.mul(o, probes[i]));
    return acc === null ? t : F.add(acc, t);
  }, null);
  const loss64 = (p) => run(p).reduce((acc, o, i) => {
    const pb = probes[i].dataSync();
    let s = 0;
    for (let j = 0; j < o.size; j++) s += o.dataSync()[j] * pb[j];
    return acc + s;
  }, 0);
  const [, g] = valueAndGrad(loss)(params);
  const { leaves, def } = treeFlatten(params);
  const gLeaves = treeFlatten(g).leaves;
  assert.equal(gLeaves.length, leaves.length);
  let checked = 0;
  leaves.forEach((leaf, li) => {
    if (!(leaf instanceof Tensor) || leaf.dtype !== 'float32') return;
    const step = Math.max(1, Math.floor(leaf.size / maxPerLeaf));
    for (let e = 0; e < leaf.size; e += step) {
      const at = (delta) => {
        const b = Float32Array.from(leaf.dataSync());
        b[e] += delta;
        const ls = leaves.slice();
        ls[li] = new Tensor(b, leaf.shape);
        return loss64(treeUnflatten(def, ls));
      };
      const num = (at(eps) - at(-eps)) / (2 * eps);
      const ana = gLeaves[li].dataSync()[e];
      assert.ok(Math.abs(ana - num) <= atol + rtol * Math.max(Math.abs(ana), Math.abs(num)),
        `${layer.toString().split('\n')[0]}: d/d(leaf ${li})[${e}] analytic ${ana} vs numeric ${num}`);
      checked++;
    }
  });
  return checked;
}

// float64 references
function erf64(x) {
  // Maclaurin series; accurate to ~1e-12 for |x| <= 3.
  let sum = 0, term = x, n = 0;
  while (Math.abs(term) > 1e-17 * Math.max(1, Math.abs(sum)) || n < 5) {
    sum += term / (2 * n + 1);
    n++;
    term *= -x * x / n;
    if (n > 200) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const sigmoid64 = (x) => 1 / (1 + Math.exp(-x));

// ------------------------------------------------------------------ printing and names

test('printed names of leaf layers follow Trax', () => {
  assert.equal(String(Serial(A.Relu(), LayerNorm())), 'Serial[\n  Relu\n  LayerNorm\n]');
  assert.equal(String(Dense(32)), 'Dense_32');
  assert.equal(String(Embedding(32, 32)), 'Embedding_32_32');
  assert.equal(String(Dropout(0.1)), 'Dropout');
  assert.equal(String(LogSoftmax()), 'LogSoftmax');
  assert.equal(String(Softmax()), 'Softmax');
  assert.equal(String(Mean()), 'Mean');
  assert.equal(String(Sum()), 'Sum');
  assert.equal(String(Flatten()), 'Flatten_keep1');
  assert.equal(String(Flatten(2)), 'Flatten_keep2');
  const names = ['Relu', 'Gelu', 'FastGelu', 'Sigmoid', 'Tanh', 'Softplus', 'LeakyRelu', 'Elu', 'Selu', 'HardSigmoid',
    'HardTanh', 'Swish', 'Glu', 'ParametricRelu', 'ThresholdedLinearUnit', 'Exp', 'Log'];
  for (const n of names) {
    const l = A[n]();
    assert.equal(String(l), n);
    assert.equal(l.nIn, 1);
    assert.equal(l.nOut, 1);
  }
  // util.inspect uses the same form.
  assert.equal(String(Serial(Dense(4), A.Relu(), Dense(2))), 'Serial[\n  Dense_4\n  Relu\n  Dense_2\n]');
});

// ------------------------------------------------------------------ Dense / Embedding

test('Dense forward with given weights, shapes and init', () => {
  const d = Dense(3);
  const [w] = d.init(new ShapeDtype([2, 4]), { rng: random.key(0) });
  assert.deepEqual(w[0].shape, [4, 3]);
  assert.deepEqual(w[1].shape, [3]);
  const lim = Math.sqrt(6 / (4 + 3));
  assert.ok(Array.from(w[0].dataSync()).every((v) => Math.abs(v) <= lim));
  assert.ok(Array.from(w[1].dataSync()).every((v) => Math.abs(v) < 1e-4), 'bias ~ N(0, 1e-6)');
  // Same rng gives the same weights.
  const [w2] = Dense(3).init(new ShapeDtype([2, 4]), { rng: random.key(0) });
  assertClose(w2[0], w[0], { rtol: 0, atol: 0 });
  const [w3] = Dense(3).init(new ShapeDtype([2, 4]), { rng: random.key(1) });
  assert.notDeepEqual(Array.from(w3[0].dataSync()), Array.from(w[0].dataSync()));

  const W = f32([[1, 2, 3], [4, 5, 6], [-1, 0, 1], [0.5, -0.5, 2]]);
  const b = f32([0.1, -0.2, 0.3]);
  const x = f32([[1, 2, 3, 4], [-1, 0, 1, 0.5]]);
  const y = d.apply(x, { weights: [W, b] });
  const ref = [[0, 0, 0], [0, 0, 0]];
  const xs = x.arraySync(), Ws = W.arraySync(), bs = b.arraySync();
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) {
    let s = bs[j];
    for (let k = 0; k < 4; k++) s += xs[i][k] * Ws[k][j];
    ref[i][j] = s;
  }
  assert.deepEqual(y.shape, [2, 3]);
  assertClose(y, ref);
  // 3-D inputs: applied on the last axis.
  const y3 = d.apply(F.reshape(x, [1, 2, 4]), { weights: [W, b] });
  assert.deepEqual(y3.shape, [1, 2, 3]);
  assertClose(y3, ref);
  // useBias false: weights are W alone.
  const nb = Dense(3, { useBias: false });
  const [wn] = nb.init(new ShapeDtype([2, 4]));
  assert.ok(wn instanceof Tensor);
  assertClose(nb.apply(x, { weights: W }), ref.map((r) => r.map((v, j) => v - bs[j])));
});

test('Dense gradients wrt inputs and weights', () => {
  const d = Dense(3);
  d.init(new ShapeDtype([2, 4]), { rng: random.key(3) });
  const w = [seeded([4, 3], 1), seeded([3], 2)];
  assert.ok(checkGradients(d, seeded([2, 4], 3), w) > 10);
});

test('Embedding forward, clipping of out-of-range ids, init and gradients', () => {
  const e = Embedding(5, 3);
  const [W] = e.init(new ShapeDtype([2, 2], 'int32'), { rng: random.key(0) });
  assert.deepEqual(W.shape, [5, 3]);
  // Master initializer: U(+-sqrt(3 / d_feature)).
  const lim = Math.sqrt(3 / 3);
  assert.ok(Array.from(W.dataSync()).every((v) => Math.abs(v) <= lim));
  const table = f32([[0, 1, 2], [10, 11, 12], [20, 21, 22], [30, 31, 32], [40, 41, 42]]);
  const y = e.apply(i32([[1, 4], [0, 2]]), { weights: table });
  assert.deepEqual(y.shape, [2, 2, 3]);
  assert.deepEqual(y.arraySync(), [[[10, 11, 12], [40, 41, 42]], [[0, 1, 2], [20, 21, 22]]]);
  // take(..., mode='clip'): -3 -> row 0, 7 -> row 4.
  const yc = e.apply(i32([-3, 7, 5]), { weights: table });
  assert.deepEqual(yc.arraySync(), [[0, 1, 2], [40, 41, 42], [40, 41, 42]]);
  // Gradient wrt the table: rows are scatter-added (id 1 appears twice).
  const ids = i32([[1, 3], [1, 0]]);
  assert.ok(checkGradients(e, ids, seeded([5, 3], 4)) > 5);
  const [, g] = valueAndGrad((w) => F.sum(e.pureFn(ids, w, [], null)[0]))(table);
  assert.deepEqual(g.arraySync(), [[1, 1, 1], [2, 2, 2], [0, 0, 0], [1, 1, 1], [0, 0, 0]]);
});

// ------------------------------------------------------------------ Dropout

test('Dropout: train vs eval vs predict, rng determinism, rate kept in state', () => {
  const x = F.ones([50, 40]);
  const d = Dropout(0.5);
  const [w, s] = d.init(new ShapeDtype([50, 40]));
  assert.deepEqual(w, []);
  assert.ok(s instanceof Tensor);
  assert.equal(s.item(), 0.5);
  const [y1] = d.pureFn(x, [], s, random.key(1));
  const vals = new Set(Array.from(y1.dataSync()));
  assert.deepEqual([...vals].sort(), [0, 2], 'kept values are scaled by 1/(1-rate)');
  const kept = Array.from(y1.dataSync()).filter((v) => v !== 0).length / x.size;
  assert.ok(kept > 0.44 && kept < 0.56, `kept fraction ${kept}`);
  const [y2] = d.pureFn(x, [], s, random.key(1));
  assert.deepEqual(Array.from(y2.dataSync()), Array.from(y1.dataSync()), 'same rng, same mask');
  const [y3] = d.pureFn(x, [], s, random.key(2));
  assert.notDeepEqual(Array.from(y3.dataSync()), Array.from(y1.dataSync()), 'different rng, different mask');

  for (const mode of ['eval', 'predict']) {
    const de = Dropout(0.5, { mode });
    de.init(new ShapeDtype([50, 40]));
    assert.deepEqual(Array.from(de.apply(x).dataSync()), Array.from(x.dataSync()), `${mode} is the identity`);
  }
  assert.deepEqual(Array.from(Dropout(0).apply(x).dataSync()), Array.from(x.dataSync()), 'rate 0 is the identity');

  // The rate is read from state, so a state of 0.05 changes what is dropped.
  const [y5] = d.pureFn(x, [], F.scalar(0.05), random.key(1));
  const dropped = Array.from(y5.dataSync()).filter((v) => v === 0).length / x.size;
  assert.ok(dropped > 0.02 && dropped < 0.09, `dropped fraction ${dropped}`);
  assertClose(Array.from(y5.dataSync()).filter((v) => v !== 0).slice(0, 3), [1 / 0.95, 1 / 0.95, 1 / 0.95]);
  d.state = F.scalar(0.05);
  const y6 = d.apply(x, { rng: random.key(1) });
  assert.deepEqual(Array.from(y6.dataSync()), Array.from(y5.dataSync()));

  // Shared axes: one mask value per column.
  const ds = Dropout(0.5, { sharedAxes: [0] });
  ds.init(new ShapeDtype([50, 40]));
  const ys = ds.apply(x, { rng: random.key(3) }).arraySync();
  for (let c = 0; c < 40; c++) assert.ok(ys.every((row) => row[c] === ys[0][c]));

  assert.throws(() => Dropout(1.0), RangeError);
});

test('Dropout gradients (train mode, fixed rng)', () => {
  const d = Dropout(0.3);
  const [, s] = d.init(new ShapeDtype([4, 5]));
  assert.ok(checkGradients(d, seeded([4, 5], 9), [], { state: s, rng: random.key(5) }) > 10);
});

// ------------------------------------------------------------------ LayerNorm

test('LayerNorm matches the reference rows and float64 math', () => {
  const ln = LayerNorm();
  const [w] = ln.init(new ShapeDtype([3, 5]));
  assert.deepEqual(Array.from(w[0].dataSync()), [1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(w[1].dataSync()), [0, 0, 0, 0, 0]);
  const y = ln.apply(f32([[-2, -1, 0, 1, 2], [1, 2, 3, 4, 5], [10, 20, 30, 40, 50]]));
  const row = [-1.414, -0.707, 0, 0.707, 1.414];
  assertClose(y, [row, row, row], { atol: 1e-3, rtol: 0 });

  // Float64 reference with scale and bias, eps 1e-6 inside the sqrt.
  const x = seeded([4, 6], 11, -3, 3);
  const scale = seeded([6], 12), bias = seeded([6], 13);
  const out = ln.apply(x, { weights: [scale, bias] });
  const xs = x.arraySync(), sc = Array.from(scale.dataSync()), bs = Array.from(bias.dataSync());
  const ref = xs.map((r) => {
    const mu = r.reduce((a, b) => a + b, 0) / r.length;
    const v = r.reduce((a, b) => a + (b - mu) ** 2, 0) / r.length;
    return r.map((val, j) => ((val - mu) / Math.sqrt(v + 1e-6)) * sc[j] + bs[j]);
  });
  assertClose(out, ref, { rtol: 1e-5, atol: 1e-5 });
});

test('Serial(Relu, LayerNorm) on [-2..2] gives the intro notebook values', () => {
  const m = Serial(A.Relu(), LayerNorm());
  m.init(new ShapeDtype([1, 5]));
  assertClose(m.apply(f32([[-2, -1, 0, 1, 2]])), [[-0.75, -0.75, -0.75, 0.5, 1.75]], { atol: 1e-5, rtol: 0 });
  // A 1-D input works too.
  const m1 = Serial(A.Relu(), LayerNorm());
  m1.init(new ShapeDtype([5]));
  assertClose(m1.apply(f32([-2, -1, 0, 1, 2])), [-0.75, -0.75, -0.75, 0.5, 1.75], { atol: 1e-5, rtol: 0 });
});

test('LayerNorm gradients wrt input, scale and bias', () => {
  const ln = LayerNorm();
  ln.init(new ShapeDtype([3, 4]));
  assert.ok(checkGradients(ln, seeded([3, 4], 21, -2, 2), [F.add(seeded([4], 22), 1.5), seeded([4], 23)]) > 15);
});

// ------------------------------------------------------------------ activations

// Inputs stay away from every kink (0, +-1) so finite differences are smooth.
const actX = f32([[-2.7, -1.6, -0.7, -0.35, -0.12], [0.08, 0.3, 0.65, 1.4, 2.9]]);
const A_SELU = 1.6732632423543772848170429916717, L_SELU = 1.0507009873554804934193349852946;
const activationRefs = {
  Relu: (x) => (x <= 0 ? 0 : x),
  Gelu: (x) => 0.5 * x * (1 + erf64(x / Math.SQRT2)),
  FastGelu: (x) => 0.5 * x * (1 + Math.tanh(x * 0.7978845608 * (1 + 0.044715 * x * x))),
  Sigmoid: sigmoid64,
  Tanh: Math.tanh,
  Softplus: (x) => Math.log1p(Math.exp(x)),
  LeakyRelu: (x) => (x >= 0 ? x : 0.01 * x),
  Elu: (x) => (x > 0 ? x : Math.expm1(x)),
  Selu: (x) => L_SELU * (x > 0 ? x : A_SELU * Math.expm1(x)),
  HardSigmoid: (x) => Math.max(0, Math.min(1, 1 + x)),
  HardTanh: (x) => Math.max(-1, Math.min(1, x)),
  Swish: (x) => x * sigmoid64(x),
  ParametricRelu: (x) => Math.max(x, 0),
  Exp: Math.exp,
};

test('every activation matches its float64 formula', () => {
  for (const [name, f] of Object.entries(activationRefs)) {
    const y = A[name]().apply(actX);
    assert.deepEqual(y.shape, actX.shape);
    assertClose(y, flatNums(actX).map(f), { rtol: 2e-6, atol: 1e-7, msg: name });
  }
  const pos = f32([0.25, 0.5, 1, 2.5, 7]);
  assertClose(A.Log().apply(pos), flatNums(pos).map(Math.log), { rtol: 1e-6, atol: 1e-7, msg: 'Log' });
  // Parameters.
  assertClose(A.LeakyRelu(0.2).apply(actX), flatNums(actX).map((x) => (x >= 0 ? x : 0.2 * x)), { msg: 'LeakyRelu(0.2)' });
  assertClose(A.Elu(0.5).apply(actX), flatNums(actX).map((x) => (x > 0 ? x : 0.5 * Math.expm1(x))), { msg: 'Elu(0.5)' });
  assertClose(A.ParametricRelu(2.5).apply(actX), flatNums(actX).map((x) => Math.max(2.5 * x, 0)), { msg: 'ParametricRelu(2.5)' });
  // Elu/Selu keep full precision near 0 (expm1, not exp - 1).
  const tiny = f32([-1e-4, -3e-6]);
  assertClose(A.Elu().apply(tiny), flatNums(tiny).map(Math.expm1), { rtol: 1e-6, atol: 0, msg: 'Elu near 0' });
  // Exact edges of the piecewise definitions.
  const edges = f32([0, -1, 1]);
  assert.deepEqual(Array.from(A.Relu().apply(edges).dataSync()), [0, 0, 1]);
  assert.deepEqual(Array.from(A.HardSigmoid().apply(edges).dataSync()), [1, 0, 1]);
  assert.deepEqual(Array.from(A.HardTanh().apply(edges).dataSync()), [0, -1, 1]);
  // Large inputs stay finite where the math is finite.
  const big = f32([-60, 60]);
  assertClose(A.Softplus().apply(big), [0, 60], { atol: 1e-6 });
  assertClose(A.Sigmoid().apply(big), [0, 1], { atol: 1e-6 });
  assertClose(A.Elu().apply(big), [-1, 60], { atol: 1e-6 });
});

test('Glu splits the last axis: a * sigmoid(b)', () => {
  const x = f32([[1, -2, 0.5, 3], [0, 1, -1, 2]]);
  const y = A.Glu().apply(x);
  assert.deepEqual(y.shape, [2, 2]);
  assertClose(y, [[1 * sigmoid64(0.5), -2 * sigmoid64(3)], [0 * sigmoid64(-1), 1 * sigmoid64(2)]]);
  assert.throws(() => A.Glu().apply(f32([1, 2, 3])), /even/);
});

test('ThresholdedLinearUnit has one scalar weight, initialized to 0', () => {
  const t = A.ThresholdedLinearUnit();
  const [w, s] = t.init(new ShapeDtype([2, 5]));
  assert.ok(w instanceof Tensor);
  assert.deepEqual(w.shape, []);
  assert.equal(w.item(), 0);
  assert.deepEqual(s, []);
  assertClose(t.apply(actX), flatNums(actX).map((x) => Math.max(x, 0)));
  assertClose(t.apply(actX, { weights: F.scalar(0.5) }), flatNums(actX).map((x) => Math.max(x, 0.5)));
  // Gradient wrt the threshold counts the positions where it wins.
  assert.ok(checkGradients(t, actX, F.scalar(0.5)) > 5);
});

test('every activation: gradients match finite differences', () => {
  for (const name of Object.keys(activationRefs)) {
    const l = A[name]();
    l.init(new ShapeDtype(actX.shape));
    assert.ok(checkGradients(l, actX, [], { eps: 1e-3 }) >= 10, name);
  }
  const lg = A.Log();
  assert.ok(checkGradients(lg, f32([0.5, 1, 2.5, 4]), [], { eps: 1e-3 }) === 4);
  assert.ok(checkGradients(A.Glu(), seeded([2, 6], 31, -2, 2), []) === 12);
  assert.ok(checkGradients(A.LeakyRelu(0.3), actX, []) === 10);
  assert.ok(checkGradients(A.Elu(0.7), actX, []) === 10);
});

// ------------------------------------------------------------------ weightless core layers

test('LogSoftmax, Softmax, LogSumExp against float64', () => {
  const x = f32([[1, 2, 3, -1], [0.5, 0.5, -2, 4]]);
  const rows = x.arraySync();
  const lse = rows.map((r) => { const m = Math.max(...r); return m + Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0)); });
  assertClose(LogSoftmax().apply(x), rows.map((r, i) => r.map((v) => v - lse[i])));
  assertClose(Softmax().apply(x), rows.map((r, i) => r.map((v) => Math.exp(v - lse[i]))));
  // keepdims=True, as in Trax.
  const l2 = LogSumExp().apply(x);
  assert.deepEqual(l2.shape, [2, 1]);
  assertClose(l2, lse);
  // Large logits are stable.
  assertClose(LogSoftmax().apply(f32([1000, 0])), [0, -1000], { rtol: 1e-6 });
  for (const l of [LogSoftmax(), Softmax(), LogSumExp()]) assert.equal(checkGradients(l, seeded([3, 4], 41, -2, 2), []), 12);
});

test('Mean, Sum, Max, Min, Flatten, Negate, ToFloat, ArgMax, StopGradient', () => {
  const x = f32([[[1, 2], [3, 4], [5, 6]], [[-1, -2], [-3, -4], [-5, 7]]]);
  assertClose(Mean().apply(x), [[1.5, 3.5, 5.5], [-1.5, -3.5, 1]]);
  assertClose(Mean(1).apply(x), [[3, 4], [-3, 1 / 3]]);
  assert.deepEqual(Mean(1, true).apply(x).shape, [2, 1, 2]);
  assertClose(Sum().apply(x), [[3, 7, 11], [-3, -7, 2]]);
  assertClose(Sum(null).apply(x), 13);
  assert.deepEqual(Sum(null).apply(x).shape, []);
  assertClose(Sum(0).apply(x), [[0, 0], [0, 0], [0, 13]]);
  assertClose(Max().apply(x), [[2, 4, 6], [-1, -3, 7]]);
  assertClose(Min(0).apply(x), [[-1, -2], [-3, -4], [-5, 6]]);
  const fl = Flatten().apply(x);
  assert.deepEqual(fl.shape, [2, 6]);
  assertClose(fl, flatNums(x));
  assert.deepEqual(Flatten(2).apply(x).shape, [2, 3, 2]);
  assert.throws(() => Flatten(3).apply(x), /Flatten/);
  assertClose(Negate().apply(x), flatNums(x).map((v) => -v));
  const tf = ToFloat().apply(i32([1, 2]));
  assert.equal(tf.dtype, 'float32');
  const am = ArgMax().apply(x);
  assert.equal(am.dtype, 'int32');
  assert.deepEqual(am.arraySync(), [[1, 1, 1], [0, 0, 1]]);
  assert.deepEqual(Array.from(StopGradient().apply(x).dataSync()), flatNums(x));
  for (const l of [Mean(), Sum(), Sum(null), Mean(1), Flatten(), Negate(), Max()]) {
    assert.equal(checkGradients(l, x, []), 12, String(l));
  }
  // StopGradient blocks the gradient.
  const [, g] = valueAndGrad((t) => F.sum(StopGradient().pureFn(t, [], [], null)[0]))(x);
  assert.deepEqual(Array.from(g.dataSync()), new Array(12).fill(0));
});

// ------------------------------------------------------------------ errors

test('a layer fed a wrong shape throws a LayerError naming the layer, the file and the shapes', () => {
  const d = Dense(3);
  d.init(new ShapeDtype([2, 4]));
  let err;
  try { d.apply(F.ones([2, 5])); } catch (e) { err = e; }
  assert.ok(err instanceof LayerError);
  assert.ok(err.message.startsWith('Exception passing through layer Dense_3 (in pure_fn):\n'), err.message);
  assert.match(err.message, /layer created in file .*layers\.test\.mjs, line \d+/);
  assert.match(err.message, /layer input shapes: ShapeDtype\{shape:\(2, 5\), dtype:float32\}/);
  assert.match(err.message, /linear: input depth must equal the kernel.s first axis \(4\) \(inputs: \[2, 5\] float32, \[4, 3\] float32\)/);

  // Inside a Serial, the outer layer wraps the inner message.
  const m = Serial(Dense(4), Dense(3));
  m.init(new ShapeDtype([2, 4]));
  assert.throws(() => m.apply(F.ones([2, 6])), (e) => e instanceof LayerError
    && e.message.startsWith('Exception passing through layer Serial (in pure_fn):')
    && e.message.includes('Exception passing through layer Dense_4 (in pure_fn):'));
  // Errors during init say so.
  assert.throws(() => LayerNorm().init([new ShapeDtype([2]), new ShapeDtype([2])]),
    (e) => e instanceof LayerError && e.message.startsWith('Exception passing through layer LayerNorm (in init):'));
});

// ------------------------------------------------------------------ weights and state trees

test('weights and state trees mirror the sublayers; flatten/unflatten round-trip', () => {
  const model = Serial(Dense(3), Serial(LayerNorm(), A.Relu()), Dropout(0.1), Branch(Dense(2), A.ThresholdedLinearUnit()));
  const [w, s] = model.init(new ShapeDtype([2, 4]), { rng: random.key(4) });
  assert.equal(w.length, 4);
  assert.equal(w[0].length, 2);
  assert.deepEqual(w[0][0].shape, [4, 3]);
  assert.equal(w[1].length, 2);
  assert.deepEqual(w[1][0][0].shape, [3]);
  assert.deepEqual(w[1][1], []);
  assert.deepEqual(w[2], []);
  // Branch is Serial(Select, Parallel(...)).
  assert.equal(w[3].length, 2);
  assert.deepEqual(w[3][0], []);
  assert.deepEqual(w[3][1][0][0].shape, [3, 2]);
  assert.deepEqual(w[3][1][1].shape, []);
  assert.equal(s[2].item(), Math.fround(0.1));
  assert.deepEqual(s[0], []);

  const [fw, fs] = flattenWeightsAndState(w, s);
  assert.deepEqual(fw.map((t) => t.shape), [[4, 3], [3], [3], [3], [3, 2], [2], []]);
  assert.equal(fs.length, 1);
  assert.equal(fs[0].item(), Math.fround(0.1));
  const sig = model.weightsAndStateSignature(new ShapeDtype([2, 4]));
  const [w2, s2] = unflattenWeightsAndState(fw, fs, [w, s]);
  const [fw2, fs2] = flattenWeightsAndState(w2, s2);
  assert.equal(fw2.length, fw.length);
  fw2.forEach((t, i) => assert.equal(t, fw[i]));
  assert.equal(fs2[0], fs[0]);
  // The same with signature trees as the template.
  const [w3] = unflattenWeightsAndState(fw, fs, sig);
  flattenWeightsAndState(w3, [])[0].forEach((t, i) => assert.equal(t, fw[i]));
  assert.throws(() => unflattenWeightsAndState(fw.slice(1), fs, [w, s]), /too many|not enough/);
  assert.throws(() => unflattenWeightsAndState([...fw, fw[0]], fs, [w, s]), /too many/);
  // Setting weights pushes them down; the model computes with them.
  model.weights = w2;
  const y = model.apply(F.ones([2, 4]));
  assert.equal(y.length, 2);
  assert.throws(() => { model.weights = [w2[0]]; }, /one per sublayer/);
});

test('a layer shared twice in one Serial gets its weights once (marker on the second)', () => {
  const d = Dense(2);
  const model = Serial(d, A.Tanh(), d);
  const [w, s] = model.init(new ShapeDtype([1, 2]), { rng: random.key(9) });
  assert.equal(w.length, 3);
  assert.equal(w[0].length, 2);
  assert.equal(w[2], GET_WEIGHTS_FROM_CACHE);
  assert.equal(s[2], GET_STATE_FROM_CACHE);
  const [fw] = flattenWeightsAndState(w, s);
  assert.equal(fw.length, 2, 'the marker is skipped when flattening');
  // Forward equals d(tanh(d(x))) with the one set of weights.
  const x = f32([[0.3, -0.8]]);
  const [W, b] = w[0];
  const dd = (v) => F.add(F.matmul(v, W), b);
  assertClose(model.apply(x), dd(F.tanh(dd(x))), { rtol: 1e-6 });
  // Round trip keeps the marker in place.
  const [w2] = unflattenWeightsAndState(fw, [], [w, s], true);
  assert.equal(w2[2], GET_WEIGHTS_FROM_CACHE);
  assert.equal(w2[0][0], W);
  // Re-initializing gives fresh (non-marker) first weights again.
  const [w3] = model.init(new ShapeDtype([1, 2]));
  assert.ok(Array.isArray(w3[0]));
  assert.equal(w3[2], GET_WEIGHTS_FROM_CACHE);

  // Gradients: both uses add up on the shared weights. Differentiate the
  // flat weights and rebuild the tree (with its marker) inside the loss.
  const template = [w, s];
  const probe = seeded([1, 2], 55);
  const loss = (flat) => F.sum(F.mul(model.pureFn(x, unflattenWeightsAndState(flat, [], template, true)[0], s, null)[0], probe));
  const [, g] = valueAndGrad(loss)(fw);
  const loss64 = (flat) => {
    const y = model.pureFn(x, unflattenWeightsAndState(flat, [], template, true)[0], s, null)[0];
    return y.dataSync()[0] * probe.dataSync()[0] + y.dataSync()[1] * probe.dataSync()[1];
  };
  fw.forEach((leaf, li) => {
    for (let e = 0; e < leaf.size; e++) {
      const at = (delta) => {
        const b2 = Float32Array.from(leaf.dataSync()); b2[e] += delta;
        const fl = fw.slice(); fl[li] = new Tensor(b2, leaf.shape);
        return loss64(fl);
      };
      const num = (at(1e-2) - at(-1e-2)) / 2e-2;
      assert.ok(Math.abs(num - g[li].dataSync()[e]) <= 1e-3 + 1e-2 * Math.abs(num), `shared grad ${li}[${e}]: ${g[li].dataSync()[e]} vs ${num}`);
    }
  });
});

test('pureFn leaves the layer\'s own weights and state untouched; apply stores new state', () => {
  const d = Dense(2);
  const [w] = d.init(new ShapeDtype([1, 3]));
  const other = [F.ones([3, 2]), F.zeros([2])];
  const [y] = d.pureFn(F.ones([1, 3]), other, [], null);
  assert.deepEqual(Array.from(y.dataSync()), [3, 3]);
  assert.equal(d.weights[0], w[0]);
  const m = Serial(Dropout(0.5), Dense(2));
  const [, s] = m.init(new ShapeDtype([1, 3]));
  m.apply(F.ones([1, 3]), { state: [F.scalar(0.2), []] });
  assert.ok(Math.abs(m.state[0].item() - 0.2) < 1e-7, 'apply keeps the new state on the layer');
  assert.equal(s[0].item(), 0.5);
});

test('output signatures by running on zeros', () => {
  const m = Serial(Embedding(10, 4), Dense(3), Branch(null, Mean()));
  m.init(new ShapeDtype([2, 5], 'int32'));
  const sig = m.outputSignature(new ShapeDtype([2, 5], 'int32'));
  assert.equal(sig.length, 2);
  assert.deepEqual(sig[0].shape, [2, 5, 3]);
  assert.deepEqual(sig[1].shape, [2, 5]);
  assert.equal(String(sig[0]), 'ShapeDtype{shape:(2, 5, 3), dtype:float32}');
});

// ------------------------------------------------------------------ initializers

test('initializers: limits, moments and determinism', () => {
  const k = random.key(123);
  const g = GlorotUniformInitializer()([40, 60], k);
  const lim = Math.sqrt(6 / (40 + 60));
  const v = Array.from(g.dataSync());
  assert.ok(v.every((a) => Math.abs(a) <= lim));
  assert.ok(Math.max(...v.map(Math.abs)) > 0.95 * lim);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
  assert.ok(Math.abs(mean) < 0.02);
  assert.ok(Math.abs(variance / (lim * lim / 3) - 1) < 0.1, `variance ${variance}`);
  assert.deepEqual(Array.from(GlorotUniformInitializer()([40, 60], k).dataSync()), v, 'same rng, same weights');
  assert.notDeepEqual(Array.from(GlorotUniformInitializer()([40, 60], random.key(124)).dataSync()), v);

  const lc = Array.from(LeCunUniformInitializer()([50, 10], k).dataSync());
  assert.ok(lc.every((a) => Math.abs(a) <= Math.sqrt(3 / 50)));
  const ku = Array.from(KaimingUniformInitializer()([50, 10], k).dataSync());
  assert.ok(ku.every((a) => Math.abs(a) <= Math.sqrt(3 * 2 / 50)));
  assert.ok(Math.max(...ku.map(Math.abs)) > 0.9 * Math.sqrt(6 / 50));
  // 1-D shapes use shape[0] for both fans.
  const one = Array.from(ScaledInitializer(-1, -2, 1, 'fan_avg', 'uniform')([30], k).dataSync());
  assert.ok(one.every((a) => Math.abs(a) <= Math.sqrt(3 / 30)));
  const rn = Array.from(RandomNormalInitializer(0.5)([4000], k).dataSync());
  const sd = Math.sqrt(rn.reduce((a, b) => a + b * b, 0) / rn.length);
  assert.ok(Math.abs(sd - 0.5) < 0.03, `sd ${sd}`);
  const ru = Array.from(RandomUniformInitializer(0.25)([1000], k).dataSync());
  assert.ok(ru.every((a) => Math.abs(a) <= 0.25));
  const gn = Array.from(GlorotNormalInitializer()([40, 60], k).dataSync());
  const gsd = Math.sqrt(gn.reduce((a, b) => a + b * b, 0) / gn.length);
  // Trax's GlorotNormal is ScaledInitializer(fan_avg, 'normal'): std sqrt(2/(in+out)), untruncated.
  assert.ok(Math.abs(gsd / Math.sqrt(2 / 100) - 1) < 0.08, `glorot normal sd ${gsd}`);
  const beyond = gn.filter((a) => Math.abs(a) > 2 * Math.sqrt(2 / 100)).length / gn.length;
  assert.ok(beyond > 0.03 && beyond < 0.07, `share beyond 2 sd ${beyond} (normal: 0.046)`);
  // truncated_normal: rescaled by 1/0.8796 to keep the std, and cut at 2 std of the untruncated draw.
  const tn = Array.from(ScaledInitializer(-1, -2, 1, 'fan_avg', 'truncated_normal')([40, 60], k).dataSync());
  const tsd = Math.sqrt(tn.reduce((a, b) => a + b * b, 0) / tn.length);
  assert.ok(Math.abs(tsd / Math.sqrt(1 / 50) - 1) < 0.08, `truncated normal sd ${tsd}`);
  assert.ok(tn.every((a) => Math.abs(a) <= 2 * Math.sqrt(1 / 50) / 0.87962566103423978 + 1e-6));
  // Fans of a 3-d kernel are shape[-2] and shape[-1] alone (Trax's _GetFans ignores the receptive field).
  const k3 = Array.from(GlorotUniformInitializer()([5, 4, 6], k).dataSync());
  assert.ok(k3.every((a) => Math.abs(a) <= Math.sqrt(6 / 10) + 1e-6));
  assert.ok(Math.max(...k3.map(Math.abs)) > 0.8 * Math.sqrt(6 / 10));
});

test('initializers give the same weights on the js and native backends', (t) => {
  const reason = nativeUnavailableReason();
  if (reason !== null) { t.skip(`native backend unavailable: ${reason}`); return; }
  const before = backendName();
  try {
    setBackend('js');
    const a = Dense(7).init(new ShapeDtype([3, 5]), { rng: random.key(77) })[0];
    const e = Embedding(11, 6).init(new ShapeDtype([3], 'int32'), { rng: random.key(78) })[0];
    setBackend('native');
    const b = Dense(7).init(new ShapeDtype([3, 5]), { rng: random.key(77) })[0];
    const e2 = Embedding(11, 6).init(new ShapeDtype([3], 'int32'), { rng: random.key(78) })[0];
    assert.deepEqual(Array.from(b[0].dataSync()), Array.from(a[0].dataSync()));
    assert.deepEqual(Array.from(b[1].dataSync()), Array.from(a[1].dataSync()));
    assert.deepEqual(Array.from(e2.dataSync()), Array.from(e.dataSync()));
  } finally {
    setBackend(before);
  }
});

test('a combinator model: gradients through Serial/Branch/Parallel/Residual match finite differences', () => {
  const model = Serial(
    Dense(4), A.Tanh(),
    Residual(LayerNorm(), Dense(4), A.FastGelu()),
    Branch(Dense(3), Serial(Dense(3), A.Sigmoid())),
    Parallel(A.Swish(), LayerNorm()),
  );
  const [w, s] = model.init(new ShapeDtype([2, 3]), { rng: random.key(12) });
  assert.equal(model.nOut, 2);
  assert.ok(checkGradients(model, seeded([2, 3], 61), w, { state: s, maxPerLeaf: 6 }) > 40);
});
