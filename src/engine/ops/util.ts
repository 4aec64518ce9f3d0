// Helpers shared by the op families: argument checks, error messages, and
// typed views of storages for the kernel calls (the kernel interface is
// typed over host arrays; on a device backend the same calls carry its
// buffers).
import { kernels } from '../../backends/index.js';
import { Tensor, type DType } from '../tensor.js';

export const K = kernels;

export function fmt(shape: readonly number[]): string { return `[${shape.join(', ')}]`; }

export function opError(op: string, msg: string, ...tensors: { shape: readonly number[]; dtype?: string }[]): Error {
  const shapes = tensors.map((t) => `${fmt(t.shape)}${t.dtype ? ' ' + t.dtype : ''}`).join(', ');
  return new Error(`${op}: ${msg}${shapes ? ` (inputs: ${shapes})` : ''}`);
}

/** The storage of a float32 tensor, typed for kernel calls. */
export function f32(t: Tensor): Float32Array { return t.storage as Float32Array; }
/** The storage of an int32 tensor, typed for kernel calls. */
export function i32(t: Tensor): Int32Array { return t.storage as Int32Array; }
/** The storage of a tensor of either dtype. */
export function s32(t: Tensor): Float32Array | Int32Array { return t.storage as Float32Array | Int32Array; }

export function normAxis(axis: number, rank: number, op: string): number {
  if (!Number.isInteger(axis)) throw new TypeError(`${op}: axis must be an integer, got ${axis}`);
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new RangeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

export function checkShape(shape: readonly number[], op: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`${op}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

export function checkDtype(dtype: unknown, op: string): void {
  if (dtype !== 'float32' && dtype !== 'int32') throw new TypeError(`${op}: unsupported dtype '${String(dtype)}' (use 'float32' or 'int32')`);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Product of shape[from, to). */
export function prod(shape: readonly number[], from = 0, to = shape.length): number {
  let s = 1;
  for (let i = from; i < to; i++) s *= shape[i];
  return s;
}

/** x viewed as (outer, n, inner) around axis a. */
export function around(shape: readonly number[], a: number): [outer: number, n: number, inner: number] {
  return [prod(shape, 0, a), shape[a], prod(shape, a + 1)];
}

/**
 * The storage values on the host when the backend keeps them there, else
 * null: for argument checks that a device backend skips (its kernels clip).
 */
export function hostValues(t: Tensor): Float32Array | Int32Array | null {
  return t.backend.onHost ? t.storage as Float32Array | Int32Array : null;
}

export function isInt(dtype: DType): boolean { return dtype === 'int32'; }
