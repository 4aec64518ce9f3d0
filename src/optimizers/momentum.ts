// Momentum SGD, Nesterov by default (Trax `momentum.py`):
//   v' = mass v + g;  update = nesterov ? mass v' + g : v';
//   w <- (1 - wd) w - lr update   (weight decay not scaled by lr).

import type { Tensor } from '../engine/tensor.js';
import { momentumUpdate } from '../engine/ops/optim.js';
import {
  makeOptimizerFactory, Optimizer, slotTensor, zeros, type OptimizerOptions, type OptParams, type Slot,
} from './base.js';

export interface MomentumOptions extends OptimizerOptions {
  mass?: number;
  weightDecayRate?: number;
  nesterov?: boolean;
}

export class MomentumOptimizer extends Optimizer {
  readonly nesterov: boolean;

  constructor(learningRate?: number | MomentumOptions, options?: MomentumOptions) {
    super({
      name: 'Momentum', defaultLearningRate: 0.01,
      params: [['mass', 0.9], ['weight_decay_rate', 1e-5]],
      flags: { nesterov: true },
    }, learningRate, options);
    this.nesterov = this.flags.nesterov as boolean;
  }

  /** The velocity, zeros like the weight. */
  init(weight: Tensor): Slot {
    return zeros(weight.shape);
  }

  protected updateInPlace(_step: number, g: Tensor, w: Tensor, slot: Slot,
    _shape: readonly number[], p: OptParams): void {
    momentumUpdate(w, g, slotTensor(this.name, slot), p.mass, p.learning_rate, p.weight_decay_rate, this.nesterov);
  }

}

/** `Momentum(learningRate = 0.01, {mass = 0.9, weightDecayRate = 1e-5, nesterov = true})`. */
export const Momentum = makeOptimizerFactory(MomentumOptimizer, 'Momentum');
export type Momentum = MomentumOptimizer;
