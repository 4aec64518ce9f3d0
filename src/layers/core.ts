// Core layers with weights or modes: Dense, Embedding, Dropout (and the
// weightless shape helpers that live beside them in Trax's core.py).
import * as F from '../engine/index.js';
import { Tensor, readScalar } from '../engine/tensor.js';
import * as random from '../engine/random.js';
import { ShapeDtype, type Signature } from '../shapes.js';
import { Layer, EMPTY, type Mode, type Value } from './base.js';
import { FnLayer } from './combinators.js';
import { GlorotUniformInitializer, RandomNormalInitializer, ScaledInitializer, type Initializer } from './initializers.js';

function sig1(sig: Signature): ShapeDtype {
  if (!(sig instanceof ShapeDtype)) throw new TypeError(`expected one input signature, got ${String(sig)}`);
  return sig;
}

export interface DenseOptions {
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
  useBias?: boolean;
}

export class DenseLayer extends Layer {
  readonly nUnits: number;
  private readonly kernelInit: Initializer;
  private readonly biasInit: Initializer;
  readonly useBias: boolean;
  constructor(nUnits: number, opts: DenseOptions = {}) {
    if (!Number.isInteger(nUnits) || nUnits <= 0) throw new RangeError(`Dense: nUnits must be a positive integer, got ${nUnits}`);
    super({ name: `Dense_${nUnits}` });
    this.nUnits = nUnits;
    this.kernelInit = opts.kernelInitializer ?? GlorotUniformInitializer();
    this.biasInit = opts.biasInitializer ?? RandomNormalInitializer(1e-6);
    this.useBias = opts.useBias ?? true;
  }

  override forward(x: Value): Value {
    const w = this.weights;
    const xt = x as Tensor;
    if (this.useBias) {
      const [W, b] = w as Tensor[];
      return F.linear(xt, W, b);
    }
    return F.linear(xt, w as Tensor);
  }

  override initWeightsAndState(sig: Signature): void {
    const s = sig1(sig);
    const dIn = s.shape[s.shape.length - 1];
    const [rw, rb] = random.split(this.rng, 2);
    const W = this.kernelInit([dIn, this.nUnits], rw);
    this._weights = this.useBias ? [W, this.biasInit([this.nUnits], rb)] : W;
  }
}

/** Whether w is a biased Dense layer's weights, [W, b] as plain tensors (not shared-weight markers). */
export function isDenseWeights(w: unknown): w is [Tensor, Tensor] {
  return Array.isArray(w) && w.length === 2 && w[0] instanceof Tensor && w[1] instanceof Tensor;
}

/** Dense(nUnits): y = x W + b with W (dIn, nUnits), Glorot-uniform; b ~ N(0, 1e-6). */
export function Dense(nUnits: number, opts: DenseOptions = {}): DenseLayer {
  return new DenseLayer(nUnits, opts);
}

export class EmbeddingLayer extends Layer {
  constructor(readonly vocabSize: number, readonly dFeature: number, private readonly kernelInit: Initializer) {
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new RangeError(`Embedding: vocabSize must be a positive integer, got ${vocabSize}`);
    if (!Number.isInteger(dFeature) || dFeature <= 0) throw new RangeError(`Embedding: dFeature must be a positive integer, got ${dFeature}`);
    super({ name: `Embedding_${vocabSize}_${dFeature}` });
  }
  override forward(x: Value): Value {
    // Trax gathers with mode='clip': out-of-range ids take the nearest row.
    return F.embeddingLookup(this.weights as Tensor, x as Tensor);
  }
  override initWeightsAndState(_sig: Signature): void {
    this._weights = this.kernelInit([this.vocabSize, this.dFeature], this.rng);
  }
}

/**
 * Embedding(vocabSize, dFeature). The initializer defaults to Trax master's
 * U(+-sqrt(3/dFeature)); pass RandomNormalInitializer(1.0) for v1.3.4's N(0,1).
 */
export function Embedding(vocabSize: number, dFeature: number, opts: { kernelInitializer?: Initializer } = {}): EmbeddingLayer {
  return new EmbeddingLayer(vocabSize, dFeature, opts.kernelInitializer ?? ScaledInitializer(-1, -2, 1.0, 'fan_out', 'uniform'));
}

export class DropoutLayer extends Layer {
  constructor(readonly rate: number, readonly sharedAxes: number[] | null, readonly mode: Mode) {
    if (!(rate >= 0 && rate < 1)) throw new RangeError(`Dropout: rate must be in [0, 1), got ${rate}`);
    super({ name: 'Dropout' });
    this._state = F.scalar(rate);
  }
  override forward(x: Value): Value {
    if (this.mode !== 'train') return x;
    // Like Trax, the rate is read from state so it can be changed per step.
    const rate = readScalar(this.state as Tensor, 'Dropout (its rate)');
    if (rate === 0) return x;
    if (!(rate < 1)) throw new RangeError(`Dropout rate ${rate} must be below 1`);
    const xt = x as Tensor;
    // One pass each way: the mask is drawn while multiplying, and the backward
    // pass draws it again from the same key (the same numbers as
    // random.dropoutMask). For large tensors this costs what storing the mask
    // and multiplying does; for small ones it saves a kernel call each way.
    if (!this.sharedAxes && xt.dtype === 'float32') return F.dropout(xt, this.rng, 1 - rate);
    const shape = xt.shape.slice();
    if (this.sharedAxes) for (const a of this.sharedAxes) shape[a < 0 ? a + shape.length : a] = 1;
    return F.applyMask(xt, random.dropoutMask(this.rng, 1 - rate, shape));
  }
  override initWeightsAndState(_sig: Signature): void {
    this._state = F.scalar(this.rate);
    this._weights = EMPTY;
  }
}

/** Dropout(rate, {sharedAxes, mode}): active only in 'train' mode. */
export function Dropout(rate = 0.0, opts: { sharedAxes?: number[] | null; mode?: Mode } = {}): DropoutLayer {
  return new DropoutLayer(rate, opts.sharedAxes ?? null, opts.mode ?? 'train');
}

export class LayerNormLayer extends Layer {
  constructor(readonly center = true, readonly epsilon = 1e-6) {
    super({ name: 'LayerNorm' });
  }
  override forward(x: Value): Value {
    const w = this.weights as Tensor[];
    const xt = x as Tensor;
    const bias = this.center ? w[1] : F.zeros([xt.shape[xt.shape.length - 1]]);
    return F.layerNorm(xt, w[0], bias, this.epsilon);
  }
  override initWeightsAndState(sig: Signature): void {
    const s = sig1(sig);
    const d = s.shape[s.shape.length - 1];
    this._weights = this.center ? [F.ones([d]), F.zeros([d])] : [F.ones([d]), F.zeros([0])];
  }
}

/** LayerNorm({center, epsilon}): (x - mean) / sqrt(var + eps) * scale + bias over the last axis. */
export function LayerNorm(opts: { center?: boolean; epsilon?: number } = {}): LayerNormLayer {
  return new LayerNormLayer(opts.center ?? true, opts.epsilon ?? 1e-6);
}

// Weightless layers from core.py.
export function LogSoftmax(axis = -1): Layer { return new FnLayer('LogSoftmax', (x: Tensor) => F.logSoftmax(x, axis), 1); }
export function Softmax(axis = -1): Layer { return new FnLayer('Softmax', (x: Tensor) => F.softmax(x, axis), 1); }
// Trax keeps the reduced axis (keepdims=True) so the result broadcasts against x.
export function LogSumExp(axis = -1): Layer { return new FnLayer('LogSumExp', (x: Tensor) => F.logSumExp(x, axis, true), 1); }
export function ToFloat(): Layer { return new FnLayer('ToFloat', (x: Tensor) => F.cast(x, 'float32'), 1); }
export function Mean(axis = -1, keepdims = false): Layer { return new FnLayer('Mean', (x: Tensor) => F.mean(x, axis, keepdims), 1); }
export function Sum(axis: number | null = -1, keepdims = false): Layer { return new FnLayer('Sum', (x: Tensor) => F.sum(x, axis, keepdims), 1); }
export function Max(axis = -1, keepdims = false): Layer { return new FnLayer('Max', (x: Tensor) => F.max(x, axis, keepdims), 1); }
export function Min(axis = -1, keepdims = false): Layer { return new FnLayer('Min', (x: Tensor) => F.min(x, axis, keepdims), 1); }
export function Negate(): Layer { return new FnLayer('Negate', (x: Tensor) => F.neg(x), 1); }
export function ArgMax(axis = -1): Layer { return new FnLayer('ArgMax', (x: Tensor) => F.argmax(x, axis), 1); }
export function StopGradient(): Layer { return new FnLayer('StopGradient', (x: Tensor) => F.stopGradient(x), 1); }

/** Flatten(nAxesToKeep = 1): collapses all axes after the first nAxesToKeep. */
export function Flatten(nAxesToKeep = 1): Layer {
  return new FnLayer(`Flatten_keep${nAxesToKeep}`, (x: Tensor) => {
    if (nAxesToKeep >= x.rank) throw new Error(`Flatten: input rank ${x.rank} must be greater than nAxesToKeep ${nAxesToKeep}`);
    return F.reshape(x, [...x.shape.slice(0, nAxesToKeep), -1]);
  }, 1);
}
