// Streams and pipeline functions. A stream is a JS iterable or async iterable;
// a pipeline function maps a stream to a stream. Sync in gives sync out, async
// in gives async out, so the same pipeline serves in-memory data and async
// sources (files, network) alike.

import { describeValue } from './fields.js';

export type Stream<T = any> = Iterable<T> | AsyncIterable<T>;

/** A stream-to-stream function (Trax's generator function). Sources ignore their argument. */
export interface PipelineFn {
  <T = any>(stream: Iterable<T>): Iterable<any> & Iterator<any>;
  <T = any>(stream: AsyncIterable<T>): AsyncIterable<any> & AsyncIterator<any>;
  (stream?: Stream): Stream;
}

export function isSyncIterable(x: unknown): x is Iterable<unknown> {
  return x != null && typeof (x as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

export function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x != null && typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/** A plain iterator (an object with next() but no Symbol.iterator) made iterable. */
function asIterable(x: unknown, name: string): Stream {
  if (isSyncIterable(x) || isAsyncIterable(x)) return x;
  if (x != null && typeof (x as Iterator<unknown>).next === 'function') {
    const it = x as Iterator<unknown>;
    return { [Symbol.iterator]: () => it };
  }
  throw new TypeError(`${name}: expected an iterable or async iterable stream, got ${describeValue(x)}`);
}

/**
 * A stateful stream operator: push() takes one input and returns the outputs
 * it releases now; flush() releases what is left when the input ends. Written
 * once, it runs over sync and async streams alike.
 */
export interface Operator<I, O> {
  push(x: I): Iterable<O>;
  flush?(): Iterable<O>;
}

function* runSync<I, O>(src: Iterable<I>, op: Operator<I, O>): Generator<O, void, undefined> {
  for (const x of src) yield* op.push(x);
  if (op.flush) yield* op.flush();
}

async function* runAsync<I, O>(src: AsyncIterable<I>, op: Operator<I, O>): AsyncGenerator<O, void, undefined> {
  for await (const x of src) yield* op.push(x);
  if (op.flush) yield* op.flush();
}

/** Builds a pipeline function from an operator factory (one fresh operator per stream). */
export function stage<I, O>(name: string, makeOp: () => Operator<I, O>): PipelineFn {
  const fn = (stream?: Stream): Stream => {
    if (stream === undefined) throw new TypeError(`${name}: needs an input stream (put a source before it in Serial)`);
    const s = asIterable(stream, name) as Stream<I>;
    if (isSyncIterable(s)) return runSync(s, makeOp());
    return runAsync(s as AsyncIterable<I>, makeOp());
  };
  return fn as PipelineFn;
}

/** A per-example map as a pipeline function. */
export function mapStage<I, O>(name: string, f: (x: I, index: number) => O): PipelineFn {
  return stage<I, O>(name, () => {
    let i = 0;
    return { push: (x) => [f(x, i++)] };
  });
}

/** A per-example filter as a pipeline function. */
export function filterStage<I>(name: string, keep: (x: I, index: number) => boolean): PipelineFn {
  return stage<I, I>(name, () => {
    let i = 0;
    return { push: (x) => (keep(x, i++) ? [x] : []) };
  });
}

export type SerialItem = PipelineFn | ((stream?: any) => any) | SerialItem[];

function flattenFns(items: readonly SerialItem[], out: ((s?: any) => any)[]): void {
  for (const it of items) {
    if (Array.isArray(it)) flattenFns(it, out);
    else if (typeof it === 'function') out.push(it);
    else throw new TypeError(`Serial: element ${out.length} is ${describeValue(it)}, not a pipeline function`);
  }
}

/**
 * Composes pipeline functions left to right; nested arrays are flattened
 * (Trax's data.Serial). The first function may be a source that ignores its
 * argument, so `Serial(source, Batch(8))()` is a full stream.
 */
export function Serial(...fns: SerialItem[]): PipelineFn {
  const flat: ((s?: any) => any)[] = [];
  flattenFns(fns, flat);
  const composed = (stream?: Stream): Stream => {
    let s: any = stream;
    flat.forEach((f) => { s = f(s); });
    return s as Stream;
  };
  return composed as PipelineFn;
}
