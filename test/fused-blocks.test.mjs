// Blocks that run as fused ops: CausalAttention (projections and attention
// in train and eval mode) and the feed-forward block (Dense-ReLU-Dropout-
// Dense). Each must agree with the same layers run one
// by one (values, dropout masks and gradients) and keep Trax's tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';
import { FeedForward, FeedForwardBlock } from '../dist/src/models/transformer_lm.js';
import { describeBackends } from './helpers/backends.mjs';
import { allClose, seeded } from './helpers/check.mjs';
/** @typedef {import('../dist/src/engine/tensor.js').Tensor} TensorT */

const tl = trax.layers, F = trax.fastmath;

function layerByLayer(d, nHeads, dropout, mode) {
  const proj = () => [tl.Dense(d), tl.SplitIntoHeads(nHeads)];
  return tl.Serial(
    tl.Branch(proj(), proj(), proj()),
    tl.DotProductCausalAttention({ dropout, mode }),
    tl.MergeHeads(nHeads),
    tl.Dense(d),
  );
}

function leaves(tree, out = []) {
  if (tree instanceof trax.Tensor) out.push(tree);
  else if (Array.isArray(tree)) for (const t of tree) leaves(t, out);
  else if (tree && typeof tree === 'object') for (const k of Object.keys(tree).sort()) leaves(tree[k], out);
  return out;
}

/**
 * Checks a fused block against the same layers run one by one on a (b, l, d)
 * input: printed tree, loss, output, every gradient leaf (count and shape),
 * and, when dropout is active, that the output depends on the key.
 */
function checkAgainstLayers(fused, ref, [b, l, d], { seed, key, nWeights, dropoutActive }) {
  const sig = new trax.shapes.ShapeDtype([b, l, d]);
  const [w, s] = fused.init(sig);
  ref.init(sig);
  assert.equal(fused.toString(), ref.toString(), 'printed tree');
  const x = seeded([b, l, d], seed), r = seeded([b, l, d], seed + 1);
  const rng = trax.random.key(key);
  const loss = (layer) => (p) => F.sum(F.mul(layer.pureFn(p.x, p.w, s, rng)[0], r));
  const [vf, gf] = trax.valueAndGrad(loss(fused))({ x, w });
  const [vr, gr] = trax.valueAndGrad(loss(ref))({ x, w });
  allClose(vf, vr, { rtol: 1e-4, atol: 1e-4, msg: 'loss' });
  const yf = fused.pureFn(x, w, s, rng)[0], yr = ref.pureFn(x, w, s, rng)[0];
  allClose(yf, yr, { rtol: 1e-4, atol: 1e-5, msg: 'output' });
  const lf = leaves(gf), lr = leaves(gr);
  assert.equal(lf.length, 1 + nWeights, `x and ${nWeights} weights`);
  for (let i = 0; i < lf.length; i++) {
    assert.deepEqual(lf[i].shape, lr[i].shape);
    allClose(lf[i], lr[i], { rtol: 1e-3, atol: 1e-5, msg: `gradient leaf ${i}` });
  }
  if (dropoutActive) {
    // The mask really applies: another key gives another output.
    const other = fused.pureFn(x, w, s, trax.random.key(key + 1))[0];
    assert.ok(F.max(F.abs(F.sub(other, yf))).item() > 1e-4, 'dropout depends on the key');
  }
}

describeBackends('fused causal self-attention', () => {
  // [batch, length, depth, heads, dropout, mode]: tiny rows, direct loops, the GEMM path.
  /** @type {Array<[number, number, number, number, number, any]>} */
  const cases = [[2, 7, 8, 2, 0.3, 'train'], [3, 10, 32, 8, 0, 'train'], [2, 40, 32, 2, 0.2, 'train'],
    [2, 70, 64, 2, 0, 'train'], [2, 33, 48, 3, 0.5, 'eval']];
  for (const [b, l, d, h, dropout, mode] of cases) {
    test(`B=${b} L=${l} D=${d} H=${h} dropout=${dropout} ${mode}: same values and gradients as the layers one by one`, () => {
      checkAgainstLayers(tl.CausalAttention(d, { nHeads: h, dropout, mode }), layerByLayer(d, h, dropout, mode), [b, l, d],
        { seed: 11, key: 5, nWeights: 8, dropoutActive: dropout > 0 && mode === 'train' });
    });
  }

  test('predict mode still uses the key/value cache layer by layer', () => {
    const layer = tl.CausalAttention(16, { nHeads: 2, mode: 'predict' });
    const ref = tl.CausalAttention(16, { nHeads: 2, mode: 'eval' });
    const [w] = ref.init(new trax.shapes.ShapeDtype([1, 5, 16]));
    layer.init(new trax.shapes.ShapeDtype([1, 1, 16]));
    layer.weights = w;
    const x = seeded([1, 5, 16], 3);
    const full = ref.apply(x);
    for (let i = 0; i < 5; i++) {
      const yi = layer.apply(F.slice(x, [0, i, 0], [1, 1, 16]));
      allClose(yi, F.slice(/** @type {TensorT} */ (full), [0, i, 0], [1, 1, 16]), { rtol: 1e-4, atol: 1e-5, msg: `position ${i}` });
    }
  });
});

describeBackends('fused feed-forward block', () => {
  // [batch, length, dModel, dFF, dropout, mode]
  /** @type {Array<[number, number, number, number, number, any]>} */
  const cases = [[2, 5, 8, 32, 0, 'train'], [3, 7, 16, 64, 0.3, 'eval'], [2, 4, 8, 16, 0.2, 'train'], [1, 9, 24, 40, 0, 'predict'],
    [4, 16, 32, 128, 0.5, 'train']];
  for (const [b, l, d, dff, dropout, mode] of cases) {
    test(`B=${b} L=${l} d=${d} dFF=${dff} dropout=${dropout} ${mode}: same values and gradients as the layers one by one`, () => {
      checkAgainstLayers(FeedForward(d, dff, dropout, null, mode, tl.Relu), tl.Serial(FeedForwardBlock(d, dff, dropout, null, mode, tl.Relu)),
        [b, l, d], { seed: 21, key: 9, nWeights: 6, dropoutActive: dropout > 0 && mode === 'train' });
    });
  }
  test('the fused path really runs: ReLU zeroes hidden units in both paths alike', () => {
    const d = 4, dff = 6;
    const fused = FeedForward(d, dff, 0, null, 'train', tl.Relu);
    const [w, s] = fused.init(new trax.shapes.ShapeDtype([1, 3, d]));
    const x = seeded([1, 3, d], 5);
    const y = fused.pureFn(x, w, s, trax.random.key(1))[0];
    // Reference by hand: LayerNorm, then relu(x W1 + b1) W2 + b2.
    const [ln, d1, , , d2] = /** @type {any[]} */ (w);
    const n = F.layerNorm(x, ln[0], ln[1], 1e-6);
    const h = F.relu(F.add(F.matmul(n, d1[0]), d1[1]));
    const expect = F.add(F.matmul(h, d2[0]), d2[1]);
    allClose(y, expect, { rtol: 1e-5, atol: 1e-6 });
  });
});

describeBackends('fused causal self-attention: the combined Q|K|V matrix', () => {
  test('is rebuilt after an in-place optimizer update of the weights it came from', () => {
    const d = 8, sig = new trax.shapes.ShapeDtype([2, 5, d]);
    const layer = tl.CausalAttention(d, { nHeads: 2, mode: 'eval' });
    const [w, s] = layer.init(sig);
    const x = seeded([2, 5, d], 7);
    const before = layer.pureFn(x, w, s, null)[0];
    assert.deepEqual(/** @type {TensorT} */ (layer.pureFn(x, w, s, null)[0]).dataSync(), /** @type {TensorT} */ (before).dataSync(), 'same weights, same output');
    const opt = trax.optimizers.SGD({ learning_rate: 0.5, inPlace: true });
    const wq = w[0][1][0][0][0];
    opt.update(1, seeded(wq.shape, 9), wq, []);
    const after = layer.pureFn(x, w, s, null)[0];
    const ref = layerByLayer(d, 2, 0, 'eval');
    ref.init(sig);
    allClose(after, ref.pureFn(x, w, s, null)[0], { rtol: 1e-5, atol: 1e-6, msg: 'output follows the updated Wq' });
    assert.ok(F.max(F.abs(F.sub(/** @type {TensorT} */ (after), /** @type {TensorT} */ (before)))).item() > 1e-3, 'the update changed the output');
  });

  test('is rebuilt after a fastmath.jit replay updated the weights in place', () => {
    const d = 8, sig = new trax.shapes.ShapeDtype([2, 5, d]);
    const layer = tl.CausalAttention(d, { nHeads: 2, mode: 'eval' });
    const [w, s] = layer.init(sig);
    const x = seeded([2, 5, d], 7);
    const wq = w[0][1][0][0][0];
    const opt = trax.optimizers.SGD({ learning_rate: 0.5, inPlace: true });
    const step = F.jit((/** @type {TensorT} */ wt, /** @type {TensorT} */ g) => opt.update(1, g, wt, []).weight);
    const ref = layerByLayer(d, 2, 0, 'eval');
    ref.init(sig);
    for (let i = 0; i < 4; i++) {
      // Calls 3 and 4 replay the traced update without running the optimizer's TypeScript.
      step(wq, seeded(wq.shape, 20 + i));
      allClose(layer.pureFn(x, w, s, null)[0], ref.pureFn(x, w, s, null)[0], { rtol: 1e-5, atol: 1e-6, msg: `after update ${i + 1}` });
    }
    assert.ok(step.replays >= 1, `replays ${step.replays}`);
  });
});

describeBackends('custom backward (hasBackward)', () => {
  // y = x * w, with a backward that is deliberately not the derivative of
  // forward: the autodiff must use it instead of differentiating forward.
  class Scaled extends tl.Layer {
    get hasBackward() { return true; }
    forward(x) { return F.mul(x, /** @type {any} */ (this.weights)); }
    initWeightsAndState() { this._weights = F.scalar(2); }
    /** @returns {[any, any]} */
    backward(_inputs, _output, grad, weights) {
      return [F.mul(grad, 3), F.mul(F.sum(grad), weights)];
    }
  }

  test('the autodiff calls the layer\'s backward for inputs and weights', () => {
    const layer = new Scaled();
    const [w, s] = layer.init(new trax.shapes.ShapeDtype([3]));
    const x = trax.tensor([1, 2, 3]);
    const [v, g] = trax.valueAndGrad((p) => F.sum(/** @type {TensorT} */ (layer.pureFn(p.x, p.w, s, null)[0])))({ x, w });
    assert.equal(v.item(), 12);
    assert.deepEqual(Array.from(g.x.dataSync()), [3, 3, 3]);
    assert.equal(g.w.item(), 6);
    // Inside a Serial, through the combinator's pure calls.
    const model = tl.Serial(new Scaled(), tl.Relu());
    const [mw, ms] = model.init(new trax.shapes.ShapeDtype([3]));
    const gm = trax.grad((p) => F.sum(/** @type {TensorT} */ (model.pureFn(p, mw, ms, null)[0])))(x);
    assert.deepEqual(Array.from(gm.dataSync()), [3, 3, 3]);
  });

  test('the fused blocks take this path', () => {
    assert.equal(tl.CausalAttention(8, { nHeads: 2, mode: 'train' }).hasBackward, true);
    assert.equal(FeedForward(8, 16, 0.1, null, 'train', tl.Relu).hasBackward, true);
    assert.equal(tl.Serial(FeedForwardBlock(8, 16, 0.1, null, 'train', tl.Relu)).hasBackward, false);
  });
});
