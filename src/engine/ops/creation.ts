// Tensors made from a shape and a value: zeros, ones, full, arange, tril.
import { allocStorage } from '../pool.js';
import { Tensor, shapeSize, type DType, fromStorage } from '../tensor.js';
import { K, checkDtype, checkShape } from './util.js';

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  checkShape(shape, 'zeros'); checkDtype(dtype, 'zeros');
  return fromStorage(allocStorage(dtype, shapeSize(shape)), shape, dtype);
}
export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor { return full(shape, 1, dtype); }
export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  checkShape(shape, 'full'); checkDtype(dtype, 'full');
  const b = allocStorage(dtype, shapeSize(shape), false);
  K().fill(b as Float32Array, value, dtype === 'int32');
  const t = fromStorage(b, shape, dtype);
  if (t.size === 1) t._hostValue = dtype === 'int32' ? Math.trunc(value) | 0 : Math.fround(value);
  return t;
}
export function zerosLike(x: Tensor): Tensor { return zeros(x.shape, x.dtype); }
export function onesLike(x: Tensor): Tensor { return ones(x.shape, x.dtype); }
export function scalar(v: number, dtype: DType = 'float32'): Tensor { return full([], v, dtype); }

export function arange(start: number, stop?: number, step = 1, dtype: DType = 'int32'): Tensor {
  if (stop === undefined) { stop = start; start = 0; }
  if (step === 0) throw new RangeError('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const b = dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) b[i] = start + i * step;
  return new Tensor(b, [n], dtype);
}

/** Lower-triangular 0/1 float mask of shape (n, m): 1 where col <= row + k. */
export function tril(n: number, m = n, k = 0): Tensor {
  checkShape([n, m], 'tril');
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m && j <= i + k; j++) out[i * m + j] = 1;
  return new Tensor(out, [n, m]);
}
