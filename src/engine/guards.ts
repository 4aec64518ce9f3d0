// Checks and edge-case rules of the shared op layer, so that every backend
// (js, native, webgpu) sees only inputs it handles the same way. Each is a
// small function of shapes and host values, called by the op families
// (src/engine/ops/) before a kernel runs.

/** int32 conversion of a host value: out-of-range or non-finite is an error, never a wrap-around. */
export function int32Of(v: number, where: string): number {
  if (!Number.isFinite(v) || v < -2147483648 || v >= 2147483648) {
    throw new RangeError(`${where}: ${v} cannot be converted to int32 (it is ${Number.isFinite(v) ? 'out of range' : 'not finite'})`);
  }
  return Math.trunc(v);
}

/** Copies host values into an Int32Array with int32Of's rule. */
export function toInt32Checked(src: ArrayLike<number>, where: string): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = int32Of(src[i]!, where);
  return out;
}

/**
 * Ids for a gather over n rows. Checked on the values as given (before any
 * int32 conversion, so 2**32 is not row 0): integers in [0, n), unless clip
 * asks for out-of-range ids to take the nearest row. A table with no rows
 * takes no ids in either mode.
 */
export function checkIds(ids: ArrayLike<number>, n: number, clip: boolean, err: (msg: string) => Error): Int32Array {
  checkRows(ids.length, n, err);
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i]!;
    if (!Number.isInteger(v)) throw err(`ids must be integers, got ${v}`);
    if (v < 0 || v >= n) {
      if (!clip) throw err(`id ${v} is out of range [0, ${n})`);
      out[i] = v < 0 ? 0 : n - 1;
    } else out[i] = v;
  }
  return out;
}

/** The shape rule of checkIds, for ids whose values are not on the host. */
export function checkRows(count: number, n: number, err: (msg: string) => Error): void {
  if (count > 0 && n === 0) throw err('the table has no rows, so no id can be looked up');
}

/** Attention offsets (query positions in a cache) are integers. */
export function checkOffset(offset: number, err: (msg: string) => Error): number {
  if (!Number.isInteger(offset)) throw err(`offset must be an integer, got ${offset}`);
  return offset;
}

/**
 * A tensor's storage must match its shape: a forged or detached tensor
 * (shape or size changed after creation, or its buffer transferred away)
 * would have kernels read past the end of its memory. The shape is checked
 * on every backend; the storage's length where it is host memory (a device
 * backend's buffers are sized by the backend and cannot be detached).
 */
export function checkStorage(t: { shape: readonly number[]; size: number; storage: object; backend: { onHost: boolean } }, op: string): void {
  let n = 1;
  for (const d of t.shape) n *= d;
  const held = t.backend.onHost ? (t.storage as ArrayLike<number>).length : t.size;
  if (n !== t.size || held !== t.size) {
    throw new RangeError(`${op}: tensor of shape [${t.shape.join(', ')}] has ${held} values in storage (forged or detached tensor)`);
  }
}
