// Adam with Trax's decoupled weight decay (Trax `adam.py`), via the fused
// backend kernel:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   w <- (1 - wd) w - lr (m / (1 - b1^(t+1))) / (sqrt(v / (1 - b2^(t+1))) + eps)

import { adamUpdate } from '../engine/ops/optim.js';
import type { Tensor } from '../engine/tensor.js';
import {
  makeOptimizerFactory, Optimizer, slotTensor, zeros, type OptimizerOptions, type OptParams, type Slot,
} from './base.js';

export interface AdamOptions extends OptimizerOptions {
  weightDecayRate?: number;
  b1?: number;
  b2?: number;
  eps?: number;
}

export class AdamOptimizer extends Optimizer {
  constructor(learningRate?: number | AdamOptions, options?: AdamOptions) {
    super({
      name: 'Adam', defaultLearningRate: 1e-4,
      params: [['weight_decay_rate', 1e-5], ['b1', 0.9], ['b2', 0.999], ['eps', 1e-5]],
    }, learningRate, options);
  }

  /** `[m, v]`, zeros like the weight. */
  init(weight: Tensor): Slot {
    return [zeros(weight.shape), zeros(weight.shape)];
  }

  protected updateInPlace(step: number, g: Tensor, w: Tensor, slot: Slot,
    _shape: readonly number[], p: OptParams): void {
    adamUpdate(w, g, slotTensor(this.name, slot, 0), slotTensor(this.name, slot, 1),
      p.learning_rate, p.b1, p.b2, p.eps, p.weight_decay_rate, step);
  }

}

/** `Adam(learningRate = 1e-4, {weightDecayRate = 1e-5, b1 = 0.9, b2 = 0.999, eps = 1e-5, clipGradNorm})`. */
export const Adam = makeOptimizerFactory(AdamOptimizer, 'Adam');
export type Adam = AdamOptimizer;
