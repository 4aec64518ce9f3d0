// Gradients of every differentiable op against central finite differences
// (float64 differences of float32 evaluations), on every available backend,
// and the semantics of valueAndGrad/grad over parameter trees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';
import { describeBackends } from './helpers/backends.mjs';
import { allClose, checkGrad, randTensor, randInts } from './helpers/check.mjs';

const fm = trax.fastmath;
const T = (v, dtype) => trax.tensor(v, dtype ? { dtype } : {});

describeBackends('gradients: elementwise', () => {
  const BCAST = [[[2, 3], [2, 3]], [[2, 3], [3]], [[2, 1], [1, 3]], [[], [2, 2]], [[3], []], [[2, 1, 2], [3, 1]]];
  /** @type {Record<string, [Function, any, any]>} */
  const binary = {
    add: [fm.add, {}, {}], sub: [fm.sub, {}, {}], mul: [fm.mul, {}, {}],
    div: [fm.div, {}, { lo: 0.5, hi: 2 }],
    maximum: [fm.maximum, {}, {}], minimum: [fm.minimum, {}, {}],
    pow: [fm.pow, { lo: 0.5, hi: 2 }, { lo: -1.5, hi: 1.5 }],
  };
  for (const [name, [op, ra, rb]] of Object.entries(binary)) {
    test(`${name} (gradients sum back over broadcast axes)`, () => {
      BCAST.forEach(([sa, sb], c) => {
        const a = randTensor(sa, 100 + c, ra), b = randTensor(sb, 200 + c, rb);
        checkGrad(op, [a, b], { msg: `${name} ${JSON.stringify([sa, sb])}` });
      });
    });
  }

  test('maximum/minimum split ties evenly; clip passes gradient inside the range', () => {
    const a = T([1, 2, 3]), b = T([1, 5, 0]);
    const [ga, gb] = trax.grad(([x, y]) => fm.sum(fm.maximum(x, y)))([a, b]);
    allClose(ga, [0.5, 0, 1]);
    allClose(gb, [0.5, 1, 0]);
    const [gm] = trax.grad(([x, y]) => fm.sum(fm.minimum(x, y)))([a, b]);
    allClose(gm, [0.5, 1, 0]);
    checkGrad(fm.maximum, [a, b]);
    checkGrad((x) => fm.clip(x, -0.5, 0.5), [randTensor([7], 5, { awayFrom: 0.5, gap: 0.05 })]);
    allClose(trax.grad((x) => fm.sum(fm.clip(x, -1, 1)))(T([-2, 0, 2])), [0, 1, 0]);
  });

  const unary = {
    neg: {}, exp: {}, log: { lo: 0.3, hi: 3 }, tanh: {}, sqrt: { lo: 0.3, hi: 3 }, rsqrt: { lo: 0.3, hi: 3 },
    relu: { awayFrom: 0 }, gelu: {}, fastGelu: {}, sigmoid: {}, abs: { awayFrom: 0 }, square: {},
    reciprocal: { lo: 0.5, hi: 3 }, softplus: {}, erf: {},
  };
  for (const [name, range] of Object.entries(unary)) {
    test(name, () => {
      const x = randTensor([2, 5], 300, { lo: range.lo ?? -2.5, hi: range.hi ?? 2.5, awayFrom: range.awayFrom ?? null });
      checkGrad(fm[name], [x], { msg: name });
    });
  }

  test('empty operands: gradients are empty or zero, never NaN', () => {
    const [ga, gb] = trax.grad(([a, b]) => fm.sum(fm.mul(a, b)))([fm.zeros([0, 3]), T([1, 2, 3])]);
    assert.deepEqual([...ga.shape], [0, 3]);
    allClose(gb, [0, 0, 0]);
  });

  test('pow: gradient with respect to the exponent is 0 (not NaN) at a zero base', () => {
    const [ga, gb] = trax.grad(([a, b]) => fm.sum(fm.pow(a, b)))([T([0, 2]), T([2, 3])]);
    allClose(ga, [0, 12]);
    allClose(gb, [0, 8 * Math.log(2)]);
  });

  test('where routes gradients to the chosen branch, with broadcasting', () => {
    const cond = T([[1, 0, 1], [0, 0, 1]]);
    checkGrad((a, b) => fm.where(cond, a, b), [randTensor([2, 3], 1), randTensor([3], 2)]);
    checkGrad((a, b) => fm.where(T([1, 0]), a, b), [randTensor([3, 1], 3), randTensor([], 4)]);
    // Condition computed from a differentiable value carries no gradient itself.
    checkGrad((a) => fm.where(fm.greater(a, 0), fm.square(a), fm.neg(a)), [randTensor([6], 5, { awayFrom: 0 })]);
  });

  test('softmax and logSoftmax', () => {
    const x = randTensor([3, 4], 7, { lo: -2, hi: 2 });
    checkGrad(fm.softmax, [x]);
    checkGrad(fm.logSoftmax, [x]);
    checkGrad((y) => fm.softmax(y, -1), [randTensor([2, 2, 3], 8)]);
  });

  test('cast float32 -> float32 keeps the gradient; broadcastTo sums it back', () => {
    checkGrad((x) => fm.cast(x, 'float32'), [randTensor([3], 9)]);
    checkGrad((x) => fm.broadcastTo(x, [2, 3, 4]), [randTensor([3, 1], 10)]);
  });
});

describeBackends('gradients: reductions', () => {
  const x = randTensor([2, 3, 4], 400, { lo: -2, hi: 2 });
  for (const name of ['sum', 'mean', 'max', 'min']) {
    test(`${name} over single/multiple axes with keepDims`, () => {
      for (const [axis, keep] of [[null, false], [1, false], [-1, true], [[0, 2], false], [[0, 1], true]]) {
        checkGrad((t) => fm[name](t, axis, keep), [x], { msg: `${name} ${JSON.stringify(axis)} ${keep}` });
      }
    });
  }

  test('max/min with ties share the gradient equally', () => {
    const t = T([[1, 3, 3], [2, 2, 0], [5, 5, 5]]);
    allClose(trax.grad((y) => fm.sum(fm.max(y, 1)))(t), [[0, 0.5, 0.5], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]]);
    allClose(trax.grad((y) => fm.sum(fm.min(y, 0)))(t), [[1, 0, 0], [0, 1, 1], [0, 0, 0]]);
    // Two-way ties: central differences also see 1/2 each.
    checkGrad((y) => fm.max(y, -1), [T([[1, 3, 3], [2, 2, 0]])]);
    checkGrad((y) => fm.min(y, 0), [T([[1, 3, 0], [1, 2, 0]])]);
  });

  test('logSumExp over one and several axes', () => {
    checkGrad((t) => fm.logSumExp(t, -1), [x]);
    checkGrad((t) => fm.logSumExp(t, [0, 2], true), [x]);
    checkGrad((t) => fm.logSumExp(t, [0, 1, 2]), [fm.mul(x, 30)], { eps: 1e-2 });
  });

  test('cumsum and reverse', () => {
    for (const axis of [0, 1, -1]) {
      checkGrad((t) => fm.cumsum(t, axis), [x], { msg: `cumsum ${axis}` });
      checkGrad((t) => fm.reverse(t, axis), [x], { msg: `reverse ${axis}` });
    }
  });
});

describeBackends('gradients: shape ops', () => {
  const x = randTensor([2, 3, 4], 500);
  test('reshape, expandDims, squeeze, transpose, swapAxes', () => {
    checkGrad((t) => fm.reshape(t, [4, -1]), [x]);
    checkGrad((t) => fm.expandDims(t, 1), [x]);
    checkGrad((t) => fm.squeeze(t), [randTensor([1, 3, 1], 1)]);
    for (const p of [[1, 0, 2], [2, 0, 1], [0, 2, 1], [2, 1, 0]]) checkGrad((t) => fm.transpose(t, p), [x], { msg: `perm ${p}` });
    checkGrad((t) => fm.transpose(t), [x]);
    checkGrad((t) => fm.swapAxes(t, 0, -1), [x]);
  });

  test('slice, sliceAxis, pad', () => {
    checkGrad((t) => fm.slice(t, [1, 1, 0], [1, 2, 3]), [x]);
    checkGrad((t) => fm.slice(t, [-1, 0, -2]), [x]);
    checkGrad((t) => fm.sliceAxis(t, 2, 1, 3), [x]);
    checkGrad((t) => fm.pad(t, [[1, 0], [0, 2], [1, 1]]), [x]);
    checkGrad((t) => fm.pad(t, [[2, 1]], 3), [randTensor([3], 2)]);
  });

  test('concat, stack, split', () => {
    const a = randTensor([2, 3], 1), b = randTensor([2, 1], 2), c = randTensor([2, 2], 3);
    checkGrad((p, q, r) => fm.concat([p, q, r], 1), [a, b, c]);
    checkGrad((p, q) => fm.concat([p, q], 0), [a, randTensor([1, 3], 4)]);
    checkGrad((p, q) => fm.stack([p, q], 1), [a, randTensor([2, 3], 5)]);
    checkGrad((p) => fm.concat([p, p], -1), [a]);
    checkGrad((t) => { const [u, v] = fm.split(t, 2, 2); return fm.sub(fm.mul(u, 2), v); }, [x]);
    // An unused split piece contributes zeros.
    checkGrad((t) => fm.split(t, 3, 1)[1], [x]);
  });
});

describeBackends('gradients: indexing', () => {
  const x = randTensor([4, 3, 2], 600);
  test('take on every axis, duplicate indices accumulate', () => {
    for (const axis of [0, 1, 2, -1]) {
      const n = x.shape[axis < 0 ? axis + 3 : axis];
      checkGrad((t) => fm.take(t, [[0, n - 1], [0, 1]], axis), [x], { msg: `take axis ${axis}` });
    }
    allClose(trax.grad((t) => fm.sum(fm.take(t, [1, 1, 0])))(T([5, 6, 7])), [1, 2, 0]);
  });

  test('take in clip mode sends gradients to the clamped rows', () => {
    for (const axis of [0, 1]) {
      checkGrad((t) => fm.take(t, [-3, 1, 99], axis, 'clip'), [x], { msg: `clip axis ${axis}` });
    }
    allClose(trax.grad((t) => fm.sum(fm.take(t, [-1, 7, 1], 0, 'clip')))(T([1, 2, 3])), [1, 1, 1]);
  });

  test('scatterAdd with respect to the base and the updates', () => {
    checkGrad((b, u) => fm.scatterAdd(b, [2, 0, 2], u, 0), [randTensor([3, 2], 1), randTensor([3, 2], 2)]);
    checkGrad((b, u) => fm.scatterAdd(b, [[1], [1]], u, 1), [randTensor([2, 3], 3), randTensor([2, 2, 1], 4)]);
  });

  test('takeAlongAxis, with repeated indices', () => {
    checkGrad((t) => fm.takeAlongAxis(t, T([[[0, 1]], [[1, 1]], [[2, 0]], [[0, 0]]], 'int32'), 1), [x]);
    checkGrad((t) => fm.takeAlongAxis(t, randInts([4, 3, 3], 8, 0, 2), -1), [x]);
  });

  test('embeddingLookup accumulates repeated ids and clipped ids (clip mode)', () => {
    const table = randTensor([5, 3], 9);
    checkGrad((t) => fm.embeddingLookup(t, [[0, 4, 4], [1, -2, 9]], 'clip'), [table]);
    checkGrad((t) => fm.embeddingLookup(t, [[0, 4, 4], [1, 2, 3]]), [table]);
  });
});

describeBackends('gradients: matmul', () => {
  const CASES = [
    [[2, 3], [3, 4]], [[2, 2, 3], [2, 3, 2]], [[2, 1, 2, 3], [3, 3, 2]], [[2, 2, 3], [3, 2]], [[2, 3], [2, 3, 2]],
  ];
  test('2-D, batched, broadcast batch, every transpose combination', () => {
    CASES.forEach(([sa, sb], c) => {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const shA = tA ? [...sa.slice(0, -2), sa.at(-1), sa.at(-2)] : sa;
        const shB = tB ? [...sb.slice(0, -2), sb.at(-1), sb.at(-2)] : sb;
        checkGrad((a, b) => fm.matmul(a, b, tA, tB), [randTensor(shA, 700 + c), randTensor(shB, 800 + c)],
          { msg: `matmul ${JSON.stringify([shA, shB])} ${tA} ${tB}` });
      }
    });
  });

  test('1-D vectors', () => {
    checkGrad(fm.matmul, [randTensor([3], 1), randTensor([3, 2], 2)]);
    checkGrad(fm.matmul, [randTensor([2, 3], 3), randTensor([3], 4)]);
    checkGrad(fm.matmul, [randTensor([3], 5), randTensor([3], 6)]);
    checkGrad(fm.matmul, [randTensor([3], 7), randTensor([2, 3, 2], 8)]);
  });
});

describeBackends('gradients: fused ops', () => {
  test('layerNorm with respect to x, scale and bias', () => {
    checkGrad((x, s, b) => fm.layerNorm(x, s, b), [randTensor([2, 2, 5], 1, { lo: -2, hi: 2 }), randTensor([5], 2), randTensor([5], 3)]);
  });

  test('softmaxCrossEntropy with and without weights', () => {
    const logits = randTensor([2, 3, 4], 4, { lo: -2, hi: 2 });
    checkGrad((l) => fm.softmaxCrossEntropy(l, [[0, 3, 1], [2, 2, 0]]), [logits]);
    checkGrad((l) => fm.softmaxCrossEntropy(l, [[0, 3, 1], [2, 2, 0]], [[1, 0, 0.5], [2, 1, 1]]), [logits]);
  });

  test('softmaxCrossEntropy differentiates the weights too', () => {
    const logits = randTensor([3, 4], 5);
    checkGrad((l, w) => fm.softmaxCrossEntropy(l, [1, 0, 3], w), [logits, randTensor([3], 6, { lo: 0, hi: 2 })]);
  });

  const q = randTensor([2, 3, 4], 10), k = randTensor([2, 4, 4], 11), v = randTensor([2, 4, 4], 12);
  const keyMask = T([[1, 0, 1, 1], [1, 1, 1, 0]]);
  const dropMask = fm.mul(T([[[1, 0, 1, 1], [1, 1, 0, 1], [0, 1, 1, 1]], [[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 1]]]), 1 / 0.75);
  for (const [name, opts] of Object.entries({
    plain: {}, causal: { causal: true }, 'causal offset 1': { causal: true, offset: 1 },
    'causal offset -1': { causal: true, offset: -1 }, 'dropout mask': { dropMask }, 'key mask': { keyMask },
    'causal + key mask + dropout': { causal: true, offset: 1, keyMask, dropMask },
    'a head with every key masked': { keyMask: T([[0, 0, 0, 0], [1, 1, 1, 0]]) },
  })) {
    test(`dotProductAttention: ${name}`, () => {
      checkGrad((a, b, c) => fm.dotProductAttention(a, b, c, opts), [q, k, v], { msg: name });
    });
  }
});

describeBackends('valueAndGrad / grad semantics', () => {
  test('nested trees of objects and arrays keep their structure', () => {
    const params = { b: [T([1, 2]), { c: T(3) }], a: T([[1], [2]]), n: null };
    const f = (p) => fm.add(fm.sum(fm.mul(p.a, p.b[0])), fm.mul(p.b[1].c, p.b[1].c));
    const [val, g] = trax.valueAndGrad(f)(params);
    assert.ok(Math.abs(val.item() - (1 + 2 + 2 + 4 + 9)) < 1e-6);
    assert.deepEqual(Object.keys(g).sort(), ['a', 'b', 'n']);
    assert.equal(g.n, null);
    assert.ok(Array.isArray(g.b) && g.b.length === 2);
    allClose(g.a, [[3], [3]]);
    allClose(g.b[0], [3, 3]);
    allClose(g.b[1].c, 6, { shape: [] });
    // grad() gives the same tree.
    const g2 = trax.grad(f)(params);
    allClose(g2.b[0], [3, 3]);
  });

  test('hasAux returns the aux value untouched', () => {
    const aux = { note: 'x', t: T([7]) };
    const f = (w) => [fm.sum(fm.square(w)), aux];
    const [[val, a], g] = trax.valueAndGrad(f, { hasAux: true })(T([1, 2]));
    assert.equal(a, aux);
    assert.ok(Math.abs(/** @type {any} */ (val).item() - 5) < 1e-6);
    allClose(g, [2, 4]);
    const [g2, a2] = trax.grad(f, { hasAux: true })(T([1, 2]));
    allClose(g2, [2, 4]);
    assert.equal(a2, aux);
  });

  test('unused parameters get zero gradients of their shape (also int32 leaves)', () => {
    const g = trax.grad((p) => fm.sum(p.used))({ used: T([1, 2]), unused: T([[1, 2, 3]]), ids: T([1], 'int32') });
    allClose(g.unused, [[0, 0, 0]]);
    allClose(g.ids, [0]);
    const g0 = trax.grad(() => fm.scalar(1))([T([1, 2])]);
    allClose(g0[0], [0, 0]);
  });

  test('a parameter used twice accumulates both contributions', () => {
    allClose(trax.grad((w) => fm.sum(fm.add(fm.mul(w, 3), fm.square(w))))(T([1, -2])), [5, -1]);
    allClose(trax.grad((w) => fm.sum(fm.mul(w, w)))(T([3])), [6]);
    allClose(trax.grad((w) => fm.sum(fm.matmul(w, w)))(T([[1, 2], [3, 4]])), [[1 + 2 + 1 + 3, 3 + 4 + 1 + 3], [1 + 2 + 2 + 4, 3 + 4 + 2 + 4]]);
  });

  test('identity, rest arguments and extra (non-differentiated) inputs', () => {
    allClose(trax.grad((w) => fm.sum(w))(T([1, 2])), [1, 1]);
    const [v, g] = trax.valueAndGrad((w) => w)(T(4));
    assert.equal(v.item(), 4);
    allClose(g, 1, { shape: [] });
    const gx = trax.grad((w, x, c) => fm.sum(fm.mul(fm.mul(w, /** @type {any} */ (x)), /** @type {any} */ (c))))(T([1, 1]), T([2, 3]), 10);
    allClose(gx, [20, 30]);
  });

  test('noGrad and stopGradient block gradients', () => {
    const f = (w) => fm.add(fm.sum(fm.mul(w, trax.stopGradient(w))), fm.sum(trax.noGrad(() => fm.mul(w, 100))));
    const [v, g] = trax.valueAndGrad(f)(T([1, 2]));
    assert.ok(Math.abs(v.item() - (5 + 300)) < 1e-4);
    allClose(g, [1, 2]);
    allClose(trax.grad((w) => fm.sum(trax.stopGradient(w)))(T([1, 2])), [0, 0]);
  });

  test('gradients do not leak between calls; results are plain tensors', () => {
    const f = (w) => fm.sum(fm.square(w));
    const w = T([1, 2]);
    const g1 = trax.grad(f)(w), g2 = trax.grad(f)(w);
    allClose(g1, g2);
    assert.equal(w._tracked, false);
    // Using a gradient outside valueAndGrad records nothing.
    allClose(fm.add(g1, 1), [3, 5]);
  });

  test('long chains and a whole small model', () => {
    const p = { w1: randTensor([3, 4], 1), b1: randTensor([4], 2), w2: randTensor([4, 5], 3), s: randTensor([4], 4), t: randTensor([4], 5) };
    const x = randTensor([2, 3], 6);
    const loss = (w1, b1, w2, s, t) => {
      const h = fm.layerNorm(fm.gelu(fm.add(fm.matmul(x, w1), b1)), s, t);
      return fm.softmaxCrossEntropy(fm.matmul(h, w2), [1, 4]);
    };
    checkGrad(loss, [p.w1, p.b1, p.w2, p.s, p.t]);
  });
});

describeBackends('gradients: fused Dense, dropout mask and head split/merge', () => {
  test('linear: x @ W + b over the last axis, with and without bias', () => {
    const x = randTensor([2, 3, 4], 21), w = randTensor([4, 5], 22), b = randTensor([5], 23);
    checkGrad((x1, w1, b1) => fm.linear(x1, w1, b1), [x, w, b]);
    checkGrad((x1, w1) => fm.linear(x1, w1), [x, w]);
    allClose(fm.linear(x, w, b), fm.add(fm.matmul(x, w), b), { atol: 1e-5 });
  });

  test('applyMask multiplies by the mask in both directions', () => {
    const x = randTensor([3, 4], 24);
    const mask = trax.random.dropoutMask(trax.random.key(5), 0.7, [3, 4]);
    checkGrad((x1) => fm.applyMask(x1, mask), [x]);
    allClose(fm.applyMask(x, mask), fm.mul(x, mask));
  });

  test('splitHeads and mergeHeads are inverse transposes', () => {
    const x = randTensor([2, 3, 8], 25);
    checkGrad((x1) => fm.splitHeads(x1, 4), [x]);
    checkGrad((x1) => fm.mergeHeads(x1, 2), [randTensor([4, 3, 2], 26)]);
    const ref = fm.reshape(fm.transpose(fm.reshape(x, [2, 3, 4, 2]), [0, 2, 1, 3]), [8, 3, 2]);
    allClose(fm.splitHeads(x, 4), ref);
    allClose(fm.mergeHeads(fm.splitHeads(x, 4), 4), x);
  });
});

describeBackends('fused dropout', () => {
  test('dropout(x, key, keep) equals x * dropoutMask(key, keep) and its gradient is the mask', () => {
    const x = randTensor([5, 7], 31);
    const key = trax.random.key(11);
    const mask = trax.random.dropoutMask(key, 0.8, [5, 7]);
    allClose(fm.dropout(x, key, 0.8), fm.mul(x, mask), { rtol: 0, atol: 0 });
    checkGrad((x1) => fm.dropout(x1, key, 0.8), [x]);
  });
});

test('fastmath.vjp returns the output and a pullback for any cotangent', () => {
  const x = T([1, 2, 3]), w = T([2, -1, 0.5]);
  const [y, pullback] = fm.vjp((a, b) => fm.mul(fm.square(a), b), [x, w]);
  assert.deepEqual(Array.from(y.dataSync()), [2, -4, 4.5]);
  const [dx, dw] = pullback(T([1, 10, 100]));
  // d(a^2 b)/da = 2ab, d/db = a^2, each times the cotangent.
  assert.deepEqual(Array.from(dx.dataSync()), [4, -40, 300]);
  assert.deepEqual(Array.from(dw.dataSync()), [1, 40, 900]);
  // Integer inputs get no cotangent.
  const [, pb] = fm.vjp((a, i) => fm.mul(a, fm.cast(i, 'float32')), [x, T([1, 2, 3], 'int32')]);
  assert.equal(pb(T([1, 1, 1]))[1], null);
});
