// Indexing: take / scatterAdd along an axis, takeAlongAxis, oneHot.
// Index checks read the indices where they are on the host; a device
// backend skips them and its kernels clip out-of-range indices.
import { allocF32, allocStorage } from '../pool.js';
import { record } from '../tape.js';
import { Tensor, shapeSize, toTensor, type TensorLike, fromStorage } from '../tensor.js';
import { K, around, f32, fmt, hostValues, i32, normAxis, opError, s32 } from './util.js';
import { cast } from './elementwise.js';
import { reshape } from './shape.js';
import { zeros } from './creation.js';

function checkIndices(idx: Tensor, size: number, op: string, x: Tensor, clipMode: boolean): Tensor {
  const v = hostValues(idx);
  if (v !== null) {
    if (idx.dtype !== 'int32') {
      for (let i = 0; i < v.length; i++) {
        if (!Number.isInteger(v[i])) throw opError(op, `indices must be integers, got ${v[i]}`, x, idx);
      }
    }
    if (!clipMode) {
      for (let i = 0; i < v.length; i++) {
        if (v[i] < 0 || v[i] >= size) throw opError(op, `index ${v[i]} is out of range [0, ${size})`, x, idx);
      }
    }
  }
  return idx.dtype === 'int32' ? idx : cast(idx, 'int32');
}

/**
 * take(x, indices, axis): gathers slices along axis (numpy.take).
 * mode 'raise' (default) rejects out-of-range indices; 'clip' clamps them,
 * as Trax's Embedding does.
 */
export function take(xl: TensorLike, indicesl: TensorLike, axis = 0, mode: 'raise' | 'clip' = 'raise'): Tensor {
  const x = toTensor(xl, 'take'), idx = toTensor(indicesl, 'take');
  const a = normAxis(axis, x.rank, 'take');
  const ids = checkIndices(idx, x.shape[a], 'take', x, mode === 'clip');
  const [outer, n, inner] = around(x.shape, a);
  const shape = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
  const out = allocStorage(x.dtype, shapeSize(shape), false);
  if (a === 0 && x.dtype === 'float32') K().gatherRows(f32(x), i32(ids), out as Float32Array, n, inner);
  else K().gather(s32(x), i32(ids), out as Float32Array, outer, n, ids.size, inner);
  const res = fromStorage(out, shape, x.dtype);
  // The backward scatters to the clamped rows, as the forward read them.
  return record(res, [x], (dy) => [scatterAddClipped(zeros(x.shape), ids, dy, a)]);
}

function scatterAddClipped(x: Tensor, ids: Tensor, up: Tensor, a: number): Tensor {
  const [outer, n, inner] = around(x.shape, a);
  const out = allocStorage(x.dtype, x.size, false);
  K().copyStrided(s32(x), out as Float32Array, Int32Array.of(x.size), Int32Array.of(1), 0, Int32Array.of(1), 0);
  const ub = up.dtype === x.dtype ? up : cast(up, x.dtype);
  if (a === 0 && x.dtype === 'float32') K().scatterAddRows(f32(ub), i32(ids), out as Float32Array, n, inner);
  else K().scatterAdd(s32(ub), i32(ids), out as Float32Array, outer, n, ids.size, inner, x.dtype === 'int32');
  return fromStorage(out, x.shape, x.dtype);
}

/**
 * Returns x with updates added at indices along axis (the transpose of take):
 * out[..., idx[i], ...] += updates[..., i, ...].
 */
export function scatterAdd(xl: TensorLike, indicesl: TensorLike, updatesl: TensorLike, axis = 0): Tensor {
  const x = toTensor(xl, 'scatterAdd'), idx = toTensor(indicesl, 'scatterAdd'), up = toTensor(updatesl, 'scatterAdd');
  const a = normAxis(axis, x.rank, 'scatterAdd');
  const ids = checkIndices(idx, x.shape[a], 'scatterAdd', x, false);
  const want = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
  if (up.size !== shapeSize(want)) throw opError('scatterAdd', `updates must have shape ${fmt(want)}`, x, idx, up);
  const res = scatterAddClipped(x, ids, up, a);
  return record(res, [x, up], (dy) => [dy, reshape(take(dy, ids, a), up.shape)]);
}

/** numpy.take_along_axis: out[..., i, ...] = x[..., idx[..., i, ...], ...]. */
export function takeAlongAxis(xl: TensorLike, indicesl: TensorLike, axis = -1): Tensor {
  const x = toTensor(xl, 'takeAlongAxis'), idx = toTensor(indicesl, 'takeAlongAxis');
  const a = normAxis(axis, x.rank, 'takeAlongAxis');
  if (idx.rank !== x.rank || idx.shape.some((d, i) => i !== a && d !== x.shape[i])) {
    throw opError('takeAlongAxis', 'indices must match x on every axis but the gathered one', x, idx);
  }
  const [outer, n, inner] = around(x.shape, a), m = idx.shape[a];
  const ids = checkIndices(idx, n, 'takeAlongAxis', x, false);
  const out = allocStorage(x.dtype, idx.size, false);
  K().gatherAlong(s32(x), i32(ids), out as Float32Array, outer, n, m, inner);
  const res = fromStorage(out, idx.shape, x.dtype);
  return record(res, [x], (dy) => {
    const g = allocF32(x.size);
    K().scatterAlong(f32(dy), i32(ids), g, outer, n, m, inner);
    return [fromStorage(g, x.shape, 'float32')];
  });
}

/** (x[..., None] == arange(n)) as float32. */
export function oneHot(indicesl: TensorLike, n: number): Tensor {
  // Not converted to int32 first: like JAX, a non-integer index matches no class.
  const idx = toTensor(indicesl, 'oneHot');
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`oneHot: depth must be a non-negative integer, got ${n}`);
  const ids = idx.dtype === 'float32' ? idx : cast(idx, 'float32');
  const out = allocF32(idx.size * n);
  K().oneHot(f32(ids), out, idx.size, n);
  return fromStorage(out, [...idx.shape, n], 'float32');
}
