// Trax's data pipeline functions (trax.data.inputs): each returns a
// stream-to-stream function, to be composed with Serial. Examples are JS
// arrays of fields; fields the functions change come out as Tensors.

import { Tensor, type DType, shapeSize } from '../engine/tensor.js';
import * as F from '../engine/ops.js';
import {
  type Example, type Field, describeValue, fieldShape, fieldToTensor, formatShapeDtype, isField, padToMaxDims, shapeDtype,
} from './fields.js';
import { Rng } from './rng.js';
import { type PipelineFn, filterStage, mapStage, stage } from './stream.js';

function checkTuple(ex: unknown, name: string, index: number): Example {
  if (!Array.isArray(ex)) {
    throw new TypeError(`${name}: example ${index} is ${describeValue(ex)}; examples must be arrays of fields, like [inputs, targets]`);
  }
  return ex as Example;
}

/** A bare Tensor or typed array stands for a one-field example (Trax accepts a bare ndarray in these places). */
function isBareArray(ex: unknown): ex is Tensor | ArrayBufferView {
  return ex instanceof Tensor || (ArrayBuffer.isView(ex) && !(ex instanceof DataView));
}

function checkKey(ex: Example, key: number, name: string, index: number): void {
  if (!Number.isInteger(key) || key < 0 || key >= ex.length) {
    throw new RangeError(`${name}: example ${index} has ${ex.length} fields, no field ${key}`);
  }
}

// ---------------------------------------------------------------- Shuffle ---

export interface ShuffleOptions { seed?: number }

/**
 * Random-out/next-in shuffling over a queue of queueSize examples: once the
 * queue is full, each new example replaces a randomly chosen one, which is
 * released; at the end the rest of the queue comes out in random order.
 * Deterministic given a seed (unseeded, it draws a random seed like Trax's np.random).
 */
export function Shuffle(queueSize = 1024, opts: ShuffleOptions = {}): PipelineFn {
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError(`Shuffle: queueSize must be a positive integer, got ${queueSize}`);
  return stage<unknown, unknown>('Shuffle', () => {
    const rng = new Rng(opts.seed);
    const queue: unknown[] = [];
    return {
      push(x) {
        if (queue.length < queueSize) { queue.push(x); return []; }
        const i = rng.below(queueSize);
        const out = queue[i];
        queue[i] = x;
        return [out];
      },
      flush() { return rng.shuffle(queue.splice(0)); },
    };
  });
}

// ------------------------------------------------------------------ Batch ---

function batchExamples(buf: Example[], boundary: number | null, strict: boolean, name: string): Tensor[] {
  const n = buf[0].length;
  buf.forEach((ex, j) => {
    if (ex.length !== n) throw new RangeError(`${name}: example ${j} of the batch has ${ex.length} fields, example 0 has ${n}`);
  });
  const out: Tensor[] = [];
  for (let k = 0; k < n; k++) {
    out.push(padToMaxDims(buf.map((ex) => ex[k]), boundary, strict, `${name}: field ${k}`));
  }
  return out;
}

/**
 * Groups batchSize examples into one batch: field k of the batch stacks field
 * k of every example, zero-padded to the largest dims (Trax's pad_to_max_dims).
 * Int fields give int32 Tensors, float fields float32. A final partial batch
 * is dropped, as in Trax.
 */
export function Batch(batchSize: number): PipelineFn {
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`Batch: batch size must be a positive integer, got ${batchSize}`);
  return stage<unknown, Tensor[]>('Batch', () => {
    let buf: Example[] = [];
    let i = 0;
    return {
      push(x) {
        buf.push(checkTuple(x, 'Batch', i++));
        if (buf.length < batchSize) return [];
        const b = batchExamples(buf, null, false, 'Batch');
        buf = [];
        return [b];
      },
    };
  });
}

// ----------------------------------------------------------- length utils ---

export interface LengthOptions {
  /** Fields whose length counts; the example's length is their maximum. Default [0, 1]. */
  lengthKeys?: number[];
  /** Axis measured. Default 0. */
  lengthAxis?: number;
}

function exampleLength(ex: unknown, keys: readonly number[], axis: number, name: string, index: number): number {
  const dim = (f: Field, where: string): number => {
    const s = fieldShape(f);
    if (axis >= s.length) throw new RangeError(`${name}: ${where} has shape [${s.join(', ')}], no axis ${axis}`);
    return s[axis];
  };
  if (isBareArray(ex)) return dim(ex, `example ${index}`);
  const t = checkTuple(ex, name, index);
  let len = 0;
  for (const k of keys) {
    checkKey(t, k, name, index);
    len = Math.max(len, dim(t[k], `field ${k} of example ${index}`));
  }
  return len;
}

export interface BucketByLengthOptions extends LengthOptions {
  /** Round every padded axis up to a multiple of the bucket's boundary. */
  strictPadOnLen?: boolean;
}

/**
 * Puts each example in the first bucket whose boundary is >= its length (a
 * last unbounded bucket is added), and releases a bucket as a padded batch
 * when it holds its batch size. batchSizes has one more entry than
 * boundaries. Padding goes to the boundary, or to a power of 2 when the
 * boundary is more than twice the longest example; the last bucket pads to
 * its longest example. Partial buckets are dropped at the end, as in Trax.
 */
export function BucketByLength(boundaries: number[], batchSizes: number[], opts: BucketByLengthOptions = {}): PipelineFn {
  if (batchSizes.length !== boundaries.length + 1) {
    throw new RangeError(`BucketByLength: batchSizes needs ${boundaries.length + 1} entries (one per boundary plus the unbounded bucket), got ${batchSizes.length}`);
  }
  batchSizes.forEach((b, i) => {
    if (!Number.isInteger(b) || b <= 0) throw new RangeError(`BucketByLength: batchSizes[${i}] must be a positive integer, got ${b}`);
  });
  const keys = opts.lengthKeys ?? [0, 1];
  const axis = opts.lengthAxis ?? 0;
  const strict = opts.strictPadOnLen ?? false;
  const bounds = [...boundaries, Infinity];
  return stage<unknown, Tensor[]>('BucketByLength', () => {
    const buckets: Example[][] = bounds.map(() => []);
    let i = 0;
    return {
      push(x) {
        const index = i++;
        const len = exampleLength(x, keys, axis, 'BucketByLength', index);
        const b = bounds.findIndex((bd) => len <= bd);
        buckets[b].push(isBareArray(x) ? [x] : (x as Example));
        if (buckets[b].length < batchSizes[b]) return [];
        const boundary = Number.isFinite(bounds[b]) ? bounds[b] : null;
        const batch = batchExamples(buckets[b], boundary, strict, 'BucketByLength');
        buckets[b] = [];
        return [batch];
      },
    };
  });
}

export interface FilterByLengthOptions extends LengthOptions { minLength?: number }

/** Keeps examples whose length is in [minLength, maxLength] (maxLength null: no maximum). */
export function FilterByLength(maxLength: number | null, opts: FilterByLengthOptions = {}): PipelineFn {
  const keys = opts.lengthKeys ?? [0, 1];
  const axis = opts.lengthAxis ?? 0;
  const minLength = opts.minLength ?? 0;
  return filterStage<unknown>('FilterByLength', (x, i) => {
    const len = exampleLength(x, keys, axis, 'FilterByLength', i);
    return (maxLength == null || len <= maxLength) && len >= minLength;
  });
}

// ------------------------------------------------------ slicing / padding ---

/** Copies the leading block of t of shape `shape` (each dim <= t's), padding with padValue beyond t. */
function reshapeBlock(t: Tensor, shape: readonly number[], padValue: number): Tensor {
  const common = shape.map((d, a) => Math.min(d, t.shape[a]));
  if (shapeSize(shape) === 0 || t.size === 0 || common.some((d) => d === 0)) return F.full(shape, padValue, t.dtype);
  const block = F.slice(t, common.map(() => 0), common);
  return F.pad(block, shape.map((d, a) => [0, d - common[a]] as [number, number]), padValue);
}

/** Maps example keys to a maximum length (axis 0) or a maximum shape (leading axes). */
export type LenMap = Record<number, number | number[]>;

function mapEntries(m: LenMap, name: string): [number, number[]][] {
  return Object.entries(m).map(([k, v]) => {
    const key = Number(k);
    const dims = Array.isArray(v) ? v : [v];
    if (!Number.isInteger(key) || key < 0) throw new RangeError(`${name}: key ${k} is not a field index`);
    dims.forEach((d) => { if (!Number.isInteger(d) || d < 0) throw new RangeError(`${name}: length ${d} for field ${k} is not a non-negative integer`); });
    return [key, dims];
  });
}

/** Applies f to the listed fields of tuple examples; a bare array is field 0 and stays bare. */
function perField(name: string, keys: number[], f: (t: Tensor, key: number, index: number) => Field): PipelineFn {
  return mapStage<unknown, unknown>(name, (x, index) => {
    if (isBareArray(x)) return f(fieldToTensor(x, `${name}: example ${index}`), 0, index);
    const ex = checkTuple(x, name, index).slice();
    for (const k of keys) {
      checkKey(ex, k, name, index);
      ex[k] = f(fieldToTensor(ex[k], `${name}: field ${k} of example ${index}`), k, index);
    }
    return ex;
  });
}

/**
 * Truncates fields to at most the given lengths: `{0: 256}` cuts field 0 to
 * 256 along axis 0; `{0: [256, 8]}` limits the first two axes. Shorter fields
 * are unchanged. (Trax compares shapes as tuples and np.resize-s; for the
 * usual 1-D fields both amount to this truncation.)
 */
export function TruncateToLength(lenMap: LenMap): PipelineFn {
  if (lenMap == null) throw new TypeError('TruncateToLength: lenMap is required, e.g. {0: 256, 1: 256}');
  const entries = new Map(mapEntries(lenMap, 'TruncateToLength'));
  return perField('TruncateToLength', [...entries.keys()], (t, k) => {
    const lim = entries.get(k);
    if (lim === undefined) return t;
    if (lim.length > t.shape.length) throw new RangeError(`TruncateToLength: field ${k} has shape [${t.shape.join(', ')}], limits [${lim.join(', ')}] have more axes`);
    const shape = t.shape.map((d, a) => (a < lim.length ? Math.min(d, lim[a]) : d));
    return shape.every((d, a) => d === t.shape[a]) ? t : reshapeBlock(t, shape, 0);
  });
}

/**
 * Pads fields along axis 0 with padValue (a number, or a per-key map) up to
 * lenMap's length; with `multiple`, up to the next multiple of it. (Trax's
 * multiple branch computes a remainder instead; this follows its documented
 * intent.) Longer fields are left as they are.
 */
export function PadToLength(lenMap: Record<number, number>, padValue: number | Record<number, number> = 0, multiple = false): PipelineFn {
  if (lenMap == null) throw new TypeError('PadToLength: lenMap is required, e.g. {0: 512}');
  const entries = new Map(mapEntries(lenMap, 'PadToLength').map(([k, d]) => [k, d[0]] as [number, number]));
  const padFor = (k: number): number => (typeof padValue === 'number' ? padValue : padValue[k] ?? 0);
  return perField('PadToLength', [...entries.keys()], (t, k, index) => {
    const value = entries.get(k);
    if (value === undefined) return t;
    if (t.shape.length === 0) throw new RangeError(`PadToLength: field ${k} of example ${index} is a scalar`);
    const len = t.shape[0];
    let target: number;
    if (multiple) target = value > 0 ? Math.ceil(len / value) * value : len;
    else target = Math.max(len, value);
    if (target === len) return t;
    return reshapeBlock(t, [target, ...t.shape.slice(1)], padFor(k));
  });
}

// ---------------------------------------------------------- loss weights ---

/**
 * `[x, y]` becomes `[x, y, ones like y]` (float32); `[x, y, w]` keeps w (as
 * float32). With idToMask, weights are 0 where y equals it (padding).
 * Examples of other lengths pass through unchanged.
 */
export function AddLossWeights(idToMask: number | null = null): PipelineFn {
  return mapStage<unknown, unknown>('AddLossWeights', (x, index) => {
    const ex = checkTuple(x, 'AddLossWeights', index);
    if (ex.length < 2 || ex.length > 3) {
      if (idToMask != null) throw new RangeError(`AddLossWeights: cannot mask example ${index} with ${ex.length} fields (needs 2 or 3)`);
      return ex;
    }
    const y = fieldToTensor(ex[1], `AddLossWeights: targets of example ${index}`);
    let w: Tensor;
    if (ex.length === 2) w = F.ones(y.shape);
    else {
      const wt = fieldToTensor(ex[2], `AddLossWeights: weights of example ${index}`);
      if (wt.size !== y.size) throw new RangeError(`AddLossWeights: example ${index} has targets of shape [${y.shape.join(', ')}] but weights of shape [${wt.shape.join(', ')}]`);
      w = F.reshape(F.cast(wt, 'float32'), y.shape);
    }
    if (idToMask != null) w = F.where(F.equal(y, idToMask), 0, w);
    return [ex[0], ex[1], w];
  });
}

// ----------------------------------------------------------- small maps ---

/** `[x, ...rest]` becomes `[x, x, ...rest]` (inputs double as targets). */
export function Dup(): PipelineFn {
  return mapStage<unknown, Example>('Dup', (x, index) => {
    const ex = checkTuple(x, 'Dup', index);
    if (ex.length === 0) throw new RangeError(`Dup: example ${index} has no fields`);
    return [ex[0], ...ex];
  });
}

/** Casts the listed fields to dtype (floats to int truncate toward 0, like numpy's astype). */
export function CastTo(dtype: DType = 'int32', indices: number[] = [0, 1]): PipelineFn {
  if (dtype !== 'int32' && dtype !== 'float32') throw new TypeError(`CastTo: dtype must be 'int32' or 'float32', got ${String(dtype)}`);
  return mapStage<unknown, Example>('CastTo', (x, index) => {
    const ex = checkTuple(x, 'CastTo', index).slice();
    for (const i of indices) {
      if (i < ex.length) ex[i] = fieldToTensor(ex[i], `CastTo: field ${i} of example ${index}`, dtype);
    }
    return ex;
  });
}

function concatLast(a: Tensor, b: Tensor, where: string): Tensor {
  const ra = a.shape.length, rb = b.shape.length;
  if (ra === 0 || rb === 0 || ra !== rb || a.shape.slice(0, -1).some((d, i) => d !== b.shape[i])) {
    throw new RangeError(`${where}: cannot join shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] along the last axis`);
  }
  const dtype: DType = a.dtype === 'int32' && b.dtype === 'int32' ? 'int32' : 'float32';
  return F.concat([F.cast(a, dtype), F.cast(b, dtype)], -1);
}

/**
 * Appends values along the last axis: `{1: [1]}` appends an EOS id 1 to
 * field 1. A bare array example uses key 0.
 */
export function AppendValue(val: Record<number, number | number[]> = {}): PipelineFn {
  const entries = Object.entries(val ?? {}).map(([k, v]) => [Number(k), Array.isArray(v) ? v : [v]] as [number, number[]]);
  const byKey = new Map(entries);
  return perField('AppendValue', [...byKey.keys()], (t, k, index) => {
    const v = byKey.get(k);
    if (v === undefined) return t;
    if (t.shape.length !== 1) throw new RangeError(`AppendValue: field ${k} of example ${index} has shape [${t.shape.join(', ')}]; only 1-D fields can take appended values`);
    return concatLast(t, fieldToTensor(v), `AppendValue: field ${k} of example ${index}`);
  });
}

/**
 * Prepares LM inputs: `[input, target]` becomes `[concat, concat, weights]`
 * with weights 0 over the input and 1 over the target (float32), all
 * zero-padded to padToLength when given; `[x]` or a bare array becomes `[x, x]`.
 */
export function ConcatenateToLMInput(padToLength: number | null = null): PipelineFn {
  return mapStage<unknown, Example>('ConcatenateToLMInput', (x, index) => {
    const where = `ConcatenateToLMInput: example ${index}`;
    if (isBareArray(x)) return [x, x];
    const ex = checkTuple(x, 'ConcatenateToLMInput', index);
    if (ex.length === 1) return [ex[0], ex[0]];
    if (ex.length !== 2) throw new RangeError(`${where} has ${ex.length} fields; expected [input, target], [x] or a bare array`);
    const a = fieldToTensor(ex[0], where), b = fieldToTensor(ex[1], where);
    if (a.shape.length !== 1 || b.shape.length !== 1) throw new RangeError(`${where}: input and target must be 1-D, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
    let joined = concatLast(a, b, where);
    const la = a.shape[0], lb = b.shape[0];
    let w = new Float32Array(la + lb);
    w.fill(1, la);
    if (padToLength != null) {
      if (la + lb > padToLength) throw new RangeError(`${where}: lengths (${la}, ${lb}) longer than padToLength (${padToLength})`);
      joined = reshapeBlock(joined, [padToLength], 0);
      const pw = new Float32Array(padToLength);
      pw.set(w);
      w = pw;
    }
    return [joined, joined, new Tensor(w, [w.length], 'float32')];
  });
}

/** Drops examples in which any field (or any field listed in axes) has shape [0]. */
export function FilterEmptyExamples(axes: number[] | null = null, debug = false): PipelineFn {
  return filterStage<unknown>('FilterEmptyExamples', (x, index) => {
    const ex = checkTuple(x, 'FilterEmptyExamples', index);
    for (let i = 0; i < ex.length; i++) {
      if (axes !== null && !axes.includes(i)) continue;
      const s = fieldShape(ex[i]);
      if (s.length === 1 && s[0] === 0) {
        if (debug) console.log(`FilterEmptyExamples: dropped example ${index} (field ${i} is empty)`);
        return false;
      }
    }
    return true;
  });
}

/** Splits batches back into examples: row i of every field. */
export function UnBatch(): PipelineFn {
  return stage<unknown, Tensor[]>('UnBatch', () => {
    let n = 0;
    return {
      push(x) {
        const index = n++;
        const ex = checkTuple(x, 'UnBatch', index);
        const ts = ex.map((f, k) => fieldToTensor(f, `UnBatch: field ${k} of batch ${index}`));
        if (ts.length === 0) return [];
        ts.forEach((t, k) => {
          if (t.shape.length === 0) throw new RangeError(`UnBatch: field ${k} of batch ${index} is a scalar, with no batch axis`);
          if (t.shape[0] !== ts[0].shape[0]) throw new RangeError(`UnBatch: batch ${index}: field ${k} has batch size ${t.shape[0]}, field 0 has ${ts[0].shape[0]}`);
        });
        const rows: Tensor[][] = [];
        for (let r = 0; r < ts[0].shape[0]; r++) {
          rows.push(ts.map((t) => {
            return F.reshape(F.sliceAxis(t, 0, r, r + 1), t.shape.slice(1));
          }));
        }
        return rows;
      },
    };
  });
}

// ----------------------------------------------------------------- Log ---

function signatureText(x: unknown): string {
  if (Array.isArray(x) && x.every(isField) && !x.every((v) => typeof v === 'number')) {
    const parts = x.map((f) => formatShapeDtype(shapeDtype(f as Field)));
    return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
  }
  if (isField(x)) return formatShapeDtype(shapeDtype(x));
  return describeValue(x);
}

function valueText(x: unknown): string {
  const one = (f: unknown): string => (f instanceof Tensor ? f.toString()
    : ArrayBuffer.isView(f) ? `${f.constructor.name}(${JSON.stringify(Array.from(f as unknown as ArrayLike<number>))})`
      : JSON.stringify(f));
  return Array.isArray(x) ? `(${x.map(one).join(', ')})` : one(x);
}

export interface LogOptions { print?: (line: string) => void }

/**
 * Passes examples through, printing every n-th one (the first included): its
 * shape signature, e.g. `(ShapeDtype{shape:(16, 10), dtype:int32}, ...)`, or
 * its values when onlyShapes is false.
 */
export function Log(nStepsPerExample = 1, onlyShapes = true, opts: LogOptions = {}): PipelineFn {
  if (!Number.isInteger(nStepsPerExample) || nStepsPerExample < 1) throw new RangeError(`Log: nStepsPerExample must be a positive integer, got ${nStepsPerExample}`);
  const print = opts.print ?? ((s: string) => console.log(s));
  return mapStage<unknown, unknown>('Log', (x, i) => {
    if (i % nStepsPerExample === 0) print(onlyShapes ? signatureText(x) : valueText(x));
    return x;
  });
}

// -------------------------------------------------------- CountAndSkip ---

/**
 * Examples seen so far per CountAndSkip name (Trax's global data_counters).
 * Save it with a checkpoint (getDataCounters) and restore it (setDataCounters)
 * before the streams start, and deterministic streams resume where they were.
 */
export const dataCounters: Record<string, number> = {};

/** A copy of the counters, for a checkpoint. */
export function getDataCounters(): Record<string, number> {
  return { ...dataCounters };
}

/** Replaces the counters (after loading a checkpoint). */
export function setDataCounters(counters: Record<string, number>): void {
  for (const k of Object.keys(dataCounters)) delete dataCounters[k];
  for (const [k, v] of Object.entries(counters ?? {})) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`setDataCounters: counter '${k}' must be a non-negative integer, got ${String(v)}`);
    dataCounters[k] = v;
  }
}

/** Clears all counters. */
export function resetDataCounters(): void {
  setDataCounters({});
}

/**
 * Counts the examples passing through in dataCounters[name]; a new stream
 * first skips as many examples as the counter already holds. The counter is
 * read per example (not when the stream is built) so it may be restored late.
 * It counts what passes this point: stages after it that buffer (Shuffle,
 * Batch) hold some counted examples, so place it after them for exact resume.
 */
export function CountAndSkip(name: string): PipelineFn {
  if (typeof name !== 'string' || name === '') throw new TypeError('CountAndSkip: needs a non-empty name');
  return stage<unknown, unknown>('CountAndSkip', () => {
    let local = 0;
    return {
      push(x) {
        local++;
        if (!(name in dataCounters)) dataCounters[name] = 0;
        if (local > dataCounters[name]) {
          dataCounters[name]++;
          return [x];
        }
        return [];
      },
    };
  });
}
