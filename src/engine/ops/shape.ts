// Shape ops: reshape, transpose, slice, pad, concat, broadcast, reverse.
// Everything that moves values goes through the strided-copy kernel (or
// permute, for float transposes).
import { Binary } from '../../backends/kernels.js';
import type { Backend, Storage } from '../../backends/backend.js';
import { backend as activeBackend } from '../../backends/index.js';
import { allocF32Raw, allocStorage } from '../pool.js';
import { record } from '../tape.js';
import { Tensor, shapeSize, toTensor, type TensorLike, fromStorage } from '../tensor.js';
import { K, f32, fmt, normAxis, opError, s32, stridesOf } from './util.js';
import { broadcastShapes, bStrides, cast, collapseBroadcast, sumTo } from './elementwise.js';

/**
 * Copies x (viewed through xStrides from xOff, over shape) into out at
 * oStrides from oOff, with size-1 axes dropped and axes that both sides walk
 * contiguously merged, so most copies are a few long runs.
 */
export function copyInto(x: Tensor, out: Storage, shape: readonly number[], xStr: readonly number[], xOff: number,
  oStr: readonly number[], oOff: number): void {
  const dims: number[] = [], xs: number[] = [], os: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const k = dims.length - 1;
    if (k >= 0 && xs[k] === xStr[i] * shape[i] && os[k] === oStr[i] * shape[i]) {
      dims[k] *= shape[i]; xs[k] = xStr[i]; os[k] = oStr[i];
    } else { dims.push(shape[i]); xs.push(xStr[i]); os.push(oStr[i]); }
  }
  if (shapeSize(shape) === 0) return;
  K().copyStrided(s32(x), out as Float32Array, Int32Array.from(dims), Int32Array.from(xs), xOff, Int32Array.from(os), oOff);
}

// ---------------------------------------------------------------- views

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
  const out = new Tensor(x.storage, s, x.dtype, x.backend);
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

// ---------------------------------------------------------------- broadcast

// x + 0 for float broadcasts runs on the (native) binary kernel; one zero
// per backend.
const zeros = new Map<Backend, Float32Array>();
function zeroF32(): Float32Array {
  const b = activeBackend();
  let z = zeros.get(b);
  if (z === undefined) {
    z = (b.onHost ? new Float32Array(1) : b.fromHost(new Float32Array(1))) as Float32Array;
    zeros.set(b, z);
  }
  return z;
}

/** Materializes x broadcast to shape (no gradient; internal helper). */
export function expandTo(x: Tensor, shape: readonly number[]): Tensor {
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  broadcastShapes(x.shape, shape, 'broadcastTo');
  if (x.dtype === 'float32') {
    const out = allocF32Raw(shapeSize(shape));
    const [sh, sx, sz] = collapseBroadcast(shape, x.shape, []);
    K().binary(Binary.Add, f32(x), zeroF32(), out, sh, sx, sz);
    return fromStorage(out, shape, 'float32');
  }
  const out = allocStorage(x.dtype, shapeSize(shape), false);
  copyInto(x, out, shape, Array.from(bStrides(x.shape, shape)), 0, stridesOf(shape), 0);
  return fromStorage(out, shape, x.dtype);
}

export function broadcastTo(xl: TensorLike, shape: readonly number[]): Tensor {
  const x = toTensor(xl, 'broadcastTo');
  const out = expandTo(x, shape);
  if (out === x) return x;
  return record(out, [x], (dy) => [sumTo(dy, x.shape)]);
}

// ---------------------------------------------------------------- transpose

function transposeRaw(x: Tensor, perm: readonly number[]): Tensor {
  const shape = perm.map((p) => x.shape[p]);
  const out = allocStorage(x.dtype, x.size, false);
  if (x.size === 0) return fromStorage(out, shape, x.dtype);
  if (x.dtype === 'float32' && x.rank <= 16) {
    K().permute(f32(x), out as Float32Array, Int32Array.from(x.shape), Int32Array.from(perm));
  } else {
    const inStr = stridesOf(x.shape);
    copyInto(x, out, shape, perm.map((p) => inStr[p]), 0, stridesOf(shape), 0);
  }
  return fromStorage(out, shape, x.dtype);
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

// ---------------------------------------------------------------- slice, pad, concat

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
  const out = allocStorage(x.dtype, shapeSize(s), false);
  const str = stridesOf(x.shape);
  let off = 0;
  for (let i = 0; i < r; i++) off += b[i] * str[i];
  copyInto(x, out, s, str, off, stridesOf(s), 0);
  const res = fromStorage(out, s, x.dtype);
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
  const out = allocStorage(x.dtype, shapeSize(s), value === 0);
  if (value !== 0) K().fill(out as Float32Array, value, x.dtype === 'int32');
  const ostr = stridesOf(s);
  let off = 0;
  for (let a = 0; a < x.rank; a++) off += pads[a][0] * ostr[a];
  copyInto(x, out, x.shape, stridesOf(x.shape), 0, ostr, off);
  const res = fromStorage(out, s, x.dtype);
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
  const out = allocStorage(dt, shapeSize(shape), false);
  const ostr = stridesOf(shape);
  let off = 0;
  for (const x0 of xs) {
    const x = x0.dtype === dt ? x0 : cast(x0, dt);
    copyInto(x, out, x.shape, stridesOf(x.shape), 0, ostr, off * ostr[a]);
    off += x.shape[a];
  }
  const res = fromStorage(out, shape, dt);
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

export function reverse(xl: TensorLike, axis: number): Tensor {
  const x = toTensor(xl, 'reverse');
  const a = normAxis(axis, x.rank, 'reverse');
  const out = allocStorage(x.dtype, x.size, false);
  const str = stridesOf(x.shape);
  const xs = str.slice();
  xs[a] = -str[a];
  copyInto(x, out, x.shape, xs, (x.shape[a] - 1) * str[a], str, 0);
  const res = fromStorage(out, x.shape, x.dtype);
  return record(res, [x], (dy) => [reverse(dy, a)]);
}

/**
 * Writes src into dst's storage at `begin` (dst[begin + i] = src[i] on every
 * axis), in place and outside autodiff: for buffers the caller owns, such as
 * a predict-mode attention cache.
 */
export function assignInPlace(dst: Tensor, srcl: TensorLike, begin: readonly number[]): void {
  const src0 = toTensor(srcl, 'assignInPlace');
  const src = src0.dtype === dst.dtype ? src0 : cast(src0, dst.dtype);
  if (src.rank !== dst.rank || begin.length !== dst.rank
    || src.shape.some((d, i) => !Number.isInteger(begin[i]) || begin[i] < 0 || begin[i] + d > dst.shape[i])) {
    throw opError('assignInPlace', `a [${src.shape}] block at [${begin}] does not fit`, dst, src);
  }
  const str = stridesOf(dst.shape);
  let off = 0;
  for (let i = 0; i < dst.rank; i++) off += begin[i] * str[i];
  copyInto(src, dst.storage, src.shape, stridesOf(src.shape), 0, str, off);
}

/** A copy of t in fresh storage (no gradient). */
export function clone(t: Tensor): Tensor {
  const out = allocStorage(t.dtype, t.size, false);
  copyInto(t, out, [t.size], [1], 0, [1], 0);
  return fromStorage(out, t.shape, t.dtype);
}
