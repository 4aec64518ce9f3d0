// Fused transformer hot paths: each is one kernel forward and one kernel
// backward, instead of a chain of small ops (llm.c style).
import { kernels } from '../backends/index.js';
import { opError, cast, mul, collapseBroadcast } from './ops.js';
import { Binary, Reduce } from '../backends/kernels.js';
import { allocF32, allocF32Raw } from './pool.js';
import { record, recording } from './tape.js';
import { Tensor, toTensor, type TensorLike } from './tensor.js';

const K = kernels;
function f32(t: Tensor): Float32Array { return (t.dtype === 'float32' ? t : cast(t, 'float32')).buf as Float32Array; }

/** Layer norm over the last axis with scale and bias (Trax's LayerNorm math). */
export function layerNorm(xl: TensorLike, scalel: TensorLike, biasl: TensorLike, eps = 1e-6): Tensor {
  const x = toTensor(xl, 'layerNorm'), scale = toTensor(scalel, 'layerNorm'), bias = toTensor(biasl, 'layerNorm');
  const cols = x.shape[x.rank - 1];
  if (x.rank === 0 || scale.size !== cols || bias.size !== cols) {
    throw opError('layerNorm', `scale and bias must have ${cols} values (the last axis)`, x, scale, bias);
  }
  const rows = x.size / cols;
  const out = allocF32Raw(x.size), mu = allocF32Raw(rows), rs = allocF32Raw(rows);
  const xb = f32(x);
  K().layerNorm(xb, f32(scale), f32(bias), out, mu, rs, rows, cols, eps);
  const y = new Tensor(out, x.shape);
  return record(y, [x, scale, bias], (dy) => {
    const dx = allocF32(x.size), ds = allocF32(cols), db = allocF32(cols);
    K().layerNormBackward(f32(dy), xb, f32(scale), mu, rs, dx, ds, db, rows, cols);
    return [new Tensor(dx, x.shape), new Tensor(ds, scale.shape), new Tensor(db, bias.shape)];
  });
}

/**
 * Per-position weighted cross-entropy of logits against integer targets,
 * log-softmax inside: returns -w * log_softmax(logits)[target] with the
 * shape of targets.
 */
export function softmaxCrossEntropy(logitsl: TensorLike, targetsl: TensorLike, weightsl?: TensorLike): Tensor {
  const logits = toTensor(logitsl, 'softmaxCrossEntropy');
  const targets = toTensor(targetsl, 'softmaxCrossEntropy');
  const vocab = logits.shape[logits.rank - 1];
  const rows = logits.size / vocab;
  if (targets.size !== rows || targets.rank !== logits.rank - 1 || targets.shape.some((d, i) => d !== logits.shape[i])) {
    throw opError('softmaxCrossEntropy', 'targets must match logits without the last axis', logits, targets);
  }
  if (targets.dtype !== 'int32') {
    // Float targets must hold integers; truncating 1.5 or NaN would train on the wrong class.
    for (const t of targets.buf) {
      if (!Number.isInteger(t)) throw opError('softmaxCrossEntropy', `targets must be integers, got ${t}`, logits, targets);
    }
  }
  const tgt = targets.dtype === 'int32' ? targets.buf as Int32Array : Int32Array.from(targets.buf);
  for (let i = 0; i < tgt.length; i++) {
    if (tgt[i] < 0 || tgt[i] >= vocab) throw opError('softmaxCrossEntropy', `target ${tgt[i]} is out of range [0, ${vocab})`, logits, targets);
  }
  let w: Float32Array;
  let weights: Tensor | null = null;
  if (weightsl === undefined) w = allocF32(rows).fill(1);
  else {
    weights = toTensor(weightsl, 'softmaxCrossEntropy');
    if (weights.size !== rows) throw opError('softmaxCrossEntropy', 'weights must match targets', logits, targets, weights);
    w = f32(weights);
  }
  const loss = allocF32(rows), logp = allocF32(logits.size);
  K().crossEntropy(f32(logits), tgt, w, loss, logp, rows, vocab);
  const y = new Tensor(loss, targets.shape);
  // Weights are differentiable too (d loss / d w = -logp[target]), so a
  // computed weighting never silently gets a zero gradient.
  const inputs = weights ? [logits, weights] : [logits];
  return record(y, inputs, (dy) => {
    const dl = allocF32(logits.size);
    const dyb = f32(dy);
    K().crossEntropyBackward(logp, tgt, w, dyb, dl, rows, vocab);
    const grads = [new Tensor(dl, logits.shape)];
    if (weights) {
      const dw = allocF32(rows);
      for (let r = 0; r < rows; r++) dw[r] = -dyb[r] * logp[r * vocab + tgt[r]];
      grads.push(new Tensor(dw, weights.shape));
    }
    return grads;
  });
}

export interface AttentionOptions {
  causal?: boolean;
  /** Query i attends to key j only when j <= i + offset (predict-mode caches). */
  offset?: number;
  /** Dropout mask over the attention probabilities, already scaled by 1/keep. */
  dropMask?: Tensor | null;
  /** (bh, lk) 0/1 floats: keys with 0 are padding. */
  keyMask?: Tensor | null;
  /** If given, receives the attention probabilities (bh, lq, lk). */
  probsOut?: { probs?: Tensor };
}

/**
 * Scaled dot-product attention over heads: q (bh, lq, d), k and v (bh, lk, d).
 * Masked scores are -1e9 before the softmax, as in Trax.
 */
export function dotProductAttention(ql: TensorLike, kl: TensorLike, vl: TensorLike, opts: AttentionOptions = {}): Tensor {
  const q = toTensor(ql, 'attention'), k = toTensor(kl, 'attention'), v = toTensor(vl, 'attention');
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3 || k.shape[0] !== q.shape[0] || v.shape[0] !== q.shape[0]
    || k.shape[2] !== q.shape[2] || v.shape[1] !== k.shape[1]) {
    throw opError('attention', 'expected q (bh, lq, d), k (bh, lk, d), v (bh, lk, dv) with matching bh, d and lk', q, k, v);
  }
  const [bh, lq, d] = q.shape;
  const lk = k.shape[1];
  const dv = v.shape[2];
  if (dv !== d) throw opError('attention', 'value depth must equal query depth', q, k, v);
  const scale = 1 / Math.sqrt(d);
  const causal = opts.causal ?? false, offset = opts.offset ?? 0;
  const drop = opts.dropMask ? f32(opts.dropMask) : null;
  if (drop && drop.length !== bh * lq * lk) throw opError('attention', `dropMask must have ${bh * lq * lk} values`, q, k, opts.dropMask!);
  const km = opts.keyMask ? f32(opts.keyMask) : null;
  if (km && km.length !== bh * lk) throw opError('attention', `keyMask must have ${bh * lk} values`, q, k, opts.keyMask!);
  const out = allocF32Raw(bh * lq * d), probs = allocF32Raw(bh * lq * lk);
  const qb = f32(q), kb = f32(k), vb = f32(v);
  K().attention(qb, kb, vb, out, probs, bh, lq, lk, d, scale, causal, offset, drop, km);
  if (opts.probsOut) opts.probsOut.probs = new Tensor(probs, [bh, lq, lk]);
  const y = new Tensor(out, [bh, lq, d]);
  // A query row whose keys are all masked gets uniform probabilities over
  // constant scores: its output depends on v only, so it must send no
  // gradient to q or k (the kernel would, as its probabilities are non-zero).
  return record(y, [q, k, v], (dy) => {
    let dead: number[] | null = null;
    if (causal || km) {
      for (let h = 0; h < bh; h++) for (let i = 0; i < lq; i++) {
        let open = false;
        for (let j = 0; j < lk && !open; j++) open = !(causal && j > i + offset) && !(km && km[h * lk + j] === 0);
        if (!open) (dead ??= []).push(h * lq + i);
      }
    }
    const dq = allocF32(q.size), dk = allocF32(k.size), dvv = allocF32(v.size);
    const dyb = f32(dy);
    K().attentionBackward(dyb, qb, kb, vb, probs, dq, dk, dvv, bh, lq, lk, d, scale, drop);
    if (dead) {
      // Second pass with the dead rows' cotangent zeroed gives the right dq and dk.
      const dyLive = Float32Array.from(dyb);
      for (const r of dead) dyLive.fill(0, r * d, (r + 1) * d);
      K().attentionBackward(dyLive, qb, kb, vb, probs, dq, dk, allocF32(v.size), bh, lq, lk, d, scale, drop);
    }
    return [new Tensor(dq, q.shape), new Tensor(dk, k.shape), new Tensor(dvv, v.shape)];
  });
}

/** Embedding lookup with Trax's clipping of out-of-range ids. */
export function embeddingLookup(tablel: TensorLike, idsl: TensorLike): Tensor {
  const table = toTensor(tablel, 'embedding'), ids = toTensor(idsl, 'embedding');
  if (table.rank !== 2) throw opError('embedding', 'table must be 2-D (vocab, depth)', table);
  if (ids.dtype !== 'int32') {
    // Out-of-range ids are clipped (as in Trax), but a fractional or NaN id is a bug upstream.
    for (const v of ids.buf) if (!Number.isInteger(v)) throw opError('embedding', `ids must be integers, got ${v}`, table, ids);
  }
  const [rows, cols] = table.shape;
  const idb = ids.dtype === 'int32' ? ids.buf as Int32Array : Int32Array.from(ids.buf, (x) => Math.trunc(x));
  const out = allocF32Raw(idb.length * cols);
  K().gatherRows(f32(table), idb, out, rows, cols);
  const y = new Tensor(out, [...ids.shape, cols]);
  return record(y, [table], (dy) => {
    const g = allocF32(table.size);
    K().scatterAddRows(f32(dy), idb, g, rows, cols);
    return [new Tensor(g, table.shape)];
  });
}


/**
 * x @ W + b over the last axis of x (Dense): one GEMM with the bias added in
 * place; backward is two GEMMs and a column sum.
 */
export function linear(xl: TensorLike, wl: TensorLike, bl?: TensorLike | null): Tensor {
  const x = toTensor(xl, 'linear'), w = toTensor(wl, 'linear');
  const b = bl === undefined || bl === null ? null : toTensor(bl, 'linear');
  if (w.rank !== 2 || x.rank < 1 || x.shape[x.rank - 1] !== w.shape[0]) {
    throw opError('linear', `input depth must equal the kernel's first axis (${w.shape[0]})`, x, w);
  }
  const [k, n] = w.shape;
  if (b && b.size !== n) throw opError('linear', `bias must have ${n} values`, x, w, b);
  const rows = x.size / k;
  const xb = f32(x), wb = f32(w);
  const out = allocF32Raw(rows * n);
  K().matmul(xb, wb, out, 1, rows, n, k, false, false, 0, 0, false, b ? f32(b) : null);
  const y = new Tensor(out, [...x.shape.slice(0, -1), n]);
  return record(y, b ? [x, w, b] : [x, w], (dy) => {
    const g = f32(dy);
    const dx = allocF32Raw(x.size), dw = allocF32Raw(w.size);
    K().matmul(g, wb, dx, 1, rows, k, n, false, true, 0, 0, false);
    K().matmul(xb, g, dw, 1, k, n, rows, true, false, 0, 0, false);
    const grads: (Tensor | null)[] = [new Tensor(dx, x.shape), new Tensor(dw, w.shape)];
    if (b) {
      const db = allocF32Raw(n);
      K().reduce(Reduce.Sum, g, db, 1, rows, n);
      grads.push(new Tensor(db, b.shape));
    }
    return grads;
  });
}


/** x * mask where mask holds 0 or 1/keep (dropout); the mask is kept for backward. */
export function applyMask(xl: TensorLike, mask: Tensor): Tensor {
  const x = toTensor(xl, 'dropout');
  if (mask.size !== x.size) return mul(x, mask);
  const out = allocF32Raw(x.size);
  const mb = f32(mask);
  const [sh, s1, s2] = collapseBroadcast([x.size], [x.size], [x.size]);
  K().binary(Binary.Mul, f32(x), mb, out, sh, s1, s2);
  const y = new Tensor(out, x.shape);
  return record(y, [x], (dy) => {
    const dx = allocF32Raw(x.size);
    const [shb, t1, t2] = collapseBroadcast([x.size], [x.size], [x.size]);
    K().binary(Binary.Mul, f32(dy), mb, dx, shb, t1, t2);
    return [new Tensor(dx, x.shape)];
  });
}

/** (B, L, H*Dh) -> (B*H, L, Dh) in one copy (SplitIntoHeads). */
export function splitHeads(xl: TensorLike, nHeads: number): Tensor {
  const x = toTensor(xl, 'splitHeads');
  if (x.rank !== 3) throw opError('splitHeads', 'expected (batch, length, depth)', x);
  const [b, l, d] = x.shape;
  if (d % nHeads !== 0) throw opError('splitHeads', `depth ${d} is not divisible by nHeads ${nHeads}`, x);
  const dh = d / nHeads;
  const out = allocF32Raw(x.size);
  headsCopy(f32(x), out, b, l, nHeads, dh, true);
  const y = new Tensor(out, [b * nHeads, l, dh]);
  return record(y, [x], (dy) => {
    const dx = allocF32Raw(x.size);
    headsCopy(f32(dy), dx, b, l, nHeads, dh, false);
    return [new Tensor(dx, x.shape)];
  });
}

/** (B*H, L, Dh) -> (B, L, H*Dh) (MergeHeads). */
export function mergeHeads(xl: TensorLike, nHeads: number): Tensor {
  const x = toTensor(xl, 'mergeHeads');
  if (x.rank !== 3) throw opError('mergeHeads', 'expected (batch*heads, length, depth)', x);
  const [bh, l, dh] = x.shape;
  if (bh % nHeads !== 0) throw opError('mergeHeads', `leading axis ${bh} is not divisible by nHeads ${nHeads}`, x);
  const b = bh / nHeads;
  const out = allocF32Raw(x.size);
  headsCopy(f32(x), out, b, l, nHeads, dh, false);
  const y = new Tensor(out, [b, l, nHeads * dh]);
  return record(y, [x], (dy) => {
    const dx = allocF32Raw(x.size);
    headsCopy(f32(dy), dx, b, l, nHeads, dh, true);
    return [new Tensor(dx, x.shape)];
  });
}

// split: src (B, L, H, Dh) -> dst (B, H, L, Dh); merge is the inverse. Both
// swap the middle axes, one permute kernel call.
const HEADS_SHAPE = new Int32Array(4), HEADS_PERM = Int32Array.of(0, 2, 1, 3);
function headsCopy(src: Float32Array, dst: Float32Array, b: number, l: number, h: number, dh: number, split: boolean): void {
  HEADS_SHAPE[0] = b; HEADS_SHAPE[1] = split ? l : h; HEADS_SHAPE[2] = split ? h : l; HEADS_SHAPE[3] = dh;
  K().permute(src, dst, HEADS_SHAPE, HEADS_PERM);
}

/**
 * Inverted dropout: out = x * (u < keep) / keep with u from Threefry under
 * `key` (the same numbers as random.dropoutMask). The kept positions are
 * stored as one byte per value for the backward pass.
 */
export function dropout(xl: TensorLike, key: Uint32Array, keep: number): Tensor {
  const x = toTensor(xl, 'dropout');
  if (!(keep > 0 && keep <= 1)) throw opError('dropout', `keep must be in (0, 1], got ${keep}`, x);
  const scale = 1 / keep;
  const out = allocF32Raw(x.size);
  // A pooled float buffer viewed as bytes: the mask's lifetime is the step's.
  const bytes = allocF32Raw(Math.ceil(x.size / 4));
  const kept = new Uint8Array(bytes.buffer, bytes.byteOffset, x.size);
  K().dropoutMask(key[0], key[1], keep, scale, out, f32(x), kept);
  const y = new Tensor(out, x.shape);
  return record(y, [x], (dy) => {
    const dx = allocF32Raw(x.size);
    K().dropoutApply(kept, scale, f32(dy), dx);
    return [new Tensor(dx, x.shape)];
  });
}

/**
 * Causal self-attention from x without head copies: the three projections
 * x Wq + bq, x Wk + bk, x Wv + bv run as one GEMM against the weights laid
 * side by side, attention reads its heads in place from that (B, L, 3D)
 * result, and writes (B, L, D) with the heads already merged. The value
 * equals Branch([Dense, SplitIntoHeads] x 3), DotProductCausalAttention,
 * MergeHeads; the backward pass is one attention backward into a (B, L, 3D)
 * gradient, then one GEMM each for dx and the stacked weight gradients.
 */
export function causalSelfAttention(xl: TensorLike, wq: Tensor, bq: Tensor, wk: Tensor, bk: Tensor, wv: Tensor, bv: Tensor,
  nHeads: number, dropMask: Tensor | null = null): Tensor {
  const x = toTensor(xl, 'causalSelfAttention');
  if (x.rank !== 3) throw opError('causalSelfAttention', 'expected x of shape (batch, length, depth)', x);
  const [b, l, dIn] = x.shape;
  const ws = [wq, wk, wv], bs = [bq, bk, bv];
  const d = wq.shape[1];
  for (let i = 0; i < 3; i++) {
    if (ws[i].rank !== 2 || ws[i].shape[0] !== dIn || ws[i].shape[1] !== d || bs[i].size !== d) {
      throw opError('causalSelfAttention', `projections must be (${dIn}, ${d}) kernels with ${d} biases`, x, ws[i], bs[i]);
    }
  }
  if (!Number.isInteger(nHeads) || nHeads < 1 || d % nHeads !== 0) throw opError('causalSelfAttention', `depth ${d} is not divisible by nHeads ${nHeads}`, x);
  const dh = d / nHeads, bh = b * nHeads, rows = b * l, d3 = 3 * d;
  const drop = dropMask ? f32(dropMask) : null;
  if (drop && drop.length !== bh * l * l) throw opError('causalSelfAttention', `dropMask must have ${bh * l * l} values`, x, dropMask!);
  const { wcat, bcat } = combinedQKV(ws, bs, dIn, d);
  const xb = f32(x);
  const qkv = allocF32Raw(rows * d3);
  K().matmul(xb, wcat, qkv, 1, rows, d3, dIn, false, false, 0, 0, false, bcat);
  const out = allocF32Raw(rows * d), probs = allocF32Raw(bh * l * l);
  const scale = 1 / Math.sqrt(dh);
  K().attention(qkv, qkv.subarray(d), qkv.subarray(2 * d), out, probs, bh, l, l, dh, scale, true, 0, drop, null,
    nHeads, d3, d3, d3, d);
  const y = new Tensor(out, [b, l, d]);
  return record(y, [x, wq, bq, wk, bk, wv, bv], (dy) => {
    const dqkv = allocF32Raw(rows * d3);
    K().attentionBackward(f32(dy), qkv, qkv.subarray(d), qkv.subarray(2 * d), probs, dqkv, dqkv.subarray(d), dqkv.subarray(2 * d),
      bh, l, l, dh, scale, drop, nHeads, d3, d3, d3, d);
    const dx = allocF32Raw(rows * dIn), dwcat = allocF32Raw(3 * dIn * d), dbcat = allocF32Raw(d3);
    K().matmul(dqkv, wcat, dx, 1, rows, dIn, d3, false, true, 0, 0, false);
    K().matmul(xb, dqkv, dwcat, 1, dIn, d3, rows, true, false, 0, 0, false);
    K().reduce(Reduce.Sum, dqkv, dbcat, 1, rows, d3);
    // (dIn, 3, d) -> (3, dIn, d), then one buffer per weight: gradients are
    // separate tensors that the optimizer may keep or update in place.
    STACK_SHAPE[0] = dIn; STACK_SHAPE[1] = 3; STACK_SHAPE[2] = d;
    const dstack = allocF32Raw(3 * dIn * d);
    K().permute(dwcat, dstack, STACK_SHAPE, SWAP01);
    const grads: Tensor[] = [new Tensor(dx, x.shape)];
    for (let i = 0; i < 3; i++) {
      const dw = allocF32Raw(dIn * d), db = allocF32Raw(d);
      dw.set(dstack.subarray(i * dIn * d, (i + 1) * dIn * d));
      db.set(dbcat.subarray(i * d, (i + 1) * d));
      grads.push(new Tensor(dw, ws[i].shape), new Tensor(db, bs[i].shape));
    }
    return grads;
  });
}
const STACK_SHAPE = new Int32Array(3), SWAP01 = Int32Array.of(1, 0, 2);

interface QKV { parts: unknown[]; wcat: Float32Array; bcat: Float32Array; stale: boolean }
// Weight storage -> the [Wq | Wk | Wv] built from it. Only for calls that are
// not differentiated (evaluation, inference): there the weights are the same
// from call to call. Anything that writes a weight in place calls weightWritten.
const qkvCache = new WeakMap<object, QKV>();

/** Marks values derived from t's storage (the combined Q|K|V matrix) as out of date. */
export function weightWritten(t: Tensor): void {
  const e = qkvCache.get(t.buf);
  if (e) e.stale = true;
}

// (3, dIn, d) stacked, then (dIn, 3, d): the kernel [Wq | Wk | Wv] and the biases side by side.
function combinedQKV(ws: Tensor[], bs: Tensor[], dIn: number, d: number): { wcat: Float32Array; bcat: Float32Array } {
  const cache = !recording(ws) && !recording(bs);
  const parts = cache ? [ws[0].buf, ws[1].buf, ws[2].buf, bs[0].buf, bs[1].buf, bs[2].buf] : [];
  if (cache) {
    const hit = qkvCache.get(parts[0]);
    if (hit && !hit.stale && hit.parts.every((p, i) => p === parts[i])) return hit;
  }
  // Cached matrices outlive any buffer scope, so they are not pooled.
  const alloc = cache ? (n: number) => new Float32Array(n) : allocF32Raw;
  const stacked = allocF32Raw(3 * dIn * d), wcat = alloc(3 * dIn * d), bcat = alloc(3 * d);
  for (let i = 0; i < 3; i++) { stacked.set(f32(ws[i]), i * dIn * d); bcat.set(f32(bs[i]), i * d); }
  STACK_SHAPE[0] = 3; STACK_SHAPE[1] = dIn; STACK_SHAPE[2] = d;
  K().permute(stacked, wcat, STACK_SHAPE, SWAP01);
  if (cache) {
    const e: QKV = { parts, wcat, bcat, stale: false };
    for (const p of parts) qkvCache.set(p, e);
  }
  return { wcat, bcat };
}

/**
 * Dense, ReLU, (dropout,) Dense: relu(x W1 + b1) W2 + b2, with the bias and
 * ReLU applied as the first GEMM's epilogue and ReLU's backward as the
 * epilogue of the GEMM that produces the hidden gradient. With `drop`, the
 * hidden activation goes through dropout under that key (the numbers of
 * random.dropoutMask); the backward gate is then the dropped-out activation,
 * positive exactly where a unit was both active and kept.
 */
export function denseReluDense(xl: TensorLike, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor,
  drop: { key: Uint32Array; keep: number } | null = null): Tensor {
  const x = toTensor(xl, 'denseReluDense');
  const dIn = x.shape[x.rank - 1];
  if (x.rank < 1 || w1.rank !== 2 || w2.rank !== 2 || w1.shape[0] !== dIn || w2.shape[0] !== w1.shape[1]
    || b1.size !== w1.shape[1] || b2.size !== w2.shape[1]) {
    throw opError('denseReluDense', `expected x (..., ${dIn}), W1 (${dIn}, h), b1 (h), W2 (h, d), b2 (d)`, x, w1, b1, w2, b2);
  }
  if (drop && !(drop.keep > 0 && drop.keep <= 1)) throw opError('denseReluDense', `keep must be in (0, 1], got ${drop.keep}`, x);
  const hid = w1.shape[1], dOut = w2.shape[1], rows = x.size / dIn;
  const xb = f32(x), w1b = f32(w1), w2b = f32(w2);
  let h = allocF32Raw(rows * hid);
  const out = allocF32Raw(rows * dOut);
  K().matmul(xb, w1b, h, 1, rows, hid, dIn, false, false, 0, 0, false, f32(b1), true);
  const scale = drop ? 1 / drop.keep : 1;
  if (drop) {
    const hd = allocF32Raw(rows * hid);
    K().dropoutMask(drop.key[0], drop.key[1], drop.keep, scale, hd, h);
    h = hd;
  }
  K().matmul(h, w2b, out, 1, rows, dOut, hid, false, false, 0, 0, false, f32(b2));
  const y = new Tensor(out, [...x.shape.slice(0, -1), dOut]);
  const hidden = h;
  return record(y, [x, w1, b1, w2, b2], (dy) => {
    const g = f32(dy);
    const dh = allocF32Raw(rows * hid), dx = allocF32Raw(x.size);
    const dw1 = allocF32Raw(w1.size), dw2 = allocF32Raw(w2.size), db1 = allocF32Raw(hid), db2 = allocF32Raw(dOut);
    K().matmul(g, w2b, dh, 1, rows, hid, dOut, false, true, 0, 0, false, null, false, hidden, scale);
    K().matmul(hidden, g, dw2, 1, hid, dOut, rows, true, false, 0, 0, false);
    K().reduce(Reduce.Sum, g, db2, 1, rows, dOut);
    K().matmul(dh, w1b, dx, 1, rows, dIn, hid, false, true, 0, 0, false);
    K().matmul(xb, dh, dw1, 1, dIn, hid, rows, true, false, 0, 0, false);
    K().reduce(Reduce.Sum, dh, db1, 1, rows, hid);
    return [new Tensor(dx, x.shape), new Tensor(dw1, w1.shape), new Tensor(db1, b1.shape),
      new Tensor(dw2, w2.shape), new Tensor(db2, b2.shape)];
  });
}
