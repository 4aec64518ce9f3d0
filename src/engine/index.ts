// The tensor engine's public surface (trax.fastmath): numpy/JAX-like
// functions on tensors. The list is explicit so that internal helpers of the
// op families stay internal.
export { Tensor, tensor, toTensor, isTensor, shapeSize, allocFor, castArray } from './tensor.js';
export type { DType, HostArray, NestedArray, TensorLike, TensorOptions, TypedArrayFor } from './tensor.js';
export {
  opError, zeros, ones, full, zerosLike, onesLike, scalar, arange, tril, cast, broadcastShapes, sumTo, collapseBroadcast,
  add, sub, mul, div, maximum, minimum, pow, equal, notEqual, less, lessEqual, greater, greaterEqual, clip,
  neg, exp, log, tanh, sqrt, rsqrt, relu, sigmoid, abs, square, reciprocal, softplus, erf, gelu, fastGelu, where,
  reshape, expandDims, squeeze, broadcastTo, transpose, swapAxes, slice, sliceAxis, pad, concat, stack, split, reverse,
  sum, mean, max, min, argmax, logSumExp, cumsum, take, scatterAdd, takeAlongAxis, oneHot, matmul,
} from './ops.js';
export {
  softmax, logSoftmax, layerNorm, softmaxCrossEntropy, dotProductAttention, embeddingLookup, applyMask, dropout,
  splitHeads, mergeHeads, causalSelfAttention, denseReluDense, linear, type AttentionOptions,
} from './fused.js';
export { grad, valueAndGrad, noGrad, stopGradient, type ValueAndGradOptions } from './tape.js';
export { treeFlatten, treeUnflatten, treeLeaves, treeMap, type Tree, type TreeDef } from './tree.js';
export * as random from './random.js';
export { withBufferScope, clearBufferPool } from './pool.js';
export { jit, JitError, type JitFunction, type JitOptions } from './jit.js';
