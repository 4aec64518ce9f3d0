// Threefry-based random numbers: known-answer values (Random123 and JAX),
// determinism across backends, and distribution sanity checks.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as trax from '../dist/src/index.js';
import { availableBackends, withBackend } from './helpers/backends.mjs';

const R = trax.random;
const words = (k) => Array.from(k);

describe('threefry and keys', () => {
  test('threefry2x32 matches the Random123 known-answer vectors', () => {
    const out = new Uint32Array(2);
    // (key0, key1, ctr0, ctr1) -> expected words
    const kat = [
      [0, 0, 0, 0, 0x6b200159, 0x99ba4efe],
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x1cb996fc, 0xbb002be7],
      [0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3, 0xc4923a9c, 0x483df7a0],
    ];
    for (const [k0, k1, c0, c1, e0, e1] of kat) {
      R.threefry2x32(k0, k1, c0, c1, out, 0);
      assert.deepEqual(words(out), [e0, e1]);
    }
  });

  test('key(seed) is [high word, low word] of the seed', () => {
    assert.deepEqual(words(R.key(0)), [0, 0]);
    assert.deepEqual(words(R.key(42)), [0, 42]);
    assert.deepEqual(words(R.key(2 ** 32 + 5)), [1, 5]);
  });

  test('split(key(0)) equals jax.random.split(PRNGKey(0))', () => {
    assert.deepEqual(R.split(R.key(0)).map(words), [[4146024105, 967050713], [2718843009, 1272950319]]);
  });

  test('split gives n distinct keys, deterministically', () => {
    const ks = R.split(R.key(7), 5);
    assert.equal(ks.length, 5);
    assert.equal(new Set(ks.map((k) => words(k).join(','))).size, 5);
    assert.deepEqual(R.split(R.key(7), 5).map(words), ks.map(words));
    assert.deepEqual(R.split(R.key(7), 0), []);
  });

  test('foldIn is threefry of the key over (0, data), as jax.random.fold_in', () => {
    // fold_in(key, d) hashes the counter pair (0, d); for PRNGKey(0) and 0 that is the first KAT vector.
    assert.deepEqual(words(R.foldIn(R.key(0), 0)), [0x6b200159, 0x99ba4efe]);
    const a = R.foldIn(R.key(3), 1), b = R.foldIn(R.key(3), 2);
    assert.notDeepEqual(words(a), words(b));
    assert.deepEqual(words(R.foldIn(R.key(3), 1)), words(a));
  });

  test('bits pairs counters (i, n/2 + i) and pads an odd count with 0, as JAX does', () => {
    const k = R.key(11), tmp = new Uint32Array(2);
    for (const n of [1, 2, 3, 6, 7]) {
      const got = R.bits(k, n);
      assert.equal(got.length, n);
      const half = Math.ceil(n / 2), want = new Array(2 * half);
      for (let i = 0; i < half; i++) {
        R.threefry2x32(k[0], k[1], i, half + i < n ? half + i : 0, tmp, 0);
        want[i] = tmp[0]; want[half + i] = tmp[1];
      }
      assert.deepEqual(words(got), want.slice(0, n), `n=${n}`);
    }
  });

  test('uniform(key(0)) equals jax.random.uniform(PRNGKey(0)) = 0.41845703', () => {
    assert.equal(R.uniform(R.key(0), []).item(), 0.41845703125);
    assert.equal(R.uniform(R.key(0), [1]).item(), 0.41845703125);
  });
});

describe('samplers', () => {
  test('same key gives the same numbers on every backend', () => {
    const draw = () => {
      const k = R.key(1234);
      const [k1, k2, k3, k4, k5] = R.split(k, 5);
      return [R.uniform(k1, [3, 5]), R.normal(k2, [7]), R.bernoulli(k3, 0.3, [9]), R.randint(k4, [11], -3, 40),
        R.truncatedNormal(k5, [5]), R.gumbel(R.foldIn(k, 9), [4])];
    };
    const ref = withBackend('js', draw);
    for (const b of availableBackends) {
      const got = withBackend(b, draw);
      got.forEach((t, i) => {
        assert.deepEqual([...t.shape], [...ref[i].shape]);
        assert.equal(t.dtype, ref[i].dtype);
        assert.deepEqual(Array.from(t.dataSync()), Array.from(ref[i].dataSync()), `sampler ${i} on ${b}`);
      });
    }
    // And the same again on a second call.
    assert.deepEqual(Array.from(draw()[0].dataSync()), Array.from(ref[0].dataSync()));
  });

  test('uniform lies in [minval, maxval) with the right mean', () => {
    const u = R.uniform(R.key(1), [20000]);
    let s = 0;
    for (const v of u.dataSync()) { assert.ok(v >= 0 && v < 1); s += v; }
    assert.ok(Math.abs(s / 20000 - 0.5) < 0.01, `mean ${s / 20000}`);
    const w = R.uniform(R.key(2), [1000], -3, 5);
    assert.ok(w.dataSync().every((v) => v >= -3 && v < 5));
    assert.equal(w.dtype, 'float32');
    assert.deepEqual([...R.uniform(R.key(2), [2, 0, 3]).shape], [2, 0, 3]);
  });

  test('normal has mean ~0 and std ~1 (and honours mean/stddev)', () => {
    const n = R.normal(R.key(3), [20001]);
    let s = 0, s2 = 0;
    for (const v of n.dataSync()) { assert.ok(Number.isFinite(v)); s += v; s2 += v * v; }
    const m = s / n.size, sd = Math.sqrt(s2 / n.size - m * m);
    assert.ok(Math.abs(m) < 0.03 && Math.abs(sd - 1) < 0.03, `mean ${m} std ${sd}`);
    const t = R.normal(R.key(3), [5000], 10, 0.5);
    const mt = t.dataSync().reduce((a, b) => a + b, 0) / 5000;
    assert.ok(Math.abs(mt - 10) < 0.05, `mean ${mt}`);
  });

  test('bernoulli is uniform < p', () => {
    const k = R.key(4);
    const b = R.bernoulli(k, 0.3, [5000]), u = R.uniform(k, [5000]);
    b.dataSync().forEach((v, i) => assert.equal(v, u.dataSync()[i] < 0.3 ? 1 : 0));
    const f = b.dataSync().reduce((a, c) => a + c, 0) / 5000;
    assert.ok(Math.abs(f - 0.3) < 0.03, `frequency ${f}`);
    assert.ok(R.bernoulli(k, 0, [100]).dataSync().every((v) => v === 0));
    assert.ok(R.bernoulli(k, 1, [100]).dataSync().every((v) => v === 1));
  });

  test('randint covers [minval, maxval) as int32', () => {
    const r = R.randint(R.key(5), [4000], 3, 9);
    assert.equal(r.dtype, 'int32');
    const seen = new Set(r.dataSync());
    assert.deepEqual([...seen].sort(), [3, 4, 5, 6, 7, 8]);
    const neg = R.randint(R.key(6), [100], -5, -4);
    assert.ok(neg.dataSync().every((v) => v === -5));
  });

  test('truncatedNormal stays in bounds; gumbel is finite', () => {
    const t = R.truncatedNormal(R.key(7), [3000], -1, 1.5);
    assert.ok(t.dataSync().every((v) => v >= -1 && v <= 1.5));
    const g = R.gumbel(R.key(8), [1000]);
    assert.ok(g.dataSync().every(Number.isFinite));
  });

  test('different keys give different streams', () => {
    const [a, b] = R.split(R.key(9));
    assert.notDeepEqual(Array.from(R.uniform(a, [8]).dataSync()), Array.from(R.uniform(b, [8]).dataSync()));
    assert.notDeepEqual(Array.from(R.uniform(R.key(1), [8]).dataSync()), Array.from(R.uniform(R.key(2), [8]).dataSync()));
  });
});
