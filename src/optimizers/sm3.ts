// SM3 (Anil et al. 2019, "Memory-Efficient Adaptive Optimization"), following
// Trax master's `sm3.py`: one accumulator vector per weight dimension; the
// per-element accumulator is the min over those vectors (a cover-set upper
// bound), and each vector keeps the max of the new accumulator along its axis.
// Optional grafting (secondMomentAveraging != 1) rescales the update to the
// norm of a plain AdaGrad-style step; momentum is EMA, heavy-ball or Nesterov.

import { Tensor } from '../engine/tensor.js';
import { sm3Update } from '../engine/ops/optim.js';
import {
  makeOptimizerFactory, Optimizer, slotTensor, zeros, type OptimizerOptions, type OptParams, type Slot,
} from './base.js';

export type SM3MomentumType = 'ema' | 'heavy_ball' | 'nesterov';

export interface SM3Options extends OptimizerOptions {
  momentum?: number;
  /** beta2 for the accumulators; 1.0 sums from the start like AdaGrad. */
  secondMomentAveraging?: number;
  /** Added to the preconditioned gradient as weightDecay * w (so it is scaled by lr). */
  weightDecay?: number;
  momentumType?: SM3MomentumType;
}

export class SM3Optimizer extends Optimizer {
  readonly momentumType: SM3MomentumType;
  /** Fixed at construction from the initial momentum / averaging, as in Trax. */
  readonly hasMomentum: boolean;
  readonly graft: boolean;

  constructor(learningRate?: number | SM3Options, options?: SM3Options) {
    super({
      name: 'SM3', defaultLearningRate: 0.01,
      params: [['momentum', 0.9], ['second_moment_averaging', 1.0], ['weight_decay', 0.0]],
      flags: { momentum_type: 'ema' },
    }, learningRate, options);
    const mt = this.flags.momentum_type as string;
    if (mt !== 'ema' && mt !== 'heavy_ball' && mt !== 'nesterov') {
      throw new TypeError(`SM3: momentumType must be 'ema', 'heavy_ball' or 'nesterov', got '${mt}'`);
    }
    this.momentumType = mt;
    this.hasMomentum = this.optParams.momentum > 0;
    this.graft = this.optParams.second_moment_averaging !== 1;
  }

  /**
   * `[m or [], v1s, v2s]`: v1s holds one zero vector per dimension (length
   * shape[i]); v2s likewise when grafting, else []. A scalar weight gets one
   * 0-d accumulator (Trax has none and fails on scalars).
   */
  init(weight: Tensor): Slot {
    const perDim = (): Tensor[] =>
      weight.shape.length === 0 ? [zeros([])] : weight.shape.map((d) => zeros([d]));
    return [this.hasMomentum ? zeros(weight.shape) : [], perDim(), this.graft ? perDim() : []];
  }

  protected updateInPlace(_step: number, g: Tensor, w: Tensor, slot: Slot,
    shape: readonly number[], p: OptParams): void {
    if (!Array.isArray(slot) || slot.length !== 3 || !Array.isArray(slot[1]) || !Array.isArray(slot[2])) {
      throw new TypeError('SM3: unexpected slot structure (wanted [m or [], v1s, v2s])');
    }
    const rank = Math.max(shape.length, 1);
    const v1 = (slot[1] as Slot[]).map((s) => slotTensor(this.name, s));
    const v2 = this.graft ? (slot[2] as Slot[]).map((s) => slotTensor(this.name, s)) : [];
    const m = this.hasMomentum ? slotTensor(this.name, slot[0]) : null;
    if (v1.length !== rank || (this.graft && v2.length !== rank)) {
      throw new TypeError(`SM3: slot has ${v1.length} accumulators for a weight of rank ${shape.length}`);
    }
    sm3Update(w, g, m, v1, this.graft ? v2 : null, p.learning_rate, p.weight_decay, p.momentum,
      p.second_moment_averaging, this.momentumType);
  }

}

/**
 * `SM3(learningRate = 0.01, {momentum = 0.9, secondMomentAveraging = 1, weightDecay = 0,
 * momentumType = 'ema'})`.
 */
export const SM3 = makeOptimizerFactory(SM3Optimizer, 'SM3');
export type SM3 = SM3Optimizer;
