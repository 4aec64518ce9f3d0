// The tensor engine's public surface: numpy/JAX-like functions on tensors.
export * from './tensor.js';
export * from './ops.js';
export * from './fused.js';
export { grad, valueAndGrad, vjp, noGrad, stopGradient, type ValueAndGradOptions } from './tape.js';
export { treeFlatten, treeUnflatten, treeLeaves, treeMap, type Tree, type TreeDef } from './tree.js';
export * as random from './random.js';
export { withBufferScope, clearBufferPool } from './pool.js';
