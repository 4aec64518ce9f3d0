// Shape-and-dtype signatures (trax.shapes): what init and shape inference take.
import { Tensor, allocFor, shapeSize, type DType } from './engine/tensor.js';
import { callableClass } from './callable.js';

class ShapeDtypeImpl {
  readonly shape: readonly number[];
  readonly dtype: DType;
  constructor(shape: readonly number[], dtype: DType | string = 'float32') {
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new TypeError(`ShapeDtype: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const dt = normalizeDtype(dtype);
    this.shape = Object.freeze(shape.slice());
    this.dtype = dt;
  }
  get size(): number { return shapeSize(this.shape); }
  get ndim(): number { return this.shape.length; }
  toString(): string { return formatShapeDtype(this); }
  [Symbol.for('nodejs.util.inspect.custom')](): string { return this.toString(); }
}

export interface ShapeDtypeConstructor {
  new (shape: readonly number[], dtype?: DType | string): ShapeDtypeImpl;
  (shape: readonly number[], dtype?: DType | string): ShapeDtypeImpl;
  readonly prototype: ShapeDtypeImpl;
}

/**
 * ShapeDtype(shape, dtype): a shape-and-dtype signature. Callable with or
 * without `new`, as Trax's trax.shapes.ShapeDtype((1, 1), np.int32) is.
 */
export const ShapeDtype = callableClass<ShapeDtypeConstructor>('ShapeDtype', ShapeDtypeImpl,
  (shape: readonly number[], dtype: DType | string = 'float32') => new ShapeDtypeImpl(shape, dtype));
export type ShapeDtype = ShapeDtypeImpl;

export type Signature = ShapeDtype | readonly Signature[];

/** Trax's text for a shape and dtype, e.g. `ShapeDtype{shape:(16, 10), dtype:int32}`. */
export function formatShapeDtype(s: { readonly shape: readonly number[]; readonly dtype: string }): string {
  const dims = s.shape.length === 1 ? `(${s.shape[0]},)` : `(${s.shape.join(', ')})`;
  return `ShapeDtype{shape:${dims}, dtype:${s.dtype}}`;
}

/** Maps numpy-style names to the two dtypes tensors have. */
export function normalizeDtype(dtype: string): DType {
  switch (dtype) {
    case 'float32': case 'float64': case 'float16': case 'bfloat16': case 'float': return 'float32';
    case 'int32': case 'int64': case 'int16': case 'int8': case 'uint8': case 'int': case 'bool': return 'int32';
    default: throw new TypeError(`unsupported dtype '${dtype}' (use 'float32' or 'int32')`);
  }
}

/** Trax-style call form: shapes.ShapeDtype(shape, dtype) without new. */
export function makeShapeDtype(shape: readonly number[], dtype: DType | string = 'float32'): ShapeDtype {
  return new ShapeDtype(shape, dtype);
}

/** trax.shapes.signature: the ShapeDtype of a tensor, or of each tensor in a nested array. */
export function signature(x: Tensor | readonly unknown[]): Signature {
  if (x instanceof Tensor) return new ShapeDtype(x.shape, x.dtype);
  if (Array.isArray(x)) return x.map((t) => signature(t as Tensor));
  throw new TypeError(`cannot take the signature of ${String(x)}`);
}

export function signatureToString(sig: unknown): string {
  if (sig instanceof ShapeDtype) return sig.toString();
  if (Array.isArray(sig)) return `(${sig.map(signatureToString).join(', ')})`;
  return String(sig);
}

/** Zero tensors matching a signature (used for shape inference by running). */
export function zerosLikeSignature(sig: unknown): Tensor | unknown[] {
  if (sig instanceof ShapeDtype) return new Tensor(allocFor(sig.dtype, sig.size), sig.shape, sig.dtype);
  if (Array.isArray(sig)) return sig.map(zerosLikeSignature);
  throw new TypeError(`not a signature: ${String(sig)}`);
}
