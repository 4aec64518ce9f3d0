// SM3 (Anil et al. 2019, "Memory-Efficient Adaptive Optimization"), following
// Trax master's `sm3.py`: one accumulator vector per weight dimension; the
// per-element accumulator is the min over those vectors (a cover-set upper
// bound), and each vector keeps the max of the new accumulator along its axis.
// Optional grafting (secondMomentAveraging != 1) rescales the update to the
// norm of a plain AdaGrad-style step; momentum is EMA, heavy-ball or Nesterov.

import { Tensor } from '../engine/tensor.js';
import {
  f32, makeOptimizerFactory, Optimizer, slotTensor, zeros, type OptimizerOptions, type OptParams, type Slot,
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

const TINY = 1e-16;

function precondition(acc: number): number {
  return acc > 0 ? 1 / (Math.sqrt(acc) + TINY) : 0;
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

  protected updateInPlace(_step: number, g: Float32Array, w: Float32Array, slot: Slot,
    shape: readonly number[], p: OptParams): void {
    if (!Array.isArray(slot) || slot.length !== 3 || !Array.isArray(slot[1]) || !Array.isArray(slot[2])) {
      throw new TypeError('SM3: unexpected slot structure (wanted [m or [], v1s, v2s])');
    }
    const n = w.length;
    const rank = Math.max(shape.length, 1);
    const v1 = (slot[1] as Slot[]).map((s) => f32(slotTensor(this.name, s)));
    const v2 = this.graft ? (slot[2] as Slot[]).map((s) => f32(slotTensor(this.name, s))) : [];
    const m = this.hasMomentum ? f32(slotTensor(this.name, slot[0])) : null;
    if (v1.length !== rank || (this.graft && v2.length !== rank)) {
      throw new TypeError(`SM3: slot has ${v1.length} accumulators for a weight of rank ${shape.length}`);
    }
    const beta2 = p.second_moment_averaging;
    const mix = beta2 === 1 ? 1 : 1 - beta2;
    const dims = shape.length === 0 ? [1] : shape;
    const diagonal = shape.length <= 1;

    // Pass 1: new accumulators (stored as float32, like the slots) and the
    // preconditioned gradient.
    const acc = new Float32Array(n);
    const acc2 = this.graft ? new Float32Array(n) : null;
    const pg = new Float64Array(n);
    const idx = new Int32Array(rank);
    let pgSq = 0, graftSq = 0;
    for (let i = 0; i < n; i++) {
      const gi = g[i], g2 = gi * gi;
      let a: number;
      if (diagonal) a = v1[0][i];
      else {
        a = Infinity;
        for (let k = 0; k < rank; k++) a = Math.min(a, v1[k][idx[k]]);
      }
      acc[i] = beta2 * a + mix * g2;
      pg[i] = gi * precondition(acc[i]);
      pgSq += pg[i] * pg[i];
      if (acc2) {
        let b: number;
        if (diagonal) b = v2[0][i];
        else {
          b = Infinity;
          for (let k = 0; k < rank; k++) b = Math.min(b, v2[k][idx[k]]);
        }
        acc2[i] = b + g2;
        const q = gi * precondition(acc2[i]);
        graftSq += q * q;
      }
      for (let k = rank - 1; k >= 0; k--) { // next multi-index
        if (++idx[k] < dims[k]) break;
        idx[k] = 0;
      }
    }
    const graftScale = acc2 ? Math.sqrt(graftSq) / (Math.sqrt(pgSq) + TINY) : 1;

    // Pass 2: weight decay, momentum and the weight update.
    const lr = p.learning_rate, wd = p.weight_decay, beta1 = p.momentum;
    for (let i = 0; i < n; i++) {
      const u0 = pg[i] * graftScale + w[i] * wd;
      let upd = u0;
      if (m) {
        if (this.momentumType === 'ema') { m[i] = (1 - beta1) * u0 + beta1 * m[i]; upd = m[i]; }
        else if (this.momentumType === 'heavy_ball') { m[i] = u0 + beta1 * m[i]; upd = m[i]; }
        else { m[i] = u0 + beta1 * m[i]; upd = u0 + beta1 * m[i]; }
      }
      w[i] = w[i] - lr * upd;
    }

    // New per-dimension accumulators.
    if (diagonal) {
      v1[0].set(acc);
      if (acc2) v2[0].set(acc2);
      return;
    }
    for (const vs of acc2 ? [v1, v2] : [v1]) for (const v of vs) v.fill(-Infinity);
    idx.fill(0);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < rank; k++) {
        const j = idx[k];
        if (acc[i] > v1[k][j]) v1[k][j] = acc[i];
        if (acc2 && acc2[i] > v2[k][j]) v2[k][j] = acc2[i];
      }
      for (let k = rank - 1; k >= 0; k--) {
        if (++idx[k] < dims[k]) break;
        idx[k] = 0;
      }
    }
  }
}

/**
 * `SM3(learningRate = 0.01, {momentum = 0.9, secondMomentAveraging = 1, weightDecay = 0,
 * momentumType = 'ema'})`.
 */
export const SM3 = makeOptimizerFactory(SM3Optimizer, 'SM3');
export type SM3 = SM3Optimizer;
