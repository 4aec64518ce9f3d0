// Plain stochastic gradient descent: no slots, w <- w - lr * g.

import type { Tensor } from '../engine/tensor.js';
import { sgdUpdate } from '../engine/ops/optim.js';
import { makeOptimizerFactory, Optimizer, type OptimizerOptions, type OptParams, type Slot } from './base.js';

export type SGDOptions = OptimizerOptions;

export class SGDOptimizer extends Optimizer {
  constructor(learningRate?: number | SGDOptions, options?: SGDOptions) {
    super({ name: 'SGD', defaultLearningRate: 0.01, params: [] }, learningRate, options);
  }

  init(_weight: Tensor): Slot {
    return [];
  }

  protected updateInPlace(_step: number, g: Tensor, w: Tensor, _slot: Slot,
    _shape: readonly number[], p: OptParams): void {
    sgdUpdate(w, g, p.learning_rate);
  }
}

/** `SGD(learningRate = 0.01)`; callable with or without `new`. */
export const SGD = makeOptimizerFactory(SGDOptimizer, 'SGD');
export type SGD = SGDOptimizer;
