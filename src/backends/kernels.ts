// The kernel interface every CPU backend implements. Tensors are contiguous,
// row-major typed arrays; kernels write into caller-provided outputs so the
// tensor layer owns allocation (and can pool buffers). A GPU backend will sit
// behind the same Tensor API with its own storage; these host kernels are the
// CPU contract.

export type F32 = Float32Array;
export type I32 = Int32Array;

/** Elementwise unary op codes (shared with native/kernels/elementwise.h). */
export const enum Unary {
  Neg = 0, Exp = 1, Log = 2, Tanh = 3, Sqrt = 4, Rsqrt = 5, Relu = 6, Gelu = 7,
  Sigmoid = 8, Abs = 9, Square = 10, FastGelu = 11, Reciprocal = 12, Sign = 13,
  Softplus = 14, Erf = 15,
}

/** Elementwise binary op codes (shared with native/kernels/elementwise.h). */
export const enum Binary {
  Add = 0, Sub = 1, Mul = 2, Div = 3, Max = 4, Min = 5, Pow = 6,
  // Comparisons produce 1/0 in the output's dtype.
  Eq = 7, Ne = 8, Lt = 9, Le = 10, Gt = 11, Ge = 12,
  // b > 0 ? a : 0 (ReLU's backward as a select, like JAX's: one pass instead of a mask and a product).
  PassIfPos = 13,
}

/** Reduction op codes. */
export const enum Reduce { Sum = 0, Max = 1, Min = 2 }

export interface Kernels {
  readonly name: string;
  /** Threads the backend may use (1 for js). */
  threads(): number;
  setThreads(n: number): void;

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
  matmul(a: F32, b: F32, c: F32, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, strideA: number, strideB: number, accumulate: boolean, bias?: F32 | null,
    relu?: boolean, gate?: F32 | null, gateScale?: number): void;

  /** out[i] = f(x[i]) for float32 arrays of equal length (out may alias x). */
  unary(op: Unary, x: F32, out: F32): void;

  /**
   * Broadcasting binary op over float32. shape is the output shape (rank r),
   * aStrides/bStrides are element strides of a and b aligned to that rank
   * (0 on broadcast axes). out is contiguous.
   */
  binary(op: Binary, a: F32, b: F32, out: F32, shape: I32, aStrides: I32, bStrides: I32): void;

  /** x viewed as (outer, n, inner); out (outer, inner) = reduce over n. */
  reduce(op: Reduce, x: F32, out: F32, outer: number, n: number, inner: number): void;

  /** Softmax / log-softmax over the last axis of (rows, cols). */
  softmax(x: F32, out: F32, rows: number, cols: number, log: boolean): void;
  /**
   * Backward of softmax (log=false): dx = y * (dy - sum(dy*y)),
   * of log-softmax (log=true, y = log-probs): dx = dy - exp(y) * sum(dy).
   */
  softmaxBackward(y: F32, dy: F32, dx: F32, rows: number, cols: number, log: boolean): void;

  /**
   * Layer norm over the last axis: out = (x-mean)*rstd*scale + bias,
   * rstd = 1/sqrt(var + eps) (biased variance). Saves mean and rstd (rows).
   */
  layerNorm(x: F32, scale: F32, bias: F32, out: F32, mean: F32, rstd: F32,
    rows: number, cols: number, eps: number): void;
  /** dx = full layer-norm backward; dscale, dbias are accumulated (+=). */
  layerNormBackward(dy: F32, x: F32, scale: F32, mean: F32, rstd: F32,
    dx: F32, dscale: F32, dbias: F32, rows: number, cols: number): void;

  /**
   * Fused log-softmax + weighted NLL against integer targets:
   * logits (rows, V), targets (rows), weights (rows) -> loss[r] = -w_r * logp[r, t_r],
   * and logp is written (rows, V) for the backward pass.
   */
  crossEntropy(logits: F32, targets: I32, weights: F32, loss: F32, logp: F32,
    rows: number, vocab: number): void;
  /** dlogits[r] = scale_r * (softmax(r) - onehot(t_r)) with scale_r = dloss[r] * w_r. */
  crossEntropyBackward(logp: F32, targets: I32, weights: F32, dloss: F32, dlogits: F32,
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
  attention(q: F32, k: F32, v: F32, out: F32, probs: F32, bh: number, lq: number, lk: number,
    d: number, scale: number, causal: boolean, offset: number, dropMask: F32 | null,
    keyMask: F32 | null, heads?: number, qs?: number, ks?: number, vs?: number, os?: number): void;
  /**
   * Gradients of attention; dq, dk, dv are overwritten (only their heads'
   * entries when a layout is given: dq, dk, dv use q's, k's and v's strides,
   * dout uses out's).
   */
  attentionBackward(dout: F32, q: F32, k: F32, v: F32, probs: F32, dq: F32, dk: F32, dv: F32,
    bh: number, lq: number, lk: number, d: number, scale: number, dropMask: F32 | null,
    heads?: number, qs?: number, ks?: number, vs?: number, os?: number): void;

  /** out[i, :] = table[clip(ids[i], 0, rows-1), :] */
  gatherRows(table: F32, ids: I32, out: F32, rows: number, cols: number): void;
  /** dtable[clip(ids[i]), :] += dout[i, :] */
  scatterAddRows(dout: F32, ids: I32, dtable: F32, rows: number, cols: number): void;

  /**
   * In-place Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   * w = (1-wd) w - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps), with t = step+1.
   */
  adam(w: F32, g: F32, m: F32, v: F32, lr: number, b1: number, b2: number, eps: number,
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
  adafactor(w: F32, g: F32, vr: F32 | null, vc: F32 | null, v: F32 | null, m: F32 | null,
    batch: number, rows: number, cols: number, lr: number, decay: number, eps1: number,
    eps2: number, clipThreshold: number, multiplyByParameterScale: boolean,
    doClipping: boolean, beta1: number, wd: number): void;

  /**
   * Dropout mask from Threefry-2x32 words under key (k0, k1), in exactly the
   * word order of random.bits (JAX's layout): out[i] = scale when
   * (word_i >>> 9) * 2^-23 < keep, else 0. With x, out[i] = x[i] times that
   * value instead: dropout applied in the same pass. With keepMask (n bytes), 1 is written
   * where the value is kept and 0 elsewhere, for dropoutApply.
   */
  dropoutMask(k0: number, k1: number, keep: number, scale: number, out: F32, x?: F32 | null, keepMask?: Uint8Array | null): void;

  /**
   * out[i] = keepMask[i] ? x[i] * scale : 0, with keepMask as written by
   * dropoutMask: dropout's backward pass in one read of a byte per value.
   */
  dropoutApply(keepMask: Uint8Array, scale: number, x: F32, out: F32): void;

  /** Sum of squares of x (float64 accumulation). */
  sumSquares(x: F32): number;

  /**
   * Axis permutation: x has shape `shape` (contiguous); out (contiguous) has
   * shape[perm[i]] on axis i, out[..., i_j, ...] = x[... at axis perm[j] = i_j ...].
   * Attention's head split/merge is perm [0, 2, 1, 3].
   */
  permute(x: F32, out: F32, shape: I32, perm: I32): void;
}
