// Tests for trax.data: pipeline functions, Inputs, toy tasks and text corpora.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../dist/src/engine/tensor.js';
import * as data from '../dist/src/data/index.js';

const {
  Serial, Shuffle, Batch, BucketByLength, FilterByLength, TruncateToLength, PadToLength, AddLossWeights, Dup, CastTo,
  AppendValue, ConcatenateToLMInput, FilterEmptyExamples, UnBatch, Log, CountAndSkip, getDataCounters, setDataCounters,
  resetDataCounters, padToMaxDims, Inputs, validateBatch, reverseIntsTask, sortIntsTask, copyIntsTask, loadText, splitText,
  splitIds, CharVocab, lmWindows, lmFixedBatches, lmSequentialWindows,
} = data;

/** A Tensor as plain nested arrays plus its dtype, for deepEqual. */
const plain = (t) => ({ v: t.arraySync(), dtype: t.dtype, shape: [...t.shape] });
const rows = (t) => t.arraySync();
const take = (it, n) => { const out = []; for (const x of it) { out.push(x); if (out.length === n) break; } return out; };
async function* asyncOf(xs) { for (const x of xs) yield x; }
const collectAsync = async (it) => { const out = []; for await (const x of it) out.push(x); return out; };

// ------------------------------------------------------------ composition ---

test('Serial composes left to right and flattens nested arrays', () => {
  const add = (k) => (s) => (function* () { for (const x of s) yield x + k; })();
  const mul = (k) => (s) => (function* () { for (const x of s) yield x * k; })();
  const f = Serial(add(1), [mul(10), [add(2)]]);
  assert.deepEqual([...f([0, 1, 2])], [12, 22, 32]);
  // The first function may be a source that ignores its argument.
  const src = () => [[[1, 2]], [[3]]];
  const batches = [...Serial(src, Batch(2))()];
  assert.equal(batches.length, 1);
  assert.deepEqual(plain(batches[0][0]), { v: [[1, 2], [3, 0]], dtype: 'int32', shape: [2, 2] });
  assert.throws(() => Serial(add(1), 5), /Serial: element 1 is number/);
});

test('sync streams give sync generators, async streams async ones', async () => {
  const out = Batch(2)([[[1]], [[2]]]);
  assert.equal(typeof out.next, 'function');
  assert.equal(typeof out[Symbol.iterator], 'function');
  const aout = Batch(2)(asyncOf([[[1]], [[2]], [[3]], [[4]]]));
  assert.equal(typeof aout[Symbol.asyncIterator], 'function');
  const got = await collectAsync(aout);
  assert.deepEqual(got.map((b) => rows(b[0])), [[[1], [2]], [[3], [4]]]);
  assert.throws(() => Batch(2)(42), /Batch: expected an iterable/);
});

// ---------------------------------------------------------------- Shuffle ---

test('Shuffle is a deterministic permutation given a seed', () => {
  const xs = Array.from({ length: 50 }, (_, i) => i);
  const a = [...Shuffle(8, { seed: 7 })(xs)];
  const b = [...Shuffle(8, { seed: 7 })(xs)];
  const c = [...Shuffle(8, { seed: 8 })(xs)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.notDeepEqual(a, xs);
  assert.deepEqual([...a].sort((p, q) => p - q), xs);
  // Random-out/next-in: nothing comes out before the queue is full, and an
  // element can only come out once it has entered the queue.
  a.forEach((x, i) => assert.ok(x <= i + 8, `element ${x} at ${i}`));
  // A queue of 1 keeps the order; fewer examples than the queue still all come out.
  assert.deepEqual([...Shuffle(1, { seed: 3 })(xs)], xs);
  assert.deepEqual([...Shuffle(100, { seed: 3 })([1, 2, 3])].sort(), [1, 2, 3]);
  assert.throws(() => Shuffle(0), /queueSize must be a positive integer/);
});

test('Shuffle gives the same order on async streams', async () => {
  const xs = Array.from({ length: 20 }, (_, i) => i);
  assert.deepEqual(await collectAsync(Shuffle(4, { seed: 1 })(asyncOf(xs))), [...Shuffle(4, { seed: 1 })(xs)]);
});

test('Shuffle is lazy on endless streams', () => {
  function* naturals() { for (let i = 0; ; i++) yield i; }
  const got = take(Shuffle(4, { seed: 0 })(naturals()), 10);
  assert.equal(got.length, 10);
  assert.equal(new Set(got).size, 10);
});

// ------------------------------------------------------------------ Batch ---

test('Batch pads each field to the max dims with 0, keeps dtypes, drops the remainder', () => {
  const examples = [
    [[1, 2, 3], new Float32Array([0.5]), 7],
    [new Int32Array([4]), [1.5, 2.5], 8],
    [new Tensor(new Int32Array([5, 6]), [2]), [9], 9],
    [[1], [1], 1], // left over: dropped
  ];
  const out = [...Batch(3)(examples)];
  assert.equal(out.length, 1);
  const [x, y, z] = out[0];
  assert.ok(x instanceof Tensor && y instanceof Tensor && z instanceof Tensor);
  assert.deepEqual(plain(x), { v: [[1, 2, 3], [4, 0, 0], [5, 6, 0]], dtype: 'int32', shape: [3, 3] });
  assert.deepEqual(plain(y), { v: [[0.5, 0], [1.5, 2.5], [9, 0]], dtype: 'float32', shape: [3, 2] });
  assert.deepEqual(plain(z), { v: [7, 8, 9], dtype: 'int32', shape: [3] });
});

test('Batch pads 2-D fields on every axis and checks examples', () => {
  const [[t]] = [...Batch(2)([[[[1, 2], [3, 4]]], [[[5], [6], [7]]]])];
  assert.deepEqual(plain(t), { v: [[[1, 2], [3, 4], [0, 0]], [[5, 0], [6, 0], [7, 0]]], dtype: 'int32', shape: [2, 3, 2] });
  assert.throws(() => [...Batch(2)([[[1], [2]], [[1]]])], /example 1 of the batch has 1 fields, example 0 has 2/);
  assert.throws(() => [...Batch(2)([[[1]], [[[1]]]])], /ranks differ/);
  assert.throws(() => [...Batch(1)([5])], /examples must be arrays of fields/);
  assert.throws(() => Batch(0), /positive integer/);
});

test('padToMaxDims with a boundary: boundary or power of 2, strict multiples', () => {
  const a = new Tensor(new Int32Array(20).fill(1), [2, 10]);
  const b = new Tensor(new Int32Array(27).fill(2), [3, 9]);
  // Trax's docstring example: (2, 10) and (3, 9) with boundary 12 -> (4, 12).
  assert.deepEqual(padToMaxDims([a, b], 12).shape, [2, 4, 12]);
  assert.deepEqual(padToMaxDims([a, b]).shape, [2, 3, 10]);
  // strictPadOnLen rounds every axis up to a multiple of the boundary.
  assert.deepEqual(padToMaxDims([[1, 2, 3, 4, 5], [1]], 4, true).shape, [2, 8]);
  const p = padToMaxDims([[1, 2, 3], [4]], 16);
  assert.deepEqual(plain(p), { v: [[1, 2, 3, 0], [4, 0, 0, 0]], dtype: 'int32', shape: [2, 4] });
  // Equal lengths that already match the boundary stay.
  assert.deepEqual(padToMaxDims([[1, 2], [3, 4]], 2).shape, [2, 2]);
});

// --------------------------------------------------------- BucketByLength ---

test('BucketByLength chooses buckets by length <= boundary and pads per bucket', () => {
  const ex = (n) => [Array.from({ length: n }, (_, i) => i + 1), [n]];
  const out = [...BucketByLength([3, 6], [2, 2, 1])([ex(2), ex(5), ex(3), ex(10), ex(4), ex(1)])];
  // Order of release: bucket 0 fills with lengths 2, 3; then length 10 (last bucket,
  // batch 1); then bucket 1 fills with 5, 4. The leftover length-1 example is dropped.
  assert.equal(out.length, 3);
  assert.deepEqual(rows(out[0][0]), [[1, 2, 0], [1, 2, 3]]);
  assert.deepEqual(rows(out[0][1]), [[2], [3]]);
  assert.deepEqual(out[1][0].shape, [1, 10]);
  assert.deepEqual(rows(out[2][0]), [[1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 0, 0]]);
  // A boundary more than twice the longest example pads to a power of 2 instead.
  const [[small]] = [...BucketByLength([16], [2, 1])([ex(3), ex(2)])];
  assert.deepEqual(small.shape, [2, 4]);
  // lengthKeys: only field 1 counts.
  const byTarget = [...BucketByLength([1], [1, 1], { lengthKeys: [1] })([ex(5)])];
  assert.deepEqual(byTarget[0][0].shape, [1, 5]);
  // strictPadOnLen pads the length to a multiple of the boundary.
  const [[strict]] = [...BucketByLength([4], [1, 1], { strictPadOnLen: true })([ex(3)])];
  assert.deepEqual(strict.shape, [1, 4]);
  assert.throws(() => BucketByLength([3, 6], [2, 2]), /needs 3 entries/);
});

test('FilterByLength keeps lengths in [minLength, maxLength] over lengthKeys', () => {
  const ex = (a, b) => [new Int32Array(a), new Int32Array(b)];
  const xs = [ex(1, 1), ex(2, 1), ex(3, 4), ex(4, 1), ex(1, 3)];
  const lens = (s) => [...s].map((e) => [e[0].length, e[1].length]);
  assert.deepEqual(lens(FilterByLength(3, { minLength: 2 })(xs)), [[2, 1], [1, 3]]);
  assert.deepEqual(lens(FilterByLength(3, { lengthKeys: [0] })(xs)), [[1, 1], [2, 1], [3, 4], [1, 3]]);
  assert.deepEqual(lens(FilterByLength(null, { minLength: 4 })(xs)), [[3, 4], [4, 1]]);
});

// ------------------------------------------------------- per-field maps ---

test('TruncateToLength cuts listed fields to a length or a shape', () => {
  const [e] = [...TruncateToLength({ 0: 2, 1: [1, 2] })([[[1, 2, 3], [[1, 2, 3], [4, 5, 6]], [9, 9, 9]]])];
  assert.deepEqual(rows(e[0]), [1, 2]);
  assert.deepEqual(rows(e[1]), [[1, 2]]);
  assert.deepEqual(e[2], [9, 9, 9]); // not listed: untouched
  const [short] = [...TruncateToLength({ 0: 5 })([[[1, 2]]])];
  assert.deepEqual(rows(short[0]), [1, 2]);
});

test('PadToLength pads axis 0 to a length or the next multiple', () => {
  const [e] = [...PadToLength({ 0: 5, 1: 3 }, { 0: -1, 1: 0 })([[[1, 2], [1.5], [7]]])];
  assert.deepEqual(plain(e[0]), { v: [1, 2, -1, -1, -1], dtype: 'int32', shape: [5] });
  assert.deepEqual(plain(e[1]), { v: [1.5, 0, 0], dtype: 'float32', shape: [3] });
  assert.deepEqual(e[2], [7]);
  const [m] = [...PadToLength({ 0: 4 }, 0, true)([[[1, 2, 3, 4, 5]]])];
  assert.deepEqual(rows(m[0]), [1, 2, 3, 4, 5, 0, 0, 0]);
  const [exact] = [...PadToLength({ 0: 4 }, 0, true)([[[1, 2, 3, 4]]])];
  assert.deepEqual(rows(exact[0]), [1, 2, 3, 4]);
  // A bare array example stays bare.
  const [bare] = [...PadToLength({ 0: 3 }, 9)([new Int32Array([1])])];
  assert.deepEqual(rows(bare), [1, 9, 9]);
});

test('AddLossWeights adds ones for pairs and masks an id', () => {
  const [p] = [...AddLossWeights()([[[1, 2], [3, 0]]])];
  assert.equal(p.length, 3);
  assert.deepEqual(plain(p[2]), { v: [1, 1], dtype: 'float32', shape: [2] });
  const [m] = [...AddLossWeights(0)([[[1, 2, 3], [3, 0, 5], [0.5, 1, 2]]])];
  assert.deepEqual(plain(m[2]), { v: [0.5, 0, 2], dtype: 'float32', shape: [3] });
  const [mp] = [...AddLossWeights(0)([[[[1, 0]], [[0, 4]]]])];
  assert.deepEqual(rows(mp[2]), [[0, 1]]);
  const [one] = [...AddLossWeights()([[[1]]])];
  assert.deepEqual(one, [[1]]);
  assert.throws(() => [...AddLossWeights(0)([[[1]]])], /cannot mask example 0 with 1 fields/);
});

test('Dup, CastTo and AppendValue', () => {
  const x = [1, 2];
  assert.deepEqual([...Dup()([[x, [5]]])], [[x, x, [5]]]);
  const [c] = [...CastTo('int32', [0, 1])([[[1.7, -1.7], new Float32Array([2.5]), [0.25]]])];
  assert.deepEqual(plain(c[0]), { v: [1, -1], dtype: 'int32', shape: [2] });
  assert.deepEqual(plain(c[1]), { v: [2], dtype: 'int32', shape: [1] });
  assert.deepEqual(c[2], [0.25]);
  const [f] = [...CastTo('float32', [0])([[[1, 2]]])];
  assert.deepEqual(plain(f[0]), { v: [1, 2], dtype: 'float32', shape: [2] });
  const [a] = [...AppendValue({ 1: [1] })([[[5, 6], [7, 8]]])];
  assert.deepEqual(a[0], [5, 6]);
  assert.deepEqual(plain(a[1]), { v: [7, 8, 1], dtype: 'int32', shape: [3] });
  const [a2] = [...AppendValue({ 0: [1, 2] })([new Int32Array([3])])];
  assert.deepEqual(rows(a2), [3, 1, 2]);
});

test('ConcatenateToLMInput joins input and target with weights on the target', () => {
  const [e] = [...ConcatenateToLMInput()([[[1, 2], [3, 4, 5]]])];
  assert.deepEqual(rows(e[0]), [1, 2, 3, 4, 5]);
  assert.equal(e[0], e[1]);
  assert.deepEqual(plain(e[2]), { v: [0, 0, 1, 1, 1], dtype: 'float32', shape: [5] });
  const [p] = [...ConcatenateToLMInput(7)([[[1, 2], [3]]])];
  assert.deepEqual(rows(p[0]), [1, 2, 3, 0, 0, 0, 0]);
  assert.deepEqual(rows(p[2]), [0, 0, 1, 0, 0, 0, 0]);
  assert.throws(() => [...ConcatenateToLMInput(2)([[[1, 2], [3]]])], /lengths \(2, 1\) longer than padToLength \(2\)/);
  const x = [1, 2];
  assert.deepEqual([...ConcatenateToLMInput()([[x]])], [[x, x]]);
});

test('FilterEmptyExamples drops examples with an empty field', () => {
  const xs = [[[1], [2]], [[], [2]], [[1], []], [[3], [4]]];
  assert.deepEqual([...FilterEmptyExamples()(xs)], [[[1], [2]], [[3], [4]]]);
  assert.deepEqual([...FilterEmptyExamples([0])(xs)], [[[1], [2]], [[1], []], [[3], [4]]]);
});

test('UnBatch undoes Batch', () => {
  const examples = [[[1, 2], [0.5]], [[3, 4], [1.5]], [[5, 6], [2.5]], [[7, 8], [3.5]]];
  const back = [...Serial(Batch(2), UnBatch())(examples)];
  assert.deepEqual(back.map((e) => e.map(rows)), examples);
  assert.deepEqual(back.map((e) => e.map((t) => t.dtype)), examples.map(() => ['int32', 'float32']));
  assert.throws(() => [...UnBatch()([[[1, 2], [1]]])], /field 1 has batch size 1, field 0 has 2/);
});

test('Log prints the shape signature of every n-th example and passes all through', () => {
  const lines = [];
  const xs = [0, 1, 2, 3, 4].map((i) => [new Int32Array(3).fill(i), [[1.5, 2]]]);
  const out = [...Log(2, true, { print: (s) => lines.push(s) })(xs)];
  assert.equal(out.length, 5);
  assert.equal(out[3], xs[3]);
  assert.deepEqual(lines, Array(3).fill('(ShapeDtype{shape:(3,), dtype:int32}, ShapeDtype{shape:(1, 2), dtype:float32})'));
  const values = [];
  [...Log(1, false, { print: (s) => values.push(s) })([[[1, 2]]])];
  assert.deepEqual(values, ['([1,2])']);
  // Default printing goes to console.log.
  const orig = console.log;
  const seen = [];
  console.log = (s) => seen.push(s);
  try { [...Log()([[new Tensor(new Int32Array(4), [2, 2])]])]; } finally { console.log = orig; }
  assert.deepEqual(seen, ['(ShapeDtype{shape:(2, 2), dtype:int32},)']);
});

test('CountAndSkip counts examples and, after a restore, skips exactly the seen ones', () => {
  resetDataCounters();
  const source = () => Array.from({ length: 10 }, (_, i) => i);
  const first = take(CountAndSkip('train')(source()), 4);
  assert.deepEqual(first, [0, 1, 2, 3]);
  const saved = getDataCounters();
  assert.deepEqual(saved, { train: 4 });
  // Simulate a restart: fresh counters restored from the checkpoint, fresh stream.
  resetDataCounters();
  assert.deepEqual(getDataCounters(), {});
  setDataCounters(saved);
  const resumed = take(CountAndSkip('train')(source()), 3);
  assert.deepEqual(resumed, [4, 5, 6]);
  assert.deepEqual(getDataCounters(), { train: 7 });
  // Counters are per name.
  assert.deepEqual(take(CountAndSkip('other')(source()), 2), [0, 1]);
  assert.deepEqual(getDataCounters(), { train: 7, other: 2 });
  // Restoring after the pipeline is built still works (the counter is read per example).
  resetDataCounters();
  const late = CountAndSkip('late')(source());
  setDataCounters({ late: 8 });
  assert.deepEqual([...late], [8, 9]);
  assert.throws(() => setDataCounters({ x: -1 }), /non-negative integer/);
  resetDataCounters();
});

test('CountAndSkip gives exact resume of a seeded task stream', () => {
  resetDataCounters();
  const stream = () => CountAndSkip('task')(reverseIntsTask(2, { seed: 11 }));
  const all = take(reverseIntsTask(2, { seed: 11 }), 6).map((b) => rows(b[0]));
  const s = stream();
  const a = take(s, 4).map((b) => rows(b[0]));
  const saved = getDataCounters();
  resetDataCounters();
  setDataCounters(saved);
  const b = take(stream(), 2).map((x) => rows(x[0]));
  assert.deepEqual([...a, ...b], all);
  resetDataCounters();
});

// ------------------------------------------------------------------ Inputs ---

test('Inputs peeks one batch for the signature and does not lose it (shared generator)', () => {
  const gen = sortIntsTask(4, { seed: 5 });
  const expected = take(sortIntsTask(4, { seed: 5 }), 3).map((b) => rows(b[0]));
  const inputs = new Inputs(() => gen);
  assert.ok(inputs instanceof Inputs);
  assert.deepEqual(inputs.inputShape, [10]);
  assert.equal(inputs.inputDtype, 'int32');
  // Trax reads the target signature from the LAST element (here the weights).
  assert.deepEqual(inputs.targetShape, [10]);
  assert.equal(inputs.targetDtype, 'float32');
  assert.deepEqual(inputs.exampleShapeDtype, [
    { shape: [4, 10], dtype: 'int32' }, { shape: [4, 10], dtype: 'int32' }, { shape: [4, 10], dtype: 'float32' },
  ]);
  const train = inputs.trainStream(1);
  assert.deepEqual(take(train, 3).map((b) => rows(b[0])), expected);
});

test('Inputs with a fresh generator per call starts with the peeked batch, no duplicate', () => {
  const inputs = Inputs((n) => copyIntsTask(2 * n, { seed: 9 }));
  const expected = take(copyIntsTask(2, { seed: 9 }), 3).map((b) => rows(b[0]));
  assert.deepEqual(take(inputs.trainStream(1), 3).map((b) => rows(b[0])), expected);
  // Later calls open fresh streams; the eval stream defaults to the train function.
  assert.deepEqual(rows(inputs.trainStream(1).next().value[0]), expected[0]);
  assert.deepEqual(rows(inputs.evalStream(1).next().value[0]), expected[0]);
  assert.deepEqual(inputs.trainStream(2).next().value[0].shape, [4, 10]);
});

test('Inputs eval and train-eval streams', () => {
  const trainB = [[[[1]], [[1]]], [[[2]], [[2]]]];
  const evalB = [[[[9]], [[9]]]];
  const inputs = Inputs(() => trainB, () => evalB);
  assert.deepEqual([...inputs.evalStream(1)], evalB);
  assert.deepEqual([...inputs.trainStream(1)], trainB);
  assert.deepEqual([...inputs.trainEvalStream(1)], trainB);
  const te = [[[[5]]]];
  assert.deepEqual([...Inputs(() => trainB, null, () => te).trainEvalStream(1)], te);
});

test('Inputs validates batches with clear errors', () => {
  assert.throws(() => new Inputs([[[1]]]), /initialized with a function of nDevices/);
  assert.throws(() => Inputs(() => []), /train stream is empty/);
  assert.throws(() => Inputs(() => 5), /must return an iterable of batches/);
  assert.throws(() => Inputs(() => [[new Int32Array(16), new Int32Array(8)]]),
    /batch 0 from the train stream: field 1 has batch size 8, field 0 has 16/);
  const good = [new Int32Array(16), new Int32Array(16)];
  const bad = [new Int32Array(16), new Float32Array(8)];
  const inputs = Inputs(() => [good, good, good, bad]);
  assert.throws(() => [...inputs.trainStream(1)], /batch 3 from the train stream: field 1 has batch size 8, field 0 has 16/);
  assert.throws(() => [...inputs.evalStream(1)], /batch 3 from the eval stream/);
});

test('validateBatch returns the batch size and names the problem', () => {
  assert.equal(validateBatch([new Tensor(new Int32Array(6), [3, 2]), [[1], [2], [3]], new Float32Array(3)], 'b'), 3);
  assert.throws(() => validateBatch(new Int32Array(3), 'batch 0 from the train stream'), /batch 0 from the train stream: expected an array of fields/);
  assert.throws(() => validateBatch([], 'b'), /b: the batch has no fields/);
  assert.throws(() => validateBatch([[1, 2], 'x'], 'b'), /b: field 1 is string/);
  assert.throws(() => validateBatch([[1, 2], 3], 'b'), /field 1 is a scalar/);
  assert.throws(() => validateBatch([[1, 2], [1]], 'batch 3 from the train stream'), /^RangeError: batch 3 from the train stream: field 1 has batch size 1, field 0 has 2$/);
});

test('Inputs with an async train stream: await peek(), first batch kept', async () => {
  const batches = [[[[1, 2]], [[3, 4]]], [[[5, 6]], [[7, 8]]]];
  const inputs = Inputs(() => asyncOf(batches));
  assert.throws(() => inputs.inputShape, /await inputs.peek\(\)/);
  const sig = await inputs.peek();
  assert.deepEqual(sig.inputShape, [2]);
  assert.deepEqual(inputs.exampleShapeDtype, [{ shape: [1, 2], dtype: 'int32' }, { shape: [1, 2], dtype: 'int32' }]);
  assert.deepEqual(await collectAsync(inputs.trainStream(1)), batches);
  // Handing out the stream before peeking also keeps the first batch.
  const inputs2 = Inputs(() => asyncOf(batches));
  assert.deepEqual(await collectAsync(inputs2.trainStream(1)), batches);
  assert.deepEqual((await inputs2.peek()).inputShape, [2]);
});

// ------------------------------------------------------------------- tasks ---

function checkIntsTask(task, answer) {
  const [x, y, w] = task(8, { seed: 1 }).next().value;
  assert.equal(x, y);
  assert.deepEqual([x.dtype, w.dtype], ['int32', 'float32']);
  assert.deepEqual([x.shape, w.shape].map((s) => [...s]), [[8, 10], [8, 10]]);
  for (const row of rows(x)) {
    assert.equal(row[0], 0);
    assert.equal(row[5], 0);
    const a = row.slice(1, 5);
    a.forEach((v) => assert.ok(v >= 1 && v <= 30, `value ${v}`));
    assert.deepEqual(row.slice(6), answer(a));
  }
  for (const row of rows(w)) assert.deepEqual(row, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
  // Deterministic per seed, different across seeds.
  const firstRows = (seed) => take(task(8, { seed }), 3).map((b) => rows(b[0]));
  assert.deepEqual(firstRows(4), firstRows(4));
  assert.notDeepEqual(firstRows(4), firstRows(5));
}

test('reverseIntsTask rows are [0, a1..a4, 0, a4..a1] with weights on the last 4', () => {
  checkIntsTask(reverseIntsTask, (a) => [...a].reverse());
});

test('sortIntsTask rows are [0, a1..a4, 0, sorted ascending]', () => {
  checkIntsTask(sortIntsTask, (a) => [...a].sort((p, q) => p - q));
});

test('copyIntsTask rows are [0, a1..a4, 0, a1..a4]', () => {
  checkIntsTask(copyIntsTask, (a) => a);
});

test('toy tasks: values cover 1..vocab-2, length and vocab options', () => {
  const seen = new Set();
  for (const [x] of take(reverseIntsTask(64, { seed: 2 }), 20)) for (const v of x.dataSync()) seen.add(v);
  assert.deepEqual([...seen].sort((p, q) => p - q), Array.from({ length: 31 }, (_, i) => i)); // 0 separators + 1..30
  const [x, , w] = copyIntsTask(3, { length: 6, vocab: 5, seed: 0 }).next().value;
  assert.deepEqual(x.shape, [3, 14]);
  for (const row of rows(x)) row.forEach((v, i) => assert.ok(i === 0 || i === 7 ? v === 0 : v >= 1 && v <= 3));
  assert.deepEqual(rows(w)[0], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  assert.throws(() => reverseIntsTask(0), /batchSize must be a positive integer/);
  assert.throws(() => reverseIntsTask(2, { vocab: 2 }), /vocab must be an integer >= 3/);
});

// -------------------------------------------------------------------- text ---

test('the default corpus is Moby-Dick, shipped in data/: 1,190,317 characters, 83 distinct, 90/10 split', () => {
  const text = loadText();
  assert.equal(createHash('sha256').update(text, 'utf8').digest('hex'), 'fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240');
  assert.equal(readFileSync(data.mobyDickPath(), 'utf8'), text);
  assert.equal(loadText('moby-dick'), text);
  assert.equal(Array.from(text).length, 1190317);
  assert.ok(text.startsWith('CHAPTER 1. Loomings.'));
  const vocab = CharVocab.fromText(text);
  assert.equal(vocab.size, 83);
  const ids = vocab.encode(text);
  const { train, validation } = splitIds(ids);
  assert.deepEqual([train.length, validation.length], [1071285, 119032]);
  const st = splitText(text);
  assert.equal(Array.from(st.train).length, 1071285);
  assert.equal(st.train + st.validation, text);
  assert.equal(vocab.decode(validation.subarray(0, 50)), Array.from(st.validation).slice(0, 50).join(''));
});

test('splitText, splitIds and CharVocab are deterministic and count code points', () => {
  const text = 'ab😀cdefghij';
  const s = splitText(text);
  assert.deepEqual(s, { train: 'ab😀cdefgh', validation: 'ij' });
  assert.deepEqual(splitText(text, 0.5), { train: 'ab😀cd', validation: 'efghij' });
  const v = CharVocab.fromText('cab😀a');
  assert.deepEqual(v.chars, ['a', 'b', 'c', '😀']);
  assert.deepEqual([...v.encode('😀abc')], [3, 0, 1, 2]);
  assert.equal(v.decode([2, 0, 3]), 'ca😀');
  assert.throws(() => v.encode('z'), /"z" at 0 is not in the vocabulary/);
  const { train, validation } = splitIds(new Int32Array(10).map((_, i) => i));
  assert.deepEqual([...train], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...validation], [9]);
  assert.throws(() => splitText('abc', 1), /trainFraction must be in \(0, 1\)/);
});

test('loadText reads a file or a folder of .txt files, with clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trax-text-'));
  try {
    writeFileSync(join(dir, 'b.txt'), 'second');
    writeFileSync(join(dir, 'a.txt'), 'first');
    writeFileSync(join(dir, 'c.md'), 'ignored');
    assert.equal(loadText(join(dir, 'b.txt')), 'second');
    assert.equal(loadText(dir), 'first\nsecond');
    writeFileSync(join(dir, 'empty.txt'), '');
    assert.throws(() => loadText(join(dir, 'empty.txt')), /empty\.txt is empty/);
    assert.throws(() => loadText(join(dir, 'missing.txt')), /Text corpus not found/);
    mkdirSync(join(dir, 'none'));
    assert.throws(() => loadText(join(dir, 'none')), /has no \.txt files/);
    writeFileSync(join(dir, 'bad.bin'), Buffer.from([0xff, 0xfe, 0x41]));
    assert.throws(() => loadText(join(dir, 'bad.bin')), /not valid UTF-8/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lmWindows: random windows of seqLen + 1 ids, weight 0 on position 0, seeded', () => {
  const ids = new Int32Array(100).map((_, i) => i);
  const it = lmWindows(ids, { seqLen: 8, batchSize: 4, seed: 3 });
  const starts = new Set();
  for (let k = 0; k < 200; k++) {
    const [x, y, w] = it.next().value;
    assert.equal(x, y);
    assert.deepEqual([...x.shape], [4, 9]);
    assert.equal(x.dtype, 'int32');
    for (const row of rows(x)) {
      // A contiguous slice starting in [0, len - seqLen).
      row.forEach((v, i) => assert.equal(v, row[0] + i));
      assert.ok(row[0] >= 0 && row[0] < 92);
      starts.add(row[0]);
    }
    for (const row of rows(w)) assert.deepEqual(row, [0, 1, 1, 1, 1, 1, 1, 1, 1]);
  }
  assert.equal(starts.size, 92); // every start in [0, 92) occurs, the last one included
  const first = (seed) => rows(lmWindows(ids, { seqLen: 8, batchSize: 4, seed }).next().value[0]);
  assert.deepEqual(first(1), first(1));
  assert.notDeepEqual(first(1), first(2));
  const fixed = lmFixedBatches(ids, { seqLen: 8, batchSize: 2, nBatches: 3, seed: 1 });
  assert.equal(fixed.length, 3);
  assert.deepEqual(fixed.map((b) => rows(b[0])), take(lmWindows(ids, { seqLen: 8, batchSize: 2, seed: 1 }), 3).map((b) => rows(b[0])));
  assert.throws(() => lmWindows(new Int32Array(5), { seqLen: 5, batchSize: 1 }), /too few for one window/);
});

test('lmSequentialWindows: consecutive windows in order, each target once', () => {
  const ids = new Int32Array(12).map((_, i) => i);
  const batches = [...lmSequentialWindows(ids, { seqLen: 3, batchSize: 2 })];
  // floor((12 - 1) / 3) = 3 windows of 4 ids, starting at 0, 3 and 6; ids 10 and 11 are a tail too short for a window.
  assert.deepEqual(batches.map((b) => rows(b[0])), [[[0, 1, 2, 3], [3, 4, 5, 6]], [[6, 7, 8, 9]]]);
  assert.deepEqual(rows(batches[1][2]), [[0, 1, 1, 1]]);
  assert.deepEqual([...lmSequentialWindows(ids, { seqLen: 3, batchSize: 2, dropRemainder: true })].length, 1);
  const rep = take(lmSequentialWindows(ids, { seqLen: 3, batchSize: 2, repeat: true }), 4).map((b) => b[0].shape[0]);
  assert.deepEqual(rep, [2, 1, 2, 1]);
  const exact = [...lmSequentialWindows(new Int32Array(13).map((_, i) => i), { seqLen: 3, batchSize: 4 })];
  assert.deepEqual(rows(exact[0][0]).map((r) => r[0]), [0, 3, 6, 9]);
});

test('NumpyGenerator reproduces numpy default_rng(seed).integers (values from numpy 1.24)', () => {
  const { NumpyGenerator } = data;
  // np.random.default_rng(seed): integers(0, 1071221, 6), then integers(0, 7), then integers(5, 5 + 2**32).
  const want = {
    0: [911206, 682326, 547540, 289001, 329753, 43891, 0, 70985659],
    1000: [218229, 558519, 908846, 646848, 876838, 504482, 1, 872943271],
    1001: [967736, 656224, 878641, 16818, 544143, 201057, 5, 3684609775],
    4294967297: [555736, 355508, 387977, 655475, 663536, 543786, 3, 671295560],
  };
  for (const [seed, vals] of Object.entries(want)) {
    const g = new NumpyGenerator(Number(seed));
    const got = [];
    for (let i = 0; i < 6; i++) got.push(g.integers(0, 1071221));
    got.push(g.integers(0, 7), g.integers(5, 5 + 2 ** 32));
    assert.deepEqual(got, vals, `seed ${seed}`);
  }
  // default_rng(0).bit_generator.random_raw()
  assert.equal(new NumpyGenerator(0).next64(), 11749869230777074271n);
  assert.throws(() => new NumpyGenerator(0).integers(3, 3), /1 <= high - low/);
  assert.throws(() => new NumpyGenerator(-1), /non-negative/);
});

test('lmWindows draws the anchor\'s windows: starts are default_rng(seed).integers(0, len - seqLen, batch)', () => {
  const ids = new Int32Array(1071221 + 8).map((_, i) => i);
  const [x] = lmWindows(ids, { seqLen: 8, batchSize: 6, seed: 0 }).next().value;
  assert.deepEqual(rows(x).map((r) => r[0]), [911206, 682326, 547540, 289001, 329753, 43891]);
  assert.deepEqual(data.lmFixedStarts(ids.length, { seqLen: 8, batchSize: 3, seed: 1000, nBatches: 2 }), [[218229, 558519, 908846], [646848, 876838, 504482]]);
  assert.throws(() => lmWindows(ids, { seqLen: 8, batchSize: 1, seed: -3 }), /non-negative integer/);
});
