// Compares every native kernel against the pure TypeScript reference kernels
// on awkward sizes, for each instruction set this CPU supports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels } from '../dist/src/backends/native.js';
import { jsKernels as J, sumSquaresF64 } from '../dist/src/backends/js.js';

const loaded = loadNativeKernels();
const N = 'kernels' in loaded ? loaded.kernels : null;
const skip = N ? false : `native addon not built (${loaded.error}); run \`npm run install\``;
const ISAS = N ? ['avx512', 'avx2', 'generic'].filter((isa) => { const ok = N.setIsa(isa); return ok; }) : [];
if (N) N.setIsa(ISAS[0]);

// Deterministic PRNG so failures reproduce.
let seed = 12345;
function rand() {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 4294967296;
}
function randn() {
  const u = Math.max(rand(), 1e-12), v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
function rnd(n, scale = 1) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = randn() * scale;
  return a;
}
function ints(n, lo, hi) {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(rand() * (hi - lo));
  return a;
}

/** max |a-b| / (max |ref| + 1e-6), NaNs must match. */
function relErr(got, ref, floor = 0) {
  assert.equal(got.length, ref.length);
  let md = 0, mr = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i], r = ref[i];
    if (Number.isNaN(r) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(r) && Number.isNaN(g), `NaN mismatch at ${i}: got ${g}, ref ${r}`);
      continue;
    }
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      assert.equal(g, r, `non-finite mismatch at ${i}`);
      continue;
    }
    md = Math.max(md, Math.abs(g - r));
    mr = Math.max(mr, Math.abs(r));
  }
  return md / (Math.max(mr, floor) + 1e-6);
}
function close(got, ref, what, tol = 1e-5, floor = 0) {
  const e = relErr(got, ref, floor);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(3)} > ${tol}`);
}

/** Runs fn once per ISA (the native kernels object is shared). */
function forIsas(t, fn) {
  for (const isa of ISAS) {
    N.setIsa(isa);
    fn(isa);
  }
  N.setIsa(ISAS[0]);
}

test('native kernels load and report an ISA', { skip }, () => {
  assert.equal(N.name, 'native');
  assert.ok(ISAS.length >= 1 && ISAS.includes('generic'), `ISAs: ${ISAS}`);
  assert.ok(N.threads() >= 1);
});

test('matmul matches reference (transposes, broadcast strides, accumulate, odd sizes)', { skip }, (t) => {
  const shapes = [[1, 1, 1], [1, 7, 33], [7, 1, 33], [7, 33, 1], [33, 7, 129], [129, 33, 7], [17, 65, 31],
    [15, 48, 300], [45, 100, 257], [1, 256, 1024], [64, 1, 77], [3, 520, 40], [300, 31, 33]];
  forIsas(t, (isa) => {
    for (const [m, n, k] of shapes) {
      for (const ta of [false, true]) for (const tb of [false, true]) for (const acc of [false, true]) {
        const batch = (m * n * k) < 50000 ? 3 : 1;
        const bcastA = batch > 1 && m === 7;
        const sa = bcastA ? 0 : m * k, sb = batch > 1 && n === 7 ? 0 : k * n;
        const a = rnd((batch - 1) * sa + m * k), b = rnd((batch - 1) * sb + k * n);
        const c0 = rnd(batch * m * n), c1 = c0.slice();
        // Every other case adds a bias row (Dense); the reference adds it after the product.
        const bias = (m + k + (ta ? 1 : 0) + (acc ? 1 : 0)) % 2 === 0 ? rnd(n) : null;
        // Epilogues: ReLU after the bias, or a gate (zero where gate <= 0).
        const relu = (m + n + (tb ? 1 : 0)) % 3 === 0;
        const gate = (n + k + (acc ? 1 : 0)) % 3 === 1 ? rnd(batch * m * n) : null;
        const gs = gate && k % 2 === 0 ? 1.25 : undefined;
        N.matmul(a, b, c0, batch, m, n, k, ta, tb, sa, sb, acc, bias, relu, gate, gs);
        J.matmul(a, b, c1, batch, m, n, k, ta, tb, sa, sb, acc, bias, relu, gate, gs);
        if (relu) assert.ok(c0.every((v) => v >= 0), 'relu epilogue');
        if (gate) for (let e = 0; e < gate.length; e++) if (gate[e] <= 0) assert.equal(c0[e], 0);
        if (bias && !acc && batch === 1 && !ta && !tb) {
          const plain = new Float32Array(m * n);
          J.matmul(a, b, plain, 1, m, n, k, false, false, 0, 0, false);
          assert.equal(c1[n - 1], Math.fround(plain[n - 1] + bias[n - 1]), 'reference bias is added after the product');
        }
        close(c0, c1, `${isa} matmul ${m}x${n}x${k} ta=${ta} tb=${tb} acc=${acc} batch=${batch} bias=${!!bias} relu=${relu} gate=${!!gate}`);
      }
    }
  });
});

test('large matmuls through the thread pool match, and 1 vs 2 threads agree bitwise', { skip }, () => {
  const threads = N.threads();
  try {
    for (const [m, n, k, ta, tb] of [[300, 200, 500, false, false], [130, 1100, 270, true, true],
      [257, 129, 1030, false, true], [1, 3000, 700, false, false], [900, 1, 900, true, false],
      [20, 900, 600, false, false], [37, 700, 500, true, true],
      // Weight-gradient shapes (small output, long depth): the depth is split in two halves.
      [128, 128, 780, true, false], [120, 500, 1001, true, true], [512, 128, 780, true, false]]) {
      const a = rnd(m * k), b = rnd(k * n);
      const ref = new Float32Array(m * n);
      J.matmul(a, b, ref, 1, m, n, k, ta, tb, 0, 0, false);
      const outs = [];
      for (const th of [1, 2]) {
        N.setThreads(th);
        const c = new Float32Array(m * n);
        N.matmul(a, b, c, 1, m, n, k, ta, tb, 0, 0, false);
        close(c, ref, `matmul ${m}x${n}x${k} threads=${th}`);
        outs.push(c);
      }
      assert.deepEqual(outs[0], outs[1], `threads 1 vs 2 differ for ${m}x${n}x${k}`);
    }
    // Accumulating into C through the depth split.
    {
      const m = 96, n = 80, k = 900;
      const a = rnd(m * k), b = rnd(k * n), c0 = rnd(m * n);
      const ref = c0.slice();
      J.matmul(a, b, ref, 1, m, n, k, true, false, 0, 0, true);
      const outs = [];
      for (const th of [1, 2]) {
        N.setThreads(th);
        const c = c0.slice();
        N.matmul(a, b, c, 1, m, n, k, true, false, 0, 0, true);
        close(c, ref, `accumulating matmul threads=${th}`);
        outs.push(c);
      }
      assert.deepEqual(outs[0], outs[1], 'accumulating matmul: threads 1 vs 2 differ');
    }
    // Many small matrices: batch-parallel path.
    const batch = 64, m = 48, n = 40, k = 56;
    const a = rnd(batch * m * k), b = rnd(batch * k * n), ref = new Float32Array(batch * m * n);
    J.matmul(a, b, ref, batch, m, n, k, false, true, m * k, k * n, false);
    for (const th of [1, 2]) {
      N.setThreads(th);
      const c = new Float32Array(batch * m * n);
      N.matmul(a, b, c, batch, m, n, k, false, true, m * k, k * n, false);
      close(c, ref, `batched matmul threads=${th}`);
    }
  } finally {
    N.setThreads(threads);
  }
});

test('unary ops match reference', { skip }, (t) => {
  const x = rnd(1029, 3);
  x[0] = 0; x[1] = -0; x[2] = 1e-8; x[3] = -1e-8; x[4] = 30; x[5] = -30; x[6] = 90; x[7] = -110;
  x[8] = NaN; x[9] = Infinity; x[10] = -Infinity; x[11] = 1e-30; x[12] = 0.5; x[13] = 0.9999;
  const pos = x.map(Math.abs);
  pos[20] = 1e-40; // denormal input to log/sqrt
  forIsas(t, (isa) => {
    for (let op = 0; op <= 15; op++) {
      const input = op === 2 || op === 4 || op === 5 ? pos : x; // log, sqrt, rsqrt
      for (const n of [1, 7, 16, 33, 1029]) {
        const xi = input.subarray(0, n), o1 = new Float32Array(n), o2 = new Float32Array(n);
        N.unary(op, xi, o1);
        J.unary(op, xi, o2);
        // per-element relative check: these are pointwise functions
        for (let i = 0; i < n; i++) {
          const g = o1[i], r = o2[i];
          if (Number.isNaN(r)) { assert.ok(Number.isNaN(g), `${isa} unary ${op} x=${xi[i]}: got ${g}, ref NaN`); continue; }
          if (!Number.isFinite(r)) { assert.equal(g, r, `${isa} unary ${op} x=${xi[i]}`); continue; }
          const tol = 2e-6 * Math.abs(r) + 1e-30;
          assert.ok(Math.abs(g - r) <= tol || Math.abs(g - r) <= 1e-7 * 3,
            `${isa} unary op ${op} at x=${xi[i]}: got ${g}, ref ${r}`);
        }
      }
    }
    // in-place
    const y = x.slice(0, 100), ref = new Float32Array(100);
    J.unary(1, y, ref);
    N.unary(1, y, y);
    close(y, ref, `${isa} in-place exp`);
  });
});

test('binary ops with broadcasting match reference', { skip }, (t) => {
  const cases = [
    { shape: [37], as: [1], bs: [1] },
    { shape: [37], as: [1], bs: [0] },
    { shape: [37], as: [0], bs: [1] },
    { shape: [5, 33], as: [33, 1], bs: [0, 1] },
    { shape: [5, 33], as: [33, 1], bs: [1, 0] },
    { shape: [3, 4, 7], as: [28, 7, 1], bs: [7, 0, 1] },
    { shape: [2, 3, 5, 9], as: [0, 45, 9, 1], bs: [135, 0, 9, 1] },
    { shape: [4, 6], as: [1, 4], bs: [6, 1] }, // transposed view of a
    { shape: [1, 129, 1], as: [0, 1, 0], bs: [0, 1, 0] },
    { shape: [], as: [], bs: [] },
    { shape: [300, 700], as: [700, 1], bs: [0, 1] },
    { shape: [200000], as: [1], bs: [1] },
  ];
  forIsas(t, (isa) => {
    for (const { shape, as, bs } of cases) {
      const total = shape.reduce((p, s) => p * s, 1);
      const span = (st) => shape.reduce((p, s, i) => p + (s - 1) * st[i], 0) + 1;
      const a = rnd(span(as)), b = rnd(span(bs));
      if (a.length > 3) { a[1] = b[Math.min(1, b.length - 1)]; a[2] = NaN; }
      for (let op = 0; op <= 13; op++) {
        const aa = op === 6 ? a.map(Math.abs) : a;
        const o1 = new Float32Array(total), o2 = new Float32Array(total);
        const sh = Int32Array.from(shape), sa = Int32Array.from(as), sb = Int32Array.from(bs);
        N.binary(op, aa, b, o1, sh, sa, sb);
        J.binary(op, aa, b, o2, sh, sa, sb);
        close(o1, o2, `${isa} binary op ${op} shape [${shape}]`, op === 6 ? 2e-6 : 1e-6);
      }
    }
  });
});

test('reductions match reference', { skip }, (t) => {
  forIsas(t, (isa) => {
    for (const [outer, n, inner] of [[1, 1, 1], [3, 7, 1], [2, 33, 5], [5, 129, 1], [1, 1000, 3], [4, 3, 700],
      [7, 0, 3], [3000, 65, 1], [2, 300, 1100]]) {
      const x = rnd(outer * n * inner);
      if (x.length > 10) x[7] = NaN;
      for (let op = 0; op <= 2; op++) {
        const o1 = new Float32Array(outer * inner), o2 = new Float32Array(outer * inner);
        N.reduce(op, x, o1, outer, n, inner);
        J.reduce(op, x, o2, outer, n, inner);
        close(o1, o2, `${isa} reduce op ${op} (${outer},${n},${inner})`);
      }
    }
  });
});

test('softmax / log-softmax forward and backward match reference', { skip }, (t) => {
  forIsas(t, (isa) => {
    for (const [rows, cols] of [[1, 1], [3, 7], [5, 33], [2, 129], [300, 1000], [1, 32000]]) {
      const x = rnd(rows * cols, 4), dy = rnd(rows * cols);
      if (cols > 3) x[2] = -Infinity;
      for (const log of [false, true]) {
        const y1 = new Float32Array(rows * cols), y2 = new Float32Array(rows * cols);
        N.softmax(x, y1, rows, cols, log);
        J.softmax(x, y2, rows, cols, log);
        close(y1, y2, `${isa} softmax ${rows}x${cols} log=${log}`);
        const d1 = new Float32Array(rows * cols), d2 = new Float32Array(rows * cols);
        const yy = y2.map((v) => (Number.isFinite(v) ? v : -100));
        N.softmaxBackward(yy, dy, d1, rows, cols, log);
        J.softmaxBackward(yy, dy, d2, rows, cols, log);
        close(d1, d2, `${isa} softmaxBackward ${rows}x${cols} log=${log}`);
      }
    }
  });
});

test('layerNorm forward and backward match reference', { skip }, (t) => {
  forIsas(t, (isa) => {
    for (const [rows, cols] of [[1, 1], [3, 7], [4, 33], [9, 129], [600, 512]]) {
      const x = rnd(rows * cols, 2).map((v) => v + 3), scale = rnd(cols), bias = rnd(cols);
      const o1 = new Float32Array(rows * cols), o2 = new Float32Array(rows * cols);
      const m1 = new Float32Array(rows), m2 = new Float32Array(rows), r1 = new Float32Array(rows), r2 = new Float32Array(rows);
      N.layerNorm(x, scale, bias, o1, m1, r1, rows, cols, 1e-6);
      J.layerNorm(x, scale, bias, o2, m2, r2, rows, cols, 1e-6);
      close(o1, o2, `${isa} layerNorm out ${rows}x${cols}`);
      close(m1, m2, `${isa} layerNorm mean`);
      close(r1, r2, `${isa} layerNorm rstd`);
      const dy = rnd(rows * cols);
      const dx1 = new Float32Array(rows * cols), dx2 = new Float32Array(rows * cols);
      const ds1 = rnd(cols), ds2 = ds1.slice(), db1 = rnd(cols), db2 = db1.slice();
      N.layerNormBackward(dy, x, scale, m2, r2, dx1, ds1, db1, rows, cols);
      J.layerNormBackward(dy, x, scale, m2, r2, dx2, ds2, db2, rows, cols);
      close(dx1, dx2, `${isa} layerNormBackward dx ${rows}x${cols}`);
      close(ds1, ds2, `${isa} layerNormBackward dscale ${rows}x${cols}`);
      close(db1, db2, `${isa} layerNormBackward dbias ${rows}x${cols}`);
    }
  });
});

test('crossEntropy forward and backward match reference', { skip }, (t) => {
  forIsas(t, (isa) => {
    for (const [rows, vocab] of [[1, 1], [3, 7], [5, 33], [7, 129], [64, 5000]]) {
      const logits = rnd(rows * vocab, 3), targets = ints(rows, 0, vocab), weights = rnd(rows).map(Math.abs);
      const l1 = new Float32Array(rows), l2 = new Float32Array(rows);
      const p1 = new Float32Array(rows * vocab), p2 = new Float32Array(rows * vocab);
      N.crossEntropy(logits, targets, weights, l1, p1, rows, vocab);
      J.crossEntropy(logits, targets, weights, l2, p2, rows, vocab);
      close(l1, l2, `${isa} crossEntropy loss ${rows}x${vocab}`);
      close(p1, p2, `${isa} crossEntropy logp ${rows}x${vocab}`);
      const dloss = rnd(rows), d1 = new Float32Array(rows * vocab), d2 = new Float32Array(rows * vocab);
      N.crossEntropyBackward(p2, targets, weights, dloss, d1, rows, vocab);
      J.crossEntropyBackward(p2, targets, weights, dloss, d2, rows, vocab);
      // Terms are of size |dloss * w|; the reference rounds through float32 in between.
      const sMax = Math.max(...Array.from(dloss, (d, r) => Math.abs(d * weights[r])));
      close(d1, d2, `${isa} crossEntropyBackward ${rows}x${vocab}`, 1e-5, sMax);
    }
  });
});

test('attention forward and backward match reference (causal offset, dropout, key mask)', { skip }, (t) => {
  const cases = [[1, 1, 1, 1], [2, 7, 7, 5], [3, 5, 9, 16], [2, 33, 33, 17], [1, 129, 140, 64], [16, 64, 64, 32]];
  forIsas(t, (isa) => {
    for (const [bh, lq, lk, d] of cases) {
      for (const [causal, offset, useDrop, useMask] of [[false, 0, false, false], [true, 0, false, false],
        [true, lk - lq, true, false], [false, 0, true, true], [true, 2, false, true]]) {
        const q = rnd(bh * lq * d), k = rnd(bh * lk * d), v = rnd(bh * lk * d);
        const drop = useDrop ? Float32Array.from({ length: bh * lq * lk }, () => (rand() < 0.8 ? 1.25 : 0)) : null;
        const kmask = useMask ? Float32Array.from({ length: bh * lk }, (_, i) => (i % 5 === 3 ? 0 : 1)) : null;
        const scale = 1 / Math.sqrt(d);
        const o1 = new Float32Array(bh * lq * d), o2 = new Float32Array(bh * lq * d);
        const p1 = new Float32Array(bh * lq * lk), p2 = new Float32Array(bh * lq * lk);
        N.attention(q, k, v, o1, p1, bh, lq, lk, d, scale, causal, offset, drop, kmask);
        J.attention(q, k, v, o2, p2, bh, lq, lk, d, scale, causal, offset, drop, kmask);
        const what = `${isa} attention bh=${bh} lq=${lq} lk=${lk} d=${d} causal=${causal} off=${offset} drop=${useDrop} mask=${useMask}`;
        close(o1, o2, `${what} out`);
        close(p1, p2, `${what} probs`);
        const dout = rnd(bh * lq * d);
        const g1 = [bh * lq * d, bh * lk * d, bh * lk * d].map((n) => new Float32Array(n));
        const g2 = [bh * lq * d, bh * lk * d, bh * lk * d].map((n) => new Float32Array(n));
        N.attentionBackward(dout, q, k, v, p2, g1[0], g1[1], g1[2], bh, lq, lk, d, scale, drop);
        J.attentionBackward(dout, q, k, v, p2, g2[0], g2[1], g2[2], bh, lq, lk, d, scale, drop);
        close(g1[0], g2[0], `${what} dq`);
        close(g1[1], g2[1], `${what} dk`);
        close(g1[2], g2[2], `${what} dv`);
      }
    }
  });
});

test('attention with a head layout reads and writes (B, L, H*d) rows in place', { skip }, (t) => {
  // q, k, v as column blocks of one (B, L, 3*H*d) projection; out and dout (B, L, H*d).
  const cases = [[2, 4, 10, 4], [3, 2, 64, 32], [1, 4, 33, 17], [2, 2, 130, 64]];
  forIsas(t, (isa) => {
    for (const [B, H, l, d] of cases) {
      for (const [causal, useDrop] of [[true, false], [true, true], [false, false]]) {
        const D = H * d, bh = B * H;
        const qkv = rnd(B * l * 3 * D), scale = 1 / Math.sqrt(d);
        const drop = useDrop ? Float32Array.from({ length: bh * l * l }, () => (rand() < 0.8 ? 1.25 : 0)) : null;
        // Reference: split into contiguous (bh, l, d) heads and use the plain layout.
        const heads = (src, stride, col) => {
          const o = new Float32Array(bh * l * d);
          for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < l; i++) for (let p = 0; p < d; p++) {
            o[((b * H + h) * l + i) * d + p] = src[(b * l + i) * stride + col + h * d + p];
          }
          return o;
        };
        const q = heads(qkv, 3 * D, 0), k = heads(qkv, 3 * D, D), v = heads(qkv, 3 * D, 2 * D);
        const oRef = new Float32Array(bh * l * d), pRef = new Float32Array(bh * l * l);
        J.attention(q, k, v, oRef, pRef, bh, l, l, d, scale, causal, 0, drop, null);
        for (const K of [N, J]) {
          const what = `${isa} ${K === N ? 'native' : 'js'} layout B=${B} H=${H} l=${l} d=${d} causal=${causal} drop=${useDrop}`;
          const out = new Float32Array(B * l * D), probs = new Float32Array(bh * l * l);
          K.attention(qkv, qkv.subarray(D), qkv.subarray(2 * D), out, probs, bh, l, l, d, scale, causal, 0, drop, null,
            H, 3 * D, 3 * D, 3 * D, D);
          close(heads(out, D, 0), oRef, `${what} out`);
          close(probs, pRef, `${what} probs`);
          const dout = rnd(B * l * D);
          const g = [1, 2, 3].map(() => new Float32Array(bh * l * d));
          J.attentionBackward(heads(dout, D, 0), q, k, v, pRef, g[0], g[1], g[2], bh, l, l, d, scale, drop);
          const dqkv = new Float32Array(B * l * 3 * D).fill(NaN);
          K.attentionBackward(dout, qkv, qkv.subarray(D), qkv.subarray(2 * D), pRef, dqkv, dqkv.subarray(D), dqkv.subarray(2 * D),
            bh, l, l, d, scale, drop, H, 3 * D, 3 * D, 3 * D, D);
          close(heads(dqkv, 3 * D, 0), g[0], `${what} dq`);
          close(heads(dqkv, 3 * D, D), g[1], `${what} dk`);
          close(heads(dqkv, 3 * D, 2 * D), g[2], `${what} dv`);
        }
      }
    }
  });
  const f = new Float32Array(64);
  assert.throws(() => N.attention(f, f, f, f, f, 3, 2, 2, 2, 1, true, 0, null, null, 2, 4, 4, 4, 4), /heads 2 must divide bh 3/);
  assert.throws(() => N.attention(f, f, f, f, f, 2, 2, 2, 2, 1, true, 0, null, null, 2, 3, 4, 4, 4), /at least heads\*d/);
  assert.throws(() => N.attention(f, f, f, f, new Float32Array(8), 2, 4, 4, 4, 1, true, 0, null, null, 2, 24, 8, 8, 8), /q has 64 elements/);
});

test('gatherRows / scatterAddRows match reference (clipped and duplicate ids)', { skip }, (t) => {
  forIsas(t, (isa) => {
    for (const [rows, cols, nids] of [[1, 1, 1], [7, 33, 20], [129, 17, 300], [50, 512, 4000]]) {
      const table = rnd(rows * cols), ids = ints(nids, -2, rows + 2);
      const o1 = new Float32Array(nids * cols), o2 = new Float32Array(nids * cols);
      N.gatherRows(table, ids, o1, rows, cols);
      J.gatherRows(table, ids, o2, rows, cols);
      assert.deepEqual(o1, o2, `${isa} gatherRows`);
      const dout = rnd(nids * cols), d1 = rnd(rows * cols), d2 = d1.slice();
      N.scatterAddRows(dout, ids, d1, rows, cols);
      J.scatterAddRows(dout, ids, d2, rows, cols);
      close(d1, d2, `${isa} scatterAddRows`);
    }
  });
});

test('adam matches reference', { skip }, (t) => {
  forIsas(t, (isa) => {
    for (const n of [1, 7, 33, 129, 100003]) {
      const w = rnd(n), g = rnd(n), m = rnd(n, 0.1), v = rnd(n, 0.1).map(Math.abs);
      const a = [w, g, m, v].map((x) => x.slice()), b = [w, g, m, v].map((x) => x.slice());
      for (let step = 0; step < 3; step++) {
        N.adam(a[0], a[1], a[2], a[3], 1e-3, 0.9, 0.999, 1e-8, 1e-4, step);
        J.adam(b[0], b[1], b[2], b[3], 1e-3, 0.9, 0.999, 1e-8, 1e-4, step);
      }
      close(a[0], b[0], `${isa} adam w n=${n}`);
      close(a[2], b[2], `${isa} adam m n=${n}`);
      close(a[3], b[3], `${isa} adam v n=${n}`);
    }
  });
});

test('adafactor matches reference (factored, batched, unfactored, momentum, clipping)', { skip }, (t) => {
  forIsas(t, (isa) => {
    for (const [batch, rows, cols, factored, mom] of [[1, 7, 33, true, false], [3, 5, 9, true, true],
      [1, 1, 129, false, false], [1, 1, 1000, false, true], [2, 64, 130, true, false]]) {
      const n = batch * rows * cols;
      for (const [mul, clip] of [[true, true], [false, false]]) {
        const w = rnd(n), g = rnd(n, 0.5);
        const mk = () => ({
          w: w.slice(), g: g.slice(),
          vr: factored ? rnd(batch * rows, 0.01).map(Math.abs) : null,
          vc: factored ? rnd(batch * cols, 0.01).map(Math.abs) : null,
          v: factored ? null : rnd(n, 0.01).map(Math.abs),
          m: mom ? rnd(n, 0.01) : null,
        });
        seed = 777; const A = mk();
        seed = 777; const B = mk();
        for (const [K, s] of [[N, A], [J, B]]) {
          K.adafactor(s.w, s.g, s.vr, s.vc, s.v, s.m, factored ? batch : 1, factored ? rows : 1, factored ? cols : n,
            0.01, 0.2, 1e-30, 1e-3, 1.0, mul, clip, 0.9, 1e-4);
        }
        const what = `${isa} adafactor ${batch}x${rows}x${cols} factored=${factored} mom=${mom} mul=${mul} clip=${clip}`;
        close(A.w, B.w, `${what} w`);
        if (factored) { close(A.vr, B.vr, `${what} vr`); close(A.vc, B.vc, `${what} vc`); } else close(A.v, B.v, `${what} v`);
        if (mom) close(A.m, B.m, `${what} m`);
      }
    }
  });
});

test('sumSquares matches reference and is thread-count independent', { skip }, (t) => {
  const threads = N.threads();
  forIsas(t, (isa) => {
    for (const n of [0, 1, 7, 33, 129, 300001]) {
      const x = rnd(n);
      // The addon's float64 sum, against the reference's float64 sum.
      const r = sumSquaresF64(x);
      const vals = [1, 2].map((th) => { N.setThreads(th); return loaded.addon.sumSquares(x); });
      assert.ok(Math.abs(vals[0] - r) <= 1e-12 * Math.max(1, r), `${isa} sumSquares n=${n}: ${vals[0]} vs ${r}`);
      assert.equal(vals[0], vals[1]);
      // The kernels write that sum, rounded to float32, into a 1-element storage.
      const outJ = new Float32Array(1), outN = new Float32Array(1);
      J.sumSquares(x, outJ);
      N.sumSquares(x, outN);
      assert.equal(outJ[0], Math.fround(r));
      assert.equal(outN[0], Math.fround(vals[0]));
    }
  });
  N.setThreads(threads);
});

test('elementwise / softmax / layerNorm results do not depend on thread count', { skip }, () => {
  const threads = N.threads();
  const rows = 512, cols = 700;
  const x = rnd(rows * cols), scale = rnd(cols), bias = rnd(cols), dy = rnd(rows * cols);
  const run = () => {
    const u = new Float32Array(rows * cols); N.unary(7, x, u);
    const s = new Float32Array(rows * cols); N.softmax(x, s, rows, cols, true);
    const o = new Float32Array(rows * cols), m = new Float32Array(rows), r = new Float32Array(rows);
    N.layerNorm(x, scale, bias, o, m, r, rows, cols, 1e-5);
    const dx = new Float32Array(rows * cols), ds = new Float32Array(cols), db = new Float32Array(cols);
    N.layerNormBackward(dy, x, scale, m, r, dx, ds, db, rows, cols);
    const red = new Float32Array(cols); N.reduce(0, x, red, 1, rows, cols);
    return [u, s, o, dx, ds, db, red];
  };
  try {
    N.setThreads(1); const a = run();
    N.setThreads(2); const b = run();
    for (let i = 0; i < a.length; i++) assert.deepEqual(a[i], b[i], `output ${i} differs between 1 and 2 threads`);
  } finally {
    N.setThreads(threads);
  }
});

test('permute matches reference (head split/merge, general ranks, threads)', { skip }, () => {
  const threads = N.threads();
  try {
    for (const [shape, perm] of [[[12, 64, 4, 32], [0, 2, 1, 3]], [[2, 3, 4], [2, 0, 1]], [[5], [0]], [[7, 9], [1, 0]],
      [[2, 3, 1, 4, 5], [4, 1, 3, 0, 2]], [[16, 256, 4, 64], [0, 2, 1, 3]], [[3, 0, 2], [1, 0, 2]]]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const x = rnd(size), ref = new Float32Array(size);
      J.permute(x, ref, Int32Array.from(shape), Int32Array.from(perm));
      // Independent check of the reference on one element per call.
      if (size > 0) {
        const idx = shape.map((d, i) => (i * 7 + 3) % d);
        let src = 0;
        for (let i = 0; i < shape.length; i++) src = src * shape[i] + idx[i];
        let dst = 0;
        for (let i = 0; i < perm.length; i++) dst = dst * shape[perm[i]] + idx[perm[i]];
        assert.equal(ref[dst], x[src], `reference permute ${shape} by ${perm}`);
      }
      for (const th of [1, 2]) {
        N.setThreads(th);
        const out = new Float32Array(size);
        N.permute(x, out, Int32Array.from(shape), Int32Array.from(perm));
        assert.deepEqual(out, ref, `permute ${shape} by ${perm}, threads ${th}`);
      }
    }
  } finally {
    N.setThreads(threads);
  }
  const f = new Float32Array(6);
  assert.throws(() => N.permute(f, f, Int32Array.of(2, 3), Int32Array.of(0, 0)), /not a permutation/);
  assert.throws(() => N.permute(f, new Float32Array(5), Int32Array.of(2, 3), Int32Array.of(1, 0)), /permute/);
  assert.throws(() => J.permute(f, f, Int32Array.of(2, 3), Int32Array.of(1, 2)), /not a permutation/);
});

test('dropoutMask (with kept-value bytes) and dropoutApply match reference', { skip }, (t) => {
  forIsas(t, (isa) => {
    for (const n of [1, 2, 7, 33, 64, 1001, 70000]) {
      for (const keep of [0.9, 0.5]) {
        const x = rnd(n), dy = rnd(n);
        const o1 = new Float32Array(n), o2 = new Float32Array(n);
        const m1 = new Uint8Array(n).fill(7), m2 = new Uint8Array(n).fill(7);
        N.dropoutMask(12345, 678, keep, 1 / keep, o1, x, m1);
        J.dropoutMask(12345, 678, keep, 1 / keep, o2, x, m2);
        assert.deepEqual(o1, o2, `${isa} dropoutMask n=${n} keep=${keep}`);
        assert.deepEqual(m1, m2, `${isa} keepMask n=${n} keep=${keep}`);
        const plain = new Float32Array(n);
        N.dropoutMask(12345, 678, keep, 1 / keep, plain);
        for (let i = 0; i < n; i++) assert.equal(m1[i], plain[i] !== 0 ? 1 : 0);
        const d1 = new Float32Array(n), d2 = new Float32Array(n);
        N.dropoutApply(m1, 1 / keep, dy, d1);
        J.dropoutApply(m2, 1 / keep, dy, d2);
        assert.deepEqual(d1, d2, `${isa} dropoutApply n=${n}`);
        for (let i = 0; i < n; i++) assert.equal(d1[i], Math.fround(dy[i] * plain[i]));
      }
    }
  });
  const f = new Float32Array(4);
  assert.throws(() => N.dropoutApply(new Uint8Array(3), 2, f, f), /keepMask has 3/);
  assert.throws(() => N.dropoutMask(1, 2, 0.5, 2, f, null, new Float32Array(4)), /Uint8Array/);
});

test('bad arguments throw instead of crashing', { skip }, () => {
  const f = new Float32Array(10);
  assert.throws(() => N.matmul(f, f, f, 1, 4, 4, 4, false, false, 0, 0, false), /matmul.*a has 10 elements/);
  assert.throws(() => N.matmul(f, f, new Float32Array(100), 2, 2, 2, 2, false, false, 9, 0, false), /matmul/);
  assert.throws(() => N.matmul([1, 2], f, f, 1, 1, 1, 1, false, false, 0, 0, false), /Float32Array/);
  assert.throws(() => N.matmul(f, f, f, 1, -1, 1, 1, false, false, 0, 0, false), /non-negative integer/);
  assert.throws(() => N.matmul(f, f, f, 1, 1.5, 1, 1, false, false, 0, 0, false), /integer/);
  assert.throws(() => N.matmul(f, f, f, 1, 2, 2, 2, false, false, 0, 0, false, new Float32Array(3)), /bias has 3 values/);
  assert.throws(() => N.matmul(f, f, f, 1, 2, 2, 2, false, false, 0, 0, false, null, false, new Float32Array(3)), /gate has 3 values/);
  assert.throws(() => N.unary(1, f, new Float32Array(9)), /unary/);
  assert.throws(() => N.unary(99, f, f), /unknown op/);
  assert.throws(() => N.binary(0, f, f, f, Int32Array.of(11), Int32Array.of(1), Int32Array.of(1)), /binary/);
  assert.throws(() => N.binary(0, f, f, f, Int32Array.of(10), Int32Array.of(2), Int32Array.of(1)), /a has 10 elements/);
  assert.throws(() => N.softmax(f, f, 3, 4, false), /softmax/);
  assert.throws(() => N.crossEntropy(f, Int32Array.of(5), f, f, f, 1, 5), /target 5/);
  assert.throws(() => N.crossEntropyBackward(f, Int32Array.of(-1), f, f, f, 1, 5), /target -1/);
  assert.throws(() => N.attention(f, f, f, f, f, 1, 2, 2, 6, 1, false, 0, null, null), /attention/);
  assert.throws(() => N.gatherRows(f, Int32Array.of(0), f, 0, 1), /rows must be positive/);
  assert.throws(() => N.scatterAddRows(f, new Int32Array(20), f, 10, 1), /dout/);
  assert.throws(() => N.adam(f, new Float32Array(3), f, f, 1, 0.9, 0.9, 1e-8, 0, 0), /adam/);
  assert.throws(() => N.adafactor(f, f, null, null, null, null, 1, 1, 10, 1, 0.5, 1e-30, 1e-3, 1, true, true, 0, 0), /either/);
  assert.throws(() => N.layerNorm(f, f, f, f, f, f, 2, 6, 1e-5), /layerNorm/);
  assert.throws(() => N.sumSquares(new Int32Array(3), new Float32Array(1)), /Float32Array/);
  assert.throws(() => N.matmul(), /expected 12 arguments/);
});
