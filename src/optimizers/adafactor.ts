// Adafactor (Shazeer & Stern 2018) with Trax master's math (`adafactor.py`,
// eps1 added to the accumulators, not to g^2). The per-weight work runs in
// the fused backend kernel; the step-dependent scalars are computed here.

import { derivedScalar } from '../engine/jit.js';
import { adafactorUpdate, roundBfloat16InPlace } from '../engine/ops/optim.js';
import type { Tensor } from '../engine/tensor.js';
import {
  makeOptimizerFactory, Optimizer, slotTensor, zeros, type OptimizerOptions, type OptParams, type Slot,
} from './base.js';

export interface AdafactorOptions extends OptimizerOptions {
  /** Factor the second moment of weights with ndim >= 2 into row and column statistics. */
  factored?: boolean;
  /** Scale the step by max(rms(w), epsilon2). */
  multiplyByParameterScale?: boolean;
  /** Clip the update's RMS to clippingThreshold. */
  doClipping?: boolean;
  /** Keep a momentum slot (uses beta1). */
  doMomentum?: boolean;
  /** Store the momentum slot rounded to bfloat16 precision (still a float32 array). */
  momentumInBfloat16?: boolean;
  beta1?: number;
  decayRate?: number;
  clippingThreshold?: number;
  weightDecayRate?: number;
  /** If >= 1, weight decay fades linearly to 0 over this many steps. */
  weightDecayNSteps?: number;
  epsilon1?: number;
  epsilon2?: number;
}

export class AdafactorOptimizer extends Optimizer {
  readonly factored: boolean;
  readonly multiplyByParameterScale: boolean;
  readonly doClipping: boolean;
  readonly doMomentum: boolean;
  readonly momentumInBfloat16: boolean;

  constructor(learningRate?: number | AdafactorOptions, options?: AdafactorOptions) {
    super({
      name: 'Adafactor', defaultLearningRate: 0.05,
      params: [
        ['beta1', 0.0], ['decay_rate', 0.8], ['clipping_threshold', 1.0], ['weight_decay_rate', 1e-5],
        ['weight_decay_n_steps', 0], ['epsilon1', 1e-16], ['epsilon2', 1e-3],
      ],
      flags: {
        factored: true, multiply_by_parameter_scale: true, do_clipping: true, do_momentum: false,
        momentum_in_bfloat16: false,
      },
    }, learningRate, options);
    this.factored = this.flags.factored as boolean;
    this.multiplyByParameterScale = this.flags.multiply_by_parameter_scale as boolean;
    this.doClipping = this.flags.do_clipping as boolean;
    this.doMomentum = this.flags.do_momentum as boolean;
    this.momentumInBfloat16 = this.flags.momentum_in_bfloat16 as boolean;
  }

  private isFactored(shape: readonly number[]): boolean {
    return this.factored && shape.length >= 2;
  }

  /** `[v_row (shape[:-1]), v_col (shape[:-2] + shape[-1:])]` or `[v]`, then `m` with momentum. */
  init(weight: Tensor): Slot {
    const shape = weight.shape;
    const slots: Slot[] = [];
    if (this.isFactored(shape)) {
      slots.push(zeros(shape.slice(0, -1)), zeros([...shape.slice(0, -2), shape[shape.length - 1]]));
    } else {
      slots.push(zeros(shape));
    }
    if (this.doMomentum) slots.push(zeros(shape));
    return slots;
  }

  protected updateInPlace(step: number, g: Tensor, w: Tensor, slot: Slot,
    shape: readonly number[], p: OptParams): void {
    const n = p.weight_decay_n_steps;
    // weight_decay_n_steps < 1 means "always decay".
    // Functions of the step, so a traced training step recomputes them for each step it replays.
    const rate = p.weight_decay_rate, decayRate = p.decay_rate;
    const wd = n < 1 ? rate : derivedScalar(step, (t) => rate * Math.max(n - t, 0) / Math.max(n, 0));
    const decay = derivedScalar(step, (t) => 1 - Math.pow(t + 1, -decayRate));
    const m = this.doMomentum ? slotTensor(this.name, slot, Array.isArray(slot) ? slot.length - 1 : 0) : null;
    let vr: Tensor | null = null, vc: Tensor | null = null, v: Tensor | null = null;
    let batch = 1, rows = 1, cols = w.size;
    if (this.isFactored(shape)) {
      vr = slotTensor(this.name, slot, 0);
      vc = slotTensor(this.name, slot, 1);
      cols = shape[shape.length - 1];
      rows = shape[shape.length - 2];
      batch = cols * rows === 0 ? 0 : w.size / (rows * cols);
    } else {
      v = slotTensor(this.name, slot, 0);
    }
    if (w.size === 0) return;
    adafactorUpdate(w, g, vr, vc, v, m, batch, rows, cols, p.learning_rate, decay, p.epsilon1,
      p.epsilon2, p.clipping_threshold, this.multiplyByParameterScale, this.doClipping, p.beta1, wd);
    if (m && this.momentumInBfloat16) roundBfloat16InPlace(m);
  }

}

/**
 * `Adafactor(learningRate = 0.05, {factored = true, multiplyByParameterScale = true,
 * doClipping = true, doMomentum = false, beta1 = 0, decayRate = 0.8, clippingThreshold = 1,
 * weightDecayRate = 1e-5, weightDecayNSteps = 0, epsilon1 = 1e-16, epsilon2 = 1e-3})`.
 */
export const Adafactor = makeOptimizerFactory(AdafactorOptimizer, 'Adafactor');
export type Adafactor = AdafactorOptimizer;
