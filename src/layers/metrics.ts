// Losses and metrics as layers (trax/layers/metrics.py): each takes
// (model_output, targets[, weights]) off the stack and returns a scalar.
// Composite ones are named Serials with sublayersToPrint [] so they print as
// one name, e.g. CrossEntropyLoss_in3, exactly as Trax prints them.
import * as F from '../engine/index.js';
import { Tensor, peekScalar } from '../engine/tensor.js';
import type { Layer } from './base.js';
import { Drop, FnLayer, SerialLayer } from './combinators.js';
import { ArgMax, LogSoftmax, Sum } from './core.js';

function assertSameShape(a: Tensor, b: Tensor, what: string): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${what}: shapes must match, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
}

function named(name: string, layers: Layer[]): SerialLayer {
  return new SerialLayer(layers, { name, sublayersToPrint: [] });
}

/** Weights broadcast to the targets' shape (Trax allows broadcastable weights). */
function weightsLike(weights: Tensor, targets: Tensor): Tensor {
  const w = weights.dtype === 'float32' ? weights : F.cast(weights, 'float32');
  if (w.rank === targets.rank && w.shape.every((d, i) => d === targets.shape[i])) return w;
  return F.broadcastTo(w, targets.shape);
}

// ------------------------------------------------------------------ building blocks

function weightedMeanFn(values: Tensor, weights: Tensor): Tensor {
  return F.div(F.sum(F.mul(values, weights)), F.sum(weights));
}

function weightedSumFn(values: Tensor, weights: Tensor): Tensor {
  return F.sum(F.mul(values, weights));
}

/** sum(values * weights) / sum(weights). */
export function WeightedMean(): Layer { return new FnLayer('WeightedMean', weightedMeanFn, 2); }

/** sum(values * weights). */
export function WeightedSum(): Layer { return new FnLayer('WeightedSum', weightedSumFn, 2); }

function weightedMeanL(): Layer { return new FnLayer('_WeightedMean', weightedMeanFn, 2); }

/** -output[target] per position: cross-entropy when output holds log-probs. */
function crossEntropyL(): Layer {
  return new FnLayer('_CrossEntropy', (output: Tensor, targets: Tensor) =>
    F.neg(F.sum(F.mul(output, F.oneHot(targets, output.shape[output.rank - 1])), -1)), 2);
}

/** 1.0 where prediction == target, else 0.0. */
function accuracyL(): Layer {
  return new FnLayer('_Accuracy', (pred: Tensor, targets: Tensor) => F.equal(pred, targets), 2);
}

/**
 * Per example: 1 if every weighted position is correct. The result is
 * 1 - min(1, sum over non-batch axes of (1 - acc) * w), averaged over the
 * batch, so an example with no weighted positions counts as correct.
 */
function weightedSequenceMeanL(): Layer {
  return new FnLayer('_WeightedSequenceMean', (values: Tensor, weights: Tensor) => {
    const notCorrect = F.mul(F.sub(1, values), weights);
    const axes = Array.from({ length: notCorrect.rank - 1 }, (_, i) => i + 1);
    const perSeq = axes.length ? F.sum(notCorrect, axes) : notCorrect;
    return F.mean(F.sub(1, F.minimum(perSeq, 1)));
  }, 2);
}

/**
 * v1.3.4's binary cross-entropy of probabilities (not logits), written with
 * dot products as Trax does: -(t.log y + (1-t).log(1-y)) / batch.
 */
function binaryCrossEntropyL(): Layer {
  return new FnLayer('_BinaryCrossEntropy', (output: Tensor, targets: Tensor) => {
    assertSameShape(output, targets, 'BinaryCrossEntropy');
    if (output.rank < 1 || output.rank > 2) throw new Error(`BinaryCrossEntropy: expected 1-D or 2-D inputs, got rank ${output.rank}`);
    const t = F.cast(targets, 'float32');
    const tt = t.rank === 2 ? F.transpose(t) : t;
    const nt = F.sub(1, t);
    const ntt = nt.rank === 2 ? F.transpose(nt) : nt;
    const j = F.add(F.matmul(tt, F.log(output)), F.matmul(ntt, F.log(F.sub(1, output))));
    return F.mul(F.squeeze(j), -1 / output.shape[0]);
  }, 2);
}

/**
 * Per-position -sum(p * log_softmax(logits)), p the one-hot target,
 * optionally label-smoothed: (1 - eps) onehot + eps / n.
 */
function categoryCrossEntropy(logits: Tensor, targets: Tensor, labelSmoothing: number | null): Tensor {
  const n = logits.shape[logits.rank - 1];
  let p = F.oneHot(targets, n);
  if (labelSmoothing) {
    if (labelSmoothing < 0 || labelSmoothing > 1) throw new RangeError(`label_smoothing (${labelSmoothing}) must be between 0 and 1`);
    p = F.add(F.mul(p, 1 - labelSmoothing), labelSmoothing / n);
  }
  return F.neg(F.sum(F.mul(p, F.logSoftmax(logits)), -1));
}

/** Whether every target is an integer class id in [0, n) (the fused kernel's domain). */
function targetsInRange(targets: Tensor, n: number): boolean {
  if (targets.size === 0) return true;
  let ok = F.mul(F.greaterEqual(targets, 0), F.less(targets, n));
  if (targets.dtype !== 'int32') ok = F.mul(ok, F.equal(F.cast(F.cast(targets, 'int32'), 'float32'), targets));
  // Where the answer is on a device, take the general path (always correct).
  return peekScalar(F.min(ok)) === 1;
}

// ------------------------------------------------------------------ v1.3.4 metrics (quick-start era)

/**
 * CrossEntropyLoss: weighted mean of -output[target]. Correct only when the
 * model outputs log-probabilities (v1.3.4's TransformerLM ends in LogSoftmax).
 */
export function CrossEntropyLoss(): SerialLayer {
  return named('CrossEntropyLoss', [crossEntropyL(), weightedMeanL()]);
}

/** CrossEntropySum: weighted sum of -output[target]. */
export function CrossEntropySum(): SerialLayer {
  return named('CrossEntropySum', [crossEntropyL(), WeightedSum()]);
}

/** CrossEntropyLossWithLogSoftmax: LogSoftmax, then CrossEntropyLoss's math. */
export function CrossEntropyLossWithLogSoftmax(): SerialLayer {
  return named('CrossEntropyLossWithLogSoftmax', [LogSoftmax(), crossEntropyL(), weightedMeanL()]);
}

/** Accuracy(classifier = ArgMax()): weighted mean of (classifier(output) == target). */
export function Accuracy(classifier: Layer = ArgMax()): SerialLayer {
  return named('Accuracy', [classifier, accuracyL(), weightedMeanL()]);
}

/** SequenceAccuracy: share of examples whose weighted positions are all correct. */
export function SequenceAccuracy(classifier: Layer = ArgMax()): SerialLayer {
  return named('SequenceAccuracy', [classifier, accuracyL(), weightedSequenceMeanL()]);
}

/** BinaryCrossEntropyLoss: v1.3.4's binary CE of probabilities, then weighted mean. */
export function BinaryCrossEntropyLoss(): SerialLayer {
  return named('BinaryCrossEntropyLoss', [binaryCrossEntropyL(), weightedMeanL()]);
}

/** BinaryCrossEntropySum: v1.3.4's binary CE of probabilities, then weighted sum. */
export function BinaryCrossEntropySum(): SerialLayer {
  return named('BinaryCrossEntropySum', [binaryCrossEntropyL(), WeightedSum()]);
}

/**
 * SumOfWeights: the sum of the weights tensor. Trax builds it as an unnamed
 * Serial(Drop, Drop, Sum(axis=None)), so it prints as Serial_in3[...].
 */
export function SumOfWeights(): SerialLayer {
  return new SerialLayer([Drop(), Drop(), Sum(null)]);
}

/** L2Loss: sum(w (y - t)^2) / sum(w); all three of the same shape. */
export function L2Loss(): Layer {
  return new FnLayer('L2Loss', (output: Tensor, targets: Tensor, weights: Tensor) => {
    assertSameShape(output, targets, 'L2Loss');
    assertSameShape(output, weights, 'L2Loss');
    const d = F.sub(output, targets);
    return F.div(F.sum(F.mul(weights, F.mul(d, d))), F.sum(weights));
  }, 3);
}

/** SmoothL1Loss (Huber): 0.5 d^2 where |d| < 1, else |d| - 0.5; weighted mean. */
export function SmoothL1Loss(): Layer {
  return new FnLayer('SmoothL1Loss', (output: Tensor, targets: Tensor, weights: Tensor) => {
    assertSameShape(output, targets, 'SmoothL1Loss');
    assertSameShape(output, weights, 'SmoothL1Loss');
    const l1 = F.abs(F.sub(output, targets));
    const smooth = F.where(F.less(l1, 1), F.mul(F.mul(l1, l1), 0.5), F.sub(l1, 0.5));
    return F.div(F.sum(F.mul(weights, smooth)), F.sum(weights));
  }, 3);
}

// ------------------------------------------------------------------ master metrics (logits models)

/** CategoryCrossEntropy({labelSmoothing}): mean over positions of CE with log-softmax inside. */
export function CategoryCrossEntropy(opts: { labelSmoothing?: number | null } = {}): Layer {
  const ls = opts.labelSmoothing ?? null;
  return new FnLayer('CategoryCrossEntropy', (logits: Tensor, targets: Tensor) => {
    const n = logits.shape[logits.rank - 1];
    if (!ls && targetsInRange(targets, n)) return F.mean(F.softmaxCrossEntropy(logits, targets));
    return F.mean(categoryCrossEntropy(logits, targets, ls));
  }, 2);
}

/**
 * WeightedCategoryCrossEntropy({labelSmoothing, cutoff}): sum(ce * w) / sum(w)
 * with log-softmax inside. With a cutoff, ce becomes max(ce, cutoff) - cutoff.
 */
export function WeightedCategoryCrossEntropy(opts: { labelSmoothing?: number | null; cutoff?: number } = {}): Layer {
  const ls = opts.labelSmoothing ?? null, cutoff = opts.cutoff ?? 0;
  return new FnLayer('WeightedCategoryCrossEntropy', (logits: Tensor, targets: Tensor, weights: Tensor) => {
    const n = logits.shape[logits.rank - 1];
    const w = weightsLike(weights, targets);
    // The fused kernel does log-softmax and the gather in one pass. The
    // weights are applied outside it so they get a gradient too.
    let ce = !ls && targetsInRange(targets, n)
      ? F.softmaxCrossEntropy(logits, targets) : categoryCrossEntropy(logits, targets, ls);
    if (cutoff) ce = F.sub(F.maximum(ce, cutoff), cutoff);
    return F.div(F.sum(F.mul(ce, w)), F.sum(w));
  }, 3);
}

/** CategoryAccuracy: mean of argmax(output) == target. */
export function CategoryAccuracy(): Layer {
  return new FnLayer('CategoryAccuracy', (output: Tensor, targets: Tensor) => {
    const pred = F.argmax(output, -1);
    assertSameShape(pred, targets, 'CategoryAccuracy');
    return F.mean(F.equal(pred, targets));
  }, 2);
}

/** WeightedCategoryAccuracy: sum((argmax(output) == target) * w) / sum(w). */
export function WeightedCategoryAccuracy(): Layer {
  return new FnLayer('WeightedCategoryAccuracy', (output: Tensor, targets: Tensor, weights: Tensor) => {
    const pred = F.argmax(output, -1);
    assertSameShape(pred, targets, 'WeightedCategoryAccuracy');
    return weightedMeanFn(F.equal(pred, targets), weights);
  }, 3);
}

/**
 * MaskedSequenceAccuracy: a position is correct if its weight is 0 or the
 * prediction matches; a sequence (last axis) is correct if all positions
 * are; returns the mean over sequences.
 */
export function MaskedSequenceAccuracy(): Layer {
  return new FnLayer('MaskedSequenceAccuracy', (output: Tensor, targets: Tensor, weights: Tensor) => {
    const pred = F.argmax(output, -1);
    assertSameShape(pred, targets, 'MaskedSequenceAccuracy');
    const ok = F.maximum(F.equal(pred, targets), F.equal(weightsLike(weights, targets), 0));
    return F.mean(F.min(ok, -1));
  }, 3);
}

/**
 * BinaryCrossEntropy (master): mean binary CE of logits against 0/1 targets.
 * log(sigmoid(x)) and log(1 - sigmoid(x)) are computed as -softplus(-x) and
 * -softplus(x): the same values, without log(0) for large |x|.
 */
export function BinaryCrossEntropy(): Layer {
  return new FnLayer('BinaryCrossEntropy', (logits: Tensor, targets: Tensor) => {
    const t = F.cast(targets, 'float32');
    const logP = F.neg(F.softplus(F.neg(logits)));
    const log1mP = F.neg(F.softplus(logits));
    return F.neg(F.mean(F.add(F.mul(t, logP), F.mul(F.sub(1, t), log1mP))));
  }, 2);
}
