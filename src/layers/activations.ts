// Activation layers with Trax's formulas (trax/layers/activation_fns.py).
// All are weightless Fn layers printed under Trax's names, except
// ThresholdedLinearUnit, which learns a scalar threshold.
import * as F from '../engine/index.js';
import { Tensor } from '../engine/tensor.js';
import type { Signature } from '../shapes.js';
import { Layer, type Value } from './base.js';
import { FnLayer } from './combinators.js';

function act(name: string, f: (x: Tensor) => Tensor): Layer {
  return new FnLayer(name, f, 1, 1);
}

/**
 * e^x - 1 for x <= 0, accurate near 0 (plain exp(x) - 1 loses most digits
 * there in float32). Uses e^x - 1 = 2t / (1 - t) with t = tanh(x / 2); the
 * input is clamped to <= 0 so the unused branch of a where() stays finite and
 * its zero cotangent cannot turn into NaN.
 */
function expm1NonPositive(x: Tensor): Tensor {
  const t = F.tanh(F.mul(F.minimum(x, 0), 0.5));
  return F.div(F.mul(t, 2), F.sub(1, t));
}

/** Relu: where(x <= 0, 0, x). */
export function Relu(): Layer { return act('Relu', (x) => F.relu(x)); }

/** ParametricRelu(a = 1): max(a x, 0). Weightless in Trax: a is a constant. */
export function ParametricRelu(a = 1.0): Layer {
  return act('ParametricRelu', (x) => F.maximum(F.mul(x, a), 0));
}

/** LeakyRelu(a = 0.01): where(x >= 0, x, a x). */
export function LeakyRelu(a = 0.01): Layer {
  return act('LeakyRelu', (x) => F.where(F.greaterEqual(x, 0), x, F.mul(x, a)));
}

/** Elu(a = 1): where(x > 0, x, a (e^x - 1)). */
export function Elu(a = 1.0): Layer {
  return act('Elu', (x) => F.where(F.greater(x, 0), x, F.mul(expm1NonPositive(x), a)));
}

/** Selu: lambda * where(x > 0, x, alpha (e^x - 1)). */
export function Selu(alpha = 1.6732632423543772848170429916717, lmbda = 1.0507009873554804934193349852946): Layer {
  return act('Selu', (x) => F.mul(F.where(F.greater(x, 0), x, F.mul(expm1NonPositive(x), alpha)), lmbda));
}

/** Gelu: x/2 (1 + erf(x / sqrt 2)), the exact form. */
export function Gelu(): Layer { return act('Gelu', (x) => F.gelu(x)); }

/** FastGelu: x/2 (1 + tanh(0.7978845608 x (1 + 0.044715 x^2))). */
export function FastGelu(): Layer { return act('FastGelu', (x) => F.fastGelu(x)); }

/** Sigmoid: 1 / (1 + e^-x). */
export function Sigmoid(): Layer { return act('Sigmoid', (x) => F.sigmoid(x)); }

/** Tanh. */
export function Tanh(): Layer { return act('Tanh', (x) => F.tanh(x)); }

/** HardSigmoid: max(0, min(1, 1 + x)) (Trax's formula: centred at -1/2, slope 1). */
export function HardSigmoid(): Layer {
  return act('HardSigmoid', (x) => F.maximum(F.minimum(F.add(x, 1), 1), 0));
}

/** HardTanh: max(-1, min(1, x)). */
export function HardTanh(): Layer {
  return act('HardTanh', (x) => F.maximum(F.minimum(x, 1), -1));
}

/** Softplus: log(e^x + 1). */
export function Softplus(): Layer { return act('Softplus', (x) => F.softplus(x)); }

/** Exp: e^x elementwise. */
export function Exp(): Layer { return act('Exp', (x) => F.exp(x)); }

/** Log: natural log elementwise. */
export function Log(): Layer { return act('Log', (x) => F.log(x)); }

/** Swish: x * sigmoid(x). */
export function Swish(): Layer { return act('Swish', (x) => F.mul(x, F.sigmoid(x))); }

/** Glu: splits the last axis in halves (a, b) and returns a * sigmoid(b). */
export function Glu(): Layer {
  return act('Glu', (x) => {
    const d = x.shape[x.rank - 1];
    if (x.rank === 0 || d % 2 !== 0) throw new Error(`Glu: the last axis must have even size, got shape [${x.shape.join(', ')}]`);
    const [a, b] = F.split(x, 2, -1);
    return F.mul(a, F.sigmoid(b));
  });
}

/** max(x, threshold) with a learned scalar threshold initialized to 0. */
export class ThresholdedLinearUnitLayer extends Layer {
  constructor() {
    super({ name: 'ThresholdedLinearUnit' });
  }
  override forward(x: Value): Value {
    return F.maximum(x as Tensor, this.weights as Tensor);
  }
  override initWeightsAndState(_sig: Signature): void {
    this._weights = F.scalar(0);
  }
}

/** ThresholdedLinearUnit (arXiv:1911.09737): max(x, t), t a weight (init 0). */
export function ThresholdedLinearUnit(): ThresholdedLinearUnitLayer {
  return new ThresholdedLinearUnitLayer();
}
