// RMSProp (Trax `rms_prop.py`): avg = gamma avg + (1 - gamma) g^2;
// w <- w - lr g / (sqrt(avg) + eps). The average starts at ONES, as in Trax,
// so early steps are small rather than huge.

import { Tensor } from '../engine/tensor.js';
import { rmspropUpdate } from '../engine/ops/optim.js';
import {
  makeOptimizerFactory, Optimizer, slotTensor, type OptimizerOptions, type OptParams, type Slot,
} from './base.js';

export interface RMSPropOptions extends OptimizerOptions {
  gamma?: number;
  eps?: number;
}

export class RMSPropOptimizer extends Optimizer {
  constructor(learningRate?: number | RMSPropOptions, options?: RMSPropOptions) {
    super({ name: 'RMSProp', defaultLearningRate: 1e-3, params: [['gamma', 0.9], ['eps', 1e-8]] },
      learningRate, options);
  }

  init(weight: Tensor): Slot {
    return new Tensor(new Float32Array(weight.size).fill(1), weight.shape);
  }

  protected updateInPlace(_step: number, g: Tensor, w: Tensor, slot: Slot,
    _shape: readonly number[], p: OptParams): void {
    rmspropUpdate(w, g, slotTensor(this.name, slot), p.gamma, p.eps, p.learning_rate);
  }

}

/** `RMSProp(learningRate = 1e-3, {gamma = 0.9, eps = 1e-8, clipGradNorm})`. */
export const RMSProp = makeOptimizerFactory(RMSPropOptimizer, 'RMSProp');
export type RMSProp = RMSPropOptimizer;
