// Momentum SGD, Nesterov by default (Trax `momentum.py`):
//   v' = mass v + g;  update = nesterov ? mass v' + g : v';
//   w <- (1 - wd) w - lr update   (weight decay not scaled by lr).

import type { Tensor } from '../engine/tensor.js';
import {
  f32, makeOptimizerFactory, Optimizer, slotTensor, zeros, type OptimizerOptions, type OptParams, type Slot,
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

  protected updateInPlace(_step: number, g: Float32Array, w: Float32Array, slot: Slot,
    _shape: readonly number[], p: OptParams): void {
    const v = f32(slotTensor(this.name, slot));
    const mu = p.mass, lr = p.learning_rate, keep = 1 - p.weight_decay_rate;
    const nesterov = this.nesterov;
    for (let i = 0; i < w.length; i++) {
      const nv = mu * v[i] + g[i];
      v[i] = nv;
      const upd = nesterov ? mu * nv + g[i] : nv;
      w[i] = keep * w[i] - lr * upd;
    }
  }
}

/** `Momentum(learningRate = 0.01, {mass = 0.9, weightDecayRate = 1e-5, nesterov = true})`. */
export const Momentum = makeOptimizerFactory(MomentumOptimizer, 'Momentum');
export type Momentum = MomentumOptimizer;
