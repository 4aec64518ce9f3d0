// Combinators: layers made of layers, with Trax's data-stack semantics
// (one value is bare, several are an array).
import * as F from '../engine/index.js';
import { Tensor, readScalar } from '../engine/tensor.js';
import { split as splitKey, foldIn } from '../engine/random.js';
import { ShapeDtype, type Signature } from '../shapes.js';
import { Layer, type LayerOptions, type Mode, type State, type Value, type Weights } from './base.js';

type LayerArg = Layer | null | undefined | LayerArg[];

/** stack[:n], unwrapped when n == 1. */
export function inputsFromStack(stack: readonly unknown[], n: number): Value {
  if (n === 1) return stack[0] as Value;
  return stack.slice(0, n) as Value[];
}

/** outputs + stack[n:]. */
export function outputsOntoStack(outputs: Value, stack: readonly unknown[], nIn: number, nOut: number): unknown[] {
  const outs = nOut === 1 ? [outputs] : (outputs as unknown[]);
  return [...outs, ...stack.slice(nIn)];
}

function toStack(x: Value | Signature, n: number): unknown[] {
  if (n === 0) return [];
  if (n === 1) return [x];
  if (!Array.isArray(x) || x.length < n) {
    throw new Error(`expected ${n} inputs on the stack, got ${Array.isArray(x) ? x.length : 1}`);
  }
  return [...x];
}

function fromStack(stack: unknown[]): Value {
  return (stack.length === 1 ? stack[0] : stack) as Value;
}

function deepFlatten(layers: readonly LayerArg[]): Layer[] {
  const out: Layer[] = [];
  for (const l of layers) {
    if (l === null || l === undefined) continue;
    if (Array.isArray(l)) out.push(...deepFlatten(l));
    else if (l instanceof Layer) out.push(l);
    else throw new TypeError(`expected a layer, got ${typeof l === 'function' ? 'a function (did you forget to call it?)' : typeof l}`);
  }
  return out;
}

function initSublayer(sub: Layer, inputs: unknown): { w: Weights; s: State; out: unknown } {
  const [w, s] = sub.init(inputs as Signature, { useCache: true });
  const out = sub.outputSignature(inputs as Signature);
  return { w, s, out };
}

// ------------------------------------------------------------------ Serial

export class SerialLayer extends Layer {
  constructor(layers: LayerArg[], opts: LayerOptions = {}) {
    const subs = deepFlatten(layers);
    let total = 0, maxDepth = 0;
    for (const l of subs) {
      total += l.nIn;
      maxDepth = Math.max(maxDepth, total);
      total -= l.nOut;
    }
    const nIn = subs.length ? maxDepth : 1;
    super({ nIn, nOut: subs.length ? maxDepth - total : 1, name: opts.name ?? 'Serial', sublayersToPrint: opts.sublayersToPrint });
    this._sublayers = subs;
    this._weights = subs.map(() => null);
    this._state = subs.map(() => null);
  }

  override forward(xs: Value): Value {
    const subs = this._sublayers;
    if (subs.length === 0) return xs;
    let stack = toStack(xs, this.nIn);
    const weights = this.weights as Weights[], state = this.state as State[];
    const rngs = splitKey(this.rng, subs.length);
    const newState: State[] = [];
    for (let i = 0; i < subs.length; i++) {
      const l = subs[i];
      const inputs = inputsFromStack(stack, l.nIn);
      const [outs, s] = l.pureFn(inputs, weights[i], state[i], rngs[i], true);
      stack = outputsOntoStack(outs, stack, l.nIn, l.nOut);
      newState.push(s);
    }
    this.setPureState(newState);
    return fromStack(stack);
  }

  override initWeightsAndState(sig: Signature): void {
    const subs = this._sublayers;
    let stack = toStack(sig as Value, this.nIn);
    const ws: Weights[] = [], ss: State[] = [];
    for (const l of subs) {
      const inputs = inputsFromStack(stack, l.nIn);
      const { w, s, out } = initSublayer(l, inputs);
      stack = outputsOntoStack(out as Value, stack, l.nIn, l.nOut);
      ws.push(w); ss.push(s);
    }
    this.state = ss;
    this.weights = ws;
  }
}

/** Serial(...layers): runs layers one after another on the stack. */
export function Serial(...layers: LayerArg[]): SerialLayer {
  return new SerialLayer(layers);
}

// ------------------------------------------------------------------ Parallel

export class ParallelLayer extends Layer {
  constructor(layers: LayerArg[], opts: LayerOptions = {}) {
    if (layers.length < 2) throw new Error(`Parallel needs at least 2 layers, got ${layers.length}`);
    const subs = layers.map((l) => {
      if (l === null || l === undefined || (Array.isArray(l) && l.length === 0)) return new SerialLayer([]);
      if (Array.isArray(l)) return new SerialLayer(l);
      return l;
    });
    for (const l of subs) if (l.nIn === 0) throw new Error(`Parallel does not accept layers with nIn 0 (${l.printName()})`);
    super({
      nIn: subs.reduce((s, l) => s + l.nIn, 0), nOut: subs.reduce((s, l) => s + l.nOut, 0),
      name: opts.name ?? 'Parallel', sublayersToPrint: opts.sublayersToPrint,
    });
    this._sublayers = subs;
    this._weights = subs.map(() => null);
    this._state = subs.map(() => null);
  }

  override forward(xs: Value): Value {
    const subs = this._sublayers;
    const stack = toStack(xs, this.nIn);
    const weights = this.weights as Weights[], state = this.state as State[];
    const rngs = splitKey(this.rng, subs.length);
    const outs: unknown[] = [], newState: State[] = [];
    let pos = 0;
    for (let i = 0; i < subs.length; i++) {
      const l = subs[i];
      const inputs = inputsFromStack(stack.slice(pos, pos + l.nIn), l.nIn);
      pos += l.nIn;
      const [o, s] = l.pureFn(inputs, weights[i], state[i], rngs[i], true);
      if (l.nOut === 1) outs.push(o); else outs.push(...(o as unknown[]));
      newState.push(s);
    }
    this.setPureState(newState);
    return fromStack(outs);
  }

  override initWeightsAndState(sig: Signature): void {
    const stack = toStack(sig as Value, this.nIn);
    const ws: Weights[] = [], ss: State[] = [];
    let pos = 0;
    for (const l of this._sublayers) {
      const inputs = inputsFromStack(stack.slice(pos, pos + l.nIn), l.nIn);
      pos += l.nIn;
      const [w, s] = l.init(inputs as Signature, { useCache: true });
      ws.push(w); ss.push(s);
    }
    this.state = ss;
    this.weights = ws;
  }
}

export function Parallel(...layers: LayerArg[]): ParallelLayer {
  return new ParallelLayer(layers);
}

// ------------------------------------------------------------------ Branch / Residual

/** Branch(...layers): each layer gets copies of the top of the stack. */
export function Branch(...layers: LayerArg[]): Layer {
  if (layers.length === 1) {
    const only = layers[0];
    if (only instanceof Layer) return only;
    return new SerialLayer([only]);
  }
  const par = new ParallelLayer(layers);
  const indices: number[] = [];
  for (const l of par.sublayers) for (let i = 0; i < l.nIn; i++) indices.push(i);
  const toPrint = layers.map((l) => (l === undefined ? null : l)) as (Layer | Layer[] | null)[];
  return new SerialLayer([Select(indices), par], { name: 'Branch', sublayersToPrint: toPrint });
}

/** Residual(...layers, {shortcut}): Serial(Branch(shortcut, body), Add()). */
export function Residual(...args: (LayerArg | { shortcut?: Layer | null })[]): Layer {
  let shortcut: Layer | null = null;
  const layers: LayerArg[] = [];
  for (const a of args) {
    if (a !== null && typeof a === 'object' && !(a instanceof Layer) && !Array.isArray(a)) shortcut = (a as { shortcut?: Layer | null }).shortcut ?? null;
    else layers.push(a as LayerArg);
  }
  const flat = deepFlatten(layers);
  const body = flat.length === 1 ? flat[0] : new SerialLayer(flat);
  return new SerialLayer([Branch(shortcut, body), Add()]);
}

// ------------------------------------------------------------------ stack manipulation

class SelectLayer extends Layer {
  constructor(private readonly indices: number[], nIn?: number, name?: string) {
    if (!Array.isArray(indices) || indices.some((i) => !Number.isInteger(i) || i < 0)) {
      throw new TypeError(`Select: indices must be non-negative integers, got ${JSON.stringify(indices)}`);
    }
    const n = nIn ?? (indices.length ? Math.max(...indices) + 1 : 0);
    super({ nIn: n, nOut: indices.length, name: name ?? `Select[${indices.join(',')}]` });
  }
  override forward(xs: Value): Value {
    const stack = toStack(xs, this.nIn);
    return fromStack(this.indices.map((i) => stack[i])) as Value;
  }
}

/** Select(indices, nIn): copies, reorders or drops stack items. */
export function Select(indices: number[], nIn?: number, name?: string): Layer {
  return new SelectLayer(indices, nIn, name);
}

export function Dup(): Layer { return new FnLayer('Dup', (x: Tensor) => [x, x], 1, 2); }
export function Drop(): Layer { return new FnLayer('Drop', (_x: Tensor) => [], 1, 0); }
export function Swap(): Layer { return new FnLayer('Swap', (a: Tensor, b: Tensor) => [b, a], 2, 2); }

// ------------------------------------------------------------------ Fn / PureLayer

type AnyFn = (...args: Tensor[]) => Tensor | Tensor[];

export class FnLayer extends Layer {
  constructor(name: string, private readonly fn: AnyFn, nIn: number, nOut = 1) {
    super({ nIn, nOut, name });
  }
  override forward(xs: Value): Value {
    const args = this.nIn === 1 ? [xs as Tensor] : this.nIn === 0 ? [] : (xs as Tensor[]);
    const out = this.fn(...args);
    if (this.nOut === 1) return out as Tensor;
    if (!Array.isArray(out) || out.length !== this.nOut) {
      throw new Error(`function of layer ${this.name} must return ${this.nOut} values, returned ${Array.isArray(out) ? out.length : 1}`);
    }
    return out;
  }
}

/**
 * Fn(name, f, nOut = 1): a weightless layer from a function; nIn is the
 * function's number of parameters. Defaults and rest parameters are rejected,
 * as in Trax, because they make the arity ambiguous.
 */
export function Fn(name: string, f: AnyFn, nOut = 1): Layer {
  if (typeof f !== 'function') throw new TypeError(`Fn ${name}: expected a function, got ${typeof f}`);
  const src = Function.prototype.toString.call(f);
  // A bare `x => ...` arrow has no parameter parentheses: match it first, or
  // the first parentheses of its body would be read as the parameter list.
  const params = /^\s*(?:async\s+)?([\w$]+)\s*=>/.exec(src)?.[1] ?? /^[^(]*\(([^)]*)\)/.exec(src)?.[1] ?? '';
  if (/\.\.\./.test(params)) throw new Error(`Fn ${name}: function has a rest parameter (...args); give it fixed positional parameters`);
  if (/=/.test(params)) throw new Error(`Fn ${name}: function has default parameter values; Trax's Fn rejects defaults`);
  return new FnLayer(name, f, f.length, nOut);
}

// ------------------------------------------------------------------ simple math combinators

export function Add(): Layer { return new FnLayer('Add', (a: Tensor, b: Tensor) => F.add(a, b), 2); }
export function SubtractTop(): Layer { return new FnLayer('SubtractTop', (a: Tensor, b: Tensor) => F.sub(b, a), 2); }
export function Multiply(): Layer { return new FnLayer('Multiply', (a: Tensor, b: Tensor) => F.mul(a, b), 2); }
export function Gate(): Layer {
  return new FnLayer('Gate', (m: Tensor, g: Tensor, c: Tensor) => F.add(F.mul(g, m), F.mul(F.sub(1, g), c)), 3);
}

export function Concatenate(nItems = 2, axis = -1): Layer {
  const name = axis === -1 ? 'Concatenate' : `Concatenate_axis${axis}`;
  return new FnLayer(name, (...xs: Tensor[]) => F.concat(xs, axis), nItems);
}

export function Split(nItems = 2, axis = -1): Layer {
  return new FnLayer('Split', (x: Tensor) => F.split(x, nItems, axis), 1, nItems);
}

// ------------------------------------------------------------------ Scan

class ScanLayer extends Layer {
  constructor(private readonly layer: Layer, private readonly axis = 0, private readonly nCarry = 1, readonly mode: Mode = 'train') {
    super({ nIn: layer.nIn, nOut: layer.nOut, name: 'Scan' });
    this._sublayers = [layer];
    this._weights = [null];
    this._state = [null];
  }

  override forward(xs: Value): Value {
    const stack = toStack(xs, this.nIn);
    const nX = this.nIn - this.nCarry;
    const seqs = stack.slice(0, nX) as Tensor[];
    let carry = stack.slice(nX);
    const len = seqs.length ? seqs[0].shape[this.axis] : 0;
    const ys: Tensor[][] = Array.from({ length: this.layer.nOut - this.nCarry }, () => []);
    const w = (this.weights as Weights[])[0];
    let s = (this.state as State[])[0];
    for (let i = 0; i < len; i++) {
      const slices = seqs.map((x) => F.squeeze(F.sliceAxis(x, this.axis, i, i + 1), this.axis));
      const inputs = inputsFromStack([...slices, ...carry], this.layer.nIn);
      const [out, ns] = this.layer.pureFn(inputs, w, s, foldIn(this.rng, i), true);
      s = ns;
      const outs = toStack(out as Value, this.layer.nOut);
      outs.slice(0, ys.length).forEach((y, j) => ys[j].push(y as Tensor));
      carry = outs.slice(ys.length);
    }
    this.setPureState([s]);
    const stacked = ys.map((list) => F.stack(list, this.axis));
    return fromStack([...stacked, ...carry]);
  }

  override initWeightsAndState(sig: Signature): void {
    const stack = toStack(sig as Value, this.nIn) as ShapeDtype[];
    const nX = this.nIn - this.nCarry;
    const sliced = stack.map((s, i) => (i < nX ? new ShapeDtype(s.shape.filter((_, a) => a !== this.axis), s.dtype) : s));
    const [w, s] = this.layer.init(inputsFromStack(sliced, this.layer.nIn) as Signature, { useCache: true });
    this.state = [s];
    this.weights = [w];
  }
}

/** Scan(layer, {axis, nCarry, mode}): applies layer along an axis, threading a carry. */
export function Scan(layer: Layer, opts: { axis?: number; nCarry?: number; mode?: Mode } = {}): Layer {
  return new ScanLayer(layer, opts.axis ?? 0, opts.nCarry ?? 1, opts.mode ?? 'train');
}

// ------------------------------------------------------------------ Cond

class CondLayer extends Layer {
  constructor(cond: Layer, trueL: Layer, falseL: Layer | null) {
    const f = falseL ?? new SerialLayer([]);
    if (trueL.nIn !== f.nIn || trueL.nOut !== f.nOut) {
      throw new Error(`Cond: branches must have equal nIn and nOut (true ${trueL.nIn}->${trueL.nOut}, false ${f.nIn}->${f.nOut})`);
    }
    if (cond.nOut !== 1) throw new Error(`Cond: the condition layer must produce exactly one value, it has nOut ${cond.nOut}`);
    super({ nIn: cond.nIn + trueL.nIn, nOut: trueL.nOut, name: 'Cond' });
    this._sublayers = [cond, trueL, f];
    this._weights = [null, null, null];
    this._state = [null, null, null];
  }

  override forward(xs: Value): Value {
    const [cond, t, f] = this._sublayers;
    const stack = toStack(xs, this.nIn);
    const w = this.weights as Weights[], s = this.state as State[];
    const rngs = splitKey(this.rng, 3);
    const [c, cs] = cond.pureFn(inputsFromStack(stack, cond.nIn), w[0], s[0], rngs[0], true);
    const rest = stack.slice(cond.nIn);
    const ct = c as Tensor;
    if (!(ct instanceof Tensor) || ct.size !== 1) throw new Error('Cond: condition must be a single boolean value');
    const useTrue = readScalar(ct, 'Cond (its condition)') !== 0;
    const branch = useTrue ? t : f, bi = useTrue ? 1 : 2;
    const [out, bs] = branch.pureFn(inputsFromStack(rest, branch.nIn), w[bi], s[bi], rngs[bi], true);
    const newState = [cs, s[1], s[2]];
    newState[bi] = bs;
    this.setPureState(newState);
    return fromStack(outputsOntoStack(out, rest, branch.nIn, branch.nOut));
  }

  override initWeightsAndState(sig: Signature): void {
    const [cond, t, f] = this._sublayers;
    const stack = toStack(sig as Value, this.nIn);
    const [cw, cs] = cond.init(inputsFromStack(stack, cond.nIn) as Signature, { useCache: true });
    const rest = stack.slice(cond.nIn);
    const [tw, ts] = t.init(inputsFromStack(rest, t.nIn) as Signature, { useCache: true });
    const [fw, fs] = f.init(inputsFromStack(rest, f.nIn) as Signature, { useCache: true });
    this.state = [cs, ts, fs];
    this.weights = [cw, tw, fw];
  }
}

/** Cond(cond, trueLayer, falseLayer = identity): runs exactly one branch. */
export function Cond(cond: Layer, trueLayer: Layer, falseLayer: Layer | null = null): Layer {
  return new CondLayer(cond, trueLayer, falseLayer);
}

// ------------------------------------------------------------------ Cache

class CacheLayer extends Layer {
  constructor(layer: Layer) {
    super({ nIn: layer.nIn, nOut: layer.nOut, name: 'Cache' });
    this._sublayers = [layer];
    this._weights = [null];
    this._state = [null];
  }
  override forward(xs: Value): Value {
    // The encoder's output is kept on the layer until init or reset.
    const st = this._cache;
    if (st !== null) return st;
    const l = this._sublayers[0];
    const [out, s] = l.pureFn(xs, (this.weights as Weights[])[0], (this.state as State[])[0], this.rng, true);
    this.setPureState([s]);
    this._cache = out;
    return out;
  }
  private _cache: Value | null = null;

  override initWeightsAndState(sig: Signature): void {
    const [w, s] = this._sublayers[0].init(sig, { useCache: true });
    this.state = [s];
    this.weights = [w];
    this._cache = null;
  }

  /** Forgets the cached output (a new input sequence). */
  reset(): void { this._cache = null; }
}

/** Cache(layer): computes layer once and returns the stored output after that. */
export function Cache(layer: Layer): Layer {
  return new CacheLayer(layer);
}

