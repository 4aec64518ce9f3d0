// Weight initializers with Trax's formulas (trax/layers/initializers.py).
// An initializer maps (shape, rng) to a float32 tensor.
import * as random from '../engine/random.js';
import type { PRNGKey } from '../engine/random.js';
import { Tensor } from '../engine/tensor.js';
import { mul } from '../engine/ops.js';

export type Initializer = (shape: readonly number[], rng: PRNGKey) => Tensor;

// Trax's _GetFans (1.3.4 and master alike): for 2 or more dims the fans are
// shape[inDim] and shape[outDim] alone; the receptive field it computes only
// enters for 0-d shapes. A 1-d shape uses shape[0] for both.
function fans(shape: readonly number[], outDim: number, inDim: number): [number, number] {
  if (shape.length >= 2) {
    const o = outDim < 0 ? shape.length + outDim : outDim;
    const i = inDim < 0 ? shape.length + inDim : inDim;
    return [shape[i], shape[o]];
  }
  return [shape[0] ?? 1, shape[0] ?? 1];
}

/** ScaledInitializer(outDim, inDim, scale, mode, distribution), as in Trax. */
export function ScaledInitializer(outDim: number, inDim: number, scale: number,
  mode: 'fan_in' | 'fan_out' | 'fan_avg', distribution: 'uniform' | 'normal' | 'truncated_normal'): Initializer {
  if (!(scale > 0)) throw new RangeError(`ScaledInitializer: scale must be positive, got ${scale}`);
  return (shape, rng) => {
    const [fanIn, fanOut] = fans(shape, outDim, inDim);
    const gain = scale / (mode === 'fan_in' ? fanIn : mode === 'fan_out' ? fanOut : (fanIn + fanOut) / 2);
    if (distribution === 'uniform') {
      const lim = Math.sqrt(3 * gain);
      return random.uniform(rng, shape, -lim, lim);
    }
    if (distribution === 'normal') return mul(random.normal(rng, shape), Math.sqrt(gain));
    return mul(random.truncatedNormal(rng, shape, -2, 2), Math.sqrt(gain) / 0.87962566103423978);
  };
}

export const GlorotUniformInitializer = (outDim = -1, inDim = -2, scale = 1.0): Initializer =>
  ScaledInitializer(outDim, inDim, scale, 'fan_avg', 'uniform');
// Trax's *Normal initializers draw from an untruncated normal (distribution 'normal').
export const GlorotNormalInitializer = (outDim = -1, inDim = -2, scale = 1.0): Initializer =>
  ScaledInitializer(outDim, inDim, scale, 'fan_avg', 'normal');
export const LeCunUniformInitializer = (outDim = -1, inDim = -2, scale = 1.0): Initializer =>
  ScaledInitializer(outDim, inDim, scale, 'fan_in', 'uniform');
export const LeCunNormalInitializer = (outDim = -1, inDim = -2, scale = 1.0): Initializer =>
  ScaledInitializer(outDim, inDim, scale, 'fan_in', 'normal');
export const KaimingUniformInitializer = (outDim = -1, inDim = -2, param = 0): Initializer =>
  ScaledInitializer(outDim, inDim, 2 / Math.sqrt(1 + param * param), 'fan_in', 'uniform');
export const KaimingNormalInitializer = (outDim = -1, inDim = -2, param = 0): Initializer =>
  ScaledInitializer(outDim, inDim, 2 / Math.sqrt(1 + param * param), 'fan_in', 'normal');

export function RandomNormalInitializer(stddev = 1e-2): Initializer {
  return (shape, rng) => mul(random.normal(rng, shape), stddev);
}

export function RandomUniformInitializer(lim = 1.0): Initializer {
  return (shape, rng) => random.uniform(rng, shape, -lim, lim);
}

export function ZerosInitializer(): Initializer {
  return (shape) => new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
}

export function OnesInitializer(): Initializer {
  return (shape) => new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape);
}
