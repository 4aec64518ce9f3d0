// Reductions: sum, mean, max, min, argmax, logSumExp, cumsum.
import { Reduce } from '../../backends/kernels.js';
import { allocF32, allocStorage } from '../pool.js';
import { record } from '../tape.js';
import { Tensor, toTensor, type TensorLike, fromStorage } from '../tensor.js';
import { K, around, f32, normAxis, opError, s32 } from './util.js';
import { add, cast, div, equal, exp, less, abs, log, mul, sub, where } from './elementwise.js';
import { expandTo, reshape, reverse } from './shape.js';

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
    const [outer, n, inner] = around(shape, a);
    const out = allocF32(outer * inner);
    if (n === 0 && kind !== Reduce.Sum) throw opError(op, `cannot reduce over the empty axis ${a}`, x);
    K().reduce(kind, f32(cur), out, outer, n, inner);
    shape = shape.slice();
    shape[a] = 1;
    cur = fromStorage(out, shape, 'float32');
  }
  const finalShape = keepDims ? shape : x.shape.filter((_, i) => !axes.includes(i));
  return new Tensor(cur.storage, finalShape, 'float32', cur.backend);
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
  const [outer, n, inner] = around(x.shape, a);
  if (n === 0) throw opError('argmax', 'empty axis', x);
  const xf = x.dtype === 'float32' ? x : cast(x, 'float32');
  const out = allocStorage('int32', outer * inner, false) as Int32Array;
  K().argmax(f32(xf), out, outer, n, inner);
  return fromStorage(out, x.shape.filter((_, i) => i !== a), 'int32');
}

export function logSumExp(xl: TensorLike, axis: number | readonly number[] = -1, keepDims = false): Tensor {
  const x = toTensor(xl, 'logSumExp');
  const axes = reduceAxes(x, axis, 'logSumExp');
  const m = reduceRaw(Reduce.Max, x, axes, true, 'logSumExp');
  // Non-finite maxima (all -inf, or NaN) shift by 0 instead.
  const mSafe = where(less(abs(m), Infinity), m, 0);
  const s = add(log(sum(exp(sub(x, mSafe)), axes, true)), mSafe);
  return keepDims ? s : reshape(s, x.shape.filter((_, i) => !axes.includes(i)));
}

export function cumsum(xl: TensorLike, axis = -1): Tensor {
  const x = toTensor(xl, 'cumsum');
  const a = normAxis(axis, x.rank, 'cumsum');
  const [outer, n, inner] = around(x.shape, a);
  const out = allocStorage(x.dtype, x.size, false);
  K().cumsum(s32(x), out as Float32Array, outer, n, inner, x.dtype === 'int32');
  const res = fromStorage(out, x.shape, x.dtype);
  return record(res, [x], (dy) => [reverse(cumsum(reverse(dy, a), a), a)]);
}

