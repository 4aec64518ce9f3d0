// Data-stack semantics and printing of the combinators: one value on the
// stack is bare, several are an array.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as F from '../dist/src/engine/index.js';
import { Tensor } from '../dist/src/engine/tensor.js';
import { valueAndGrad } from '../dist/src/engine/tape.js';
import * as random from '../dist/src/engine/random.js';
import { ShapeDtype } from '../dist/src/shapes.js';
import {
  Serial, Parallel, Branch, Residual, Select, Dup, Drop, Swap, Fn, Add, SubtractTop, Multiply, Gate,
  Concatenate, Split, Scan, Cond, Cache,
} from '../dist/src/layers/combinators.js';
import { Dense, LayerNorm, Mean } from '../dist/src/layers/core.js';
import { Relu, Tanh } from '../dist/src/layers/activations.js';

const t = (v) => F.tensor(v, { dtype: 'float32' });
const vals = (x) => (x instanceof Tensor ? x.arraySync() : x.map(vals));

// Small weightless layers whose output tells what they received.
const Times = (k) => Fn(`Times${k}`, (x) => F.mul(x, k));
const Plus = (k) => Fn(`Plus${k}`, (x) => F.add(x, k));
const Sub = () => Fn('Sub', (a, b) => F.sub(a, b));

function run(layer, x) {
  const sig = x instanceof Tensor ? new ShapeDtype(x.shape) : x.map((v) => new ShapeDtype(v.shape, v.dtype));
  layer.init(sig);
  return layer.apply(x);
}

const a = t([1, 2]), b = t([10, 20]), c = t([100, 200]), d = t([1000, 2000]);

test('Serial computes nIn/nOut by walking the stack', () => {
  const cases = [
    [Serial(), 1, 1],
    [Serial(null), 1, 1],
    [Serial(Dup(), Add()), 1, 1],
    [Serial(Dup()), 1, 2],
    [Serial(Drop()), 1, 0],
    [Serial(Drop(), Drop()), 2, 0],
    [Serial(Add(), Add()), 3, 1],
    [Serial(Select([0, 1, 0]), Add(), Add()), 2, 1],
    [Serial(Select([0, 1, 0]), Sub()), 2, 2],
    [Serial(Swap(), Drop()), 2, 1],
    [Serial(Dense(2), [Relu(), [Dense(3)]]), 1, 1],
    [Serial(Drop(), Drop(), Mean()), 3, 1],
  ];
  for (const [l, nIn, nOut] of cases) {
    assert.equal(l.nIn, nIn, `${l} nIn`);
    assert.equal(l.nOut, nOut, `${l} nOut`);
  }
  // Nested lists are flattened into one Serial.
  assert.equal(Serial(Dense(2), [Relu(), [Dense(3)]]).sublayers.length, 3);
  assert.throws(() => Serial(Relu), /did you forget to call it/);
});

test('Serial runs layers on the stack; one value is bare, several are an array', () => {
  assert.deepEqual(vals(run(Serial(Dup(), Add()), a)), [2, 4]);
  const two = run(Serial(Dup()), a);
  assert.ok(Array.isArray(two) && two.length === 2);
  assert.deepEqual(vals(two), [[1, 2], [1, 2]]);
  assert.deepEqual(vals(run(Serial(), a)), [1, 2], 'empty Serial is the identity');
  // Select([0,1,0]) copies; then Sub uses the top two, leaving the copy.
  assert.deepEqual(vals(run(Serial(Select([0, 1, 0]), Sub()), [a, b])), [[-9, -18], [1, 2]]);
  assert.deepEqual(vals(run(Serial(Select([0, 1, 0]), Add(), Add()), [a, b])), [12, 24]);
  // Drop takes the top item away; the layer after it sees the next one.
  assert.deepEqual(vals(run(Serial(Drop(), Times(2)), [a, b])), [20, 40]);
  // Items a layer does not use pass through below its outputs.
  assert.deepEqual(vals(run(Serial(Times(3)), a)), [3, 6]);
  assert.deepEqual(vals(run(Serial(Add(), Times(2), Add()), [a, b, c])), [122, 244]);
  // A layer that only touches the top leaves the rest in place.
  const l = Serial(Times(2), Swap());
  assert.equal(l.nIn, 2);
  assert.deepEqual(vals(run(l, [a, b])), [[10, 20], [2, 4]]);
  // Wrong number of inputs is an error.
  assert.throws(() => run(Serial(Add()), a), /expected 2 inputs/);
});

test('Parallel: contiguous spans, multi-output children spliced, None is identity', () => {
  const p = Parallel(Times(10), Swap(), Dup());
  assert.equal(p.nIn, 4);
  assert.equal(p.nOut, 5);
  assert.deepEqual(vals(run(p, [a, b, c, d])), [[10, 20], [100, 200], [10, 20], [1000, 2000], [1000, 2000]]);
  const q = Parallel(null, Times(2));
  assert.equal(q.nIn, 2);
  assert.deepEqual(vals(run(q, [a, b])), [[1, 2], [20, 40]]);
  const r = Parallel([Times(2), Plus(1)], []);
  assert.deepEqual(vals(run(r, [a, b])), [[3, 5], [10, 20]]);
  assert.throws(() => Parallel(Times(2)), /at least 2/);
  assert.throws(() => Parallel(Times(2), Fn('Zero', () => F.zeros([1]))), /nIn 0/);
  assert.equal(String(Parallel(Dense(2), null)), 'Parallel_in2_out2[\n  Dense_2\n  Serial\n]');
  assert.equal(String(p), 'Parallel_in4_out5[\n  Times10\n  Swap_in2_out2\n  Dup_out2\n]');
});

test('Branch: each branch gets copies of the top items', () => {
  const br = Branch(Plus(1), Fn('Mul', (x, y) => F.mul(x, y)), Dup());
  assert.equal(br.nIn, 2);
  assert.equal(br.nOut, 4);
  assert.deepEqual(vals(run(br, [a, b])), [[2, 3], [10, 40], [1, 2], [1, 2]]);
  // Items below what the branches read pass through.
  const br2 = Branch(Times(2), Times(3));
  assert.equal(br2.nIn, 1);
  const below = Serial(br2, Select([0, 1, 2]));
  assert.equal(below.nIn, 2);
  assert.deepEqual(vals(run(below, [a, b])), [[2, 4], [3, 6], [10, 20]]);
  // A single layer is returned as is.
  const one = Times(5);
  assert.equal(Branch(one), one);
  assert.equal(String(Branch(null, Dense(3))), 'Branch_out2[\n  None\n  Dense_3\n]');
  assert.equal(String(Branch(Dense(3), Dup())), 'Branch_out3[\n  Dense_3\n  Dup_out2\n]');
  assert.equal(String(Branch([Dense(2), Relu()], Dense(3))), 'Branch_out2[\n  [Dense_2, Relu]\n  Dense_3\n]');
});

test('Residual: x + body(x), with an optional shortcut; nested Branch inside', () => {
  const r = Residual(Times(3));
  assert.deepEqual(vals(run(r, a)), [4, 8]);
  const body = Residual(Times(2), Plus(1));
  assert.deepEqual(vals(run(body, a)), [1 + 3, 2 + 5]);
  const sc = Residual(Times(2), { shortcut: Times(10) });
  assert.deepEqual(vals(run(sc, a)), [12, 24]);
  // A Branch inside the body: x + (2x + 3x).
  const nested = Residual(Branch(Times(2), Times(3)), Add());
  assert.equal(nested.nIn, 1);
  assert.equal(nested.nOut, 1);
  assert.deepEqual(vals(run(nested, a)), [6, 12]);
  assert.equal(String(Residual(LayerNorm(), Dense(4), Relu())),
    'Serial[\n  Branch_out2[\n    None\n    Serial[\n      LayerNorm\n      Dense_4\n      Relu\n    ]\n  ]\n  Add_in2\n]');
  assert.equal(String(Residual(Dense(4))), 'Serial[\n  Branch_out2[\n    None\n    Dense_4\n  ]\n  Add_in2\n]');
});

test('Select, Dup, Drop, Swap', () => {
  const s = Select([0, 0]);
  assert.equal(s.nIn, 1);
  assert.equal(s.nOut, 2);
  assert.equal(String(s), 'Select[0,0]_out2');
  assert.deepEqual(vals(run(s, a)), [[1, 2], [1, 2]]);
  const rev = Select([2, 1, 0]);
  assert.equal(String(rev), 'Select[2,1,0]_in3_out3');
  assert.deepEqual(vals(run(rev, [a, b, c])), [[100, 200], [10, 20], [1, 2]]);
  // nIn given: drops the items not selected.
  const keep1 = Select([1], 3);
  assert.equal(keep1.nIn, 3);
  assert.equal(String(keep1), 'Select[1]_in3');
  assert.deepEqual(vals(run(keep1, [a, b, c])), [10, 20]);
  assert.deepEqual(vals(run(Serial(Select([0], 2), Times(2)), [a, b])), [2, 4]);
  assert.throws(() => Select([-1]), /non-negative/);

  assert.equal(String(Dup()), 'Dup_out2');
  assert.equal(String(Drop()), 'Drop_out0');
  assert.equal(String(Swap()), 'Swap_in2_out2');
  assert.equal(String(Add()), 'Add_in2');
  assert.deepEqual(vals(run(Swap(), [a, b])), [[10, 20], [1, 2]]);
  assert.deepEqual(vals(run(Serial(Swap(), Sub()), [a, b])), [9, 18]);
  const dropped = run(Drop(), a);
  assert.deepEqual(dropped, []);
  assert.deepEqual(vals(run(Dup(), a)), [[1, 2], [1, 2]]);
});

test('simple math combinators', () => {
  assert.deepEqual(vals(run(Add(), [a, b])), [11, 22]);
  assert.deepEqual(vals(run(SubtractTop(), [a, b])), [9, 18]);
  assert.deepEqual(vals(run(Multiply(), [a, b])), [10, 40]);
  const g = t([0.25, 1]);
  assert.deepEqual(vals(run(Gate(), [a, g, b])), [0.25 * 1 + 0.75 * 10, 2]);
  assert.equal(String(Gate()), 'Gate_in3');
});

test('Fn: nIn from the arity; defaults and rest parameters are rejected', () => {
  assert.equal(Fn('One', (x) => x).nIn, 1);
  assert.equal(Fn('Three', (x, y, z) => F.add(F.add(x, y), z)).nIn, 3);
  assert.equal(Fn('Zero', () => F.zeros([2])).nIn, 0);
  assert.equal(Fn('Two', function (p, q) { return F.mul(p, q); }).nIn, 2);
  // A bare arrow whose body has parentheses with '=' in them is still fine.
  assert.equal(Fn('Cmp', (x) => F.mul(x, x.size === 2 ? 1 : 0)).nIn, 1);
  assert.equal(Fn('Cmp2', x => F.where(F.greaterEqual(x, 0), x, F.mul(x, 0 >= 1 ? 2 : 3))).nIn, 1); // eslint-disable-line
  assert.throws(() => Fn('Def', (x, y = 1) => F.add(x, y)), /default parameter/);
  assert.throws(() => Fn('Rest', (...xs) => xs[0]), /rest parameter/);
  assert.throws(() => Fn('NotFn', 3), /expected a function/);
  const split = Fn('SplitHalf', (x) => F.split(x, 2, -1), 2);
  assert.equal(String(split), 'SplitHalf_out2');
  assert.deepEqual(vals(run(split, t([1, 2, 3, 4]))), [[1, 2], [3, 4]]);
  const bad = Fn('Bad', (x) => [x], 2);
  assert.throws(() => run(bad, a), /must return 2 values/);
  assert.equal(String(Fn('Three', (x, y, z) => x)), 'Three_in3');
});

test('Concatenate and Split', () => {
  const cat = Concatenate();
  assert.equal(cat.nIn, 2);
  assert.equal(String(cat), 'Concatenate_in2');
  assert.deepEqual(vals(run(cat, [a, b])), [1, 2, 10, 20]);
  const cat3 = Concatenate(3, 0);
  assert.equal(String(cat3), 'Concatenate_axis0_in3');
  const m = (v) => F.tensor(v, { dtype: 'float32' });
  assert.deepEqual(vals(run(cat3, [m([[1]]), m([[2]]), m([[3]])])), [[1], [2], [3]]);
  const sp = Split();
  assert.equal(sp.nOut, 2);
  assert.equal(String(sp), 'Split_out2');
  assert.deepEqual(vals(run(sp, t([1, 2, 3, 4]))), [[1, 2], [3, 4]]);
  assert.deepEqual(vals(run(Serial(Split(2), Concatenate()), t([5, 6, 7, 8]))), [5, 6, 7, 8]);
  assert.deepEqual(vals(run(Split(3, 0), m([[1], [2], [3]]))), [[[1]], [[2]], [[3]]]);
});

test('Scan threads a carry along an axis (cumulative sum)', () => {
  const step = Fn('CumStep', (x, carry) => { const s = F.add(x, carry); return [s, s]; }, 2);
  const scan = Scan(step, { axis: 0 });
  assert.equal(scan.nIn, 2);
  assert.equal(scan.nOut, 2);
  assert.equal(String(scan), 'Scan_in2_out2[\n  CumStep_in2_out2\n]');
  const xs = F.tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float32' });
  const [ys, carry] = run(scan, [xs, t([0, 0])]);
  assert.deepEqual(ys.arraySync(), [[1, 2], [4, 6], [9, 12]]);
  assert.deepEqual(carry.arraySync(), [9, 12]);
  // Along axis 1, with an initial carry.
  const scan1 = Scan(step, { axis: 1 });
  const [ys1, c1] = run(scan1, [F.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float32' }), t([10, 20])]);
  assert.deepEqual(ys1.arraySync(), [[11, 13, 16], [24, 29, 35]]);
  assert.deepEqual(c1.arraySync(), [16, 35]);
  // With weights: a Dense step shares its weights across steps, gradients flow.
  const cell = Serial(Fn('AddIn', (x, h) => F.add(x, h)), Dense(2), Tanh(), Dup());
  const rnn = Scan(cell, { axis: 0 });
  const [w, s] = rnn.init([new ShapeDtype([4, 2]), new ShapeDtype([2])], { rng: random.key(1) });
  const x = F.tensor([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.2], [0.05, 0.6]], { dtype: 'float32' });
  const loss = (ww) => F.sum(rnn.pureFn([x, t([0, 0])], ww, s, null)[0][0]);
  const [, g] = valueAndGrad(loss)(w);
  const W = w[0][1][0];
  const gW = g[0][1][0];
  for (let e = 0; e < 4; e++) {
    const at = (delta) => {
      const buf = Float32Array.from(W.dataSync()); buf[e] += delta;
      const w2 = [[[], [new Tensor(buf, W.shape), w[0][1][1]], [], []]];
      return Array.from(rnn.pureFn([x, t([0, 0])], w2, s, null)[0][0].dataSync()).reduce((p, q) => p + q, 0);
    };
    const num = (at(1e-2) - at(-1e-2)) / 2e-2;
    assert.ok(Math.abs(num - gW.dataSync()[e]) < 1e-3 + 1e-2 * Math.abs(num), `scan grad ${e}: ${gW.dataSync()[e]} vs ${num}`);
  }
});

test('Cond runs exactly one branch', () => {
  const isPos = Fn('IsPos', (x) => F.greater(F.sum(x), 0));
  const cond = Cond(isPos, Times(2), Fn('Neg', (x) => F.neg(x)));
  assert.equal(cond.nIn, 2);
  assert.equal(cond.nOut, 1);
  assert.deepEqual(vals(run(cond, [t([1]), a])), [2, 4]);
  assert.deepEqual(vals(run(cond, [t([-1]), a])), [-1, -2]);
  // The false branch defaults to the identity.
  const only = Cond(isPos, Plus(5));
  assert.deepEqual(vals(run(only, [t([3]), a])), [6, 7]);
  assert.deepEqual(vals(run(only, [t([-3]), a])), [1, 2]);
  // Multi-input branches read below the condition's inputs.
  const c2 = Cond(isPos, Add(), Sub());
  assert.equal(c2.nIn, 3);
  assert.deepEqual(vals(run(c2, [t([1]), a, b])), [11, 22]);
  assert.deepEqual(vals(run(c2, [t([0]), a, b])), [-9, -18]);
  assert.throws(() => Cond(isPos, Add(), Times(2)), /equal nIn and nOut/);
  assert.throws(() => Cond(Dup(), Times(2)), /exactly one value/);
  assert.equal(String(cond), 'Cond_in2[\n  IsPos\n  Times2\n  Neg\n]');
});

test('Cache computes once and returns the stored output afterwards', () => {
  let calls = 0;
  const inner = Fn('Count', (x) => { calls++; return F.add(x, 1); });
  const cache = Cache(inner);
  cache.init(new ShapeDtype([2]));
  assert.deepEqual(vals(cache.apply(a)), [2, 3]);
  assert.deepEqual(vals(cache.apply(b)), [2, 3], 'the second call returns the first output');
  assert.equal(calls, 1);
  cache.reset();
  assert.deepEqual(vals(cache.apply(b)), [11, 21]);
  cache.init(new ShapeDtype([2]));
  assert.deepEqual(vals(cache.apply(c)), [101, 201], 'init forgets the cached output');
  assert.equal(String(cache), 'Cache[\n  Count\n]');
});

test('weights flow through combinators in sublayer order', () => {
  const m = Serial(Branch(Dense(2), Dense(3)), Concatenate(), Dense(1));
  const [w] = m.init(new ShapeDtype([4, 5]), { rng: random.key(2) });
  // Branch = Serial(Select, Parallel(Dense_2, Dense_3)).
  assert.deepEqual(w[0][0], []);
  assert.deepEqual(w[0][1][0][0].shape, [5, 2]);
  assert.deepEqual(w[0][1][1][0].shape, [5, 3]);
  assert.deepEqual(w[1], []);
  assert.deepEqual(w[2][0].shape, [5, 1]);
  assert.deepEqual(m.apply(F.ones([4, 5])).shape, [4, 1]);
  // Different sublayers get different rngs.
  assert.notDeepEqual(Array.from(w[0][1][0][0].dataSync()).slice(0, 2), Array.from(w[0][1][1][0].dataSync()).slice(0, 2));
});
