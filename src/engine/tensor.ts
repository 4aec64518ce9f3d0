// Tensor: an immutable, contiguous, row-major array of float32 or int32
// whose values live in storage owned by a backend (host typed arrays on the
// CPU backends, device buffers on a GPU backend). Ops never mutate their
// inputs, so a tensor can be shared freely between a model's weights, the
// autodiff tape and user code. Values reach the host through `await
// t.data()` / `await t.array()`; the sync forms work on host backends only.
import type { Backend, DType, HostArray, Storage } from '../backends/backend.js';
import { backend as activeBackend } from '../backends/index.js';
import { releaseStorage, upload } from './pool.js';

export type { DType, HostArray, Storage };
export type TypedArrayFor<D extends DType> = D extends 'float32' ? Float32Array : Int32Array;

/** Nested JS arrays of numbers (or booleans), as numpy accepts array-likes. */
export type NestedArray = number | boolean | NestedArray[] | readonly NestedArray[];
export type TensorLike = Tensor | NestedArray | HostArray | ArrayLike<number>;

let nextId = 1;

/** Set while fastmath.jit traces: a read of values on the host cannot be traced. */
export const hostReadWatch: { hook: ((what: string) => void) | null } = { hook: null };

export class Tensor {
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** The backend-owned handle to the values; only kernels look inside. */
  readonly storage: Storage;
  /** The backend that owns storage. */
  readonly backend: Backend;
  /** Set while this tensor participates in a gradient computation. */
  _tracked = false;
  /** The value of a one-element tensor made from a host number (so it can be read without a device sync). */
  _hostValue: number | undefined = undefined;
  private _disposed = false;

  /**
   * A tensor over `storage` of `backend`. Without a backend, storage is a
   * host typed array for the active backend: the CPU backends adopt it, a
   * device backend uploads it.
   */
  constructor(storage: Storage | HostArray, shape: readonly number[], dtype?: DType, backend?: Backend) {
    const b = backend ?? activeBackend();
    let dt = dtype;
    let st: Storage = storage;
    if (storage instanceof Float32Array || storage instanceof Int32Array) {
      dt ??= storage instanceof Int32Array ? 'int32' : 'float32';
      if ((dt === 'float32') !== (storage instanceof Float32Array) && (dt === 'float32' || dt === 'int32')) {
        throw new TypeError(`Tensor: storage ${storage.constructor.name} does not match dtype ${dt}`);
      }
    } else if (dt === undefined) {
      dt = b.dtypeOf?.(storage);
      if (dt === undefined) throw new TypeError('Tensor: dtype is required for device storage');
    }
    if (dt !== 'float32' && dt !== 'int32') throw new TypeError(`Tensor: unsupported dtype '${String(dt)}'`);
    let size = 1;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new RangeError(`Tensor: invalid shape [${shape.join(', ')}]`);
      size *= d;
    }
    if (storage instanceof Float32Array || storage instanceof Int32Array) {
      if (size !== storage.length) {
        throw new RangeError(`Tensor: shape [${shape.join(', ')}] needs ${size} values, storage has ${storage.length}`);
      }
      if (!b.onHost && backend === undefined) st = upload(storage, b);
    }
    this.id = nextId++;
    this.storage = st;
    this.backend = b;
    // A private copy (read-only by type); freezing it costs more than it protects.
    this.shape = shape.slice();
    this.dtype = dt;
    this.size = size;
  }

  get rank(): number { return this.shape.length; }
  get ndim(): number { return this.shape.length; }

  /** A copy of the values on the host (a download on device backends). */
  async data(): Promise<HostArray> {
    if (hostReadWatch.hook) hostReadWatch.hook('data');
    this.checkLive('data()');
    return this.backend.read(this.storage, this.dtype, this.size);
  }
  /** Synchronous copy of the values (host backends only). */
  dataSync(): HostArray {
    if (hostReadWatch.hook) hostReadWatch.hook('dataSync');
    this.checkHost('dataSync()');
    return this.backend.readSync!(this.storage, this.dtype, this.size);
  }
  /** Values as nested arrays. */
  async array(): Promise<NestedArray> { return toNested(await this.data(), this.shape); }
  /** Values as nested arrays, synchronously (host backends only). */
  arraySync(): NestedArray {
    if (hostReadWatch.hook) hostReadWatch.hook('arraySync');
    this.checkHost('arraySync()');
    return toNested(this.storage as HostArray, this.shape);
  }
  /** The value of a one-element tensor (host backends only; else `(await t.data())[0]`). */
  item(): number {
    if (this.size !== 1) throw new Error(`item(): tensor of shape [${this.shape}] has ${this.size} values, not 1`);
    if (hostReadWatch.hook) hostReadWatch.hook('item');
    this.checkHost('item()');
    return (this.storage as HostArray)[0];
  }

  /**
   * Hands a device backend's storage back now instead of when its scope
   * ends. On the CPU backends the garbage collector owns storage outside
   * scopes, so this only marks the tensor (its values stay readable).
   * Tensors made by reshape share storage: dispose only the last one in use.
   */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    releaseStorage(this.storage, this.backend);
  }
  get isDisposed(): boolean { return this._disposed; }

  // On the CPU backends a disposed tensor's values stay readable (the
  // garbage collector owns them, nothing reuses them); a device backend has
  // freed them.
  private checkLive(what: string): void {
    if (this._disposed && !this.backend.onHost) throw new Error(`${what}: tensor of shape [${this.shape}] was disposed`);
  }
  private checkHost(what: string): void {
    this.checkLive(what);
    if (!this.backend.onHost) {
      throw new Error(`${what}: this tensor is on the ${this.backend.name} backend; use await t.data() (or await t.array())`);
    }
  }

  toString(): string {
    if (!this.backend.onHost) return `Tensor(<on ${this.backend.name}>, shape=[${this.shape.join(',')}], dtype=${this.dtype})`;
    return `Tensor(${JSON.stringify(this.arraySync())}, shape=[${this.shape.join(',')}], dtype=${this.dtype})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string { return this.toString(); }
}

/** A tensor over storage the engine just made on the active backend (no upload, whatever the storage is). */
export function fromStorage(storage: Storage, shape: readonly number[], dtype: DType): Tensor {
  return new Tensor(storage, shape, dtype, activeBackend());
}

function toNested(buf: HostArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return buf[0];
  const rec = (off: number, axis: number): NestedArray[] => {
    const n = shape[axis];
    const out: NestedArray[] = new Array(n);
    if (axis === shape.length - 1) {
      for (let i = 0; i < n; i++) out[i] = buf[off + i];
      return out;
    }
    let stride = 1;
    for (let a = axis + 1; a < shape.length; a++) stride *= shape[a];
    for (let i = 0; i < n; i++) out[i] = rec(off + i * stride, axis + 1);
    return out;
  };
  return rec(0, 0);
}

/**
 * The value of a one-element tensor when it is available without waiting
 * for a device: always on host backends, and on a device backend when the
 * tensor was made from a host number (trax.fastmath.scalar / full). Else null.
 */
export function peekScalar(t: Tensor): number | null {
  if (t.size !== 1) throw new Error(`expected a one-element tensor, got shape [${t.shape}]`);
  if (t.backend.onHost) return (t.storage as HostArray)[0];
  return t._hostValue ?? null;
}

/** peekScalar, or a clear error naming `what` when the value is on a device. */
export function readScalar(t: Tensor, what: string): number {
  const v = peekScalar(t);
  if (v === null) {
    throw new Error(`${what} needs a value that is on the ${t.backend.name} backend; ` +
      'compute it with host numbers, or read it with await t.data() outside the model');
  }
  return v;
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

export function shapeSize(shape: readonly number[]): number {
  let s = 1;
  for (const d of shape) s *= d;
  return s;
}

/** A zero-filled host array of dtype (for building tensors on the host). */
export function allocFor(dtype: DType, n: number): HostArray {
  return dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
}

function inferShape(v: unknown, op: string): number[] {
  const shape: number[] = [];
  let cur: unknown = v;
  while (Array.isArray(cur) || ArrayBuffer.isView(cur)) {
    const len = (cur as ArrayLike<unknown>).length;
    shape.push(len);
    if (len === 0) break;
    cur = (cur as ArrayLike<unknown>)[0];
  }
  if (shape.length === 0 && typeof cur !== 'number' && typeof cur !== 'boolean') {
    throw new TypeError(`${op}: expected a number, nested array or tensor, got ${describe(v)}`);
  }
  return shape;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
}

function flattenInto(v: unknown, shape: number[], axis: number, out: HostArray, pos: { i: number }, op: string): void {
  if (axis === shape.length) {
    if (typeof v === 'number') out[pos.i++] = v;
    else if (typeof v === 'boolean') out[pos.i++] = v ? 1 : 0;
    else throw new TypeError(`${op}: ragged or non-numeric nested array (found ${describe(v)} at depth ${axis})`);
    return;
  }
  if (!(Array.isArray(v) || ArrayBuffer.isView(v)) || (v as ArrayLike<unknown>).length !== shape[axis]) {
    throw new RangeError(`${op}: ragged nested array: expected length ${shape[axis]} at depth ${axis}, shape so far [${shape.join(', ')}]`);
  }
  const arr = v as ArrayLike<unknown>;
  if (axis === shape.length - 1 && ArrayBuffer.isView(v)) {
    for (let i = 0; i < arr.length; i++) out[pos.i++] = arr[i] as number;
    return;
  }
  for (let i = 0; i < arr.length; i++) flattenInto(arr[i], shape, axis + 1, out, pos, op);
}

export interface TensorOptions { dtype?: DType; shape?: readonly number[] }

/**
 * Makes a tensor from nested arrays, a typed array or a number, like
 * numpy.array / tf.tensor. Integers in nested arrays stay float32 unless
 * dtype says otherwise; Int32Array input gives int32.
 */
export function tensor(values: TensorLike, opts: TensorOptions = {}): Tensor {
  if (values instanceof Tensor) {
    let t = values;
    if (opts.dtype && opts.dtype !== t.dtype) t = tensorHooks.cast!(t, opts.dtype);
    if (opts.shape) t = tensorHooks.reshape!(t, opts.shape);
    return t;
  }
  if (opts.dtype !== undefined && opts.dtype !== 'float32' && opts.dtype !== 'int32') {
    throw new TypeError(`tensor: unsupported dtype '${String(opts.dtype)}' (use 'float32' or 'int32')`);
  }
  const isView = ArrayBuffer.isView(values) && !(values instanceof DataView);
  const dtype: DType = opts.dtype ?? (values instanceof Int32Array ? 'int32' : 'float32');
  let buf: HostArray;
  let shape: number[];
  if (isView && opts.shape) {
    const src = values as unknown as ArrayLike<number>;
    buf = allocFor(dtype, src.length);
    for (let i = 0; i < src.length; i++) buf[i] = src[i];
    shape = opts.shape.slice();
  } else {
    shape = inferShape(values, 'tensor');
    buf = allocFor(dtype, shapeSize(shape));
    if (shape.length === 0) buf[0] = typeof values === 'boolean' ? (values ? 1 : 0) : (values as number);
    else flattenInto(values, shape, 0, buf, { i: 0 }, 'tensor');
    if (opts.shape) {
      if (shapeSize(opts.shape) !== buf.length) {
        throw new RangeError(`tensor: ${buf.length} values cannot take shape [${opts.shape.join(', ')}]`);
      }
      shape = opts.shape.slice();
    }
  }
  return new Tensor(buf, shape, dtype);
}

// Set by the op library (a tensor-to-tensor cast and reshape, without an import cycle).
export const tensorHooks: { cast?: (t: Tensor, d: DType) => Tensor; reshape?: (t: Tensor, s: readonly number[]) => Tensor } = {};

/** A host array converted to dtype (numpy's astype on the host: ints truncate toward zero). */
export function castArray(buf: HostArray, dtype: DType): HostArray {
  if (dtype === 'float32') return buf instanceof Float32Array ? buf.slice() : Float32Array.from(buf);
  if (buf instanceof Int32Array) return buf.slice();
  const out = new Int32Array(buf.length);
  for (let i = 0; i < buf.length; i++) out[i] = Math.trunc(buf[i]);
  return out;
}

/** Converts a tensor-like to a tensor; used by every public op. */
export function toTensor(x: TensorLike, op = 'op', dtype?: DType): Tensor {
  if (x instanceof Tensor) {
    const b = activeBackend();
    if (x.backend === b || x.backend.family === b.family) return x;
    if (x.backend.onHost) return new Tensor(b.onHost ? x.storage : upload((x.storage as HostArray).slice(), b), x.shape, x.dtype, b);
    throw new Error(`${op}: a tensor is on the ${x.backend.name} backend but ops run on ${b.name}; ` +
      'read it with await t.data() and make a new tensor');
  }
  if (typeof x === 'number' || typeof x === 'boolean') return tensor(x, { dtype: dtype ?? 'float32' });
  if (x instanceof Int32Array || x instanceof Float32Array) return new Tensor(x, [x.length]);
  if (Array.isArray(x) || ArrayBuffer.isView(x)) {
    try { return tensor(x as NestedArray, dtype ? { dtype } : {}); } catch (e) {
      throw new TypeError(`${op}: ${(e as Error).message}`);
    }
  }
  throw new TypeError(`${op}: expected a tensor or nested array, got ${describe(x)}`);
}
