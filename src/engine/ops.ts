// Tensor operations with broadcasting and gradients. Each differentiable op
// computes its result through the active kernels and, only when recording,
// registers a backward closure written in terms of other ops.
import { kernels } from '../backends/index.js';
import { broadcastBinary } from '../backends/js.js';
import { Binary, Reduce, Unary } from '../backends/kernels.js';
import { allocF32, allocF32Raw } from './pool.js';
import { record, recording, _setTapeHelpers } from './tape.js';
import { Tensor, allocFor, castArray, shapeSize, toTensor, type DType, type TensorLike } from './tensor.js';
import { checkIds } from './guards.js';

const K = kernels;

function fmt(shape: readonly number[]): string { return `[${shape.join(', ')}]`; }

export function opError(op: string, msg: string, ...tensors: { shape: readonly number[]; dtype?: string }[]): Error {
  const shapes = tensors.map((t) => `${fmt(t.shape)}${t.dtype ? ' ' + t.dtype : ''}`).join(', ');
  return new Error(`${op}: ${msg}${shapes ? ` (inputs: ${shapes})` : ''}`);
}

function f32(t: Tensor): Float32Array { return t.buf as Float32Array; }

function normAxis(axis: number, rank: number, op: string): number {
  if (!Number.isInteger(axis)) throw new TypeError(`${op}: axis must be an integer, got ${axis}`);
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new RangeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

function checkShape(shape: readonly number[], op: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`${op}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

function checkDtype(dtype: unknown, op: string): void {
  if (dtype !== 'float32' && dtype !== 'int32') throw new TypeError(`${op}: unsupported dtype '${String(dtype)}' (use 'float32' or 'int32')`);
}

// ---------------------------------------------------------------- creation

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  checkShape(shape, 'zeros'); checkDtype(dtype, 'zeros');
  return new Tensor(allocFor(dtype, shapeSize(shape)), shape, dtype);
}
export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor { return full(shape, 1, dtype); }
export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  checkShape(shape, 'full'); checkDtype(dtype, 'full');
  const b = allocFor(dtype, shapeSize(shape));
  b.fill(value);
  return new Tensor(b, shape, dtype);
}
export function zerosLike(x: Tensor): Tensor { return zeros(x.shape, x.dtype); }
export function onesLike(x: Tensor): Tensor { return ones(x.shape, x.dtype); }
export function scalar(v: number, dtype: DType = 'float32'): Tensor { return full([], v, dtype); }

export function arange(start: number, stop?: number, step = 1, dtype: DType = 'int32'): Tensor {
  if (stop === undefined) { stop = start; start = 0; }
  if (step === 0) throw new RangeError('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const b = allocFor(dtype, n);
  for (let i = 0; i < n; i++) b[i] = start + i * step;
  return new Tensor(b, [n], dtype);
}

export function cast(xl: TensorLike, dtype: DType): Tensor {
  const x = toTensor(xl, 'cast');
  checkDtype(dtype, 'cast');
  if (x.dtype === dtype) return x;
  const out = new Tensor(castArray(x.buf, dtype), x.shape, dtype);
  return record(out, [x], (dy) => [x.dtype === 'float32' ? cast(dy, 'float32') : null]);
}

// ---------------------------------------------------------------- broadcasting

export function broadcastShapes(a: readonly number[], b: readonly number[], op = 'broadcast'): number[] {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together (axis ${i - r}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

function bStrides(shape: readonly number[], outShape: readonly number[]): Int32Array {
  const r = outShape.length, s = stridesOf(shape), res = new Int32Array(r);
  for (let i = 0; i < r; i++) {
    const j = shape.length - r + i;
    res[i] = j < 0 || shape[j] === 1 ? 0 : s[j];
  }
  return res;
}

/** Sums a gradient of the broadcast shape back down to shape. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length ? sum(g, axes, true) : g;
  return reshape(s, shape);
}

// ---------------------------------------------------------------- elementwise

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Below this many elements a JS loop beats crossing into the native addon.
const SMALL_BINARY = 64;

function smallBinary(op: Binary, a: Float32Array, b: Float32Array, out: Float32Array): boolean {
  const n = out.length;
  switch (op) {
    case Binary.Add: for (let i = 0; i < n; i++) out[i] = a[i] + b[i]; return true;
    case Binary.Sub: for (let i = 0; i < n; i++) out[i] = a[i] - b[i]; return true;
    case Binary.Mul: for (let i = 0; i < n; i++) out[i] = a[i] * b[i]; return true;
    case Binary.Div: for (let i = 0; i < n; i++) out[i] = a[i] / b[i]; return true;
    default: return false;
  }
}

function binaryRaw(op: Binary, a: Tensor, b: Tensor, name: string, outDtype?: DType): Tensor {
  if (a.dtype === 'float32' && b.dtype === 'float32' && a.size === b.size && a.size <= SMALL_BINARY
    && op <= Binary.Div && sameShape(a.shape, b.shape)) {
    const out = allocF32Raw(a.size);
    smallBinary(op, a.buf as Float32Array, b.buf as Float32Array, out);
    return new Tensor(out, a.shape, 'float32');
  }
  const shape = sameShape(a.shape, b.shape) ? a.shape as number[] : broadcastShapes(a.shape, b.shape, name);
  const isCmp = op >= Binary.Eq && op <= Binary.Ge;
  const bothInt = a.dtype === 'int32' && b.dtype === 'int32';
  if (bothInt || (isCmp && (a.dtype === 'int32' || b.dtype === 'int32'))) {
    // Integer arithmetic (and comparisons involving ints) stay exact in JS.
    const dt: DType = outDtype ?? (isCmp ? 'float32' : op === Binary.Div || op === Binary.Pow ? 'float32' : 'int32');
    const out = allocFor(dt, shapeSize(shape));
    broadcastBinary(op, a.buf, b.buf, out, shape, bStrides(a.shape, shape), bStrides(b.shape, shape));
    return new Tensor(out, shape, dt);
  }
  const af = a.dtype === 'float32' ? a : cast(a, 'float32');
  const bf = b.dtype === 'float32' ? b : cast(b, 'float32');
  const out = allocF32Raw(shapeSize(shape));
  if (af.size === out.length && bf.size === out.length) {
    SCRATCH[1][0][0] = out.length; SCRATCH[1][1][0] = 1; SCRATCH[1][2][0] = 1;
    K().binary(op, f32(af), f32(bf), out, SCRATCH[1][0], SCRATCH[1][1], SCRATCH[1][2]);
  } else {
    const [sh, sa, sb] = collapseBroadcast(shape, af.shape, bf.shape);
    K().binary(op, f32(af), f32(bf), out, sh, sa, sb);
  }
  return new Tensor(out, shape, 'float32');
}

// Reused shape/stride arrays for the binary kernel, one triple per rank:
// small ops are dominated by such allocations otherwise. Kernels run
// synchronously, so sharing them is safe.
const SCRATCH: Int32Array[][] = Array.from({ length: 9 }, (_, r) => [new Int32Array(r), new Int32Array(r), new Int32Array(r)]);

/**
 * Output shape and broadcast strides of a and b with adjacent axes merged
 * where both operands walk them contiguously (or both broadcast), so a bias
 * add over (B, L, D) becomes a 2-D loop.
 */
export function collapseBroadcast(shape: readonly number[], as: readonly number[], bs: readonly number[]): [Int32Array, Int32Array, Int32Array] {
  const r = shape.length;
  const sa = bStrides(as, shape), sb = bStrides(bs, shape);
  const dims: number[] = [], da: number[] = [], db: number[] = [];
  for (let i = 0; i < r; i++) {
    if (shape[i] === 1) continue;
    const k = dims.length - 1;
    if (k >= 0 && da[k] === sa[i] * shape[i] && db[k] === sb[i] * shape[i]) {
      dims[k] *= shape[i]; da[k] = sa[i]; db[k] = sb[i];
    } else { dims.push(shape[i]); da.push(sa[i]); db.push(sb[i]); }
  }
  if (dims.length === 0) { dims.push(1); da.push(0); db.push(0); }
  const n = dims.length;
  if (n >= SCRATCH.length) return [Int32Array.from(dims), Int32Array.from(da), Int32Array.from(db)];
  const [x, y, z] = SCRATCH[n];
  for (let i = 0; i < n; i++) { x[i] = dims[i]; y[i] = da[i]; z[i] = db[i]; }
  return [x, y, z];
}

function binOp(op: Binary, name: string) {
  return (al: TensorLike, bl: TensorLike): Tensor => {
    const a = toTensor(al, name), b = toTensor(bl, name);
    const out = binaryRaw(op, a, b, name);
    if (!recording([a, b])) return out;
    return record(out, [a, b], (dy) => {
      switch (op) {
        case Binary.Add: return [sumTo(dy, a.shape), sumTo(dy, b.shape)];
        case Binary.Sub: return [sumTo(dy, a.shape), sumTo(neg(dy), b.shape)];
        case Binary.Mul: return [sumTo(mul(dy, b), a.shape), sumTo(mul(dy, a), b.shape)];
        case Binary.Div: return [sumTo(div(dy, b), a.shape), sumTo(neg(div(mul(dy, out), b)), b.shape)];
        case Binary.Max:
        case Binary.Min: {
          // Ties split the gradient evenly, as JAX does (and as central differences see it).
          const wins = binaryRaw(op === Binary.Max ? Binary.Gt : Binary.Lt, a, b, name, 'float32');
          const pick = add(wins, mul(binaryRaw(Binary.Eq, a, b, name, 'float32'), 0.5));
          return [sumTo(mul(dy, pick), a.shape), sumTo(mul(dy, sub(1, pick)), b.shape)];
        }
        case Binary.Pow: {
          const ga = mul(dy, mul(b, pow(a, sub(b, 1))));
          // As in JAX, d(a^b)/db uses log(1) where a == 0, so 0^b gives 0 rather than NaN.
          const gb = mul(dy, mul(out, log(where(equal(a, 0), 1, a))));
          return [sumTo(ga, a.shape), sumTo(gb, b.shape)];
        }
        default: return [null, null];
      }
    });
  };
}

export const add = binOp(Binary.Add, 'add');
export const sub = binOp(Binary.Sub, 'sub');
export const mul = binOp(Binary.Mul, 'mul');
export const div = binOp(Binary.Div, 'div');
export const maximum = binOp(Binary.Max, 'maximum');
export const minimum = binOp(Binary.Min, 'minimum');
export const pow = binOp(Binary.Pow, 'pow');

function cmpOp(op: Binary, name: string) {
  return (al: TensorLike, bl: TensorLike): Tensor => binaryRaw(op, toTensor(al, name), toTensor(bl, name), name, 'float32');
}
/** Comparisons give float32 1/0 masks. */
export const equal = cmpOp(Binary.Eq, 'equal');
export const notEqual = cmpOp(Binary.Ne, 'notEqual');
export const less = cmpOp(Binary.Lt, 'less');
export const lessEqual = cmpOp(Binary.Le, 'lessEqual');
export const greater = cmpOp(Binary.Gt, 'greater');
export const greaterEqual = cmpOp(Binary.Ge, 'greaterEqual');

function unaryRaw(op: Unary, x: Tensor): Tensor {
  const xf = x.dtype === 'float32' ? x : cast(x, 'float32');
  const out = allocF32Raw(xf.size);
  K().unary(op, f32(xf), out);
  return new Tensor(out, x.shape, 'float32');
}

function unOp(op: Unary, name: string, deriv: (x: Tensor, y: Tensor, dy: Tensor) => Tensor) {
  return (xl: TensorLike): Tensor => {
    const x = toTensor(xl, name);
    if (op === Unary.Neg && x.dtype === 'int32') {
      const o = new Int32Array(x.size);
      for (let i = 0; i < o.length; i++) o[i] = -x.buf[i];
      return new Tensor(o, x.shape, 'int32');
    }
    const y = unaryRaw(op, x);
    if (!recording([x])) return y;
    return record(y, [x], (dy) => [deriv(x, y, dy)]);
  };
}

const SQRT_2_PI = Math.sqrt(2 / Math.PI);
export const neg = unOp(Unary.Neg, 'neg', (_x, _y, dy) => neg(dy));
export const exp = unOp(Unary.Exp, 'exp', (_x, y, dy) => mul(dy, y));
export const log = unOp(Unary.Log, 'log', (x, _y, dy) => div(dy, x));
export const tanh = unOp(Unary.Tanh, 'tanh', (_x, y, dy) => mul(dy, sub(1, mul(y, y))));
export const sqrt = unOp(Unary.Sqrt, 'sqrt', (_x, y, dy) => div(mul(dy, 0.5), y));
export const rsqrt = unOp(Unary.Rsqrt, 'rsqrt', (x, y, dy) => mul(dy, mul(-0.5, div(y, x))));
export const relu = unOp(Unary.Relu, 'relu', (x, _y, dy) => reluGrad(dy, x));

/** dy where x > 0, else 0: ReLU's backward in one pass. */
function reluGrad(dy: Tensor, x: Tensor): Tensor {
  const out = binaryRaw(Binary.PassIfPos, dy, x, 'relu');
  if (!recording([dy, x])) return out;
  return record(out, [dy, x], (g) => [reluGrad(g, x), null]);
}
export const sigmoid = unOp(Unary.Sigmoid, 'sigmoid', (_x, y, dy) => mul(dy, mul(y, sub(1, y))));
export const abs = unOp(Unary.Abs, 'abs', (x, _y, dy) => mul(dy, unaryRaw(Unary.Sign, x)));
export const square = unOp(Unary.Square, 'square', (x, _y, dy) => mul(dy, mul(x, 2)));
export const reciprocal = unOp(Unary.Reciprocal, 'reciprocal', (_x, y, dy) => neg(mul(dy, mul(y, y))));
export const softplus = unOp(Unary.Softplus, 'softplus', (x, _y, dy) => mul(dy, sigmoid(x)));
export const erf = unOp(Unary.Erf, 'erf', (x, _y, dy) => mul(dy, mul(2 / Math.sqrt(Math.PI), exp(neg(mul(x, x))))));
/** Exact (erf) GELU, Trax's tl.Gelu. */
export const gelu = unOp(Unary.Gelu, 'gelu', (x, _y, dy) => {
  const cdf = mul(0.5, add(1, erf(mul(x, Math.SQRT1_2))));
  const pdf = mul(1 / Math.sqrt(2 * Math.PI), exp(mul(-0.5, mul(x, x))));
  return mul(dy, add(cdf, mul(x, pdf)));
});
/** tanh-approximated GELU, Trax's tl.FastGelu. */
export const fastGelu = unOp(Unary.FastGelu, 'fastGelu', (x, _y, dy) => {
  const x2 = mul(x, x);
  const inner = mul(SQRT_2_PI * 1, mul(x, add(1, mul(0.044715, x2))));
  const t = tanh(inner);
  const dinner = mul(SQRT_2_PI, add(1, mul(3 * 0.044715, x2)));
  const d = add(mul(0.5, add(1, t)), mul(mul(0.5, x), mul(sub(1, mul(t, t)), dinner)));
  return mul(dy, d);
});

export function where(condl: TensorLike, al: TensorLike, bl: TensorLike): Tensor {
  const cond = toTensor(condl, 'where'), a = toTensor(al, 'where'), b = toTensor(bl, 'where');
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  const dt: DType = a.dtype === 'int32' && b.dtype === 'int32' ? 'int32' : 'float32';
  const c = expandTo(cond, shape), ae = expandTo(a, shape), be = expandTo(b, shape);
  const out = allocFor(dt, shapeSize(shape));
  for (let i = 0; i < out.length; i++) out[i] = c.buf[i] !== 0 ? ae.buf[i] : be.buf[i];
  const res = new Tensor(out, shape, dt);
  return record(res, [a, b], (dy) => {
    const mask = cast(notEqual(c, 0), 'float32');
    return [sumTo(mul(dy, mask), a.shape), sumTo(mul(dy, sub(1, mask)), b.shape)];
  });
}

/** Materializes x broadcast to shape (no gradient; internal helper). */
function expandTo(x: Tensor, shape: readonly number[]): Tensor {
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  broadcastShapes(x.shape, shape, 'broadcastTo');
  if (x.dtype === 'float32') {
    // x + 0 with broadcast strides, through the (native) binary kernel.
    const out = allocF32Raw(shapeSize(shape));
    const [sh, sx, sz] = collapseBroadcast(shape, x.shape, []);
    K().binary(Binary.Add, x.buf as Float32Array, ZERO_F32, out, sh, sx, sz);
    return new Tensor(out, shape, 'float32');
  }
  const out = allocFor(x.dtype, shapeSize(shape));
  broadcastBinary(Binary.Add, x.buf, new Int32Array(1), out, shape, bStrides(x.shape, shape), new Int32Array(shape.length));
  return new Tensor(out, shape, x.dtype);
}
const ZERO_F32 = new Float32Array(1);

export function broadcastTo(xl: TensorLike, shape: readonly number[]): Tensor {
  const x = toTensor(xl, 'broadcastTo');
  const out = expandTo(x, shape);
  if (out === x) return x;
  return record(out, [x], (dy) => [sumTo(dy, x.shape)]);
}

export function clip(xl: TensorLike, lo: number, hi: number): Tensor {
  return minimum(maximum(xl, lo), hi);
}

// ---------------------------------------------------------------- shapes

export function reshape(xl: TensorLike, shape: readonly number[]): Tensor {
  const x = toTensor(xl, 'reshape');
  const s = shape.slice();
  if (s.some((d) => !Number.isInteger(d) || d < -1) || s.filter((d) => d === -1).length > 1) {
    throw opError('reshape', `invalid target shape ${fmt(shape)} (non-negative integers and at most one -1)`, x);
  }
  const neg1 = s.indexOf(-1);
  if (neg1 >= 0) {
    const rest = s.reduce((a, d, i) => (i === neg1 ? a : a * d), 1);
    if (rest === 0 || x.size % rest !== 0) throw opError('reshape', `cannot infer -1 in ${fmt(shape)}`, x);
    s[neg1] = x.size / rest;
  }
  if (shapeSize(s) !== x.size) throw opError('reshape', `cannot reshape ${x.size} values to ${fmt(shape)}`, x);
  if (s.length === x.shape.length && s.every((d, i) => d === x.shape[i])) return x;
  const out = new Tensor(x.buf, s, x.dtype);
  return record(out, [x], (dy) => [reshape(dy, x.shape)]);
}

export function expandDims(x: TensorLike, axis: number): Tensor {
  const t = toTensor(x, 'expandDims');
  const a = normAxis(axis, t.rank + 1, 'expandDims');
  const s = t.shape.slice();
  s.splice(a, 0, 1);
  return reshape(t, s);
}

export function squeeze(x: TensorLike, axis?: number): Tensor {
  const t = toTensor(x, 'squeeze');
  if (axis === undefined) return reshape(t, t.shape.filter((d) => d !== 1));
  const a = normAxis(axis, t.rank, 'squeeze');
  if (t.shape[a] !== 1) throw opError('squeeze', `axis ${axis} has size ${t.shape[a]}, not 1`, t);
  return reshape(t, t.shape.filter((_, i) => i !== a));
}

// The same loop for int32 (a separate function keeps each one monomorphic).
function transpose4I(src: Int32Array, out: Int32Array, shape: number[], perm: readonly number[], inStr: number[]): void {
  const d0 = shape[0], d1 = shape[1], d2 = shape[2], d3 = shape[3];
  const s0 = inStr[perm[0]], s1 = inStr[perm[1]], s2 = inStr[perm[2]], s3 = inStr[perm[3]];
  let o = 0;
  for (let i0 = 0; i0 < d0; i0++) for (let i1 = 0; i1 < d1; i1++) for (let i2 = 0; i2 < d2; i2++) {
    let p = i0 * s0 + i1 * s1 + i2 * s2;
    for (let i3 = 0; i3 < d3; i3++, p += s3) out[o++] = src[p];
  }
}

function transposeRaw(x: Tensor, perm: readonly number[]): Tensor {
  const r = x.rank;
  const shape = perm.map((p) => x.shape[p]);
  const inStr = stridesOf(x.shape);
  const out = x.dtype === 'float32' ? allocF32Raw(x.size) : new Int32Array(x.size);
  if (x.size === 0) return new Tensor(out, shape, x.dtype);
  const src = x.buf;
  if (src instanceof Float32Array && r <= 16) {
    K().permute(src, out as Float32Array, Int32Array.from(x.shape), Int32Array.from(perm));
    return new Tensor(out, shape, x.dtype);
  }
  if (r === 4) {
    transpose4I(src as Int32Array, out as Int32Array, shape, perm, inStr);
    return new Tensor(out, shape, x.dtype);
  }
  // Iterate output in order; the innermost axis runs with a fixed input stride.
  const last = shape[r - 1], sLast = inStr[perm[r - 1]];
  const idx = new Array<number>(r).fill(0);
  let base = 0;
  for (let o = 0; o < out.length; o += last) {
    for (let j = 0, p = base; j < last; j++, p += sLast) out[o + j] = src[p];
    for (let ax = r - 2; ax >= 0; ax--) {
      idx[ax]++;
      base += inStr[perm[ax]];
      if (idx[ax] < shape[ax]) break;
      base -= inStr[perm[ax]] * shape[ax];
      idx[ax] = 0;
    }
  }
  return new Tensor(out, shape, x.dtype);
}

export function transpose(xl: TensorLike, perm?: readonly number[]): Tensor {
  const x = toTensor(xl, 'transpose');
  const p = perm ? perm.map((a) => normAxis(a, x.rank, 'transpose')) : x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || new Set(p).size !== p.length) throw opError('transpose', `invalid permutation [${perm}]`, x);
  if (x.rank <= 1 || p.every((a, i) => a === i)) return x;
  const out = transposeRaw(x, p);
  const inv = new Array<number>(p.length);
  p.forEach((a, i) => { inv[a] = i; });
  return record(out, [x], (dy) => [transposeRaw(dy, inv)]);
}

export function swapAxes(x: TensorLike, a: number, b: number): Tensor {
  const t = toTensor(x, 'swapAxes');
  const p = t.shape.map((_, i) => i);
  const aa = normAxis(a, t.rank, 'swapAxes'), bb = normAxis(b, t.rank, 'swapAxes');
  [p[aa], p[bb]] = [p[bb], p[aa]];
  return transpose(t, p);
}

/** x[begin[0]:begin[0]+size[0], ...]; size -1 means "to the end". */
export function slice(xl: TensorLike, begin: readonly number[], size?: readonly number[]): Tensor {
  const x = toTensor(xl, 'slice');
  const r = x.rank;
  const b = x.shape.map((d, i) => {
    const v = begin[i] ?? 0;
    return v < 0 ? v + d : v;
  });
  const s = x.shape.map((d, i) => {
    const v = size?.[i] ?? -1;
    return v < 0 ? d - b[i] : v;
  });
  for (let i = 0; i < r; i++) {
    if (!Number.isInteger(b[i]) || !Number.isInteger(s[i]) || b[i] < 0 || s[i] < 0 || b[i] + s[i] > x.shape[i]) {
      throw opError('slice', `begin ${fmt(begin)} size ${fmt(size ?? [])} is out of bounds on axis ${i}`, x);
    }
  }
  if (s.every((d, i) => d === x.shape[i])) return x;
  const out = allocFor(x.dtype, shapeSize(s));
  const str = stridesOf(x.shape);
  // Copy contiguous runs: trailing axes taken whole join the run, so slicing
  // the first n rows of a (heads, maxLen, depth) cache is one copy per head.
  let k = r - 1;
  while (k > 0 && s[k] === x.shape[k]) k--;
  const last = r ? s[k] * str[k] : 1;
  const idx = new Array<number>(r).fill(0);
  for (let o = 0; o < out.length; o += last) {
    let off = 0;
    for (let i = 0; i <= k; i++) off += (b[i] + idx[i]) * str[i];
    out.set(x.buf.subarray(off, off + last), o);
    for (let ax = k - 1; ax >= 0; ax--) { if (++idx[ax] < s[ax]) break; idx[ax] = 0; }
  }
  const res = new Tensor(out, s, x.dtype);
  return record(res, [x], (dy) => [pad(dy, x.shape.map((d, i) => [b[i], d - b[i] - s[i]] as [number, number]))]);
}

/** Slice along one axis: x[..., start:end, ...]. */
export function sliceAxis(x: TensorLike, axis: number, start: number, end: number): Tensor {
  const t = toTensor(x, 'sliceAxis');
  const a = normAxis(axis, t.rank, 'sliceAxis');
  const n = t.shape[a];
  // Negative bounds count from the end, as in Python; the range must then be ordered.
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > n) {
    throw opError('sliceAxis', `range [${start}, ${end}) is invalid for axis ${axis} of size ${n}`, t);
  }
  const begin = t.shape.map(() => 0), size = t.shape.map(() => -1);
  begin[a] = start; size[a] = end - start;
  return slice(t, begin, size);
}

export function pad(xl: TensorLike, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  const x = toTensor(xl, 'pad');
  if (pads.length !== x.rank) throw opError('pad', `need one [before, after] pair per axis, got ${pads.length}`, x);
  const s = x.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  if (pads.some(([a, b]) => a < 0 || b < 0 || !Number.isInteger(a) || !Number.isInteger(b))) {
    throw opError('pad', `paddings must be non-negative integers, got ${JSON.stringify(pads)}`, x);
  }
  const out = allocFor(x.dtype, shapeSize(s));
  if (value !== 0) out.fill(value);
  const r = x.rank, ostr = stridesOf(s);
  const last = r ? x.shape[r - 1] : 1;
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < x.size; i += last) {
    let off = 0;
    for (let a = 0; a < r; a++) off += (idx[a] + pads[a][0]) * ostr[a];
    out.set(x.buf.subarray(i, i + last), off);
    for (let ax = r - 2; ax >= 0; ax--) { if (++idx[ax] < x.shape[ax]) break; idx[ax] = 0; }
  }
  const res = new Tensor(out, s, x.dtype);
  return record(res, [x], (dy) => [slice(dy, pads.map((p) => p[0]), x.shape)]);
}

export function concat(xsl: readonly TensorLike[], axis = -1): Tensor {
  if (xsl.length === 0) throw new Error('concat: need at least one tensor');
  const xs = xsl.map((x) => toTensor(x, 'concat'));
  const r = xs[0].rank;
  const a = normAxis(axis, r, 'concat');
  const dt = xs.some((x) => x.dtype === 'float32') ? 'float32' : 'int32';
  for (const x of xs) {
    if (x.rank !== r || x.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw opError('concat', `shapes differ off axis ${axis}`, ...xs);
    }
  }
  const shape = xs[0].shape.slice();
  shape[a] = xs.reduce((s, x) => s + x.shape[a], 0);
  const outer = shapeSize(shape.slice(0, a));
  const inner = shapeSize(shape.slice(a + 1));
  const out = allocFor(dt, shapeSize(shape));
  const rowOut = shape[a] * inner;
  let off = 0;
  for (const x0 of xs) {
    const x = x0.dtype === dt ? x0 : cast(x0, dt);
    const rowIn = x.shape[a] * inner;
    for (let o = 0; o < outer; o++) out.set(x.buf.subarray(o * rowIn, (o + 1) * rowIn), o * rowOut + off);
    off += rowIn;
  }
  const res = new Tensor(out, shape, dt);
  return record(res, xs, (dy) => {
    let start = 0;
    return xs.map((x) => { const g = sliceAxis(dy, a, start, start + x.shape[a]); start += x.shape[a]; return g; });
  });
}

export function stack(xs: readonly TensorLike[], axis = 0): Tensor {
  return concat(xs.map((x) => expandDims(x, axis)), axis);
}

export function split(xl: TensorLike, n: number, axis = -1): Tensor[] {
  const x = toTensor(xl, 'split');
  const a = normAxis(axis, x.rank, 'split');
  if (x.shape[a] % n !== 0) throw opError('split', `axis ${axis} of size ${x.shape[a]} is not divisible by ${n}`, x);
  const step = x.shape[a] / n;
  return Array.from({ length: n }, (_, i) => sliceAxis(x, a, i * step, (i + 1) * step));
}

// ---------------------------------------------------------------- reductions

function reduceAxes(x: Tensor, axis: number | readonly number[] | undefined | null, op: string): number[] {
  if (axis === undefined || axis === null) return x.shape.map((_, i) => i);
  const axes = (typeof axis === 'number' ? [axis] : axis).map((a) => normAxis(a, x.rank, op));
  return [...new Set(axes)].sort((p, q) => p - q);
}

function reduceRaw(kind: Reduce, x: Tensor, axes: number[], keepDims: boolean, op = 'reduce'): Tensor {
  let cur = x.dtype === 'float32' ? x : cast(x, 'float32');
  let shape = cur.shape.slice();
  for (let k = axes.length - 1; k >= 0; k--) {
    const a = axes[k];
    const outer = shapeSize(shape.slice(0, a)), n = shape[a], inner = shapeSize(shape.slice(a + 1));
    const out = allocF32(outer * inner);
    if (n === 0 && kind !== Reduce.Sum) throw opError(op, `cannot reduce over the empty axis ${a}`, x);
    K().reduce(kind, f32(cur), out, outer, n, inner);
    shape = shape.slice();
    shape[a] = 1;
    cur = new Tensor(out, shape, 'float32');
  }
  const finalShape = keepDims ? shape : x.shape.filter((_, i) => !axes.includes(i));
  return new Tensor(cur.buf, finalShape, 'float32');
}

function keptShape(x: Tensor, axes: number[]): number[] {
  return x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

export function sum(xl: TensorLike, axis?: number | readonly number[] | null, keepDims = false): Tensor {
  const x = toTensor(xl, 'sum');
  const axes = reduceAxes(x, axis, 'sum');
  const out = reduceRaw(Reduce.Sum, x, axes, keepDims);
  return record(out, [x], (dy) => [x.dtype === 'float32' ? expandTo(reshape(dy, keptShape(x, axes)), x.shape) : null]);
}

export function mean(xl: TensorLike, axis?: number | readonly number[] | null, keepDims = false): Tensor {
  const x = toTensor(xl, 'mean');
  const axes = reduceAxes(x, axis, 'mean');
  const n = axes.reduce((s, a) => s * x.shape[a], 1);
  return mul(sum(x, axes, keepDims), 1 / n);
}

function minmax(kind: Reduce, name: string) {
  return (xl: TensorLike, axis?: number | readonly number[] | null, keepDims = false): Tensor => {
    const x = toTensor(xl, name);
    const axes = reduceAxes(x, axis, name);
    const out = reduceRaw(kind, x, axes, keepDims, name);
    return record(out, [x], (dy) => {
      const o = reshape(out, keptShape(x, axes));
      const hit = equal(x, o);
      const cnt = sum(hit, axes, true);
      return [mul(expandTo(reshape(dy, keptShape(x, axes)), x.shape), div(hit, cnt))];
    });
  };
}
export const max = minmax(Reduce.Max, 'max');
export const min = minmax(Reduce.Min, 'min');

export function argmax(xl: TensorLike, axis = -1): Tensor {
  const x = toTensor(xl, 'argmax');
  const a = normAxis(axis, x.rank, 'argmax');
  const outer = shapeSize(x.shape.slice(0, a)), n = x.shape[a], inner = shapeSize(x.shape.slice(a + 1));
  if (n === 0) throw opError('argmax', 'empty axis', x);
  const out = new Int32Array(outer * inner);
  const b = x.buf;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = 0, bv = b[o * n * inner + i];
      for (let j = 1; j < n; j++) {
        const v = b[(o * n + j) * inner + i];
        if (v > bv) { bv = v; best = j; }
      }
      out[o * inner + i] = best;
    }
  }
  return new Tensor(out, x.shape.filter((_, i) => i !== a), 'int32');
}

export function logSumExp(xl: TensorLike, axis: number | readonly number[] = -1, keepDims = false): Tensor {
  const x = toTensor(xl, 'logSumExp');
  const axes = reduceAxes(x, axis, 'logSumExp');
  const m = reduceRaw(Reduce.Max, x, axes, true, 'logSumExp');
  const mSafe = new Tensor(f32(m).map((v) => (Number.isFinite(v) ? v : 0)), m.shape);
  const s = add(log(sum(exp(sub(x, mSafe)), axes, true)), mSafe);
  return keepDims ? s : reshape(s, x.shape.filter((_, i) => !axes.includes(i)));
}

export function cumsum(xl: TensorLike, axis = -1): Tensor {
  const x = toTensor(xl, 'cumsum');
  const a = normAxis(axis, x.rank, 'cumsum');
  const outer = shapeSize(x.shape.slice(0, a)), n = x.shape[a], inner = shapeSize(x.shape.slice(a + 1));
  const out = allocFor(x.dtype, x.size);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    let acc = 0;
    for (let j = 0; j < n; j++) { const p = (o * n + j) * inner + i; acc += x.buf[p]; out[p] = acc; }
  }
  const res = new Tensor(out, x.shape, x.dtype);
  return record(res, [x], (dy) => [reverse(cumsum(reverse(dy, a), a), a)]);
}

export function reverse(xl: TensorLike, axis: number): Tensor {
  const x = toTensor(xl, 'reverse');
  const a = normAxis(axis, x.rank, 'reverse');
  const outer = shapeSize(x.shape.slice(0, a)), n = x.shape[a], inner = shapeSize(x.shape.slice(a + 1));
  const out = allocFor(x.dtype, x.size);
  for (let o = 0; o < outer; o++) for (let j = 0; j < n; j++) {
    out.set(x.buf.subarray((o * n + j) * inner, (o * n + j + 1) * inner), (o * n + (n - 1 - j)) * inner);
  }
  const res = new Tensor(out, x.shape, x.dtype);
  return record(res, [x], (dy) => [reverse(dy, a)]);
}

// ---------------------------------------------------------------- indexing

/** Lower-triangular 0/1 float mask of shape (n, m): 1 where col <= row + k. */
export function tril(n: number, m = n, k = 0): Tensor {
  checkShape([n, m], 'tril');
  const out = allocF32(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m && j <= i + k; j++) out[i * m + j] = 1;
  return new Tensor(out, [n, m]);
}

function checkIndices(idx: Tensor, size: number, op: string, x: Tensor, clipMode: boolean): Int32Array {
  // On the values as given: converting to int32 first would wrap 2**32 to row 0.
  return checkIds(idx.buf, size, clipMode, (msg) => opError(op, msg.replace(/^id /, 'index '), x, idx));
}

/**
 * take(x, indices, axis): gathers slices along axis (numpy.take).
 * mode 'raise' (default) rejects out-of-range indices; 'clip' clamps them,
 * as Trax's Embedding does.
 */
export function take(xl: TensorLike, indicesl: TensorLike, axis = 0, mode: 'raise' | 'clip' = 'raise'): Tensor {
  const x = toTensor(xl, 'take'), idx = toTensor(indicesl, 'take');
  const a = normAxis(axis, x.rank, 'take');
  const n = x.shape[a];
  const ids = checkIndices(idx, n, 'take', x, mode === 'clip');
  const outer = shapeSize(x.shape.slice(0, a)), inner = shapeSize(x.shape.slice(a + 1));
  const shape = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
  const out = allocFor(x.dtype, shapeSize(shape));
  if (a === 0 && x.dtype === 'float32') {
    K().gatherRows(f32(x), ids, out as Float32Array, n, inner);
  } else {
    for (let o = 0; o < outer; o++) for (let i = 0; i < ids.length; i++) {
      const r = Math.min(Math.max(ids[i], 0), n - 1);
      out.set(x.buf.subarray((o * n + r) * inner, (o * n + r + 1) * inner), (o * ids.length + i) * inner);
    }
  }
  const res = new Tensor(out, shape, x.dtype);
  // In clip mode the backward must scatter to the clamped rows (scatterAdd rejects out-of-range ids).
  const gids = mode === 'clip' ? ids.map((v) => Math.min(Math.max(v, 0), n - 1)) : ids;
  return record(res, [x], (dy) => [scatterAdd(zeros(x.shape), new Tensor(gids, idx.shape, 'int32'), dy, a)]);
}

/**
 * Returns x with updates added at indices along axis (the transpose of take):
 * out[..., idx[i], ...] += updates[..., i, ...]. Indices are clipped.
 */
export function scatterAdd(xl: TensorLike, indicesl: TensorLike, updatesl: TensorLike, axis = 0): Tensor {
  const x = toTensor(xl, 'scatterAdd'), idx = toTensor(indicesl, 'scatterAdd'), up = toTensor(updatesl, 'scatterAdd');
  const a = normAxis(axis, x.rank, 'scatterAdd');
  const n = x.shape[a];
  const ids = checkIndices(idx, n, 'scatterAdd', x, false);
  const outer = shapeSize(x.shape.slice(0, a)), inner = shapeSize(x.shape.slice(a + 1));
  const want = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
  if (up.size !== shapeSize(want)) throw opError('scatterAdd', `updates must have shape ${fmt(want)}`, x, idx, up);
  const out = x.dtype === 'float32' ? Float32Array.from(x.buf) : Int32Array.from(x.buf);
  const ub = up.dtype === x.dtype ? up.buf : castArray(up.buf, x.dtype);
  if (a === 0 && x.dtype === 'float32') {
    K().scatterAddRows(ub as Float32Array, ids, out as Float32Array, n, inner);
  } else {
    for (let o = 0; o < outer; o++) for (let i = 0; i < ids.length; i++) {
      const dst = (o * n + ids[i]) * inner, src = (o * ids.length + i) * inner;
      for (let j = 0; j < inner; j++) out[dst + j] += ub[src + j];
    }
  }
  const res = new Tensor(out, x.shape, x.dtype);
  return record(res, [x, up], (dy) => [dy, reshape(take(dy, ids, a), up.shape)]);
}

/** numpy.take_along_axis: out[..., i, ...] = x[..., idx[..., i, ...], ...]. */
export function takeAlongAxis(xl: TensorLike, indicesl: TensorLike, axis = -1): Tensor {
  const x = toTensor(xl, 'takeAlongAxis'), idx = toTensor(indicesl, 'takeAlongAxis');
  const a = normAxis(axis, x.rank, 'takeAlongAxis');
  if (idx.rank !== x.rank || idx.shape.some((d, i) => i !== a && d !== x.shape[i])) {
    throw opError('takeAlongAxis', 'indices must match x on every axis but the gathered one', x, idx);
  }
  const n = x.shape[a], m = idx.shape[a];
  const ids = checkIndices(idx, n, 'takeAlongAxis', x, false);
  const outer = shapeSize(x.shape.slice(0, a)), inner = shapeSize(x.shape.slice(a + 1));
  const out = allocFor(x.dtype, idx.size);
  for (let o = 0; o < outer; o++) for (let j = 0; j < m; j++) for (let i = 0; i < inner; i++) {
    out[(o * m + j) * inner + i] = x.buf[(o * n + ids[(o * m + j) * inner + i]) * inner + i];
  }
  const res = new Tensor(out, idx.shape, x.dtype);
  return record(res, [x], (dy) => {
    const g = allocF32(x.size);
    const db = f32(dy);
    for (let o = 0; o < outer; o++) for (let j = 0; j < m; j++) for (let i = 0; i < inner; i++) {
      g[(o * n + ids[(o * m + j) * inner + i]) * inner + i] += db[(o * m + j) * inner + i];
    }
    return [new Tensor(g, x.shape)];
  });
}

/** (x[..., None] == arange(n)) as float32. */
export function oneHot(indicesl: TensorLike, n: number): Tensor {
  // Not converted to int32 first: like JAX, a non-integer index matches no class.
  const idx = toTensor(indicesl, 'oneHot');
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`oneHot: depth must be a non-negative integer, got ${n}`);
  const out = allocF32(idx.size * n);
  for (let i = 0; i < idx.size; i++) {
    const v = idx.buf[i];
    if (v >= 0 && v < n && Number.isInteger(v)) out[i * n + v] = 1;
  }
  return new Tensor(out, [...idx.shape, n]);
}

// ---------------------------------------------------------------- matmul

/**
 * Batched matrix product with numpy broadcasting of the leading axes.
 * transposeA/B transpose the last two axes of a/b without copying.
 */
export function matmul(al: TensorLike, bl: TensorLike, transposeA = false, transposeB = false): Tensor {
  let a = toTensor(al, 'matmul'), b = toTensor(bl, 'matmul');
  if (a.dtype !== 'float32') a = cast(a, 'float32');
  if (b.dtype !== 'float32') b = cast(b, 'float32');
  if (a.rank === 0 || b.rank === 0) throw opError('matmul', 'operands must have at least one axis', a, b);
  const aVec = a.rank === 1, bVec = b.rank === 1;
  // Check the contraction here so the message shows the caller's shapes, not the reshaped ones.
  const ka = aVec ? a.shape[0] : a.shape[a.rank - (transposeA ? 2 : 1)];
  const kb = bVec ? b.shape[0] : b.shape[b.rank - (transposeB ? 1 : 2)];
  if (ka !== kb) {
    const flags = transposeA || transposeB ? ` (transposeA=${transposeA}, transposeB=${transposeB})` : '';
    throw opError('matmul', `inner dimensions differ: ${ka} vs ${kb}${flags}`, a, b);
  }
  const a2 = aVec ? reshape(a, transposeA ? [a.shape[0], 1] : [1, a.shape[0]]) : a;
  const b2 = bVec ? reshape(b, transposeB ? [1, b.shape[0]] : [b.shape[0], 1]) : b;
  const out = matmulND(a2, b2, transposeA, transposeB);
  let shape = out.shape.slice();
  if (aVec) shape.splice(shape.length - 2, 1);
  if (bVec) shape = shape.slice(0, -1);
  return aVec || bVec ? reshape(out, shape) : out;
}

function matmulND(a: Tensor, b: Tensor, tA: boolean, tB: boolean): Tensor {
  const ar = a.rank, br = b.rank;
  const m = tA ? a.shape[ar - 1] : a.shape[ar - 2];
  const ka = tA ? a.shape[ar - 2] : a.shape[ar - 1];
  const kb = tB ? b.shape[br - 1] : b.shape[br - 2];
  const n = tB ? b.shape[br - 2] : b.shape[br - 1];
  if (ka !== kb) {
    throw opError('matmul', `inner dimensions differ: ${ka} vs ${kb}${tA || tB ? ` (transposeA=${tA}, transposeB=${tB})` : ''}`, a, b);
  }
  const k = ka;
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  let batchShape: number[];
  try { batchShape = broadcastShapes(aBatch, bBatch, 'matmul'); } catch {
    throw opError('matmul', `batch dimensions ${fmt(aBatch)} and ${fmt(bBatch)} cannot be broadcast together`, a, b);
  }
  const batch = shapeSize(batchShape);
  const outShape = [...batchShape, m, n];
  const kern = K();
  // Fold a's batch into rows when b is shared: one big GEMM instead of many small ones.
  if (bBatch.length === 0 || shapeSize(bBatch) === 1) {
    if (!tA && shapeSize(aBatch) === batch) {
      const c = allocF32Raw(batch * m * n);
      kern.matmul(f32(a), f32(b), c, 1, batch * m, n, k, false, tB, 0, 0, false);
      const out = new Tensor(c, outShape);
      return record(out, [a, b], (dy) => matmulGrads(a, b, dy, tA, tB, batchShape));
    }
  }
  const ae = shapeSize(aBatch) === batch && aBatch.length === batchShape.length ? a
    : shapeSize(aBatch) === 1 ? a : expandTo(a, [...batchShape, ...a.shape.slice(-2)]);
  const be = shapeSize(bBatch) === batch && bBatch.length === batchShape.length ? b
    : shapeSize(bBatch) === 1 ? b : expandTo(b, [...batchShape, ...b.shape.slice(-2)]);
  const sa = shapeSize(ae.shape.slice(0, -2)) === 1 ? 0 : m * k;
  const sb = shapeSize(be.shape.slice(0, -2)) === 1 ? 0 : k * n;
  const c = allocF32Raw(batch * m * n);
  kern.matmul(f32(ae), f32(be), c, batch, m, n, k, tA, tB, sa, sb, false);
  const out = new Tensor(c, outShape);
  return record(out, [a, b], (dy) => matmulGrads(a, b, dy, tA, tB, batchShape));
}

function matmulGrads(a: Tensor, b: Tensor, dy: Tensor, tA: boolean, tB: boolean, batchShape: number[]): Tensor[] {
  if (b.rank === 2 && a.rank > 2 && !tA) {
    // Folded case (x @ W with shared W): both gradients are single 2-D GEMMs.
    const k = a.shape[a.rank - 1], n = dy.shape[dy.rank - 1];
    const a2 = reshape(a, [-1, k]), dy2 = reshape(dy, [-1, n]);
    const da = reshape(matmul(dy2, b, false, !tB), a.shape);
    const db = tB ? matmul(dy2, a2, true, false) : matmul(a2, dy2, true, false);
    return [da, db];
  }
  // C = opA(A) opB(B): dopA = dC opB(B)^T, dopB = opA(A)^T dC.
  const da = tA ? matmul(b, dy, tB, true) : matmul(dy, b, false, !tB);
  const db = tB ? matmul(dy, a, true, tA) : matmul(a, dy, !tA, false);
  const fix = (g: Tensor, x: Tensor): Tensor => {
    if (g.shape.length === x.shape.length && g.shape.every((d, i) => d === x.shape[i])) return g;
    return sumTo(g, x.shape);
  };
  void batchShape;
  return [fix(da, a), fix(db, b)];
}

// ---------------------------------------------------------------- softmax family

function lastAxisOnly(x: Tensor, axis: number, op: string): void {
  if (normAxis(axis, x.rank, op) !== x.rank - 1) {
    throw opError(op, 'only the last axis is supported; transpose first', x);
  }
}

export function softmax(xl: TensorLike, axis = -1): Tensor {
  const x = toTensor(xl, 'softmax', 'float32');
  lastAxisOnly(x, axis, 'softmax');
  const cols = x.shape[x.rank - 1], rows = x.size / Math.max(cols, 1);
  const out = allocF32Raw(x.size);
  K().softmax(f32(cast(x, 'float32')), out, rows, cols, false);
  const y = new Tensor(out, x.shape);
  return record(y, [x], (dy) => {
    const dx = allocF32(x.size);
    K().softmaxBackward(out, f32(dy), dx, rows, cols, false);
    return [new Tensor(dx, x.shape)];
  });
}

export function logSoftmax(xl: TensorLike, axis = -1): Tensor {
  const x = toTensor(xl, 'logSoftmax', 'float32');
  lastAxisOnly(x, axis, 'logSoftmax');
  const cols = x.shape[x.rank - 1], rows = x.size / Math.max(cols, 1);
  const out = allocF32Raw(x.size);
  K().softmax(f32(cast(x, 'float32')), out, rows, cols, true);
  const y = new Tensor(out, x.shape);
  return record(y, [x], (dy) => {
    const dx = allocF32(x.size);
    K().softmaxBackward(out, f32(dy), dx, rows, cols, true);
    return [new Tensor(dx, x.shape)];
  });
}

_setTapeHelpers(add, onesLike, zerosLike);
