// Trax's one small idea: a layer pops nIn values off a data stack and pushes
// nOut results; weights and state are trees mirroring the sublayer tree.
// Everything else (combinators, models) is built from this class.
import { BackendConfigError } from '../backends/env.js';
import { ShapeDtype, type Signature } from '../shapes.js';
import { treeFlatten } from '../engine/tree.js';
import { Tensor, toTensor } from '../engine/tensor.js';
import { zerosLikeSignature } from '../shapes.js';
import * as random from '../engine/random.js';
import type { PRNGKey } from '../engine/random.js';

export type Mode = 'train' | 'eval' | 'predict' | 'viz';

/** What flows on the stack: one value is bare, several are an array. */
export type Value = Tensor | Value[];
/** Weights and state trees: tensors, nested arrays, or empty ([]). */
export type Weights = Tensor | Weights[] | typeof GET_WEIGHTS_FROM_CACHE;
export type State = Tensor | State[] | typeof GET_STATE_FROM_CACHE | number;

/** Markers used for layers shared within one model (second occurrence). */
export const GET_WEIGHTS_FROM_CACHE = Object.freeze({ __marker_for_cached_weights_: true as const });
export const GET_STATE_FROM_CACHE = Object.freeze({ __marker_for_cached_state_: true as const });
export const EMPTY: readonly never[] = Object.freeze([]) as readonly never[];

export function isMarker(x: unknown): boolean {
  return x === GET_WEIGHTS_FROM_CACHE || x === GET_STATE_FROM_CACHE;
}

export interface LayerOptions {
  nIn?: number;
  nOut?: number;
  name?: string;
  /** Children shown by toString (Trax's sublayers_to_print). */
  sublayersToPrint?: (Layer | Layer[] | null)[];
}

/** An exception passing through a layer, with where the layer was created. */
export class LayerError extends Error {
  constructor(
    readonly layerName: string, readonly where: string, readonly callerFile: string,
    readonly inputShapes: string, readonly cause0: unknown,
  ) {
    const inner = cause0 instanceof Error ? (cause0 instanceof LayerError ? cause0.message : `${cause0.name}: ${cause0.message}`) : String(cause0);
    super(`Exception passing through layer ${layerName} (in ${where}):\n` +
      `  layer created in file ${callerFile}\n` +
      `  layer input shapes: ${inputShapes}\n\n${inner}`);
    this.name = 'LayerError';
  }
}

let seedCounter = (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
function nextSeedInt(): number {
  // Trax draws each layer's seed from Python's random; use a counter-mixed draw.
  seedCounter = (Math.imul(seedCounter ^ (seedCounter >>> 15), 0x2c1b3c6d) + 0x297a2d39) >>> 0;
  return seedCounter & 0x7fffffff;
}

function callerLocation(): string {
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const line of stack) {
    if (/[\\/](dist[\\/])?src[\\/](layers|models|supervised)[\\/]/.test(line)) continue;
    if (line.includes('node:internal')) continue;
    const m = /\(?((?:file:\/\/)?[^()\s]+):(\d+):\d+\)?\s*$/.exec(line);
    if (m) return `${m[1].replace(/^file:\/\//, '')}, line ${m[2]}`;
  }
  return '<unknown>, line 0';
}

export function shapesOf(x: unknown): string {
  if (x instanceof Tensor) return `ShapeDtype{shape:(${x.shape.join(', ')}${x.shape.length === 1 ? ',' : ''}), dtype:${x.dtype}}`;
  if (x instanceof ShapeDtype) return x.toString();
  if (Array.isArray(x)) return `(${x.map(shapesOf).join(', ')})`;
  return String(x);
}

export abstract class Layer {
  protected _nIn: number;
  protected _nOut: number;
  protected _name: string;
  protected _sublayers: Layer[] = [];
  protected _sublayersToPrint: (Layer | Layer[] | null)[] | undefined;
  /** Leaf layers: their weights. Combinators: one marker-or-null per sublayer. */
  protected _weights: unknown = EMPTY;
  protected _state: unknown = EMPTY;
  protected _rng: PRNGKey | null = null;
  private readonly _rngSeedInt = nextSeedInt();
  private readonly _callerFile = callerLocation();
  private _initCached = false;
  /**
   * Combinators inside a pure call keep the weights and state trees they were
   * given here instead of pushing them down the whole subtree (each sublayer
   * gets its part through its own pureFn); the public setters clear them.
   */
  protected _pw: Weights | null = null;
  protected _ps: State | null = null;

  constructor(opts: LayerOptions = {}) {
    this._nIn = opts.nIn ?? 1;
    this._nOut = opts.nOut ?? 1;
    this._name = opts.name ?? this.constructor.name.replace(/Layer$/, '');
    this._sublayersToPrint = opts.sublayersToPrint;
  }

  get nIn(): number { return this._nIn; }
  get nOut(): number { return this._nOut; }
  get name(): string { return this._name; }
  get sublayers(): Layer[] { return this._sublayers; }
  get hasBackward(): boolean { return false; }

  // ---------------------------------------------------------- weights/state

  get weights(): Weights {
    if (this._sublayers.length === 0) return this._weights as Weights;
    if (this._pw !== null) return this._pw;
    const marks = this._weights as unknown[];
    return this._sublayers.map((l, i) => (Array.isArray(marks) && marks[i] === GET_WEIGHTS_FROM_CACHE ? GET_WEIGHTS_FROM_CACHE : l.weights));
  }

  set weights(w: Weights) {
    if (w === GET_WEIGHTS_FROM_CACHE) return;
    if (this._sublayers.length === 0) { this._weights = w; return; }
    this._pw = null;
    if (!Array.isArray(w) || w.length !== this._sublayers.length) {
      throw new Error(`${this.name}: weights must be an array of ${this._sublayers.length} (one per sublayer), got ${Array.isArray(w) ? w.length : typeof w}`);
    }
    const marks: unknown[] = [];
    this._sublayers.forEach((l, i) => {
      if (w[i] === GET_WEIGHTS_FROM_CACHE) marks.push(GET_WEIGHTS_FROM_CACHE);
      else { marks.push(null); l.weights = w[i]; }
    });
    this._weights = marks;
  }

  get state(): State {
    if (this._sublayers.length === 0) return this._state as State;
    if (this._ps !== null) return this._ps;
    const marks = this._state as unknown[];
    return this._sublayers.map((l, i) => (Array.isArray(marks) && marks[i] === GET_STATE_FROM_CACHE ? GET_STATE_FROM_CACHE : l.state));
  }

  set state(s: State) {
    if (s === GET_STATE_FROM_CACHE) return;
    if (this._sublayers.length === 0) { this._state = s; return; }
    this._ps = null;
    if (!Array.isArray(s) || s.length !== this._sublayers.length) {
      throw new Error(`${this.name}: state must be an array of ${this._sublayers.length} (one per sublayer), got ${Array.isArray(s) ? s.length : typeof s}`);
    }
    const marks: unknown[] = [];
    this._sublayers.forEach((l, i) => {
      if (s[i] === GET_STATE_FROM_CACHE) marks.push(GET_STATE_FROM_CACHE);
      else { marks.push(null); l.state = s[i]; }
    });
    this._state = marks;
  }

  /** This layer's PRNG key; setting it hands split keys down to sublayers. */
  get rng(): PRNGKey {
    if (this._rng === null) this._rng = random.key(this._rngSeedInt);
    return this._rng;
  }

  set rng(k: PRNGKey) {
    this._rng = k;
    if (this._sublayers.length) {
      const keys = random.split(k, this._sublayers.length);
      this._sublayers.forEach((l, i) => { l.rng = keys[i]; });
    }
  }

  // ---------------------------------------------------------- subclass API

  /** Sets the new state from inside forward (cheap for combinators). */
  protected setPureState(s: State): void {
    if (this._sublayers.length === 0) this._state = s;
    else this._ps = s;
  }

  /** Computes outputs from inputs, reading this.weights / this.state / this.rng. */
  abstract forward(inputs: Value): Value;

  /** Sets this._weights / this._state for the given input signature. */
  initWeightsAndState(_inputSignature: Signature): void { /* weightless by default */ }

  // ---------------------------------------------------------- public API

  /**
   * Initializes weights and state for inputSignature (a ShapeDtype or an
   * array of them) and returns [weights, state].
   */
  init(inputSignature: Signature | Signature[], opts: { rng?: PRNGKey; useCache?: boolean } = {}): [Weights, State] {
    const sig = normalizeSignature(inputSignature);
    try {
      if (this._initCached && opts.useCache) return [GET_WEIGHTS_FROM_CACHE, GET_STATE_FROM_CACHE];
      if (opts.rng) this.rng = opts.rng;
      this.initWeightsAndState(sig);
      if (opts.useCache) this._initCached = true;
      else this.clearInitCache();
      return [this.weights, this.state];
    } catch (e) {
      throw this.wrapError('init', sig, e);
    }
  }

  private clearInitCache(): void {
    this._initCached = false;
    for (const l of this._sublayers) l.clearInitCache();
  }

  /**
   * Pure form: runs forward with the given weights, state and rng, returns
   * [outputs, newState]. With useCache (used inside combinators) the given
   * values stay installed on the layer, which is how shared layers see them.
   */
  pureFn(x: Value, weights: Weights, state: State, rng: PRNGKey | null, useCache = false): [Value, State] {
    const oldW = useCache ? null : this.weights, oldS = useCache ? null : this.state, oldR = this._rng;
    const wasCached = weights === GET_WEIGHTS_FROM_CACHE;
    try {
      const shallow = useCache && this._sublayers.length > 0;
      if (!wasCached) { if (shallow) this._pw = weights; else this.weights = weights; }
      if (state !== GET_STATE_FROM_CACHE) { if (shallow) this._ps = state; else this.state = state; }
      if (rng) this._rng = rng;
      const out = this.forward(x);
      const s = wasCached ? GET_STATE_FROM_CACHE : this.state;
      return [out, s];
    } catch (e) {
      throw this.wrapError('pure_fn', x, e);
    } finally {
      this._rng = oldR;
      if (!useCache) {
        this.weights = oldW as Weights;
        this.state = oldS as State;
      }
    }
  }

  /**
   * Trax's layer(x): uses the layer's own weights and state, stores the new
   * state on the layer (this is how predict-mode caches advance).
   */
  apply(x: Value | Tensor[] | unknown, opts: { weights?: Weights; state?: State; rng?: PRNGKey } = {}): Value {
    const w = opts.weights ?? this.weights;
    const s = opts.state ?? this.state;
    const r = opts.rng ?? this.rng;
    const [out, newState] = this.pureFn(toValue(x), w, s, r);
    this.state = newState;
    return out;
  }

  /** Shape inference: the output signature for an input signature. */
  outputSignature(inputSignature: Signature | Signature[]): Signature | Signature[] {
    const sig = normalizeSignature(inputSignature);
    const x = zerosLikeSignature(sig);
    const [y] = this.pureFn(x as Value, this.weights, this.state, this.rng);
    return signatureOf(y);
  }

  /** Runs init and returns the [weights, state] signatures without keeping anything. */
  weightsAndStateSignature(inputSignature: Signature | Signature[]): [unknown, unknown] {
    const saved = [this.weights, this.state, this._rng] as const;
    const [w, s] = this.init(inputSignature);
    const out: [unknown, unknown] = [signatureTree(w), signatureTree(s)];
    this.weights = saved[0];
    this.state = saved[1];
    this._rng = saved[2];
    return out;
  }

  /** Name as Trax prints it: name plus _in/_out when not 1. */
  printName(): string {
    let s = this._name;
    if (this._nIn !== 1) s += `_in${this._nIn}`;
    if (this._nOut !== 1) s += `_out${this._nOut}`;
    return s;
  }

  toString(): string {
    const name = this.printName();
    const children = this._sublayersToPrint ?? this._sublayers;
    if (children.length === 0) return name;
    const body = children.map(childString).filter((s) => s !== '').map(indent);
    return `${name}[\n${body.join('\n')}\n]`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string { return this.toString(); }

  protected wrapError(where: string, inputs: unknown, e: unknown): Error {
    // A bad TRAX_* setting is not about this layer: it reaches the caller as it is.
    if (e instanceof BackendConfigError) return e;
    return new LayerError(this.printName(), where, this._callerFile, shapesOf(inputs), e);
  }
}

function childString(c: Layer | Layer[] | null): string {
  if (c === null) return 'None';
  if (Array.isArray(c)) return `[${c.map((l) => l.toString()).join(', ')}]`;
  return c.toString();
}

function indent(s: string): string {
  return s.split('\n').map((l) => '  ' + l).join('\n');
}

export function normalizeSignature(sig: Signature | Signature[]): Signature {
  if (Array.isArray(sig)) return sig.map((s) => normalizeSignature(s)) as unknown as Signature;
  if (sig instanceof ShapeDtype) return sig;
  if (sig instanceof Tensor) return new ShapeDtype(sig.shape, sig.dtype);
  const o = sig as { shape?: number[]; dtype?: string };
  if (o && Array.isArray(o.shape)) return new ShapeDtype(o.shape, (o.dtype ?? 'float32') as 'float32');
  throw new TypeError(`expected a ShapeDtype (or array of them) as input signature, got ${String(sig)}`);
}

export function signatureOf(y: unknown): Signature | Signature[] {
  if (y instanceof Tensor) return new ShapeDtype(y.shape, y.dtype);
  if (Array.isArray(y)) return y.map((v) => signatureOf(v)) as Signature[];
  throw new TypeError(`cannot take the signature of ${String(y)}`);
}

function signatureTree(t: unknown): unknown {
  if (t instanceof Tensor) return new ShapeDtype(t.shape, t.dtype);
  if (Array.isArray(t)) return t.map(signatureTree);
  return t;
}

/** Accepts nested-array inputs from users: converts numbers to tensors. */
function toValue(x: unknown): Value {
  if (x instanceof Tensor) return x;
  if (Array.isArray(x) && x.length > 0 && x.every((e) => e instanceof Tensor || (Array.isArray(e) && isTensorTuple(e)))) {
    return x as Value;
  }
  if (Array.isArray(x) || ArrayBuffer.isView(x)) {
    const t = toTensorLoose(x);
    return t;
  }
  throw new TypeError(`layer input must be a tensor, nested array of numbers, or an array of tensors; got ${typeof x}`);
}

function isTensorTuple(e: unknown[]): boolean {
  return e.every((v) => v instanceof Tensor);
}


function toTensorLoose(x: unknown): Tensor {
  // Integers from plain arrays are token ids far more often than not.
  const flat: number[] = [];
  const walk = (v: unknown) => { if (Array.isArray(v)) v.forEach(walk); else flat.push(Number(v)); };
  walk(x);
  const allInt = x instanceof Int32Array || (!(x instanceof Float32Array) && flat.every((v) => Number.isInteger(v)));
  return toTensor(x as number[], 'layer input', allInt ? 'int32' : 'float32');
}

/** Depth-first leaves of a weights/state tree, skipping cache markers and empties. */
export function flattenWeightsAndState(weights: unknown, state: unknown): [Tensor[], unknown[]] {
  const isLeafW = (x: unknown) => x instanceof Tensor || isMarker(x);
  const fw = treeFlatten<unknown>(weights, isLeafW).leaves.filter((x) => !isMarker(x)) as Tensor[];
  const isLeafS = (x: unknown) => !Array.isArray(x);
  const fs = treeFlatten<unknown>(state, isLeafS).leaves.filter((x) => !isMarker(x) && x !== null && x !== undefined);
  return [fw, fs];
}

/** Refills a weights tree (and optionally state) from flat lists, in order. */
export function unflattenWeightsAndState(flatWeights: readonly unknown[], flatState: readonly unknown[] | null,
  [wTree, sTree]: [unknown, unknown], weightsOnly = false): [unknown, unknown] {
  let wi = 0, si = 0;
  const fillW = (t: unknown): unknown => {
    if (isMarker(t)) return t;
    if (Array.isArray(t)) return t.map(fillW);
    if (t === null || t === undefined) return t;
    if (wi >= flatWeights.length) throw new Error(`not enough weights: the model needs more than the ${flatWeights.length} given`);
    return flatWeights[wi++];
  };
  const fillS = (t: unknown): unknown => {
    if (isMarker(t)) return t;
    if (Array.isArray(t)) return t.map(fillS);
    if (t === null || t === undefined) return t;
    if (!flatState || si >= flatState.length) throw new Error(`not enough state values: the model needs more than the ${flatState?.length ?? 0} given`);
    return flatState[si++];
  };
  const w = fillW(wTree);
  if (wi !== flatWeights.length) throw new Error(`too many weights: the model takes ${wi}, ${flatWeights.length} given`);
  const s = weightsOnly ? sTree : fillS(sTree);
  if (!weightsOnly && flatState && si !== flatState.length) throw new Error(`too many state values: the model takes ${si}, ${flatState.length} given`);
  return [w, s];
}

