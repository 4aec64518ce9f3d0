// Fields of examples and batches. A field may be a Tensor, a typed array
// (one axis) or plain nested number arrays; these helpers read their shape and
// dtype and turn them into Tensors without caring which form came in.

import { Tensor, type DType, type HostArray, type NestedArray, allocFor, shapeSize } from '../engine/tensor.js';
import { cast, pad, stack } from '../engine/ops.js';

/** One element of an example or batch tuple. */
export type Field = Tensor | ArrayBufferView | NestedArray;

/** An example or a batch: Trax's tuple of fields, as a JS array. */
export type Example = Field[];

/** A shape and dtype, like trax.shapes.ShapeDtype. */
export interface ShapeDtype { shape: number[]; dtype: DType }

function isTypedArray(x: unknown): x is ArrayLike<number> & ArrayBufferView {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

function typedDtype(x: ArrayBufferView): DType {
  return x instanceof Float32Array || x instanceof Float64Array ? 'float32' : 'int32';
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** True for the things a field may be (a cheap, top-level check). */
export function isField(x: unknown): x is Field {
  return x instanceof Tensor || isTypedArray(x) || Array.isArray(x) || typeof x === 'number' || typeof x === 'boolean';
}

/** Shape of a field. Nested arrays are measured along their first elements only (cheap). */
export function fieldShape(f: Field): number[] {
  if (f instanceof Tensor) return f.shape.slice();
  if (isTypedArray(f)) return [f.length];
  const shape: number[] = [];
  let cur: unknown = f;
  while (Array.isArray(cur) || isTypedArray(cur)) {
    const arr = cur as ArrayLike<unknown>;
    shape.push(arr.length);
    if (arr.length === 0) break;
    cur = arr[0];
  }
  return shape;
}

/** Leading (batch) dimension of a field, or undefined for a scalar. */
export function leadingDim(f: Field): number | undefined {
  if (f instanceof Tensor) return f.shape.length ? f.shape[0] : undefined;
  if (isTypedArray(f) || Array.isArray(f)) return (f as ArrayLike<unknown>).length;
  return undefined;
}

function nestedIsInt(v: unknown): boolean {
  if (typeof v === 'number') return Number.isInteger(v);
  if (typeof v === 'boolean') return true;
  if (isTypedArray(v)) return typedDtype(v) === 'int32' || Array.prototype.every.call(v, (x: number) => Number.isInteger(x));
  if (Array.isArray(v)) return v.every(nestedIsInt);
  return false;
}

/**
 * Dtype of a field: a Tensor's own, by class for typed arrays, and for nested
 * arrays int32 when every value is an integer (numpy's asarray picks an int type).
 */
export function fieldDtype(f: Field): DType {
  if (f instanceof Tensor) return f.dtype;
  if (isTypedArray(f)) return typedDtype(f);
  return nestedIsInt(f) ? 'int32' : 'float32';
}

function flatten(v: unknown, shape: number[], axis: number, out: HostArray, pos: { i: number }, where: string): void {
  if (axis === shape.length) {
    if (typeof v === 'number') out[pos.i++] = v;
    else if (typeof v === 'boolean') out[pos.i++] = v ? 1 : 0;
    else throw new TypeError(`${where}: ragged or non-numeric nested array (found ${describeValue(v)} at depth ${axis})`);
    return;
  }
  if (!(Array.isArray(v) || isTypedArray(v)) || (v as ArrayLike<unknown>).length !== shape[axis]) {
    throw new RangeError(`${where}: ragged nested array: expected length ${shape[axis]} at depth ${axis}, shape [${shape.join(', ')}]`);
  }
  const arr = v as ArrayLike<unknown>;
  for (let i = 0; i < arr.length; i++) flatten(arr[i], shape, axis + 1, out, pos, where);
}

/** The field as a Tensor (shared storage for Tensors and Int32Array/Float32Array; dtype cast when asked). */
export function fieldToTensor(f: Field, where = 'field', dtype?: DType): Tensor {
  let t: Tensor;
  if (f instanceof Tensor) t = f;
  else if (f instanceof Int32Array || f instanceof Float32Array) t = new Tensor(f, [f.length]);
  else if (isTypedArray(f)) {
    const dt = typedDtype(f);
    const buf = allocFor(dt, f.length);
    for (let i = 0; i < f.length; i++) buf[i] = Number(f[i]);
    t = new Tensor(buf, [f.length], dt);
  } else if (typeof f === 'number' || typeof f === 'boolean' || Array.isArray(f)) {
    const shape = fieldShape(f);
    const dt = fieldDtype(f);
    const buf = allocFor(dt, shapeSize(shape));
    flatten(f, shape, 0, buf, { i: 0 }, where);
    t = new Tensor(buf, shape, dt);
  } else {
    throw new TypeError(`${where}: expected a Tensor, typed array or nested number array, got ${describeValue(f)}`);
  }
  if (dtype !== undefined && dtype !== t.dtype) t = cast(t, dtype);
  return t;
}

/** Shape and dtype of a field. */
export function shapeDtype(f: Field): ShapeDtype {
  return { shape: fieldShape(f), dtype: fieldDtype(f) };
}

/** Trax's shape signature text, e.g. `ShapeDtype{shape:(16, 10), dtype:int32}`. */
export function formatShapeDtype(s: ShapeDtype): string {
  const dims = s.shape.length === 1 ? `(${s.shape[0]},)` : `(${s.shape.join(', ')})`;
  return `ShapeDtype{shape:${dims}, dtype:${s.dtype}}`;
}

/**
 * Stacks fields into one Tensor with a new leading axis, padding each to a
 * joint shape with 0 (Trax's pad_to_max_dims). Without a boundary every axis
 * is padded to its maximum. With a boundary, an axis pads to the boundary, or
 * to the next power of 2 when the boundary is more than twice the maximum;
 * with strictPadOnLen, every axis rounds up to a multiple of the boundary.
 * The result is int32 when every field is integer, float32 otherwise.
 */
export function padToMaxDims(fields: readonly Field[], boundary?: number | null, strictPadOnLen = false, where = 'padToMaxDims'): Tensor {
  if (fields.length === 0) throw new RangeError(`${where}: nothing to stack`);
  const ts = fields.map((f, i) => fieldToTensor(f, `${where}: example ${i}`));
  const rank = ts[0].shape.length;
  for (let i = 1; i < ts.length; i++) {
    if (ts[i].shape.length !== rank) {
      throw new RangeError(`${where}: example ${i} has shape [${ts[i].shape.join(', ')}], example 0 has [${ts[0].shape.join(', ')}] (ranks differ)`);
    }
  }
  const dtype: DType = ts.every((t) => t.dtype === 'int32') ? 'int32' : 'float32';
  const target: number[] = [];
  for (let a = 0; a < rank; a++) {
    let max = 0, min = Infinity;
    for (const t of ts) { max = Math.max(max, t.shape[a]); min = Math.min(min, t.shape[a]); }
    if (boundary == null || !Number.isFinite(boundary)) target.push(max);
    else if (strictPadOnLen) target.push(boundary > 0 ? boundary * Math.ceil(max / boundary) : max);
    else if (max === min && max === boundary) target.push(max);
    else {
      let cur = Math.max(max, boundary);
      // A boundary far above the data would waste memory; use a power of 2 instead.
      if (2 * max < cur) cur = max <= 1 ? max : 2 ** Math.ceil(Math.log2(max));
      target.push(cur);
    }
  }
  return stack(ts.map((t) => pad(cast(t, dtype), t.shape.map((d, a) => [0, target[a] - d] as [number, number]))), 0);
}
