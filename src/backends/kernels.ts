// The shape of every kernel: method names, argument order and meaning.
// Each kernel is declared once in src/engine/registry.ts; every backend
// implements this interface over its own storage types (typed arrays on the
// CPU backends, device buffers on a GPU backend). Data arguments are
// storages; small metadata (shapes, strides, permutations) are host
// Int32Arrays; scalars are numbers. Kernels write into caller-provided
// outputs (the engine owns allocation and can pool buffers) and never return
// host values.

export type F32 = Float32Array;
export type I32 = Int32Array;
/** A storage of 4-byte elements of either dtype (copies, selects, gathers). */
export type S32 = Float32Array | Int32Array;
/** Host metadata (shapes, strides): always an Int32Array on the host. */
export type Meta = Int32Array;

/** Elementwise unary op codes (shared with native/kernels.h). */
export const enum Unary {
  Neg = 0, Exp = 1, Log = 2, Tanh = 3, Sqrt = 4, Rsqrt = 5, Relu = 6, Gelu = 7,
  Sigmoid = 8, Abs = 9, Square = 10, FastGelu = 11, Reciprocal = 12, Sign = 13,
  Softplus = 14, Erf = 15,
}

/** Elementwise binary op codes (shared with native/kernels.h). */
export const enum Binary {
  Add = 0, Sub = 1, Mul = 2, Div = 3, Max = 4, Min = 5, Pow = 6,
  // Comparisons produce 1/0 in the output's dtype.
  Eq = 7, Ne = 8, Lt = 9, Le = 10, Gt = 11, Ge = 12,
  // b > 0 ? a : 0 (ReLU's backward as a select, like JAX's: one pass instead of a mask and a product).
  PassIfPos = 13,
}

/** Reduction op codes. */
export const enum Reduce { Sum = 0, Max = 1, Min = 2 }

/**
 * The kernel interface, generic over storages: F float32 storage, I int32
 * storage, S either (4-byte elements), U a byte mask.
 */
export interface Kernels<F = F32, I = I32, S = S32, U = Uint8Array> {

  /**
   * Batched GEMM: for each b < batch,
   *   C[b] (m x n) = (accumulate ? C[b] : 0) + opA(A[b]) (m x k) @ opB(B[b]) (k x n)
   * A[b] starts at b*strideA (strideA 0 broadcasts), stored (m,k) or (k,m) when transA.
   * B[b] starts at b*strideB, stored (k,n) or (n,k) when transB. C[b] starts at b*m*n.
   * Then, while C is still in cache: with bias (n values) each row of C[b]
   * gets bias added (Dense's bias); with relu, C = max(0, C) (Dense then
   * ReLU); with gate (as large as C), C is zeroed where gate <= 0 and
   * multiplied by gateScale (default 1) elsewhere (ReLU's backward, gate
   * being the activation, possibly after dropout with scale 1/keep).
   */
  matmul(a: F, b: F, c: F, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, strideA: number, strideB: number, accumulate: boolean, bias?: F | null,
    relu?: boolean, gate?: F | null, gateScale?: number): void;

  /** out[i] = f(x[i]) for float32 arrays of equal length (out may alias x). */
  unary(op: Unary, x: F, out: F): void;

  /**
   * Broadcasting binary op over float32. shape is the output shape (rank r),
   * aStrides/bStrides are element strides of a and b aligned to that rank
   * (0 on broadcast axes). out is contiguous.
   */
  binary(op: Binary, a: F, b: F, out: F, shape: Meta, aStrides: Meta, bStrides: Meta): void;

  /** x viewed as (outer, n, inner); out (outer, inner) = reduce over n. */
  reduce(op: Reduce, x: F, out: F, outer: number, n: number, inner: number): void;

  /** Softmax / log-softmax over the last axis of (rows, cols). */
  softmax(x: F, out: F, rows: number, cols: number, log: boolean): void;
  /**
   * Backward of softmax (log=false): dx = y * (dy - sum(dy*y)),
   * of log-softmax (log=true, y = log-probs): dx = dy - exp(y) * sum(dy).
   */
  softmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number, log: boolean): void;

  /**
   * Layer norm over the last axis: out = (x-mean)*rstd*scale + bias,
   * rstd = 1/sqrt(var + eps) (biased variance). Saves mean and rstd (rows).
   */
  layerNorm(x: F, scale: F, bias: F, out: F, mean: F, rstd: F,
    rows: number, cols: number, eps: number): void;
  /** dx = full layer-norm backward; dscale, dbias are accumulated (+=). */
  layerNormBackward(dy: F, x: F, scale: F, mean: F, rstd: F,
    dx: F, dscale: F, dbias: F, rows: number, cols: number): void;

  /**
   * Fused log-softmax + weighted NLL against integer targets:
   * logits (rows, V), targets (rows), weights (rows) -> loss[r] = -w_r * logp[r, t_r],
   * and logp is written (rows, V) for the backward pass.
   */
  crossEntropy(logits: F, targets: I, weights: F, loss: F, logp: F,
    rows: number, vocab: number): void;
  /** dlogits[r] = scale_r * (softmax(r) - onehot(t_r)) with scale_r = dloss[r] * w_r. */
  crossEntropyBackward(logp: F, targets: I, weights: F, dloss: F, dlogits: F,
    rows: number, vocab: number): void;

  /**
   * Dot-product attention over (bh, lq, d) queries and (bh, lk, d) keys/values:
   *   s = q k^T * scale, masked where causal and key j > i + offset (set to -1e9),
   *   p = softmax(s) (saved into probs (bh, lq, lk)),
   *   out = (p * dropMask) v   (dropMask optional, already scaled by 1/keep).
   * keyMask (optional, (bh, lk) of 0/1 floats) masks keys with 0 (padding).
   *
   * The optional layout (heads H, row strides qs, ks, vs, os) places head t's
   * row i of q at ((t / H) * lq + i) * qs + (t % H) * d, and likewise k and v
   * (strides ks, vs, with lk rows) and out (os). Without it the operands are
   * contiguous (bh, l, d): H = 1, strides d. With H heads and strides of H*d
   * the operands are (B, L, H*d) activations, so no head split/merge copies
   * are needed; q, k and v may be column blocks of one (B, L, 3*H*d) array.
   */
  attention(q: F, k: F, v: F, out: F, probs: F, bh: number, lq: number, lk: number,
    d: number, scale: number, causal: boolean, offset: number, dropMask: F | null,
    keyMask: F | null, heads?: number, qs?: number, ks?: number, vs?: number, os?: number): void;
  /**
   * Gradients of attention; dq, dk, dv are overwritten (only their heads'
   * entries when a layout is given: dq, dk, dv use q's, k's and v's strides,
   * dout uses out's).
   */
  attentionBackward(dout: F, q: F, k: F, v: F, probs: F, dq: F, dk: F, dv: F,
    bh: number, lq: number, lk: number, d: number, scale: number, dropMask: F | null,
    heads?: number, qs?: number, ks?: number, vs?: number, os?: number): void;

  /** out[i, :] = table[clip(ids[i], 0, rows-1), :] */
  gatherRows(table: F, ids: I, out: F, rows: number, cols: number): void;
  /** dtable[clip(ids[i]), :] += dout[i, :] */
  scatterAddRows(dout: F, ids: I, dtable: F, rows: number, cols: number): void;

  /**
   * In-place Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   * w = (1-wd) w - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps), with t = step+1.
   */
  adam(w: F, g: F, m: F, v: F, lr: number, b1: number, b2: number, eps: number,
    wd: number, step: number): void;
  /**
   * In-place Adafactor update of one weight (Trax master math, reference
   * section 6.2), everything except the scalar schedule done here.
   * The weight is viewed as (batch, rows, cols): cols = last dim, rows = the
   * one before, batch = the product of the rest (1 for 2-D). When factored,
   * vr has batch*rows entries (shape[:-1]) and vc batch*cols (shape[:-2]+shape[-1:]),
   * and v is null; unfactored (1-D weights, or factored=false) v is like w and
   * vr/vc are null (then batch=1, rows=1, cols=w.length). m is the momentum slot
   * or null. decay = 1 - (t+1)^-decayRate is computed by the caller.
   *   scale = multiplyByParameterScale ? lr * max(sqrt(mean(w^2)), eps2) : lr
   *   g2 = g^2; factored: vr = decay vr + (1-decay) mean(g2, -1); vc likewise over -2
   *     y = g * sqrt(mean(vr over its last axis)/(vr+eps1))[row] * (vc+eps1)^-1/2 [col]
   *   else v = decay v + (1-decay) g2; y = g * (v+eps1)^-1/2
   *   doClipping: y /= max(1, sqrt(mean(y^2)) / clipThreshold)
   *   sub = scale*y; with m: m = beta1 m + (1-beta1) sub; sub = m
   *   w = (1-wd) w - sub
   */
  adafactor(w: F, g: F, vr: F | null, vc: F | null, v: F | null, m: F | null,
    batch: number, rows: number, cols: number, lr: number, decay: number, eps1: number,
    eps2: number, clipThreshold: number, multiplyByParameterScale: boolean,
    doClipping: boolean, beta1: number, wd: number): void;

  /**
   * Dropout mask from Threefry-2x32 words under key (k0, k1), in exactly the
   * word order of random.bits (JAX's layout): out[i] = scale when
   * (word_i >>> 9) * 2^-23 < keep, else 0. With x, out[i] = x[i] times that
   * value instead: dropout applied without storing the mask (backward
   * regenerates it from the same key). With keepMask (n bytes), 1 is written
   * where the value is kept and 0 elsewhere, for dropoutApply.
   */
  dropoutMask(k0: number, k1: number, keep: number, scale: number, out: F, x?: F | null, keepMask?: U | null): void;

  /**
   * out[i] = keepMask[i] ? x[i] * scale : 0, with keepMask as written by
   * dropoutMask: dropout's backward pass in one read of a byte per value.
   */
  dropoutApply(keepMask: U, scale: number, x: F, out: F): void;

  /** out[0] = sum of squares of x (float64 accumulation, stored as float32). */
  sumSquares(x: F, out: F): void;

  /**
   * Axis permutation: x has shape `shape` (contiguous); out (contiguous) has
   * shape[perm[i]] on axis i, out[..., i_j, ...] = x[... at axis perm[j] = i_j ...].
   * Attention's head split/merge is perm [0, 2, 1, 3].
   */
  permute(x: F, out: F, shape: Meta, perm: Meta): void;

  // ------------------------------------------------------------ data movement
  // These move 4-byte elements of either dtype; `int` says which dtype the
  // storages hold where arithmetic depends on it.

  /** out[i] = value for every element (value converted to the storage's dtype). */
  fill(out: S, value: number, int: boolean): void;

  /**
   * Strided copy: for every multi-index i over `shape`,
   *   out[outOffset + sum(i * outStrides)] = x[xOffset + sum(i * xStrides)].
   * Strides may be 0 (broadcast) or negative (reverse). Covers slice, pad,
   * concat, broadcast, reverse and transpose.
   */
  copyStrided(x: S, out: S, shape: Meta, xStrides: Meta, xOffset: number, outStrides: Meta, outOffset: number): void;

  /** Float <-> int conversion: toInt truncates toward zero (x float32, out int32); else x int32, out float32. */
  cast(x: S, out: S, toInt: boolean): void;

  /**
   * Broadcasting binary op over int32 inputs (strides as for binary).
   * Writes float32 when outFloat (comparisons, Div, Pow), else int32 with
   * wrap-around.
   */
  binaryInt(op: Binary, a: I, b: I, out: S, shape: Meta, aStrides: Meta, bStrides: Meta, outFloat: boolean): void;

  /** out[i] = cond[i] != 0 ? a[i] : b[i], all broadcast (strides as for binary). */
  select(cond: F, a: S, b: S, out: S, shape: Meta, cStrides: Meta, aStrides: Meta, bStrides: Meta): void;

  /**
   * Gather along an axis: x viewed as (outer, n, inner), ids (m) clipped to
   * [0, n); out (outer, m, inner) = x[:, ids, :].
   */
  gather(x: S, ids: I, out: S, outer: number, n: number, m: number, inner: number): void;
  /** The transpose of gather: out (outer, n, inner)[:, ids[j], :] += updates (outer, m, inner)[:, j, :]. */
  scatterAdd(updates: S, ids: I, out: S, outer: number, n: number, m: number, inner: number, int: boolean): void;

  /**
   * take_along_axis: x (outer, n, inner), ids and out (outer, m, inner):
   * out[o, j, i] = x[o, clip(ids[o, j, i]), i].
   */
  gatherAlong(x: S, ids: I, out: S, outer: number, n: number, m: number, inner: number): void;
  /** Its transpose: out[o, clip(ids[o, j, i]), i] += dy[o, j, i] (float32). */
  scatterAlong(dy: F, ids: I, out: F, outer: number, n: number, m: number, inner: number): void;

  /** x (outer, n, inner) float32 -> out (outer, inner) int32: index of the first maximum. */
  argmax(x: F, out: I, outer: number, n: number, inner: number): void;

  /** Inclusive running sum along n of x viewed as (outer, n, inner). */
  cumsum(x: S, out: S, outer: number, n: number, inner: number, int: boolean): void;

  /** out (count, depth) = 1 where ids[r] (float32) is an integer in [0, depth), else 0. */
  oneHot(ids: F, out: F, count: number, depth: number): void;

  // ------------------------------------------------------------ random numbers
  // Threefry-2x32 under key (k0, k1), JAX's word layout; every backend gives
  // the same numbers for the same key.

  /** out[i] = minval + (maxval - minval) * u_i, u_i in [0, 1) from 23 bits. */
  randomUniform(k0: number, k1: number, out: F, minval: number, maxval: number): void;
  /** Normal samples by Box-Muller on pairs of uniforms. */
  randomNormal(k0: number, k1: number, out: F, mean: number, stddev: number): void;
  /** Standard normals in [lower, upper] by rejection over rounds of folded keys. */
  randomTruncatedNormal(k0: number, k1: number, out: F, lower: number, upper: number): void;
  /** 1 with probability p, else 0. */
  randomBernoulli(k0: number, k1: number, out: F, p: number): void;
  /** Uniform integers in [minval, maxval). */
  randomInt(k0: number, k1: number, out: I, minval: number, maxval: number): void;
  /** Gumbel noise -log(-log(u)), u uniform in [1e-6, 1 - 1e-6]. */
  randomGumbel(k0: number, k1: number, out: F): void;

  // ------------------------------------------------------------ optimizers
  // In-place updates of one float32 weight and its slots (Trax's math).

  /** w = w - lr g. */
  sgd(w: F, g: F, lr: number): void;
  /** v = mass v + g; w = (1 - wd) w - lr (nesterov ? mass v + g : v). */
  momentum(w: F, g: F, v: F, mass: number, lr: number, wd: number, nesterov: boolean): void;
  /** avg = gamma avg + (1 - gamma) g^2; w = w - lr g / (sqrt(avg) + eps). */
  rmsprop(w: F, g: F, avg: F, gamma: number, eps: number, lr: number): void;
  /**
   * SM3 (Trax's, with optional grafting): v1 (and v2 when graft) hold the
   * per-dimension accumulators of a weight of shape dims, concatenated; m is
   * the momentum slot or null. momentumType: 0 ema, 1 heavy ball, 2 nesterov.
   */
  sm3(w: F, g: F, m: F | null, v1: F, v2: F | null, dims: Meta, lr: number, wd: number, beta1: number,
    beta2: number, momentumType: number): void;
  /** Rounds float32 values to the nearest bfloat16 (ties to even) in place; inf and NaN stay. */
  roundBfloat16(x: F): void;
}
