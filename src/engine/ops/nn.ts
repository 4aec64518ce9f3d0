// Neural-network ops: softmax, layer norm, cross-entropy, attention,
// embedding, dropout, head split/merge, and the fused transformer hot paths
// (each one kernel forward and one kernel backward instead of a chain of
// small ops, llm.c style).
import { Binary, Reduce } from '../../backends/kernels.js';
import { backend as activeBackend } from '../../backends/index.js';
import { allocBytes, allocF32, allocF32Raw } from '../pool.js';
import { record } from '../tape.js';
import { Tensor, toTensor, type TensorLike, fromStorage } from '../tensor.js';
import { K, f32, hostValues, i32, normAxis, opError } from './util.js';
import { cast, flatMeta, greater, mul, neg, notEqual } from './elementwise.js';
import { full, tril } from './creation.js';
import { reshape } from './shape.js';
import { sum } from './reduce.js';

/** The float32 storage of t (cast first if it is int32). */
function fl(t: Tensor): Float32Array { return f32(t.dtype === 'float32' ? t : cast(t, 'float32')); }

// ---------------------------------------------------------------- softmax

function lastAxisOnly(x: Tensor, axis: number, op: string): void {
  if (normAxis(axis, x.rank, op) !== x.rank - 1) {
    throw opError(op, 'only the last axis is supported; transpose first', x);
  }
}

function softmaxOp(xl: TensorLike, axis: number, log: boolean, name: string): Tensor {
  const x = toTensor(xl, name, 'float32');
  lastAxisOnly(x, axis, name);
  const cols = x.shape[x.rank - 1], rows = x.size / Math.max(cols, 1);
  const out = allocF32Raw(x.size);
  K().softmax(fl(x), out, rows, cols, log);
  const y = fromStorage(out, x.shape, 'float32');
  return record(y, [x], (dy) => {
    const dx = allocF32(x.size);
    K().softmaxBackward(out, f32(dy), dx, rows, cols, log);
    return [fromStorage(dx, x.shape, 'float32')];
  });
}

export function softmax(xl: TensorLike, axis = -1): Tensor { return softmaxOp(xl, axis, false, 'softmax'); }
export function logSoftmax(xl: TensorLike, axis = -1): Tensor { return softmaxOp(xl, axis, true, 'logSoftmax'); }

// ---------------------------------------------------------------- layer norm

/** Layer norm over the last axis with scale and bias (Trax's LayerNorm math). */
export function layerNorm(xl: TensorLike, scalel: TensorLike, biasl: TensorLike, eps = 1e-6): Tensor {
  const x = toTensor(xl, 'layerNorm'), scale = toTensor(scalel, 'layerNorm'), bias = toTensor(biasl, 'layerNorm');
  const cols = x.shape[x.rank - 1];
  if (x.rank === 0 || scale.size !== cols || bias.size !== cols) {
    throw opError('layerNorm', `scale and bias must have ${cols} values (the last axis)`, x, scale, bias);
  }
  const rows = x.size / cols;
  const out = allocF32Raw(x.size), mu = allocF32Raw(rows), rs = allocF32Raw(rows);
  const xb = fl(x);
  K().layerNorm(xb, fl(scale), fl(bias), out, mu, rs, rows, cols, eps);
  const y = fromStorage(out, x.shape, 'float32');
  return record(y, [x, scale, bias], (dy) => {
    const dx = allocF32(x.size), ds = allocF32(cols), db = allocF32(cols);
    K().layerNormBackward(f32(dy), xb, fl(scale), mu, rs, dx, ds, db, rows, cols);
    return [fromStorage(dx, x.shape, 'float32'), fromStorage(ds, scale.shape, 'float32'), fromStorage(db, bias.shape, 'float32')];
  });
}

// ---------------------------------------------------------------- cross-entropy

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
  const tv = hostValues(targets);
  if (tv !== null) {
    // Float targets must hold integers; truncating 1.5 or NaN would train on the wrong class.
    if (targets.dtype !== 'int32') {
      for (const t of tv) {
        if (!Number.isInteger(t)) throw opError('softmaxCrossEntropy', `targets must be integers, got ${t}`, logits, targets);
      }
    }
    for (const t of tv) {
      if (t < 0 || t >= vocab) throw opError('softmaxCrossEntropy', `target ${t} is out of range [0, ${vocab})`, logits, targets);
    }
  }
  const tgtT = targets.dtype === 'int32' ? targets : cast(targets, 'int32');
  const tgt = i32(tgtT);
  let weights: Tensor | null = null;
  let wT: Tensor;
  if (weightsl === undefined) wT = full([rows], 1);
  else {
    weights = toTensor(weightsl, 'softmaxCrossEntropy');
    if (weights.size !== rows) throw opError('softmaxCrossEntropy', 'weights must match targets', logits, targets, weights);
    wT = weights;
  }
  const w = fl(wT);
  const loss = allocF32(rows), logp = allocF32(logits.size);
  K().crossEntropy(fl(logits), tgt, w, loss, logp, rows, vocab);
  const y = fromStorage(loss, targets.shape, 'float32');
  // Weights are differentiable too (d loss / d w = -logp[target]), so a
  // computed weighting never silently gets a zero gradient.
  const inputs = weights ? [logits, weights] : [logits];
  return record(y, inputs, (dy) => {
    const dl = allocF32(logits.size);
    const dyb = f32(dy);
    K().crossEntropyBackward(logp, tgt, w, dyb, dl, rows, vocab);
    const grads = [fromStorage(dl, logits.shape, 'float32')];
    if (weights) {
      const picked = allocF32Raw(rows);
      K().gatherAlong(logp, tgt, picked, rows, vocab, 1, 1);
      grads.push(reshape(mul(neg(reshape(dy, [rows])), fromStorage(picked, [rows], 'float32')), weights.shape));
    }
    return grads;
  });
}

// ---------------------------------------------------------------- attention

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
  if (opts.dropMask && opts.dropMask.size !== bh * lq * lk) throw opError('attention', `dropMask must have ${bh * lq * lk} values`, q, k, opts.dropMask);
  const drop = opts.dropMask ? fl(opts.dropMask) : null;
  if (opts.keyMask && opts.keyMask.size !== bh * lk) throw opError('attention', `keyMask must have ${bh * lk} values`, q, k, opts.keyMask);
  const kmT = opts.keyMask ? (opts.keyMask.dtype === 'float32' ? opts.keyMask : cast(opts.keyMask, 'float32')) : null;
  const km = kmT ? f32(kmT) : null;
  const out = allocF32Raw(bh * lq * d), probs = allocF32Raw(bh * lq * lk);
  const qb = fl(q), kb = fl(k), vb = fl(v);
  K().attention(qb, kb, vb, out, probs, bh, lq, lk, d, scale, causal, offset, drop, km);
  if (opts.probsOut) opts.probsOut.probs = fromStorage(probs, [bh, lq, lk], 'float32');
  const y = fromStorage(out, [bh, lq, d], 'float32');
  // A query row whose keys are all masked gets uniform probabilities over
  // constant scores: its output depends on v only, so it must send no
  // gradient to q or k (the kernel would, as its probabilities are non-zero).
  return record(y, [q, k, v], (dy) => {
    const dq = allocF32(q.size), dk = allocF32(k.size), dvv = allocF32(v.size);
    const dyb = f32(dy);
    K().attentionBackward(dyb, qb, kb, vb, probs, dq, dk, dvv, bh, lq, lk, d, scale, drop);
    let dyLive: Float32Array | null = null;
    if (causal || km) {
      const kmv = kmT ? hostValues(kmT) : null;
      if (kmT === null || kmv !== null) {
        let dead: number[] | null = null;
        for (let h = 0; h < bh; h++) for (let i = 0; i < lq; i++) {
          let open = false;
          for (let j = 0; j < lk && !open; j++) open = !(causal && j > i + offset) && !(kmv && kmv[h * lk + j] === 0);
          if (!open) (dead ??= []).push(h * lq + i);
        }
        if (dead) {
          dyLive = Float32Array.from(dyb);
          for (const r of dead) dyLive.fill(0, r * d, (r + 1) * d);
        }
      } else {
        // Device storage: zero the dead rows' cotangent with ops.
        const allowed = causal ? tril(lq, lk, offset) : full([lq, lk], 1);
        const open = sum(mul(reshape(notEqual(kmT, 0), [bh, 1, lk]), allowed), -1, true);
        dyLive = f32(mul(dy, greater(open, 0)));
      }
    }
    if (dyLive) {
      // Second pass with the dead rows' cotangent zeroed gives the right dq and dk.
      K().attentionBackward(dyLive, qb, kb, vb, probs, dq, dk, allocF32(v.size), bh, lq, lk, d, scale, drop);
    }
    return [fromStorage(dq, q.shape, 'float32'), fromStorage(dk, k.shape, 'float32'), fromStorage(dvv, v.shape, 'float32')];
  });
}

// ---------------------------------------------------------------- embedding

/** Embedding lookup with Trax's clipping of out-of-range ids. */
export function embeddingLookup(tablel: TensorLike, idsl: TensorLike): Tensor {
  const table = toTensor(tablel, 'embedding'), ids = toTensor(idsl, 'embedding');
  if (table.rank !== 2) throw opError('embedding', 'table must be 2-D (vocab, depth)', table);
  if (ids.dtype !== 'int32') {
    // Out-of-range ids are clipped (as in Trax), but a fractional or NaN id is a bug upstream.
    const v = hostValues(ids);
    if (v !== null) for (const x of v) if (!Number.isInteger(x)) throw opError('embedding', `ids must be integers, got ${x}`, table, ids);
  }
  const [rows, cols] = table.shape;
  const idb = i32(ids.dtype === 'int32' ? ids : cast(ids, 'int32'));
  const out = allocF32Raw(ids.size * cols);
  K().gatherRows(fl(table), idb, out, rows, cols);
  const y = fromStorage(out, [...ids.shape, cols], 'float32');
  return record(y, [table], (dy) => {
    const g = allocF32(table.size);
    K().scatterAddRows(f32(dy), idb, g, rows, cols);
    return [fromStorage(g, table.shape, 'float32')];
  });
}

// ---------------------------------------------------------------- dropout

/** x * mask where mask holds 0 or 1/keep (dropout); the mask is kept for backward. */
export function applyMask(xl: TensorLike, mask: Tensor): Tensor {
  const x = toTensor(xl, 'dropout');
  if (mask.size !== x.size) return mul(x, mask);
  const out = allocF32Raw(x.size);
  const mb = fl(mask);
  const [sh, s1, s2] = flatMeta(x.size);
  K().binary(Binary.Mul, fl(x), mb, out, sh, s1, s2);
  const y = fromStorage(out, x.shape, 'float32');
  return record(y, [x], (dy) => {
    const dx = allocF32Raw(x.size);
    const [shb, t1, t2] = flatMeta(x.size);
    K().binary(Binary.Mul, f32(dy), mb, dx, shb, t1, t2);
    return [fromStorage(dx, x.shape, 'float32')];
  });
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
  const kept = allocBytes(x.size);
  K().dropoutMask(key[0], key[1], keep, scale, out, fl(x), kept);
  const y = fromStorage(out, x.shape, 'float32');
  return record(y, [x], (dy) => {
    const dx = allocF32Raw(x.size);
    K().dropoutApply(kept, scale, f32(dy), dx);
    return [fromStorage(dx, x.shape, 'float32')];
  });
}

// ---------------------------------------------------------------- heads

/** (B, L, H*Dh) -> (B*H, L, Dh) in one copy (SplitIntoHeads). */
export function splitHeads(xl: TensorLike, nHeads: number): Tensor {
  const x = toTensor(xl, 'splitHeads');
  if (x.rank !== 3) throw opError('splitHeads', 'expected (batch, length, depth)', x);
  const [b, l, d] = x.shape;
  if (d % nHeads !== 0) throw opError('splitHeads', `depth ${d} is not divisible by nHeads ${nHeads}`, x);
  const dh = d / nHeads;
  const out = allocF32Raw(x.size);
  headsCopy(fl(x), out, b, l, nHeads, dh, true);
  const y = fromStorage(out, [b * nHeads, l, dh], 'float32');
  return record(y, [x], (dy) => {
    const dx = allocF32Raw(x.size);
    headsCopy(f32(dy), dx, b, l, nHeads, dh, false);
    return [fromStorage(dx, x.shape, 'float32')];
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
  headsCopy(fl(x), out, b, l, nHeads, dh, false);
  const y = fromStorage(out, [b, l, nHeads * dh], 'float32');
  return record(y, [x], (dy) => {
    const dx = allocF32Raw(x.size);
    headsCopy(f32(dy), dx, b, l, nHeads, dh, true);
    return [fromStorage(dx, x.shape, 'float32')];
  });
}

// split: src (B, L, H, Dh) -> dst (B, H, L, Dh); merge is the inverse. Both
// swap the middle axes, one permute kernel call.
const HEADS_SHAPE = new Int32Array(4), HEADS_PERM = Int32Array.of(0, 2, 1, 3);
function headsCopy(src: Float32Array, dst: Float32Array, b: number, l: number, h: number, dh: number, split: boolean): void {
  HEADS_SHAPE[0] = b; HEADS_SHAPE[1] = split ? l : h; HEADS_SHAPE[2] = split ? h : l; HEADS_SHAPE[3] = dh;
  K().permute(src, dst, HEADS_SHAPE, HEADS_PERM);
}

// ---------------------------------------------------------------- fused blocks

/** Copies n values of src into dst at element offset (one strided-copy kernel call). */
function copyAt(src: Float32Array, dst: Float32Array, n: number, srcOff: number, dstOff: number): void {
  COPY_N[0] = n;
  K().copyStrided(src, dst, COPY_N, ONE, srcOff, ONE, dstOff);
}
const COPY_N = new Int32Array(1), ONE = Int32Array.of(1);

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
  if (dropMask && dropMask.size !== bh * l * l) throw opError('causalSelfAttention', `dropMask must have ${bh * l * l} values`, x, dropMask);
  const drop = dropMask ? fl(dropMask) : null;
  // (3, dIn, d) stacked, then (dIn, 3, d): the kernel [Wq | Wk | Wv].
  const stacked = allocF32Raw(3 * dIn * d), wcat = allocF32Raw(3 * dIn * d), bcat = allocF32Raw(d3);
  for (let i = 0; i < 3; i++) { copyAt(fl(ws[i]), stacked, dIn * d, 0, i * dIn * d); copyAt(fl(bs[i]), bcat, d, 0, i * d); }
  STACK_SHAPE[0] = 3; STACK_SHAPE[1] = dIn; STACK_SHAPE[2] = d;
  K().permute(stacked, wcat, STACK_SHAPE, SWAP01);
  const xb = fl(x);
  const qkv = allocF32Raw(rows * d3);
  K().matmul(xb, wcat, qkv, 1, rows, d3, dIn, false, false, 0, 0, false, bcat);
  const out = allocF32Raw(rows * d), probs = allocF32Raw(bh * l * l);
  const scale = 1 / Math.sqrt(dh);
  const be = activeBackend();
  const view = (s: Float32Array, off: number) => be.subview(s, off, rows * d3 - off) as Float32Array;
  K().attention(qkv, view(qkv, d), view(qkv, 2 * d), out, probs, bh, l, l, dh, scale, true, 0, drop, null,
    nHeads, d3, d3, d3, d);
  const y = fromStorage(out, [b, l, d], 'float32');
  return record(y, [x, wq, bq, wk, bk, wv, bv], (dy) => {
    const dqkv = allocF32Raw(rows * d3);
    K().attentionBackward(f32(dy), qkv, view(qkv, d), view(qkv, 2 * d), probs, dqkv, view(dqkv, d), view(dqkv, 2 * d),
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
    const grads: Tensor[] = [fromStorage(dx, x.shape, 'float32')];
    for (let i = 0; i < 3; i++) {
      const dw = allocF32Raw(dIn * d), db = allocF32Raw(d);
      copyAt(dstack, dw, dIn * d, i * dIn * d, 0);
      copyAt(dbcat, db, d, i * d, 0);
      grads.push(fromStorage(dw, ws[i].shape, 'float32'), fromStorage(db, bs[i].shape, 'float32'));
    }
    return grads;
  });
}
const STACK_SHAPE = new Int32Array(3), SWAP01 = Int32Array.of(1, 0, 2);

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
  const xb = fl(x), w1b = fl(w1), w2b = fl(w2);
  let h = allocF32Raw(rows * hid);
  const out = allocF32Raw(rows * dOut);
  K().matmul(xb, w1b, h, 1, rows, hid, dIn, false, false, 0, 0, false, fl(b1), true);
  const scale = drop ? 1 / drop.keep : 1;
  if (drop) {
    const hd = allocF32Raw(rows * hid);
    K().dropoutMask(drop.key[0], drop.key[1], drop.keep, scale, hd, h);
    h = hd;
  }
  K().matmul(h, w2b, out, 1, rows, dOut, hid, false, false, 0, 0, false, fl(b2));
  const y = fromStorage(out, [...x.shape.slice(0, -1), dOut], 'float32');
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
    return [fromStorage(dx, x.shape, 'float32'), fromStorage(dw1, w1.shape, 'float32'), fromStorage(db1, b1.shape, 'float32'),
      fromStorage(dw2, w2.shape, 'float32'), fromStorage(db2, b2.shape, 'float32')];
  });
}
