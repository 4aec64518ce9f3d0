// WebGPU kernels against the js reference kernels (the oracle), on small
// shapes: floats within 1e-4 relative (of the output's scale), integer
// results and dropout masks exactly. Runs on SwiftShader where chromium is
// installed (as on CI); skips with the reason where no adapter exists.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { jsKernels } from '../dist/src/backends/js.js';
import { webgpu } from './helpers/webgpu.mjs';
import { parseTiles } from '../dist/src/backends/webgpu/index.js';

const skip = webgpu.backend ? false : webgpu.reason;
const be = webgpu.backend;
const K = be?.kernels;

function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };
}
function randn(n, seed, scale = 1) {
  const r = rng(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}
const up = (a) => be.fromHost(a);
const get = (s, n) => be.read(s, 'float32', n);
const geti = (s, n) => be.read(s, 'int32', n);

/** |got - want| <= 1e-4 * max(1, max|want|) elementwise, with the first mismatch named. */
function close(got, want, what, rel = 1e-4) {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1;
  for (const v of want) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w)) { assert.ok(Number.isNaN(g), `${what}[${i}]: got ${g}, want NaN`); continue; }
    if (!Number.isFinite(w)) { assert.equal(g, w, `${what}[${i}]`); continue; }
    assert.ok(Math.abs(g - w) <= rel * scale, `${what}[${i}]: got ${g}, want ${w}`);
  }
}

describe('webgpu kernels agree with the js kernels', { skip }, () => {
  after(() => be?.runtime.flush());

  test('adapter report', () => {
    assert.equal(be.name, 'webgpu');
    assert.ok(be.adapter.limits.maxStorageBufferBindingSize > 0);
    assert.ok(Array.isArray(be.adapter.features));
  });

  test('upload and read back round-trip; counted', async () => {
    const before = be.stats();
    const x = randn(1000, 1);
    assert.deepEqual(await get(up(x)), x);
    const i = new Int32Array([1, -2, 3, 2147483647, -2147483648]);
    assert.deepEqual(await geti(up(i)), i);
    const after = be.stats();
    assert.equal(after.uploads - before.uploads, 2);
    assert.equal(after.reads - before.reads, 2);
  });

  for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
    test(`matmul transA=${transA} transB=${transB}, batched, all shapes ragged`, async () => {
      for (const [batch, m, n, k] of [[1, 5, 7, 3], [3, 33, 17, 40], [2, 70, 65, 19], [1, 130, 140, 9]]) {
        const a = randn(batch * m * k, m + 1), b = randn(batch * k * n, n + 2);
        const want = new Float32Array(batch * m * n);
        jsKernels.matmul(a, b, want, batch, m, n, k, transA, transB, m * k, k * n, false);
        const c = be.alloc(batch * m * n);
        K.matmul(up(a), up(b), c, batch, m, n, k, transA, transB, m * k, k * n, false);
        close(await get(c, batch * m * n), want, `matmul ${batch}x${m}x${n}x${k}`);
      }
    });
  }

  test('matmul epilogues: accumulate, bias, relu, gate with scale; broadcast A (stride 0)', async () => {
    const batch = 2, m = 37, n = 45, k = 29;
    const a = randn(m * k, 3), b = randn(batch * k * n, 4), c0 = randn(batch * m * n, 5);
    const bias = randn(n, 6), gate = randn(batch * m * n, 7);
    for (const [acc, useBias, relu, useGate] of [[true, false, false, false], [false, true, true, false], [true, true, false, true], [false, false, false, true]]) {
      const want = c0.slice();
      jsKernels.matmul(a, b, want, batch, m, n, k, false, false, 0, k * n, acc, useBias ? bias : null, relu, useGate ? gate : null, 1.25);
      const c = up(c0);
      K.matmul(up(a), up(b), c, batch, m, n, k, false, false, 0, k * n, acc, useBias ? up(bias) : null, relu, useGate ? up(gate) : null, 1.25);
      close(await get(c, want.length), want, `matmul epilogue ${[acc, useBias, relu, useGate]}`);
    }
  });

  test('every tile configuration (scalar and vec4, with prefetch) on ragged shapes and all epilogues', async () => {
    const saved = K.gemmTiles(), savedFill = K.fillTarget;
    try {
      K.fillTarget = 0;   // always the 'large' tile
      // Each configuration is a separate pipeline per layout (slow to compile on a CPU adapter): all four
      // layouts for the default large tile, two for the others.
      for (const spec of ['large=128x128x8/8x8v', 'large=64x128x16/4x8v', 'large=128x64x8/8x4']) {
        K.setGemmTiles(parseTiles(spec));
        const layouts = spec === 'large=128x128x8/8x8v' ? [[false, false], [true, true], [true, false], [false, true]] : [[false, false], [true, true]];
        for (const [transA, transB] of layouts) {
          const batch = 2, m = 131, n = 70, k = 37;
          const a = randn(batch * m * k, 1), b = randn(batch * k * n, 2), c0 = randn(batch * m * n, 3);
          const bias = randn(n, 4), gate = randn(batch * m * n, 5);
          const want = c0.slice();
          jsKernels.matmul(a, b, want, batch, m, n, k, transA, transB, m * k, k * n, true, bias, false, gate, 2);
          const c = up(c0);
          K.matmul(up(a), up(b), c, batch, m, n, k, transA, transB, m * k, k * n, true, up(bias), false, up(gate), 2);
          close(await get(c), want, `${spec} trans ${transA}${transB}`);
        }
      }
    } finally {
      K.setGemmTiles(saved);
      K.fillTarget = savedFill;
    }
  });

  test('matmul with offsets into A, B and C', async () => {
    const m = 6, n = 10, k = 7;
    const a = randn(3 + m * k, 90), b = randn(5 + k * n, 91), c0 = randn(4 + m * n + 2, 92);
    const want = c0.slice();
    jsKernels.matmul(a.subarray(3), b.subarray(5), want.subarray(4, 4 + m * n), 1, m, n, k, false, false, 0, 0, true);
    const c = up(c0);
    K.matmul(up(a), up(b), c, 1, m, n, k, false, false, 0, 0, true, null, false, null, 1, { a: 3, b: 5, c: 4 });
    close(await get(c), want, 'matmul offsets');
  });

  test('unary ops (all codes), in place too', async () => {
    const x = randn(777, 9, 3);
    x[0] = 0; x[1] = -0.0001; x[2] = 25; x[3] = -25; x[4] = 1e-6;
    const pos = Float32Array.from(x, (v) => Math.abs(v) + 0.01);
    for (let op = 0; op <= 15; op++) {
      const src = op === 2 || op === 4 || op === 5 ? pos : x;  // log, sqrt, rsqrt on positives
      const want = new Float32Array(src.length);
      jsKernels.unary(op, src, want);
      const out = be.alloc(src.length);
      K.unary(op, up(src), out);
      close(await get(out), want, `unary ${op}`);
    }
    const s = up(x);
    K.unary(0, s, s);
    close(await get(s), Float32Array.from(x, (v) => -v), 'unary in place');
  });

  test('binary ops with broadcasting (same shape, scalar b, strided)', async () => {
    const shape = Int32Array.from([3, 4, 5]);
    const a = randn(60, 11, 2), bFull = randn(60, 12, 2), bRow = randn(5, 13, 2), bCol = randn(3, 14, 2), bOne = randn(1, 15, 2);
    bFull[0] = a[0]; bFull[1] = a[1];  // ties for the comparisons
    const cases = [
      [bFull, [20, 5, 1]], [bRow, [0, 0, 1]], [bCol, [1, 0, 0]], [bOne, [0, 0, 0]],
    ];
    for (let op = 0; op <= 13; op++) {
      for (const [b, bs] of cases) {
        const bStr = Int32Array.from(bs), aStr = Int32Array.from([20, 5, 1]);
        const aa = op === 6 ? Float32Array.from(a, (v, i) => (i % 3 === 0 ? Math.abs(v) : Math.round(v * 2))) : a;
        const bb = op === 6 ? Float32Array.from(b, (v) => Math.round(v * 2)) : b;
        const want = new Float32Array(60);
        jsKernels.binary(op, aa, bb, want, shape, aStr, bStr);
        const out = be.alloc(60);
        K.binary(op, up(aa), up(bb), out, shape, aStr, bStr);
        close(await get(out), want, `binary ${op} b strides ${bs}`);
      }
    }
    // a broadcast over its middle axis
    const aMid = randn(15, 16);
    const want = new Float32Array(60);
    jsKernels.binary(0, aMid, bFull, want, shape, Int32Array.from([5, 0, 1]), Int32Array.from([20, 5, 1]));
    const out = be.alloc(60);
    K.binary(0, up(aMid), up(bFull), out, shape, Int32Array.from([5, 0, 1]), Int32Array.from([20, 5, 1]));
    close(await get(out), want, 'binary a broadcast');
  });

  test('reductions over rows and over middle axes, sum of squares', async () => {
    const x = randn(4 * 300 * 3, 17);
    for (let op = 0; op <= 2; op++) {
      for (const [outer, n, inner] of [[12, 300, 1], [4, 300, 3], [1, 3600, 1]]) {
        const want = new Float32Array(outer * inner);
        jsKernels.reduce(op, x, want, outer, n, inner);
        const out = be.alloc(outer * inner);
        K.reduce(op, up(x), out, outer, n, inner);
        close(await get(out), want, `reduce ${op} (${outer},${n},${inner})`);
      }
    }
    const big = randn(100000, 18);
    const s = be.alloc(1);
    K.sumSquares(up(big), s);
    const ss = new Float32Array(1);
    jsKernels.sumSquares(big, ss);
    close(await get(s), ss, "sumSquares");
  });

  test('softmax, log-softmax and their backward; masked rows', async () => {
    const rows = 6, cols = 300;
    const x = randn(rows * cols, 19, 4), dy = randn(rows * cols, 20);
    for (let j = 0; j < cols; j++) x[j] = -Infinity;  // a fully masked row
    x[cols + 3] = -Infinity;
    for (const log of [false, true]) {
      const want = new Float32Array(rows * cols);
      jsKernels.softmax(x, want, rows, cols, log);
      const out = be.alloc(rows * cols);
      K.softmax(up(x), out, rows, cols, log);
      const got = await get(out);
      close(got.subarray(cols), want.subarray(cols), `softmax log=${log}`);
      const y = want.slice(cols), dyr = dy.slice(cols);
      const wdx = new Float32Array(y.length);
      jsKernels.softmaxBackward(y, dyr, wdx, rows - 1, cols, log);
      const dx = be.alloc(y.length);
      const ys = log ? Float32Array.from(y, (v) => (Number.isFinite(v) ? v : -1e30)) : y;
      if (log) jsKernels.softmaxBackward(ys, dyr, wdx, rows - 1, cols, log);
      K.softmaxBackward(up(ys), up(dyr), dx, rows - 1, cols, log);
      close(await get(dx), wdx, `softmaxBackward log=${log}`);
    }
  });

  test('layer norm and its backward (dscale, dbias accumulate)', async () => {
    const rows = 37, cols = 70;
    const x = randn(rows * cols, 21, 3), sc = randn(cols, 22), bi = randn(cols, 23), dy = randn(rows * cols, 24);
    const out = new Float32Array(rows * cols), mean = new Float32Array(rows), rstd = new Float32Array(rows);
    jsKernels.layerNorm(x, sc, bi, out, mean, rstd, rows, cols, 1e-6);
    const go = be.alloc(rows * cols), gm = be.alloc(rows), gr = be.alloc(rows);
    K.layerNorm(up(x), up(sc), up(bi), go, gm, gr, rows, cols, 1e-6);
    close(await get(go), out, 'layerNorm out');
    close(await get(gm), mean, 'layerNorm mean');
    close(await get(gr), rstd, 'layerNorm rstd');
    const ds0 = randn(cols, 25), db0 = randn(cols, 26);
    const dx = new Float32Array(rows * cols), ds = ds0.slice(), db = db0.slice();
    jsKernels.layerNormBackward(dy, x, sc, mean, rstd, dx, ds, db, rows, cols);
    const gdx = be.alloc(rows * cols), gds = up(ds0), gdb = up(db0);
    K.layerNormBackward(up(dy), up(x), up(sc), gm, gr, gdx, gds, gdb, rows, cols);
    close(await get(gdx), dx, 'layerNormBackward dx');
    close(await get(gds), ds, 'layerNormBackward dscale');
    close(await get(gdb), db, 'layerNormBackward dbias');
  });

  test('fused cross-entropy and its backward', async () => {
    const rows = 9, vocab = 333;
    const logits = randn(rows * vocab, 27, 5), w = randn(rows, 28), dl = randn(rows, 29);
    const targets = Int32Array.from({ length: rows }, (_, i) => (i * 37) % vocab);
    const loss = new Float32Array(rows), logp = new Float32Array(rows * vocab);
    jsKernels.crossEntropy(logits, targets, w, loss, logp, rows, vocab);
    const gl = be.alloc(rows), gp = be.alloc(rows * vocab), gt = up(targets);
    K.crossEntropy(up(logits), gt, up(w), gl, gp, rows, vocab);
    close(await get(gl), loss, 'crossEntropy loss');
    close(await get(gp), logp, 'crossEntropy logp');
    const dx = new Float32Array(rows * vocab);
    jsKernels.crossEntropyBackward(logp, targets, w, dl, dx, rows, vocab);
    const gdx = be.alloc(rows * vocab);
    K.crossEntropyBackward(gp, gt, up(w), up(dl), gdx, rows, vocab);
    close(await get(gdx), dx, 'crossEntropyBackward');
  });

  for (const layout of [false, true]) {
    test(`attention with probs (causal, offset, dropout, key mask) and backward; head layout ${layout}`, async () => {
      const B = 2, H = 3, lq = 7, lk = 9, d = 5, bh = B * H;
      const st = layout ? H * d : d;
      const lay = layout ? [H, st, st, st, st] : [];
      const q = randn(bh * lq * d, 30), k = randn(bh * lk * d, 31), v = randn(bh * lk * d, 32), dout = randn(bh * lq * d, 33);
      const drop = Float32Array.from(randn(bh * lq * lk, 34), (x) => (x > -0.6 ? 1.25 : 0));
      const km = Float32Array.from({ length: bh * lk }, (_, i) => (i % 5 === 4 ? 0 : 1));
      for (const [causal, offset, useDrop, useKm] of [[false, 0, false, false], [true, 2, false, false], [true, 2, true, false], [false, 0, true, true], [true, -1, false, false]]) {
        const out = new Float32Array(bh * lq * d), probs = new Float32Array(bh * lq * lk);
        jsKernels.attention(q, k, v, out, probs, bh, lq, lk, d, 0.4, causal, offset, useDrop ? drop : null, useKm ? km : null, ...lay);
        const gq = up(q), gk = up(k), gv = up(v), gout = be.alloc(out.length), gp = be.alloc(probs.length);
        const gdrop = useDrop ? up(drop) : null;
        K.attention(gq, gk, gv, gout, gp, bh, lq, lk, d, 0.4, causal, offset, gdrop, useKm ? up(km) : null, ...lay);
        const what = `attention causal=${causal} offset=${offset} drop=${useDrop} km=${useKm}`;
        close(await get(gout), out, `${what} out`);
        close(await get(gp), probs, `${what} probs`);
        const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
        jsKernels.attentionBackward(dout, q, k, v, probs, dq, dk, dv, bh, lq, lk, d, 0.4, useDrop ? drop : null, ...lay);
        const gdq = be.alloc(q.length), gdk = be.alloc(k.length), gdv = be.alloc(v.length);
        K.attentionBackward(up(dout), gq, gk, gv, gp, gdq, gdk, gdv, bh, lq, lk, d, 0.4, gdrop, ...lay);
        close(await get(gdq), dq, `${what} dq`);
        close(await get(gdk), dk, `${what} dk`);
        close(await get(gdv), dv, `${what} dv`);
        if (!useDrop) {
          // Flash path: the same outputs and gradients without the probability matrix.
          const fo = be.alloc(out.length), lse = be.alloc(2 * bh * lq);
          K.attentionFlash(gq, gk, gv, fo, lse, bh, lq, lk, d, 0.4, causal, offset, useKm ? up(km) : null, ...lay);
          close(await get(fo), out, `${what} flash out`);
          const fq = be.alloc(q.length), fk = be.alloc(k.length), fv = be.alloc(v.length);
          K.attentionFlashBackward(up(dout), gq, gk, gv, fo, lse, fq, fk, fv, bh, lq, lk, d, 0.4, causal, offset, useKm ? up(km) : null, ...lay);
          close(await get(fq), dq, `${what} flash dq`);
          close(await get(fk), dk, `${what} flash dk`);
          close(await get(fv), dv, `${what} flash dv`);
        }
      }
    });
  }

  test('flash attention with a long sequence and head size above the thread count', async () => {
    const bh = 2, l = 150, d = 80;
    const q = randn(bh * l * d, 40), k = randn(bh * l * d, 41), v = randn(bh * l * d, 42), dout = randn(bh * l * d, 43);
    const out = new Float32Array(q.length), probs = new Float32Array(bh * l * l);
    jsKernels.attention(q, k, v, out, probs, bh, l, l, d, 0.1, true, 0, null, null);
    const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
    jsKernels.attentionBackward(dout, q, k, v, probs, dq, dk, dv, bh, l, l, d, 0.1, null);
    const gq = up(q), gk = up(k), gv = up(v), fo = be.alloc(q.length), lse = be.alloc(2 * bh * l);
    K.attentionFlash(gq, gk, gv, fo, lse, bh, l, l, d, 0.1, true, 0, null);
    close(await get(fo), out, 'flash out');
    const fq = be.alloc(q.length), fk = be.alloc(k.length), fv = be.alloc(v.length);
    K.attentionFlashBackward(up(dout), gq, gk, gv, fo, lse, fq, fk, fv, bh, l, l, d, 0.1, true, 0, null);
    close(await get(fq), dq, 'flash dq');
    close(await get(fk), dk, 'flash dk');
    close(await get(fv), dv, 'flash dv');
  });

  test('gather rows and scatter-add rows (repeated and out-of-range ids clip)', async () => {
    const rows = 11, cols = 13;
    const table = randn(rows * cols, 50), ids = Int32Array.from([3, 0, 10, 3, -4, 99, 7, 3]);
    const want = new Float32Array(ids.length * cols);
    jsKernels.gatherRows(table, ids, want, rows, cols);
    const out = be.alloc(want.length), gids = up(ids);
    K.gatherRows(up(table), gids, out, rows, cols);
    assert.deepEqual(await get(out), want);
    const dout = randn(ids.length * cols, 51), dt0 = randn(rows * cols, 52);
    const dt = dt0.slice();
    jsKernels.scatterAddRows(dout, ids, dt, rows, cols);
    const gdt = up(dt0);
    K.scatterAddRows(up(dout), gids, gdt, rows, cols);
    close(await get(gdt), dt, 'scatterAddRows');
  });

  test('argmax over rows: first of ties, into an offset', async () => {
    const rows = 5, cols = 700;
    const x = randn(rows * cols, 53);
    x[2 * cols + 10] = 9; x[2 * cols + 600] = 9;   // tie: the first wins
    x[3 * cols + 699] = 50;
    const want = new Int32Array(rows + 2);
    for (let r = 0; r < rows; r++) {
      let b = 0;
      for (let j = 1; j < cols; j++) if (x[r * cols + j] > x[r * cols + b]) b = j;
      want[r + 2] = b;
    }
    const out = be.alloc(rows + 2);
    K.argmaxRows(up(x), out, rows, cols, 2);
    assert.deepEqual(await geti(out), want);
    const g = be.alloc(2 * 3);
    K.gatherRows(up(Float32Array.of(0, 1, 2, 10, 11, 12, 20, 21, 22)), up(Int32Array.of(9, 2, 1, 9)), g, 3, 3, 1, 2);
    assert.deepEqual(await get(g), Float32Array.of(20, 21, 22, 10, 11, 12));
  });

  test('dropout masks are bit-identical to the js kernels (odd and even sizes, with x, keep bytes)', async () => {
    for (const [n, keep, k0, k1] of [[1, 0.5, 1, 2], [1001, 0.9, 0x12345678, 0x9abcdef0 | 0], [4096, 0.1, 7, 0], [777, 0.75, -1, 5]]) {
      const scale = 1 / keep;
      const x = randn(n, n);
      const want = new Float32Array(n), wantX = new Float32Array(n), keepBytes = new Uint8Array(n);
      jsKernels.dropoutMask(k0, k1, keep, scale, want, null, null);
      jsKernels.dropoutMask(k0, k1, keep, scale, wantX, x, keepBytes);
      const out = be.alloc(n);
      K.dropoutMask(k0, k1, keep, scale, out, null, null);
      assert.deepEqual(await get(out), want, `mask n=${n} keep=${keep}`);
      const outX = be.alloc(n), km = be.allocMask(n);
      K.dropoutMask(k0, k1, keep, scale, outX, up(x), km);
      assert.deepEqual(await get(outX), wantX, `masked x n=${n}`);
      assert.deepEqual(await be.readBytes(km, n), keepBytes, `keep bytes n=${n}`);
      const dy = randn(n, n + 1), wantDx = new Float32Array(n);
      jsKernels.dropoutApply(keepBytes, scale, dy, wantDx);
      const gdx = be.alloc(n);
      K.dropoutApply(km, scale, up(dy), gdx);
      assert.deepEqual(await get(gdx), wantDx, `dropoutApply n=${n}`);
    }
  });

  test('keep threshold at a float boundary matches the double comparison', async () => {
    // fround(0.9) < 0.9: a word exactly at fround(0.9) * 2^23 is kept by the reference.
    const n = 5000, keep = 0.9;
    const want = new Float32Array(n);
    jsKernels.dropoutMask(3, 4, keep, 1, want);
    const out = be.alloc(n);
    K.dropoutMask(3, 4, keep, 1, out);
    assert.deepEqual(await get(out), want);
  });

  test('adam update in place', async () => {
    const n = 1234;
    const w = randn(n, 60), g = randn(n, 61), m = randn(n, 62, 0.1), v = Float32Array.from(randn(n, 63), Math.abs);
    const gw = up(w), gm = up(m), gv = up(v);
    jsKernels.adam(w, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1e-5, 4);
    K.adam(gw, up(g), gm, gv, 1e-3, 0.9, 0.999, 1e-8, 1e-5, 4);
    close(await get(gw), w, 'adam w');
    close(await get(gm), m, 'adam m');
    close(await get(gv), v, 'adam v');
  });

  test('adafactor: factored with momentum and clipping, unfactored, batched', async () => {
    const cases = [
      { batch: 1, rows: 17, cols: 23, factored: true, mom: true, clip: true, mps: true },
      { batch: 3, rows: 5, cols: 8, factored: true, mom: false, clip: false, mps: false },
      { batch: 1, rows: 1, cols: 40, factored: false, mom: true, clip: true, mps: true },
    ];
    for (const c of cases) {
      const n = c.batch * c.rows * c.cols;
      const w = randn(n, 70), g = randn(n, 71);
      const vr = c.factored ? Float32Array.from(randn(c.batch * c.rows, 72), Math.abs) : null;
      const vc = c.factored ? Float32Array.from(randn(c.batch * c.cols, 73), Math.abs) : null;
      const v = c.factored ? null : Float32Array.from(randn(n, 74), Math.abs);
      const m = c.mom ? randn(n, 75, 0.1) : null;
      const gw = up(w), gvr = vr && up(vr), gvc = vc && up(vc), gv = v && up(v), gm = m && up(m);
      const args = [c.batch, c.rows, c.cols, 0.01, 0.8, 1e-30, 1e-3, 1.0, c.mps, c.clip, 0.9, 1e-4];
      jsKernels.adafactor(w, g, vr, vc, v, m, ...args);
      K.adafactor(gw, up(g), gvr, gvc, gv, gm, ...args);
      const what = JSON.stringify(c);
      close(await get(gw), w, `adafactor w ${what}`);
      if (vr) { close(await get(gvr), vr, `adafactor vr ${what}`); close(await get(gvc), vc, `adafactor vc ${what}`); }
      if (v) close(await get(gv), v, `adafactor v ${what}`);
      if (m) close(await get(gm), m, `adafactor m ${what}`);
    }
  });

  test('permute, strided copy (slice, reverse), fill, cast, random bits', async () => {
    const shape = Int32Array.from([2, 3, 4, 5]), perm = Int32Array.from([0, 2, 1, 3]);
    const x = randn(120, 80);
    const want = new Float32Array(120);
    jsKernels.permute(x, want, shape, perm);
    const out = be.alloc(120), gx = up(x);
    K.permute(gx, out, shape, perm);
    assert.deepEqual(await get(out), want);
    // x viewed (6, 20): rows 1..4 reversed, columns 2..9 -> (4, 8)
    const cs = Int32Array.from([4, 8]);
    const sl = be.alloc(32);
    K.copyStrided(gx, sl, cs, Int32Array.from([-20, 1]), 4 * 20 + 2, Int32Array.from([8, 1]), 0);
    const wantSl = new Float32Array(32);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 8; c++) wantSl[r * 8 + c] = x[(4 - r) * 20 + 2 + c];
    assert.deepEqual(await get(sl), wantSl);
    const f = be.alloc(7);
    K.fill(f, -3, true);
    assert.deepEqual(await geti(f), new Int32Array(7).fill(-3));
    const ci = be.alloc(5);
    K.cast(up(Float32Array.of(1.7, -1.7, 0, 3e9 / 1e3, -5)), ci, true);
    assert.deepEqual(await geti(ci), Int32Array.of(1, -1, 0, 3000000, -5));
    const cf = be.alloc(3);
    K.cast(up(Int32Array.of(7, -8, 16777217)), cf, false);
    assert.deepEqual(await get(cf), Float32Array.of(7, -8, 16777216));
    const { bitsFromWords } = await import('../dist/src/engine/threefry.js');
    for (const n of [1, 8, 333]) {
      const rb = be.alloc(n);
      K.randomBits(11, 22, rb);
      assert.deepEqual(new Uint32Array((await geti(rb)).buffer), bitsFromWords(11, 22, n), `bits n=${n}`);
    }
  });

  test('int32 binary ops with broadcasting (int and float outputs), select', async () => {
    const shape = Int32Array.from([3, 4]);
    const a = Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 11 - 5), b = Int32Array.of(3, -2, 0, 5);
    const aS = Int32Array.of(4, 1), bS = Int32Array.of(0, 1);
    for (let op = 0; op <= 13; op++) {
      if (op === 3 || op === 6) continue;  // Div and Pow go through floats (checked below)
      for (const outFloat of [false, true]) {
        const want = outFloat ? new Float32Array(12) : new Int32Array(12);
        jsKernels.binaryInt(op, a, b, want, shape, aS, bS, outFloat);
        const out = be.alloc(12);
        K.binaryInt(op, up(a), up(b), out, shape, aS, bS, outFloat);
        assert.deepEqual(outFloat ? await get(out) : await geti(out), want, `binaryInt ${op} float=${outFloat}`);
      }
    }
    const bNz = Int32Array.of(3, -2, 7, 5);
    const want = new Float32Array(12);
    jsKernels.binaryInt(3, a, bNz, want, shape, aS, bS, true);
    const out = be.alloc(12);
    K.binaryInt(3, up(a), up(bNz), out, shape, aS, bS, true);
    close(await get(out), want, 'binaryInt div');
    const cond = Float32Array.of(1, 0, 0, 1), xa = randn(12, 5), xb = randn(4, 6);
    const sel = new Float32Array(12);
    jsKernels.select(cond, xa, xb, sel, shape, Int32Array.of(0, 1), aS, Int32Array.of(0, 1));
    const gsel = be.alloc(12);
    K.select(up(cond), up(xa), up(xb), gsel, shape, Int32Array.of(0, 1), aS, Int32Array.of(0, 1));
    assert.deepEqual(await get(gsel), sel);
  });

  test('gather, scatterAdd (float and int), gatherAlong, scatterAlong, argmax over any axis, cumsum, oneHot', async () => {
    const outer = 3, n = 5, m = 4, inner = 6;
    const x = randn(outer * n * inner, 7), ids = Int32Array.of(4, -1, 2, 9);
    const want = new Float32Array(outer * m * inner);
    jsKernels.gather(x, ids, want, outer, n, m, inner);
    const g = be.alloc(want.length), gids = up(ids);
    K.gather(up(x), gids, g, outer, n, m, inner);
    assert.deepEqual(await get(g), want);
    const upd = randn(outer * m * inner, 8), base = randn(outer * n * inner, 9);
    const sa = base.slice();
    jsKernels.scatterAdd(upd, ids, sa, outer, n, m, inner, false);
    const gsa = up(base);
    K.scatterAdd(up(upd), gids, gsa, outer, n, m, inner, false);
    close(await get(gsa), sa, 'scatterAdd float');
    const iu = Int32Array.from({ length: outer * m * inner }, (_, i) => i - 30), ib = Int32Array.from({ length: outer * n * inner }, (_, i) => 2 * i);
    const isa = ib.slice();
    jsKernels.scatterAdd(iu, ids, isa, outer, n, m, inner, true);
    const gisa = up(ib);
    K.scatterAdd(up(iu), gids, gisa, outer, n, m, inner, true);
    assert.deepEqual(await geti(gisa), isa);
    const along = Int32Array.from({ length: outer * m * inner }, (_, i) => (i * 3) % (n + 2) - 1);
    const ga = new Float32Array(outer * m * inner);
    jsKernels.gatherAlong(x, along, ga, outer, n, m, inner);
    const gga = be.alloc(ga.length), galong = up(along);
    K.gatherAlong(up(x), galong, gga, outer, n, m, inner);
    assert.deepEqual(await get(gga), ga);
    const sal = base.slice();
    jsKernels.scatterAlong(upd, along, sal, outer, n, m, inner);
    const gsal = up(base);
    K.scatterAlong(up(upd), galong, gsal, outer, n, m, inner);
    close(await get(gsal), sal, 'scatterAlong');
    const xt = x.slice(); xt[3] = xt[3 + inner]; xt[0] = NaN;   // a tie and a NaN at index 0 of one column
    for (const [o, nn, inn] of [[outer, n, inner], [outer * n, inner, 1], [1, outer * n * inner, 1]]) {
      const am = new Int32Array(o * inn);
      jsKernels.argmax(xt, am, o, nn, inn);
      const gam = be.alloc(am.length);
      K.argmax(up(xt), gam, o, nn, inn);
      assert.deepEqual(await geti(gam), am, `argmax (${o},${nn},${inn})`);
    }
    const cs = new Float32Array(x.length);
    jsKernels.cumsum(x, cs, outer, n, inner, false);
    const gcs = be.alloc(x.length);
    K.cumsum(up(x), gcs, outer, n, inner, false);
    close(await get(gcs), cs, 'cumsum');
    const ics = new Int32Array(ib.length);
    jsKernels.cumsum(ib, ics, outer, n, inner, true);
    const gics = be.alloc(ib.length);
    K.cumsum(up(ib), gics, outer, n, inner, true);
    assert.deepEqual(await geti(gics), ics);
    const oh = Float32Array.of(0, 3, 2.5, -1, 9, 1), ohw = new Float32Array(6 * 4);
    jsKernels.oneHot(oh, ohw, 6, 4);
    const goh = be.alloc(24);
    K.oneHot(up(oh), goh, 6, 4);
    assert.deepEqual(await get(goh), ohw);
  });

  test('random distributions match the js kernels for the same key', async () => {
    for (const n of [1, 7, 1000]) {
      const cases = [
        ['randomUniform', [-2, 3]], ['randomNormal', [0.5, 2]], ['randomBernoulli', [0.3]], ['randomGumbel', []],
        ['randomTruncatedNormal', [-1.5, 2]],
      ];
      for (const [name, extra] of cases) {
        const want = new Float32Array(n);
        jsKernels[name](123, 456, want, ...extra);
        const out = be.alloc(n);
        K[name](123, 456, out, ...extra);
        const got = await get(out);
        if (name === 'randomBernoulli') assert.deepEqual(got, want, `${name} n=${n}`);
        else close(got, want, `${name} n=${n}`, 2e-4);
      }
      for (const [lo, hi] of [[0, 10], [-5, 1 << 30], [-(2 ** 31), 2 ** 31 - 1]]) {
        const want = new Int32Array(n);
        jsKernels.randomInt(9, 10, want, lo, hi);
        const out = be.alloc(n);
        K.randomInt(9, 10, out, lo, hi);
        assert.deepEqual(await geti(out), want, `randomInt [${lo}, ${hi}) n=${n}`);
      }
    }
  });

  test('attention on views: q, k, v and dq, dk, dv as column blocks of one buffer', async () => {
    const B = 2, H = 2, l = 5, dh = 3, d = H * dh, d3 = 3 * d, bh = B * H, rows = B * l;
    const qkv = randn(rows * d3, 95), dout = randn(rows * d, 96);
    const out = new Float32Array(rows * d), probs = new Float32Array(bh * l * l);
    const q = qkv, k = qkv.subarray(d), v = qkv.subarray(2 * d);
    jsKernels.attention(q, k, v, out, probs, bh, l, l, dh, 0.5, true, 0, null, null, H, d3, d3, d3, d);
    const dqkv = new Float32Array(rows * d3);
    jsKernels.attentionBackward(dout, q, k, v, probs, dqkv, dqkv.subarray(d), dqkv.subarray(2 * d), bh, l, l, dh, 0.5, null, H, d3, d3, d3, d);
    const g = up(qkv), gout = be.alloc(rows * d), gp = be.alloc(bh * l * l);
    K.attention(g, g.view(d, rows * d3 - d), g.view(2 * d, rows * d3 - 2 * d), gout, gp, bh, l, l, dh, 0.5, true, 0, null, null, H, d3, d3, d3, d);
    close(await get(gout), out, 'attention on views');
    const gd = be.alloc(rows * d3);
    K.attentionBackward(up(dout), g, g.view(d, rows * d3 - d), g.view(2 * d, rows * d3 - 2 * d), gp, gd, gd.view(d, rows * d3 - d),
      gd.view(2 * d, rows * d3 - 2 * d), bh, l, l, dh, 0.5, null, H, d3, d3, d3, d);
    close(await get(gd), dqkv, 'attention backward on views');
  });

  test('sgd, momentum (nesterov too), rmsprop, bfloat16 rounding, sm3 (diagonal, factored, grafting, momentum types)', async () => {
    const n = 60;
    const w = randn(n, 101), g = randn(n, 102), v = randn(n, 103, 0.1), avg = Float32Array.from(randn(n, 104), Math.abs);
    const run = async (what, jsArgs, gpuArgs, outs) => {
      jsKernels[what](...jsArgs);
      K[what](...gpuArgs);
      for (const [gs, want, name] of outs) close(await get(gs), want, `${what} ${name}`);
    };
    { const ww = w.slice(), gw = up(w); await run('sgd', [ww, g, 0.1], [gw, up(g), 0.1], [[gw, ww, 'w']]); }
    for (const nest of [false, true]) {
      const ww = w.slice(), vv = v.slice(), gw = up(w), gv = up(v);
      await run('momentum', [ww, g, vv, 0.9, 0.05, 1e-4, nest], [gw, up(g), gv, 0.9, 0.05, 1e-4, nest], [[gw, ww, 'w'], [gv, vv, 'v']]);
    }
    { const ww = w.slice(), aa = avg.slice(), gw = up(w), ga = up(avg);
      await run('rmsprop', [ww, g, aa, 0.9, 1e-8, 0.01], [gw, up(g), ga, 0.9, 1e-8, 0.01], [[gw, ww, 'w'], [ga, aa, 'avg']]); }
    { const xx = randn(n, 105, 100); xx[0] = Infinity; const gx = up(xx); jsKernels.roundBfloat16(xx); K.roundBfloat16(gx);
      assert.deepEqual(await get(gx), xx, 'roundBfloat16'); }
    for (const [dims, graft, mt] of [[[60], false, 0], [[6, 10], false, 1], [[3, 4, 5], true, 2], [[6, 10], true, 0]]) {
      const D = Int32Array.from(dims), cat = dims.length === 1 ? n : dims.reduce((a, b) => a + b, 0);
      const v1 = Float32Array.from(randn(cat, 106), Math.abs), v2 = graft ? Float32Array.from(randn(cat, 107), Math.abs) : null;
      const m = randn(n, 108, 0.1);
      const ww = w.slice(), mm = m.slice(), vv1 = v1.slice(), vv2 = v2 && v2.slice();
      const gw = up(w), gm = up(m), gv1 = up(v1), gv2 = v2 && up(v2);
      jsKernels.sm3(ww, g, mm, vv1, vv2, D, 0.1, 1e-3, 0.9, 0.95, mt);
      K.sm3(gw, up(g), gm, gv1, gv2, D, 0.1, 1e-3, 0.9, 0.95, mt);
      const what = `sm3 dims ${dims} graft ${graft} momentum ${mt}`;
      close(await get(gw), ww, `${what} w`);
      close(await get(gm), mm, `${what} m`);
      close(await get(gv1), vv1, `${what} v1`);
      if (gv2) close(await get(gv2), vv2, `${what} v2`);
    }
  });

  test('tensors larger than one binding get a clear error', () => {
    const words = Math.floor(be.maxTensorBytes / 4) + 1;
    assert.throws(() => be.runtime.alloc(words), /maxStorageBufferBindingSize/);
  });
});
