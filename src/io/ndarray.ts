/**
 * A tiny host-side n-dimensional array used by the checkpoint formats
 * (pickle, npy, safetensors). Data is always C-ordered and held in the
 * platform's (little-endian) byte order.
 *
 * Storage per dtype:
 *   float32 Float32Array, float64 Float64Array, int8 Int8Array,
 *   int16 Int16Array, int32 Int32Array, int64 BigInt64Array,
 *   uint8 Uint8Array, uint16 Uint16Array, uint32 Uint32Array,
 *   uint64 BigUint64Array, bool Uint8Array (0/1),
 *   float16 / bfloat16 Uint16Array holding the raw bit patterns.
 */

export type DType =
  | 'float32'
  | 'float64'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'float16'
  | 'bfloat16';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

export interface NdArray {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export const DTYPES: readonly DType[] = [
  'float32', 'float64', 'int32', 'int64', 'uint8', 'int8', 'int16', 'uint16',
  'uint32', 'uint64', 'bool', 'float16', 'bfloat16',
];

const ITEM_SIZE: Record<DType, number> = {
  float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, int8: 1, int16: 2,
  uint16: 2, uint32: 4, uint64: 8, bool: 1, float16: 2, bfloat16: 2,
};

// The formats store little-endian bytes; we view them directly, so refuse
// to run on a big-endian host rather than silently produce garbage.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!HOST_LITTLE_ENDIAN) {
  throw new Error('trax-ts checkpoint formats require a little-endian host');
}

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function itemSize(dtype: DType): number {
  return ITEM_SIZE[dtype];
}

/** Number of elements for a shape; validates that every dim is a non-negative integer. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`invalid array dimension ${String(d)} in shape [${shape.join(', ')}]`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new Error(`array shape [${shape.join(', ')}] is too large`);
  return n;
}

/** Allocates a zeroed typed array of the storage type for `dtype`. */
export function allocData(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'float64': return new Float64Array(length);
    case 'int8': return new Int8Array(length);
    case 'int16': return new Int16Array(length);
    case 'int32': return new Int32Array(length);
    case 'int64': return new BigInt64Array(length);
    case 'uint8': return new Uint8Array(length);
    case 'bool': return new Uint8Array(length);
    case 'uint16': return new Uint16Array(length);
    case 'float16': return new Uint16Array(length);
    case 'bfloat16': return new Uint16Array(length);
    case 'uint32': return new Uint32Array(length);
    case 'uint64': return new BigUint64Array(length);
  }
}

function storageMatches(dtype: DType, data: TypedArray): boolean {
  switch (dtype) {
    case 'float32': return data instanceof Float32Array;
    case 'float64': return data instanceof Float64Array;
    case 'int8': return data instanceof Int8Array;
    case 'int16': return data instanceof Int16Array;
    case 'int32': return data instanceof Int32Array;
    case 'int64': return data instanceof BigInt64Array;
    case 'uint8':
    case 'bool': return data instanceof Uint8Array;
    case 'uint16':
    case 'float16':
    case 'bfloat16': return data instanceof Uint16Array;
    case 'uint32': return data instanceof Uint32Array;
    case 'uint64': return data instanceof BigUint64Array;
  }
}

/**
 * Creates an NdArray, checking that `data` has the storage type and element
 * count the dtype and shape call for. Without `data`, the array is zeroed.
 * A plain number[] is converted to the storage type.
 */
export function ndarray(dtype: DType, shape: readonly number[], data?: TypedArray | readonly number[]): NdArray {
  if (!isDType(dtype)) throw new Error(`unknown dtype ${String(dtype)}`);
  const n = shapeSize(shape);
  let arr: TypedArray;
  if (data === undefined) {
    arr = allocData(dtype, n);
  } else if (Array.isArray(data)) {
    arr = allocData(dtype, data.length);
    const big = arr instanceof BigInt64Array || arr instanceof BigUint64Array;
    for (let i = 0; i < data.length; i++) {
      const v = data[i] as number;
      if (big) (arr as BigInt64Array)[i] = BigInt(Math.trunc(v));
      else if (dtype === 'float16') (arr as Uint16Array)[i] = float32ToFloat16Bits(v);
      else if (dtype === 'bfloat16') (arr as Uint16Array)[i] = float32ToBfloat16Bits(v);
      else if (dtype === 'bool') (arr as Uint8Array)[i] = v ? 1 : 0;
      else (arr as Float64Array)[i] = v;
    }
  } else {
    arr = data as TypedArray;
    if (!storageMatches(dtype, arr)) {
      throw new Error(`dtype ${dtype} cannot be stored in a ${arr.constructor.name}`);
    }
  }
  if (arr.length !== n) {
    throw new Error(`data has ${arr.length} elements but shape [${shape.join(', ')}] needs ${n}`);
  }
  return { dtype, shape: [...shape], data: arr };
}

/** Structural test: an object with a known dtype, a number[] shape and a matching typed array. */
export function isNdArray(x: unknown): x is NdArray {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return isDType(o['dtype']) && Array.isArray(o['shape']) && ArrayBuffer.isView(o['data']) &&
    !(o['data'] instanceof DataView) && storageMatches(o['dtype'] as DType, o['data'] as TypedArray);
}

export function ndarraySize(a: NdArray): number {
  return a.data.length;
}

/** Copies raw little-endian bytes into a freshly allocated, aligned array. */
export function fromBytes(dtype: DType, shape: readonly number[], bytes: Uint8Array): NdArray {
  const n = shapeSize(shape);
  const need = n * ITEM_SIZE[dtype];
  if (bytes.byteLength !== need) {
    throw new Error(`expected ${need} bytes for ${dtype}[${shape.join(', ')}], got ${bytes.byteLength}`);
  }
  const data = allocData(dtype, n);
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  return { dtype, shape: [...shape], data };
}

/** Little-endian bytes of the array (a view, not a copy). */
export function toBytes(a: NdArray): Uint8Array {
  return new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
}

/** Reverses the byte order of every `width`-byte element, in place. */
export function byteswapInPlace(bytes: Uint8Array, width: number): void {
  if (width <= 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** Converts a Fortran-ordered element buffer into C order. */
export function fortranToC<T extends TypedArray>(data: T, shape: readonly number[]): T {
  const n = data.length;
  const nd = shape.length;
  if (nd < 2) return data;
  const out = new (data.constructor as new (len: number) => T)(n);
  const idx = new Array<number>(nd).fill(0);
  // Fortran strides: the first axis varies fastest.
  const fstride = new Array<number>(nd);
  let s = 1;
  for (let k = 0; k < nd; k++) {
    fstride[k] = s;
    s *= shape[k]!;
  }
  for (let c = 0; c < n; c++) {
    let f = 0;
    for (let k = 0; k < nd; k++) f += idx[k]! * fstride[k]!;
    (out as unknown as number[])[c] = (data as unknown as number[])[f]!;
    for (let k = nd - 1; k >= 0; k--) {
      idx[k]! += 1;
      if (idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}

// ---- half-precision conversions ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Round-to-nearest-even float -> IEEE half bits. */
export function float32ToFloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  // A carry out of the mantissa correctly bumps the exponent (up to Inf).
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function bfloat16BitsToFloat32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

export function float32ToBfloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return (x >>> 16) | 0x40;
  // Round to nearest even on the dropped 16 bits.
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** Element values as a Float32Array (a copy unless already float32). */
export function toFloat32(a: NdArray): Float32Array {
  const d = a.data;
  if (a.dtype === 'float32') return d as Float32Array;
  const out = new Float32Array(d.length);
  if (a.dtype === 'float16') {
    for (let i = 0; i < d.length; i++) out[i] = float16BitsToFloat32((d as Uint16Array)[i]!);
  } else if (a.dtype === 'bfloat16') {
    for (let i = 0; i < d.length; i++) out[i] = bfloat16BitsToFloat32((d as Uint16Array)[i]!);
  } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]!);
  } else {
    out.set(d as Float64Array);
  }
  return out;
}

/** Element values as an Int32Array (truncating floats; int64 must fit in 32 bits). */
export function toInt32(a: NdArray): Int32Array {
  const d = a.data;
  if (a.dtype === 'int32') return d as Int32Array;
  const out = new Int32Array(d.length);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v > 2147483647n || v < -2147483648n) {
        throw new Error(`value ${v} at index ${i} does not fit in int32`);
      }
      out[i] = Number(v);
    }
  } else if (a.dtype === 'float16' || a.dtype === 'bfloat16') {
    const f = toFloat32(a);
    for (let i = 0; i < f.length; i++) out[i] = Math.trunc(f[i]!);
  } else {
    for (let i = 0; i < d.length; i++) out[i] = Math.trunc((d as Float64Array)[i]!);
  }
  return out;
}

/** Returns a new array of `dtype` holding the same values (float16/bfloat16 are rounded). */
export function astype(a: NdArray, dtype: DType): NdArray {
  if (a.dtype === dtype) return { dtype, shape: [...a.shape], data: a.data.slice() as TypedArray };
  const n = a.data.length;
  const out = allocData(dtype, n);
  const big = a.data instanceof BigInt64Array || a.data instanceof BigUint64Array;
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
    if (big) {
      for (let i = 0; i < n; i++) out[i] = BigInt((a.data as BigInt64Array)[i]!);
    } else {
      const f = a.dtype === 'float16' || a.dtype === 'bfloat16' ? toFloat32(a) : (a.data as Float64Array);
      for (let i = 0; i < n; i++) out[i] = BigInt(Math.trunc(f[i]!));
    }
  } else {
    const src = big || a.dtype === 'float16' || a.dtype === 'bfloat16' ? toFloat32(a) : (a.data as Float64Array);
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      if (dtype === 'float16') (out as Uint16Array)[i] = float32ToFloat16Bits(v);
      else if (dtype === 'bfloat16') (out as Uint16Array)[i] = float32ToBfloat16Bits(v);
      else if (dtype === 'bool') (out as Uint8Array)[i] = v ? 1 : 0;
      else (out as Float64Array)[i] = dtype.startsWith('float') ? v : Math.trunc(v);
    }
  }
  return { dtype, shape: [...a.shape], data: out };
}

/** The single value of a 0-d (or 1-element) array: number, bigint for 64-bit ints, boolean for bool. */
export function scalarValue(a: NdArray): number | bigint | boolean {
  if (a.data.length !== 1) throw new Error(`expected a 1-element array, got shape [${a.shape.join(', ')}]`);
  if (a.dtype === 'bool') return a.data[0] !== 0;
  if (a.dtype === 'float16' || a.dtype === 'bfloat16') return toFloat32(a)[0]!;
  return a.data[0]!;
}

/** Byte-exact equality of dtype, shape and data. */
export function ndarrayEqual(a: NdArray, b: NdArray): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length) return false;
  for (let i = 0; i < a.shape.length; i++) if (a.shape[i] !== b.shape[i]) return false;
  const x = toBytes(a);
  const y = toBytes(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
