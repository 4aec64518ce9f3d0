// Elementwise ops: broadcasting binary arithmetic and comparisons, unary
// math, cast and where, each with its gradient rule beside its forward.
import { Binary, Unary } from '../../backends/kernels.js';
import { allocF32Raw, allocStorage } from '../pool.js';
import { record, recording } from '../tape.js';
import { Tensor, shapeSize, toTensor, type DType, type TensorLike, fromStorage } from '../tensor.js';
import { K, checkDtype, f32, fmt, i32, s32, sameShape, stridesOf } from './util.js';
import { reshape } from './shape.js';
import { sum } from './reduce.js';

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

/** Element strides of shape aligned to outShape's rank, 0 on broadcast axes. */
export function bStrides(shape: readonly number[], outShape: readonly number[]): Int32Array {
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

// Reused shape/stride arrays for the binary kernel, one triple per rank:
// small ops are dominated by such allocations otherwise. Kernels take their
// metadata synchronously, so sharing them is safe.
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

/** Metadata for a same-size elementwise kernel call over n values. */
export function flatMeta(n: number): [Int32Array, Int32Array, Int32Array] {
  const m = SCRATCH[1];
  m[0][0] = n; m[1][0] = 1; m[2][0] = 1;
  return m as [Int32Array, Int32Array, Int32Array];
}

// ---------------------------------------------------------------- cast

function castRaw(x: Tensor, dtype: DType): Tensor {
  const out = allocStorage(dtype, x.size, false);
  K().cast(s32(x), out as Float32Array, dtype === 'int32');
  return fromStorage(out, x.shape, dtype);
}

export function cast(xl: TensorLike, dtype: DType): Tensor {
  const x = toTensor(xl, 'cast');
  checkDtype(dtype, 'cast');
  if (x.dtype === dtype) return x;
  const out = castRaw(x, dtype);
  return record(out, [x], (dy) => [x.dtype === 'float32' ? cast(dy, 'float32') : null]);
}

// ---------------------------------------------------------------- binary

export function binaryRaw(op: Binary, a: Tensor, b: Tensor, name: string, outDtype?: DType): Tensor {
  const same = sameShape(a.shape, b.shape);
  const shape = same ? a.shape as number[] : broadcastShapes(a.shape, b.shape, name);
  const isCmp = op >= Binary.Eq && op <= Binary.Ge;
  if (a.dtype === 'int32' && b.dtype === 'int32') {
    // Integer arithmetic stays exact; comparisons, Div and Pow give floats.
    const outFloat = (outDtype ?? (isCmp || op === Binary.Div || op === Binary.Pow ? 'float32' : 'int32')) === 'float32';
    const dt: DType = outFloat ? 'float32' : 'int32';
    const out = allocStorage(dt, shapeSize(shape), false);
    K().binaryInt(op, i32(a), i32(b), out as Float32Array, Int32Array.from(shape), bStrides(a.shape, shape), bStrides(b.shape, shape), outFloat);
    return fromStorage(out, shape, dt);
  }
  const af = a.dtype === 'float32' ? a : castRaw(a, 'float32');
  const bf = b.dtype === 'float32' ? b : castRaw(b, 'float32');
  const n = shapeSize(shape);
  const out = allocF32Raw(n);
  if (af.size === n && bf.size === n) {
    const [sh, sa, sb] = flatMeta(n);
    K().binary(op, f32(af), f32(bf), out, sh, sa, sb);
  } else {
    const [sh, sa, sb] = collapseBroadcast(shape, af.shape, bf.shape);
    K().binary(op, f32(af), f32(bf), out, sh, sa, sb);
  }
  return fromStorage(out, shape, 'float32');
}

/** Names a generated op function, so stack traces (and jit's errors) show the op. */
function named<T extends (...a: never[]) => unknown>(name: string, f: T): T {
  Object.defineProperty(f, 'name', { value: name });
  return f;
}

function binOp(op: Binary, name: string) {
  return named(name, (al: TensorLike, bl: TensorLike): Tensor => {
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
  });
}

export const add = binOp(Binary.Add, 'add');
export const sub = binOp(Binary.Sub, 'sub');
export const mul = binOp(Binary.Mul, 'mul');
export const div = binOp(Binary.Div, 'div');
export const maximum = binOp(Binary.Max, 'maximum');
export const minimum = binOp(Binary.Min, 'minimum');
export const pow = binOp(Binary.Pow, 'pow');

function cmpOp(op: Binary, name: string) {
  return named(name, (al: TensorLike, bl: TensorLike): Tensor => binaryRaw(op, toTensor(al, name), toTensor(bl, name), name, 'float32'));
}
/** Comparisons give float32 1/0 masks. */
export const equal = cmpOp(Binary.Eq, 'equal');
export const notEqual = cmpOp(Binary.Ne, 'notEqual');
export const less = cmpOp(Binary.Lt, 'less');
export const lessEqual = cmpOp(Binary.Le, 'lessEqual');
export const greater = cmpOp(Binary.Gt, 'greater');
export const greaterEqual = cmpOp(Binary.Ge, 'greaterEqual');

export function clip(xl: TensorLike, lo: number, hi: number): Tensor {
  return minimum(maximum(xl, lo), hi);
}

// ---------------------------------------------------------------- unary

export function unaryRaw(op: Unary, x: Tensor): Tensor {
  const xf = x.dtype === 'float32' ? x : castRaw(x, 'float32');
  const out = allocF32Raw(xf.size);
  K().unary(op, f32(xf), out);
  return fromStorage(out, x.shape, 'float32');
}

function unOp(op: Unary, name: string, deriv: (x: Tensor, y: Tensor, dy: Tensor) => Tensor) {
  return named(name, (xl: TensorLike): Tensor => {
    const x = toTensor(xl, name);
    if (op === Unary.Neg && x.dtype === 'int32') {
      const zero = new Tensor(new Int32Array(1), [], 'int32');
      return binaryRaw(Binary.Sub, zero, x, name);
    }
    const y = unaryRaw(op, x);
    if (!recording([x])) return y;
    return record(y, [x], (dy) => [deriv(x, y, dy)]);
  });
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

// ---------------------------------------------------------------- where

export function where(condl: TensorLike, al: TensorLike, bl: TensorLike): Tensor {
  const cond = toTensor(condl, 'where'), a0 = toTensor(al, 'where'), b0 = toTensor(bl, 'where');
  const shape = broadcastShapes(broadcastShapes(cond.shape, a0.shape, 'where'), b0.shape, 'where');
  const dt: DType = a0.dtype === 'int32' && b0.dtype === 'int32' ? 'int32' : 'float32';
  const c = cond.dtype === 'float32' ? cond : castRaw(cond, 'float32');
  const a = a0.dtype === dt ? a0 : castRaw(a0, dt), b = b0.dtype === dt ? b0 : castRaw(b0, dt);
  const out = allocStorage(dt, shapeSize(shape), false);
  K().select(f32(c), s32(a), s32(b), out as Float32Array, Int32Array.from(shape),
    bStrides(c.shape, shape), bStrides(a.shape, shape), bStrides(b.shape, shape));
  const res = fromStorage(out, shape, dt);
  return record(res, [a0, b0], (dy) => {
    const mask = notEqual(c, 0);
    return [sumTo(mul(dy, mask), a0.shape), sumTo(mul(dy, sub(1, mask)), b0.shape)];
  });
}
