// Toy sequence tasks from the TransformerLM quick-start, as infinite streams
// of ready batches [x, x, w]: each row of x is [0, a1..an, 0, f(a)] and the
// loss weights cover only the last n positions (the answer).

import { Tensor } from '../engine/tensor.js';
import { Rng } from './rng.js';

export interface IntsTaskOptions {
  /** n, the number of integers per example. Default 4. */
  length?: number;
  /** Vocabulary size; values are uniform in 1..vocab-2 (numpy's randint(1, vocab-1)). Default 32. */
  vocab?: number;
  /** Seed; the same seed gives the same batches. Unseeded draws a random seed. */
  seed?: number;
}

/** A batch of the toy tasks: inputs, targets (the same Tensor) and loss weights. */
export type IntsBatch = [x: Tensor, y: Tensor, w: Tensor];

// Arguments are checked now, not at the first next().
function intsTask(
  name: string, batchSize: number, opts: IntsTaskOptions, answer: (a: Int32Array) => Int32Array,
): Generator<IntsBatch, never, undefined> {
  const n = opts.length ?? 4;
  const vocab = opts.vocab ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${name}: batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name}: length must be a positive integer, got ${n}`);
  if (!Number.isInteger(vocab) || vocab < 3) throw new RangeError(`${name}: vocab must be an integer >= 3 (values are 1..vocab-2), got ${vocab}`);
  return intsBatches(batchSize, n, vocab, new Rng(opts.seed), answer);
}

function* intsBatches(
  batchSize: number, n: number, vocab: number, rng: Rng, answer: (a: Int32Array) => Int32Array,
): Generator<IntsBatch, never, undefined> {
  const width = 2 * n + 2;
  // The weights never change; one shared immutable Tensor serves every batch.
  const wbuf = new Float32Array(batchSize * width);
  for (let r = 0; r < batchSize; r++) wbuf.fill(1, r * width + n + 2, (r + 1) * width);
  const w = new Tensor(wbuf, [batchSize, width], 'float32');
  const a = new Int32Array(n);
  for (;;) {
    const x = new Int32Array(batchSize * width);
    for (let r = 0; r < batchSize; r++) {
      for (let i = 0; i < n; i++) a[i] = rng.int(1, vocab - 1);
      const o = r * width;
      x.set(a, o + 1);
      x.set(answer(a), o + n + 2);
    }
    const t = new Tensor(x, [batchSize, width], 'int32');
    yield [t, t, w];
  }
}

/** Rows [0, a1..an, 0, an..a1]: reverse the integers. */
export function reverseIntsTask(batchSize: number, opts: IntsTaskOptions = {}): Generator<IntsBatch, never, undefined> {
  return intsTask('reverseIntsTask', batchSize, opts, (a) => a.slice().reverse());
}

/** Rows [0, a1..an, 0, sorted ascending]: sort the integers. */
export function sortIntsTask(batchSize: number, opts: IntsTaskOptions = {}): Generator<IntsBatch, never, undefined> {
  return intsTask('sortIntsTask', batchSize, opts, (a) => a.slice().sort());
}

/** Rows [0, a1..an, 0, a1..an]: copy the integers. */
export function copyIntsTask(batchSize: number, opts: IntsTaskOptions = {}): Generator<IntsBatch, never, undefined> {
  return intsTask('copyIntsTask', batchSize, opts, (a) => a.slice());
}
