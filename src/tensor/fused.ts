// Fused transformer hot paths: each is one kernel forward and one kernel
// backward, instead of a chain of small ops (llm.c style).
import { kernels } from '../backend/index.js';
import { opError, cast, reshape } from './ops.js';
import { allocF32, allocF32Raw } from './pool.js';
import { record } from './tape.js';
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

export { reshape };
