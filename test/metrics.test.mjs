// Loss and metric layers: values on small known inputs (float64 references),
// gradients against central finite differences, and printed names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seeded } from './helpers/check.mjs';
import * as F from '../dist/src/engine/index.js';
import { Tensor } from '../dist/src/engine/tensor.js';
import { valueAndGrad } from '../dist/src/engine/tape.js';
import { treeFlatten, treeUnflatten } from '../dist/src/engine/tree.js';
import { ShapeDtype } from '../dist/src/shapes.js';
import { Serial } from '../dist/src/layers/combinators.js';
import { Negate, LogSoftmax } from '../dist/src/layers/core.js';
import * as M from '../dist/src/layers/metrics.js';

const f32 = (v) => F.tensor(v, { dtype: 'float32' });
const i32 = (v) => F.tensor(v, { dtype: 'int32' });

function close(actual, expected, { rtol = 1e-5, atol = 1e-6, msg = '' } = {}) {
  const a = actual instanceof Tensor ? actual.item() : actual;
  assert.ok(Math.abs(a - expected) <= atol + rtol * Math.abs(expected), `${msg}: got ${a}, expected ${expected}`);
}


/** Runs a metric (weightless) on its stack inputs. */
function m(layer, ...inputs) {
  layer.init(inputs.map((x) => new ShapeDtype(x.shape, x.dtype)));
  const y = layer.apply(inputs);
  assert.ok(y instanceof Tensor, `${layer.name} returns one tensor`);
  assert.equal(y.size, 1, `${layer.name} returns a scalar`);
  return y.item();
}

/**
 * Gradient of the (scalar) metric wrt the float inputs listed in wrt, against
 * central differences in float64 of the float32 outputs.
 */
function checkGradients(layer, inputs, wrt, { eps = 1e-2, rtol = 1e-2, atol = 1e-3 } = {}) {
  layer.init(inputs.map((x) => new ShapeDtype(x.shape, x.dtype)));
  const run = (xs) => {
    const all = inputs.slice();
    wrt.forEach((k, j) => { all[k] = xs[j]; });
    return layer.pureFn(all, layer.weights, layer.state, null)[0];
  };
  const params = wrt.map((k) => inputs[k]);
  const [, g] = valueAndGrad(run)(params);
  const { leaves, def } = treeFlatten(params);
  const gl = treeFlatten(g).leaves;
  let n = 0;
  leaves.forEach((leaf, li) => {
    for (let e = 0; e < leaf.size; e++) {
      const at = (delta) => {
        const b = Float32Array.from(leaf.dataSync()); b[e] += delta;
        const ls = leaves.slice(); ls[li] = new Tensor(b, leaf.shape);
        return run(treeUnflatten(def, ls)).item();
      };
      const num = (at(eps) - at(-eps)) / (2 * eps);
      const ana = gl[li].dataSync()[e];
      assert.ok(Math.abs(ana - num) <= atol + rtol * Math.max(Math.abs(num), Math.abs(ana)),
        `${layer.name}: d/d(input ${wrt[li]})[${e}] analytic ${ana} vs numeric ${num}`);
      n++;
    }
  });
  return n;
}

// Batch 2, length 3, vocab 4.
const logits = f32([
  [[2.0, 0.5, -1.0, 0.1], [0.2, 0.3, 3.0, -0.5], [1.0, 1.5, 0.0, -2.0]],
  [[-1.0, 0.0, 0.5, 2.5], [0.7, -0.3, 0.1, 0.0], [0.0, 2.2, 1.0, 0.4]],
]);
const targets = i32([[0, 2, 0], [3, 1, 1]]);
const weights = f32([[1, 1, 0], [1, 0.5, 1]]);

function logSoftmax64(row) {
  const mx = Math.max(...row);
  const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
  return row.map((v) => v - lse);
}
const L = logits.arraySync(), T = targets.arraySync(), W = weights.arraySync();
const LP = L.map((seq) => seq.map(logSoftmax64));
function each(fn) { for (let b = 0; b < 2; b++) for (let p = 0; p < 3; p++) fn(b, p); }
function ce64(smoothing = 0) {
  const out = [[0, 0, 0], [0, 0, 0]];
  each((b, p) => {
    let s = 0;
    for (let c = 0; c < 4; c++) s -= ((c === T[b][p] ? 1 : 0) * (1 - smoothing) + smoothing / 4) * LP[b][p][c];
    out[b][p] = s;
  });
  return out;
}
function weightedMean64(v, w) {
  let num = 0, den = 0;
  each((b, p) => { num += v[b][p] * w[b][p]; den += w[b][p]; });
  return num / den;
}
const sumW = W.flat().reduce((s, v) => s + v, 0);

test('printed names follow Trax', () => {
  const names = [
    [M.CrossEntropyLoss(), 'CrossEntropyLoss_in3'],
    [M.CrossEntropySum(), 'CrossEntropySum_in3'],
    [M.CrossEntropyLossWithLogSoftmax(), 'CrossEntropyLossWithLogSoftmax_in3'],
    [M.Accuracy(), 'Accuracy_in3'],
    [M.SequenceAccuracy(), 'SequenceAccuracy_in3'],
    [M.BinaryCrossEntropyLoss(), 'BinaryCrossEntropyLoss_in3'],
    [M.BinaryCrossEntropySum(), 'BinaryCrossEntropySum_in3'],
    [M.WeightedCategoryCrossEntropy(), 'WeightedCategoryCrossEntropy_in3'],
    [M.CategoryCrossEntropy(), 'CategoryCrossEntropy_in2'],
    [M.WeightedCategoryAccuracy(), 'WeightedCategoryAccuracy_in3'],
    [M.CategoryAccuracy(), 'CategoryAccuracy_in2'],
    [M.MaskedSequenceAccuracy(), 'MaskedSequenceAccuracy_in3'],
    [M.L2Loss(), 'L2Loss_in3'],
    [M.SmoothL1Loss(), 'SmoothL1Loss_in3'],
    [M.BinaryCrossEntropy(), 'BinaryCrossEntropy_in2'],
    [M.WeightedSum(), 'WeightedSum_in2'],
    [M.WeightedMean(), 'WeightedMean_in2'],
    // Trax builds SumOfWeights as a plain, unnamed Serial.
    [M.SumOfWeights(), 'Serial_in3[\n  Drop_out0\n  Drop_out0\n  Sum\n]'],
    // The v1.3.4 trainer's neg_log_perplexity metric.
    [Serial(M.CrossEntropyLoss(), Negate()), 'Serial_in3[\n  CrossEntropyLoss_in3\n  Negate\n]'],
  ];
  for (const [l, s] of names) assert.equal(String(l), s);
  for (const [l] of names.slice(0, 17).filter(([x]) => !x.name.startsWith('Binary'))) {
    assert.equal(l.nOut, 1);
    assert.deepEqual(treeFlatten(l.init(l.nIn === 3 ? [new ShapeDtype([2, 3, 4]), new ShapeDtype([2, 3], 'int32'), new ShapeDtype([2, 3])]
      : [new ShapeDtype([2, 3, 4]), new ShapeDtype([2, 3], 'int32')])[0]).leaves, [], `${l.name} is weightless`);
  }
});

test('CrossEntropyLoss / CrossEntropySum (v1.3.4): -output[target] on log-probs', () => {
  const logp = f32(LP);
  const ce = ce64();
  close(m(M.CrossEntropyLoss(), logp, targets, weights), weightedMean64(ce, W), { msg: 'CrossEntropyLoss' });
  let s = 0;
  each((b, p) => { s += ce[b][p] * W[b][p]; });
  close(m(M.CrossEntropySum(), logp, targets, weights), s, { msg: 'CrossEntropySum' });
  // On raw logits it is just -mean(logit[target]): not a cross-entropy (issue #1328).
  let raw = 0;
  each((b, p) => { raw -= L[b][p][T[b][p]] * W[b][p]; });
  close(m(M.CrossEntropyLoss(), logits, targets, weights), raw / sumW, { msg: 'CrossEntropyLoss on logits' });
  close(m(M.CrossEntropyLossWithLogSoftmax(), logits, targets, weights), weightedMean64(ce, W), { msg: 'WithLogSoftmax' });
  close(m(Serial(M.CrossEntropyLoss(), Negate()), logp, targets, weights), -weightedMean64(ce, W), { msg: 'neg_log_perplexity' });
  close(m(Serial(LogSoftmax(), M.CrossEntropyLoss()), logits, targets, weights), weightedMean64(ce, W));
});

test('CrossEntropyLoss gradient wrt the model output is -onehot * w / sum(w)', () => {
  const l = M.CrossEntropyLoss();
  l.init([new ShapeDtype([2, 3, 4]), new ShapeDtype([2, 3], 'int32'), new ShapeDtype([2, 3])]);
  const [, g] = valueAndGrad((out) => l.pureFn([out, targets, weights], l.weights, l.state, null)[0])(f32(LP));
  const expect = L.map((seq, b) => seq.map((row, p) => row.map((_, c) => (c === T[b][p] ? -W[b][p] / sumW : 0))));
  const gv = Array.from(g.dataSync()), ev = expect.flat(2);
  gv.forEach((v, i) => assert.ok(Math.abs(v - ev[i]) < 1e-7, `grad ${i}: ${v} vs ${ev[i]}`));
});

test('WeightedCategoryCrossEntropy and CategoryCrossEntropy (log-softmax inside)', () => {
  const ce = ce64();
  close(m(M.WeightedCategoryCrossEntropy(), logits, targets, weights), weightedMean64(ce, W), { msg: 'WCCE' });
  const ones = [[1, 1, 1], [1, 1, 1]];
  close(m(M.CategoryCrossEntropy(), logits, targets), weightedMean64(ce, ones), { msg: 'CCE' });
  // Label smoothing: (1 - eps) onehot + eps / n.
  const ls = ce64(0.1);
  close(m(M.WeightedCategoryCrossEntropy({ labelSmoothing: 0.1 }), logits, targets, weights), weightedMean64(ls, W), { msg: 'WCCE ls' });
  close(m(M.CategoryCrossEntropy({ labelSmoothing: 0.1 }), logits, targets), weightedMean64(ls, ones), { msg: 'CCE ls' });
  assert.throws(() => m(M.CategoryCrossEntropy({ labelSmoothing: 1.5 }), logits, targets), /between 0 and 1/);
  // Cutoff: max(ce, cutoff) - cutoff.
  const cut = ce.map((r) => r.map((v) => Math.max(v, 0.8) - 0.8));
  close(m(M.WeightedCategoryCrossEntropy({ cutoff: 0.8 }), logits, targets, weights), weightedMean64(cut, W), { msg: 'WCCE cutoff' });
  // Weights that broadcast to the targets' shape.
  const wRow = f32([[1], [0]]);
  close(m(M.WeightedCategoryCrossEntropy(), logits, targets, wRow), weightedMean64(ce, [[1, 1, 1], [0, 0, 0]]), { msg: 'broadcast weights' });
  // An out-of-range target gets a zero one-hot row, as Trax's one_hot does.
  const bad = i32([[0, 2, 9], [3, 1, 1]]);
  const ceBad = ce.map((r) => r.slice());
  ceBad[0][2] = 0;
  close(m(M.WeightedCategoryCrossEntropy(), logits, bad, F.onesLike(weights)), weightedMean64(ceBad, ones), { msg: 'out of range' });
});

test('Accuracy, WeightedCategoryAccuracy, CategoryAccuracy', () => {
  // argmax: [[0,2,1],[3,0,1]] vs targets [[0,2,0],[3,1,1]] -> correct [[1,1,0],[1,0,1]].
  const correct = [[1, 1, 0], [1, 0, 1]];
  close(m(M.Accuracy(), logits, targets, weights), weightedMean64(correct, W), { msg: 'Accuracy' });
  close(m(M.WeightedCategoryAccuracy(), logits, targets, weights), weightedMean64(correct, W), { msg: 'WCA' });
  close(m(M.CategoryAccuracy(), logits, targets), 4 / 6, { msg: 'CategoryAccuracy' });
  assert.throws(() => m(M.CategoryAccuracy(), logits, i32([0, 1])), /shapes must match/);
});

test('SequenceAccuracy and MaskedSequenceAccuracy: all weighted positions right', () => {
  // Row 0 all correct; row 1 wrong at a weighted position; row 2 wrong only
  // at a weight-0 position; row 3 has no weighted positions at all.
  const out = f32([
    [[5, 0], [0, 5], [5, 0]],
    [[5, 0], [5, 0], [0, 5]],
    [[0, 5], [0, 5], [5, 0]],
    [[5, 0], [5, 0], [5, 0]],
  ]);
  const tg = i32([[0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 1]]);
  const w = f32([[1, 1, 1], [1, 1, 1], [1, 1, 0], [0, 0, 0]]);
  close(m(M.SequenceAccuracy(), out, tg, w), 3 / 4, { msg: 'SequenceAccuracy' });
  close(m(M.MaskedSequenceAccuracy(), out, tg, w), 3 / 4, { msg: 'MaskedSequenceAccuracy' });
  // The three-row case from the quick-start era.
  const s3 = [out, tg, w].map((x) => F.sliceAxis(x, 0, 0, 3));
  close(m(M.SequenceAccuracy(), ...s3), 2 / 3);
  close(m(M.MaskedSequenceAccuracy(), ...s3), 2 / 3);
  // Per-position accuracy of the same batch, for contrast: 7 of 8 weighted positions are right.
  close(m(M.Accuracy(), out, tg, w), 7 / 8);
  // 1-D (no sequence axis): each example is its own sequence.
  close(m(M.SequenceAccuracy(), f32([[1, 0], [0, 1], [1, 0]]), i32([0, 0, 0]), f32([1, 1, 0])), 2 / 3);
});

test('SumOfWeights, WeightedSum, WeightedMean', () => {
  close(m(M.SumOfWeights(), logits, targets, weights), sumW, { msg: 'SumOfWeights' });
  const v = f32([[1, 2, 3], [4, 5, 6]]);
  close(m(M.WeightedSum(), v, weights), 1 + 2 + 4 + 2.5 + 6);
  close(m(M.WeightedMean(), v, weights), (1 + 2 + 4 + 2.5 + 6) / sumW);
});

test('L2Loss and SmoothL1Loss', () => {
  const y = f32([[0.5, 2.0, -1.0], [3.0, 0.0, 1.2]]);
  const tt = f32([[0.0, 0.2, -1.5], [0.5, 0.3, -0.6]]);
  const w = f32([[1, 0.5, 2], [1, 0, 1]]);
  const Y = y.arraySync(), TT = tt.arraySync(), WW = w.arraySync();
  let l2 = 0, sl1 = 0, den = 0;
  each((b, p) => {
    const d = Y[b][p] - TT[b][p];
    l2 += WW[b][p] * d * d;
    sl1 += WW[b][p] * (Math.abs(d) < 1 ? 0.5 * d * d : Math.abs(d) - 0.5);
    den += WW[b][p];
  });
  close(m(M.L2Loss(), y, tt, w), l2 / den, { msg: 'L2Loss' });
  close(m(M.SmoothL1Loss(), y, tt, w), sl1 / den, { msg: 'SmoothL1Loss' });
  assert.throws(() => m(M.L2Loss(), y, tt, f32([1, 1, 1])), /shapes must match/);
});

test('BinaryCrossEntropyLoss (v1.3.4, probabilities) and BinaryCrossEntropy (logits)', () => {
  const p = f32([0.9, 0.2, 0.6, 0.3]);
  const tg = i32([1, 0, 0, 1]);
  const P = Array.from(p.dataSync()), TG = [1, 0, 0, 1];
  const bce = -P.reduce((s, q, i) => s + TG[i] * Math.log(q) + (1 - TG[i]) * Math.log(1 - q), 0) / 4;
  close(m(M.BinaryCrossEntropyLoss(), p, tg, f32([1, 1, 1, 1])), bce, { msg: 'BCE loss' });
  // The per-batch value is a scalar, so the weighted mean leaves it unchanged.
  close(m(M.BinaryCrossEntropyLoss(), p, tg, f32([1, 0, 2, 1])), bce, { msg: 'BCE loss weighted' });
  close(m(M.BinaryCrossEntropySum(), p, tg, f32([1, 1, 1, 1])), 4 * bce, { msg: 'BCE sum' });
  // (batch, 1) inputs give the same value.
  close(m(M.BinaryCrossEntropyLoss(), F.reshape(p, [4, 1]), F.reshape(tg, [4, 1]), F.ones([4, 1])), bce);

  const x = f32([2.0, -1.0, 0.5, -30, 30]);
  const tx = i32([1, 0, 0, 1, 0]);
  // log sigmoid(v) = -softplus(-v), log(1 - sigmoid(v)) = -softplus(v), in float64.
  const softplus = (v) => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
  const X = Array.from(x.dataSync()), TX = [1, 0, 0, 1, 0];
  const ref = X.reduce((s, v, i) => s + TX[i] * softplus(-v) + (1 - TX[i]) * softplus(v), 0) / 5;
  close(m(M.BinaryCrossEntropy(), x, tx), ref, { rtol: 1e-5, msg: 'BinaryCrossEntropy (finite at +-30)' });
});

test('loss gradients match finite differences', () => {
  const logp = f32(LP);
  const w = weights;
  assert.equal(checkGradients(M.CrossEntropyLoss(), [logp, targets, w], [0, 2]), 30);
  assert.equal(checkGradients(M.CrossEntropySum(), [logp, targets, w], [0, 2]), 30);
  assert.equal(checkGradients(M.CrossEntropyLossWithLogSoftmax(), [logits, targets, w], [0, 2]), 30);
  assert.equal(checkGradients(M.WeightedCategoryCrossEntropy(), [logits, targets, w], [0, 2]), 30);
  assert.equal(checkGradients(M.WeightedCategoryCrossEntropy({ labelSmoothing: 0.2 }), [logits, targets, w], [0, 2]), 30);
  assert.equal(checkGradients(M.WeightedCategoryCrossEntropy({ cutoff: 0.05 }), [logits, targets, w], [0]), 24);
  assert.equal(checkGradients(M.CategoryCrossEntropy(), [logits, targets], [0]), 24);
  assert.equal(checkGradients(M.CategoryCrossEntropy({ labelSmoothing: 0.1 }), [logits, targets], [0]), 24);
  // Accuracy-type metrics: zero gradient wrt outputs, weighted-mean gradient wrt weights.
  assert.equal(checkGradients(M.Accuracy(), [logits, targets, w], [0, 2]), 30);
  assert.equal(checkGradients(M.WeightedCategoryAccuracy(), [logits, targets, w], [0, 2]), 30);
  assert.equal(checkGradients(M.SumOfWeights(), [logits, targets, w], [0, 2]), 30);
  const y = seeded([2, 3], 5, -2, 2), tt = seeded([2, 3], 6, -2, 2), ww = seeded([2, 3], 7, 0.2, 1);
  // Keep |y - t| away from SmoothL1's switch at 1.
  const d = Array.from(F.abs(F.sub(y, tt)).dataSync());
  assert.ok(d.every((v) => Math.abs(v - 1) > 0.05));
  assert.equal(checkGradients(M.L2Loss(), [y, tt, ww], [0, 1, 2]), 18);
  assert.equal(checkGradients(M.SmoothL1Loss(), [y, tt, ww], [0, 1, 2]), 18);
  assert.equal(checkGradients(M.WeightedMean(), [y, ww], [0, 1]), 12);
  assert.equal(checkGradients(M.WeightedSum(), [y, ww], [0, 1]), 12);
  const p = f32([0.9, 0.2, 0.6, 0.3]);
  assert.equal(checkGradients(M.BinaryCrossEntropyLoss(), [p, i32([1, 0, 0, 1]), f32([1, 1, 1, 1])], [0], { eps: 1e-3 }), 4);
  assert.equal(checkGradients(M.BinaryCrossEntropy(), [f32([2, -1, 0.5, -3]), i32([1, 0, 0, 1])], [0]), 4);
});

test('fused and unfused cross-entropy paths agree', () => {
  const big = seeded([3, 5, 7], 9, -4, 4);
  const tg = F.tensor(Array.from({ length: 15 }, (_, i) => (i * 5) % 7), { dtype: 'int32', shape: [3, 5] });
  const w = seeded([3, 5], 10, 0, 1);
  const fused = m(M.WeightedCategoryCrossEntropy(), big, tg, w);
  const unfused = m(M.CrossEntropyLossWithLogSoftmax(), big, tg, w);
  close(fused, unfused, { rtol: 1e-5 });
  // labelSmoothing 0 is the same as none.
  close(m(M.WeightedCategoryCrossEntropy({ labelSmoothing: 0 }), big, tg, w), fused, { rtol: 1e-6 });
});
