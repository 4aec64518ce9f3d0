// Optimizers with Trax's semantics (`trax.optimizers`).
//
// Each optimizer is exported twice: as a class (`AdamOptimizer`) and as a
// factory with the Trax name (`Adam`) that works with or without `new`:
//   Adam(0.01), new Adam(0.01, {b1: 0.8}), Adam({learningRate: 0.01}),
//   Adam.create(0.01); `opt instanceof Adam` holds.
// The Trainer can take the factory and call `optimizer({learning_rate: 0})`.
// Options are camelCase; snake_case names (Trax's) are accepted too.
//
// Usage: `slots = opt.treeInit(flatWeights)`, then each step
//   `({weights, slots, stats} = opt.treeUpdate(step, grads, weights, slots))`.

export {
  Optimizer, makeOptimizerFactory, cloneSlot,
  type Slot, type OptParams, type UpdateStats, type TreeUpdateResult, type OptimizerOptions,
  type OptimizerFactory, type OptimizerSpec,
} from './base.js';
export { SGD, SGDOptimizer, type SGDOptions } from './sgd.js';
export { Momentum, MomentumOptimizer, type MomentumOptions } from './momentum.js';
export { RMSProp, RMSPropOptimizer, type RMSPropOptions } from './rmsprop.js';
export { Adam, AdamOptimizer, type AdamOptions } from './adam.js';
export { Adafactor, AdafactorOptimizer, type AdafactorOptions } from './adafactor.js';
export { SM3, SM3Optimizer, type SM3Options, type SM3MomentumType } from './sm3.js';
