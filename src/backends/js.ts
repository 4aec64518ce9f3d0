// Pure TypeScript kernels: the readable reference every other backend is
// tested against, and the fallback when the native addon is unavailable.
import { Binary, Reduce, Unary, type F32, type I32, type Kernels } from './kernels.js';
import type { Backend } from './backend.js';
import { hostStorage } from './host.js';
import { bitsFromWords, threefryPair } from '../engine/threefry.js';

const SQRT1_2 = Math.SQRT1_2;

/** Abramowitz-Stegun 7.1.26 is too coarse for gradient checks; use a series/continued fraction. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series converges fast enough here in double precision.
    let sum = x, term = x;
    const x2 = x * x;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction for the tails.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return x > 0 ? 1 - erfc : erfc - 1;
}

export function unaryScalar(op: Unary, v: number): number {
  switch (op) {
    case Unary.Neg: return -v;
    case Unary.Exp: return Math.exp(v);
    case Unary.Log: return Math.log(v);
    case Unary.Tanh: return Math.tanh(v);
    case Unary.Sqrt: return Math.sqrt(v);
    case Unary.Rsqrt: return 1 / Math.sqrt(v);
    case Unary.Relu: return v > 0 ? v : 0;
    case Unary.Gelu: return 0.5 * v * (1 + erf(v * SQRT1_2));
    case Unary.Sigmoid: return 1 / (1 + Math.exp(-v));
    case Unary.Abs: return Math.abs(v);
    case Unary.Square: return v * v;
    case Unary.FastGelu: return 0.5 * v * (1 + Math.tanh(0.7978845608 * v * (1 + 0.044715 * v * v)));
    case Unary.Reciprocal: return 1 / v;
    case Unary.Sign: return v > 0 ? 1 : v < 0 ? -1 : 0;
    case Unary.Softplus: return v > 20 ? v : Math.log1p(Math.exp(v));
    case Unary.Erf: return erf(v);
  }
  throw new Error(`unknown unary op ${op}`);
}

export function binaryScalar(op: Binary, a: number, b: number): number {
  switch (op) {
    case Binary.Add: return a + b;
    case Binary.Sub: return a - b;
    case Binary.Mul: return a * b;
    case Binary.Div: return a / b;
    case Binary.Max: return a > b || Number.isNaN(a) ? a : b;
    case Binary.Min: return a < b || Number.isNaN(a) ? a : b;
    case Binary.Pow: return Math.pow(a, b);
    case Binary.Eq: return a === b ? 1 : 0;
    case Binary.Ne: return a !== b ? 1 : 0;
    case Binary.Lt: return a < b ? 1 : 0;
    case Binary.Le: return a <= b ? 1 : 0;
    case Binary.Gt: return a > b ? 1 : 0;
    case Binary.Ge: return a >= b ? 1 : 0;
    case Binary.PassIfPos: return b > 0 ? a : 0;
  }
  throw new Error(`unknown binary op ${op}`);
}

/** Broadcasting loop shared by float and int tensors. */
export function broadcastBinary(op: Binary, a: ArrayLike<number>, b: ArrayLike<number>,
  out: { [i: number]: number; length: number }, shape: ArrayLike<number>, aStrides: ArrayLike<number>,
  bStrides: ArrayLike<number>): void {
  const r = shape.length;
  const total = out.length;
  if (total === 0) return;
  if (r === 0) { out[0] = binaryScalar(op, a[0], b[0]); return; }
  const last = shape[r - 1], sa = aStrides[r - 1], sb = bStrides[r - 1];
  const idx = new Array<number>(r).fill(0);
  let ia = 0, ib = 0;
  for (let o = 0; o < total; o += last) {
    let pa = ia, pb = ib;
    for (let j = 0; j < last; j++, pa += sa, pb += sb) out[o + j] = binaryScalar(op, a[pa], b[pb]);
    // advance the multi-index over all but the last axis
    for (let ax = r - 2; ax >= 0; ax--) {
      idx[ax]++;
      ia += aStrides[ax]; ib += bStrides[ax];
      if (idx[ax] < shape[ax]) break;
      ia -= aStrides[ax] * shape[ax]; ib -= bStrides[ax] * shape[ax];
      idx[ax] = 0;
    }
  }
}

function softmaxRow(x: F32, out: F32, off: number, cols: number, log: boolean): void {
  let mx = -Infinity;
  for (let j = 0; j < cols; j++) if (x[off + j] > mx) mx = x[off + j];
  if (mx === -Infinity) mx = 0;
  let s = 0;
  for (let j = 0; j < cols; j++) s += Math.exp(x[off + j] - mx);
  if (log) {
    const lse = mx + Math.log(s);
    for (let j = 0; j < cols; j++) out[off + j] = x[off + j] - lse;
  } else {
    const inv = 1 / s;
    for (let j = 0; j < cols; j++) out[off + j] = Math.exp(x[off + j] - mx) * inv;
  }
}

export const jsKernels: Kernels = {

  matmul(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, accumulate, bias, relu, gate, gateScale) {
    if (bias && bias.length !== n) throw new RangeError(`matmul: bias has ${bias.length} values, n is ${n}`);
    if (gate && gate.length !== batch * m * n) throw new RangeError(`matmul: gate has ${gate.length} values, c needs ${batch * m * n}`);
    // Float64 accumulation keeps this the accurate reference; the loop orders
    // keep every inner loop contiguous (axpy for B, dot products for B^T).
    const row = new Float64Array(n);
    const arow = new Float64Array(k);
    for (let bt = 0; bt < batch; bt++) {
      const ao = bt * strideA, bo = bt * strideB, co = bt * m * n;
      for (let i = 0; i < m; i++) {
        if (transA) for (let p = 0; p < k; p++) arow[p] = a[ao + p * m + i];
        else for (let p = 0; p < k; p++) arow[p] = a[ao + i * k + p];
        const crow = co + i * n;
        if (transB) {
          for (let j = 0; j < n; j++) {
            const bj = bo + j * k;
            let s = 0;
            for (let p = 0; p < k; p++) s += arow[p] * b[bj + p];
            c[crow + j] = accumulate ? c[crow + j] + s : s;
          }
          continue;
        }
        if (accumulate) for (let j = 0; j < n; j++) row[j] = c[crow + j];
        else row.fill(0);
        for (let p = 0; p < k; p++) {
          const av = arow[p];
          if (av === 0) continue;
          const bp = bo + p * n;
          for (let j = 0; j < n; j++) row[j] += av * b[bp + j];
        }
        for (let j = 0; j < n; j++) c[crow + j] = row[j];
      }
      if (bias) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c[co + i * n + j] += bias[j];
      if (relu) for (let e = co; e < co + m * n; e++) if (!(c[e] > 0)) c[e] = 0;
      const gs = Math.fround(gateScale ?? 1);
      if (gate) for (let e = co; e < co + m * n; e++) c[e] = gate[e] > 0 ? c[e] * gs : 0;
    }
  },

  unary(op, x, out) {
    for (let i = 0; i < x.length; i++) out[i] = unaryScalar(op, x[i]);
  },

  binary(op, a, b, out, shape, aStrides, bStrides) {
    broadcastBinary(op, a, b, out, shape, aStrides, bStrides);
  },

  reduce(op, x, out, outer, n, inner) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let acc = op === Reduce.Sum ? 0 : op === Reduce.Max ? -Infinity : Infinity;
        for (let j = 0; j < n; j++) {
          const v = x[(o * n + j) * inner + i];
          if (op === Reduce.Sum) acc += v;
          else if (op === Reduce.Max) { if (v > acc || Number.isNaN(v)) acc = v; }
          else if (v < acc || Number.isNaN(v)) acc = v;
        }
        out[o * inner + i] = acc;
      }
    }
  },

  softmax(x, out, rows, cols, log) {
    for (let r = 0; r < rows; r++) softmaxRow(x, out, r * cols, cols, log);
  },

  softmaxBackward(y, dy, dx, rows, cols, log) {
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      let s = 0;
      if (log) {
        for (let j = 0; j < cols; j++) s += dy[off + j];
        for (let j = 0; j < cols; j++) dx[off + j] = dy[off + j] - Math.exp(y[off + j]) * s;
      } else {
        for (let j = 0; j < cols; j++) s += dy[off + j] * y[off + j];
        for (let j = 0; j < cols; j++) dx[off + j] = y[off + j] * (dy[off + j] - s);
      }
    }
  },

  layerNorm(x, scale, bias, out, mean, rstd, rows, cols, eps) {
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      let mu = 0;
      for (let j = 0; j < cols; j++) mu += x[off + j];
      mu /= cols;
      let v = 0;
      for (let j = 0; j < cols; j++) { const d = x[off + j] - mu; v += d * d; }
      v /= cols;
      const rs = 1 / Math.sqrt(v + eps);
      mean[r] = mu; rstd[r] = rs;
      for (let j = 0; j < cols; j++) out[off + j] = (x[off + j] - mu) * rs * scale[j] + bias[j];
    }
  },

  layerNormBackward(dy, x, scale, mean, rstd, dx, dscale, dbias, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const off = r * cols, mu = mean[r], rs = rstd[r];
      let sumG = 0, sumGX = 0;
      for (let j = 0; j < cols; j++) {
        const xh = (x[off + j] - mu) * rs;
        const g = dy[off + j] * scale[j];
        sumG += g; sumGX += g * xh;
        dscale[j] += dy[off + j] * xh;
        dbias[j] += dy[off + j];
      }
      sumG /= cols; sumGX /= cols;
      for (let j = 0; j < cols; j++) {
        const xh = (x[off + j] - mu) * rs;
        dx[off + j] = rs * (dy[off + j] * scale[j] - sumG - xh * sumGX);
      }
    }
  },

  crossEntropy(logits, targets, weights, loss, logp, rows, vocab) {
    for (let r = 0; r < rows; r++) {
      softmaxRow(logits, logp, r * vocab, vocab, true);
      const t = targets[r];
      if (t < 0 || t >= vocab) throw new RangeError(`crossEntropy: target ${t} at row ${r} is outside [0, ${vocab})`);
      loss[r] = -weights[r] * logp[r * vocab + t];
    }
  },

  crossEntropyBackward(logp, targets, weights, dloss, dlogits, rows, vocab) {
    for (let r = 0; r < rows; r++) {
      const s = dloss[r] * weights[r], off = r * vocab;
      for (let j = 0; j < vocab; j++) dlogits[off + j] = s * Math.exp(logp[off + j]);
      dlogits[off + targets[r]] -= s;
    }
  },

  attention(q, k, v, out, probs, bh, lq, lk, d, scale, causal, offset, dropMask, keyMask, heads, qs, ks, vs, os) {
    const L = attnLayout(d, heads, qs, ks, vs, os);
    const s = new Float64Array(lk);
    for (let h = 0; h < bh; h++) {
      for (let i = 0; i < lq; i++) {
        const qo = L.row(h, i, lq, L.qs), oo = L.row(h, i, lq, L.os);
        let mx = -Infinity;
        for (let j = 0; j < lk; j++) {
          let dot = 0;
          const ko = L.row(h, j, lk, L.ks);
          for (let p = 0; p < d; p++) dot += q[qo + p] * k[ko + p];
          let val = dot * scale;
          if ((causal && j > i + offset) || (keyMask && keyMask[h * lk + j] === 0)) val = -1e9;
          s[j] = val;
          if (val > mx) mx = val;
        }
        let sum = 0;
        for (let j = 0; j < lk; j++) { s[j] = Math.exp(s[j] - mx); sum += s[j]; }
        const po = (h * lq + i) * lk;
        for (let j = 0; j < lk; j++) probs[po + j] = s[j] / sum;
        for (let p = 0; p < d; p++) out[oo + p] = 0;
        for (let j = 0; j < lk; j++) {
          let pj = probs[po + j];
          if (dropMask) pj *= dropMask[po + j];
          if (pj === 0) continue;
          const vo = L.row(h, j, lk, L.vs);
          for (let p = 0; p < d; p++) out[oo + p] += pj * v[vo + p];
        }
      }
    }
  },

  attentionBackward(dout, q, k, v, probs, dq, dk, dv, bh, lq, lk, d, scale, dropMask, heads, qs, ks, vs, os) {
    const L = attnLayout(d, heads, qs, ks, vs, os);
    for (let h = 0; h < bh; h++) {
      for (let i = 0; i < lq; i++) dq.fill(0, L.row(h, i, lq, L.qs), L.row(h, i, lq, L.qs) + d);
      for (let j = 0; j < lk; j++) {
        dk.fill(0, L.row(h, j, lk, L.ks), L.row(h, j, lk, L.ks) + d);
        dv.fill(0, L.row(h, j, lk, L.vs), L.row(h, j, lk, L.vs) + d);
      }
    }
    const dp = new Float64Array(lk);
    for (let h = 0; h < bh; h++) {
      for (let i = 0; i < lq; i++) {
        const qo = L.row(h, i, lq, L.qs), oo = L.row(h, i, lq, L.os), po = (h * lq + i) * lk;
        // dP = dout . V^T (through the dropout mask), dV += P_dropped^T dout
        let rowDot = 0;
        for (let j = 0; j < lk; j++) {
          const vo = L.row(h, j, lk, L.vs);
          let g = 0;
          for (let p = 0; p < d; p++) g += dout[oo + p] * v[vo + p];
          const mk = dropMask ? dropMask[po + j] : 1;
          const pd = probs[po + j] * mk;
          for (let p = 0; p < d; p++) dv[vo + p] += pd * dout[oo + p];
          dp[j] = g * mk;
          rowDot += dp[j] * probs[po + j];
        }
        for (let j = 0; j < lk; j++) {
          const ds = probs[po + j] * (dp[j] - rowDot) * scale;
          if (ds === 0) continue;
          const ko = L.row(h, j, lk, L.ks);
          for (let p = 0; p < d; p++) { dq[qo + p] += ds * k[ko + p]; dk[ko + p] += ds * q[qo + p]; }
        }
      }
    }
  },

  gatherRows(table, ids, out, rows, cols) {
    for (let i = 0; i < ids.length; i++) {
      const r = Math.min(Math.max(ids[i], 0), rows - 1);
      out.set(table.subarray(r * cols, r * cols + cols), i * cols);
    }
  },

  scatterAddRows(dout, ids, dtable, rows, cols) {
    for (let i = 0; i < ids.length; i++) {
      const r = Math.min(Math.max(ids[i], 0), rows - 1);
      for (let j = 0; j < cols; j++) dtable[r * cols + j] += dout[i * cols + j];
    }
  },

  adam(w, g, m, v, lr, b1, b2, eps, wd, step) {
    const t = step + 1;
    const c1 = 1 - Math.pow(b1, t), c2 = 1 - Math.pow(b2, t);
    for (let i = 0; i < w.length; i++) {
      m[i] = (1 - b1) * g[i] + b1 * m[i];
      v[i] = (1 - b2) * g[i] * g[i] + b2 * v[i];
      w[i] = (1 - wd) * w[i] - lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + eps);
    }
  },

  adafactor(w, g, vr, vc, v, m, batch, rows, cols, lr, decay, eps1, eps2, clipThreshold,
    multiplyByParameterScale, doClipping, beta1, wd) {
    const n = w.length, mix = 1 - decay;
    let scale = lr;
    if (multiplyByParameterScale) {
      let ss = 0;
      for (let i = 0; i < n; i++) ss += w[i] * w[i];
      scale = lr * Math.max(Math.sqrt(ss / n), eps2);
    }
    const y = new Float64Array(n);
    if (vr && vc) {
      for (let b = 0; b < batch; b++) {
        const base = b * rows * cols;
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let c = 0; c < cols; c++) { const gg = g[base + r * cols + c]; s += gg * gg; }
          vr[b * rows + r] = decay * vr[b * rows + r] + mix * (s / cols);
        }
        for (let c = 0; c < cols; c++) {
          let s = 0;
          for (let r = 0; r < rows; r++) { const gg = g[base + r * cols + c]; s += gg * gg; }
          vc[b * cols + c] = decay * vc[b * cols + c] + mix * (s / rows);
        }
        let rowMean = 0;
        for (let r = 0; r < rows; r++) rowMean += vr[b * rows + r];
        rowMean /= rows;
        for (let r = 0; r < rows; r++) {
          const rf = Math.sqrt(rowMean / (vr[b * rows + r] + eps1));
          for (let c = 0; c < cols; c++) {
            const i = base + r * cols + c;
            y[i] = g[i] * rf / Math.sqrt(vc[b * cols + c] + eps1);
          }
        }
      }
    } else if (v) {
      for (let i = 0; i < n; i++) {
        v[i] = decay * v[i] + mix * g[i] * g[i];
        y[i] = g[i] / Math.sqrt(v[i] + eps1);
      }
    } else {
      throw new Error('adafactor: need either (vr, vc) or v');
    }
    if (doClipping) {
      let ss = 0;
      for (let i = 0; i < n; i++) ss += y[i] * y[i];
      const denom = Math.max(1, Math.sqrt(ss / n) / clipThreshold);
      for (let i = 0; i < n; i++) y[i] /= denom;
    }
    for (let i = 0; i < n; i++) {
      let sub = scale * y[i];
      if (m) { m[i] = beta1 * m[i] + (1 - beta1) * sub; sub = m[i]; }
      w[i] = (1 - wd) * w[i] - sub;
    }
  },

  dropoutMask(k0, k1, keep, scale, out, x, keepMask) {
    const w = bitsFromWords(k0, k1, out.length);
    if (x && x.length !== out.length) throw new RangeError(`dropoutMask: x has ${x.length} values, out ${out.length}`);
    if (keepMask && keepMask.length !== out.length) throw new RangeError(`dropoutMask: keepMask has ${keepMask.length} values, out ${out.length}`);
    const sc = Math.fround(scale);  // float products round exactly as the native kernel's
    for (let i = 0; i < out.length; i++) {
      const kept = (w[i] >>> 9) * 1.1920928955078125e-7 < keep;
      const m = kept ? sc : 0;
      out[i] = x ? x[i] * m : m;
      if (keepMask) keepMask[i] = kept ? 1 : 0;
    }
  },

  dropoutApply(keepMask, scale, x, out) {
    if (keepMask.length !== x.length || out.length !== x.length) {
      throw new RangeError(`dropoutApply: keepMask has ${keepMask.length}, x ${x.length} and out ${out.length} values`);
    }
    const sc = Math.fround(scale);
    for (let i = 0; i < x.length; i++) out[i] = x[i] * (keepMask[i] ? sc : 0);
  },

  sumSquares(x, out) {
    out[0] = sumSquaresF64(x);
  },

  permute(x, out, shape, perm) {
    const r = shape.length;
    if (perm.length !== r) throw new RangeError(`permute: perm has ${perm.length} axes, shape ${r}`);
    const seen = new Array<boolean>(r).fill(false);
    for (const p of perm) {
      if (!(p >= 0 && p < r) || seen[p]) throw new RangeError(`permute: perm [${[...perm]}] is not a permutation of ${r} axes`);
      seen[p] = true;
    }
    let total = 1;
    for (const d of shape) total *= d;
    if (x.length !== total || out.length !== total) throw new RangeError(`permute: x has ${x.length} and out ${out.length} values, shape needs ${total}`);
    if (total === 0) return;
    const inStr = new Array<number>(r);
    for (let i = r - 1, s = 1; i >= 0; i--) { inStr[i] = s; s *= shape[i]; }
    const oshape = Array.from(perm, (p) => shape[p]), ostr = Array.from(perm, (p) => inStr[p]);
    const last = r === 0 ? 1 : oshape[r - 1], sLast = r === 0 ? 0 : ostr[r - 1];
    const idx = new Array<number>(r).fill(0);
    let base = 0;
    for (let o = 0; o < total; o += last) {
      for (let j = 0, p = base; j < last; j++, p += sLast) out[o + j] = x[p];
      for (let ax = r - 2; ax >= 0; ax--) {
        idx[ax]++;
        base += ostr[ax];
        if (idx[ax] < oshape[ax]) break;
        base -= ostr[ax] * oshape[ax];
        idx[ax] = 0;
      }
    }
  },

  fill(out, value) {
    out.fill(value);
  },

  copyStrided(x, out, shape, xStrides, xOffset, outStrides, outOffset) {
    const r = shape.length;
    let total = 1;
    for (let i = 0; i < r; i++) total *= shape[i];
    if (total === 0) return;
    if (r === 0) { out[outOffset] = x[xOffset]; return; }
    const last = shape[r - 1], sx = xStrides[r - 1], so = outStrides[r - 1];
    const idx = new Int32Array(r);
    let px = xOffset, po = outOffset;
    for (let o = 0; o < total; o += last) {
      if (sx === 1 && so === 1 && last > 16) out.set(x.subarray(px, px + last), po);
      else for (let j = 0, a = px, b = po; j < last; j++, a += sx, b += so) out[b] = x[a];
      for (let ax = r - 2; ax >= 0; ax--) {
        idx[ax]++;
        px += xStrides[ax]; po += outStrides[ax];
        if (idx[ax] < shape[ax]) break;
        px -= xStrides[ax] * shape[ax]; po -= outStrides[ax] * shape[ax];
        idx[ax] = 0;
      }
    }
  },

  cast(x, out, toInt) {
    if (toInt) for (let i = 0; i < out.length; i++) out[i] = Math.trunc(x[i]);
    else for (let i = 0; i < out.length; i++) out[i] = x[i];
  },

  binaryInt(op, a, b, out, shape, aStrides, bStrides) {
    broadcastBinary(op, a, b, out, shape, aStrides, bStrides);
  },

  select(cond, a, b, out, shape, cStrides, aStrides, bStrides) {
    const r = shape.length, total = out.length;
    if (total === 0) return;
    if (r === 0) { out[0] = cond[0] !== 0 ? a[0] : b[0]; return; }
    const idx = new Int32Array(r);
    let pc = 0, pa = 0, pb = 0;
    const last = shape[r - 1], sc = cStrides[r - 1], sa = aStrides[r - 1], sb = bStrides[r - 1];
    for (let o = 0; o < total; o += last) {
      for (let j = 0, c = pc, x = pa, y = pb; j < last; j++, c += sc, x += sa, y += sb) out[o + j] = cond[c] !== 0 ? a[x] : b[y];
      for (let ax = r - 2; ax >= 0; ax--) {
        idx[ax]++;
        pc += cStrides[ax]; pa += aStrides[ax]; pb += bStrides[ax];
        if (idx[ax] < shape[ax]) break;
        pc -= cStrides[ax] * shape[ax]; pa -= aStrides[ax] * shape[ax]; pb -= bStrides[ax] * shape[ax];
        idx[ax] = 0;
      }
    }
  },

  gather(x, ids, out, outer, n, m, inner) {
    for (let o = 0; o < outer; o++) for (let i = 0; i < m; i++) {
      const r = Math.min(Math.max(ids[i], 0), n - 1);
      const src = (o * n + r) * inner, dst = (o * m + i) * inner;
      if (inner > 16) out.set(x.subarray(src, src + inner), dst);
      else for (let j = 0; j < inner; j++) out[dst + j] = x[src + j];
    }
  },

  scatterAdd(updates, ids, out, outer, n, m, inner) {
    for (let o = 0; o < outer; o++) for (let i = 0; i < m; i++) {
      const r = Math.min(Math.max(ids[i], 0), n - 1);
      const dst = (o * n + r) * inner, src = (o * m + i) * inner;
      for (let j = 0; j < inner; j++) out[dst + j] += updates[src + j];
    }
  },

  gatherAlong(x, ids, out, outer, n, m, inner) {
    for (let o = 0; o < outer; o++) for (let j = 0; j < m; j++) for (let i = 0; i < inner; i++) {
      const p = (o * m + j) * inner + i;
      const r = Math.min(Math.max(ids[p], 0), n - 1);
      out[p] = x[(o * n + r) * inner + i];
    }
  },

  scatterAlong(dy, ids, out, outer, n, m, inner) {
    for (let o = 0; o < outer; o++) for (let j = 0; j < m; j++) for (let i = 0; i < inner; i++) {
      const p = (o * m + j) * inner + i;
      const r = Math.min(Math.max(ids[p], 0), n - 1);
      out[(o * n + r) * inner + i] += dy[p];
    }
  },

  argmax(x, out, outer, n, inner) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let best = 0, bv = x[o * n * inner + i];
        for (let j = 1; j < n; j++) {
          const v = x[(o * n + j) * inner + i];
          if (v > bv) { bv = v; best = j; }
        }
        out[o * inner + i] = best;
      }
    }
  },

  cumsum(x, out, outer, n, inner) {
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let j = 0; j < n; j++) { const p = (o * n + j) * inner + i; acc += x[p]; out[p] = acc; }
    }
  },

  oneHot(ids, out, count, depth) {
    out.fill(0, 0, count * depth);
    for (let i = 0; i < count; i++) {
      const v = ids[i];
      if (v >= 0 && v < depth && Number.isInteger(v)) out[i * depth + v] = 1;
    }
  },

  randomUniform(k0, k1, out, minval, maxval) {
    const w = bitsFromWords(k0, k1, out.length);
    const span = maxval - minval;
    for (let i = 0; i < out.length; i++) out[i] = minval + span * unitFloat(w[i]);
  },

  randomNormal(k0, k1, out, mean, stddev) {
    normalInto(k0, k1, out, out.length, mean, stddev);
  },

  randomTruncatedNormal(k0, k1, out, lower, upper) {
    const n = out.length;
    const key = new Uint32Array(2);
    let filled = 0, round = 0;
    while (filled < n) {
      // Round r draws from foldIn(key, r), as random.foldIn does.
      threefryPair(k0, k1, 0, (round++) >>> 0, key, 0);
      const m = Math.max(64, 2 * (n - filled));
      const cand = new Float32Array(m);
      normalInto(key[0], key[1], cand, m, 0, 1);
      for (let i = 0; i < m && filled < n; i++) if (cand[i] >= lower && cand[i] <= upper) out[filled++] = cand[i];
    }
  },

  randomBernoulli(k0, k1, out, p) {
    const w = bitsFromWords(k0, k1, out.length);
    for (let i = 0; i < out.length; i++) out[i] = unitFloat(w[i]) < p ? 1 : 0;
  },

  randomInt(k0, k1, out, minval, maxval) {
    const w = bitsFromWords(k0, k1, out.length);
    const span = maxval - minval;
    for (let i = 0; i < out.length; i++) out[i] = minval + Math.floor(unitFloat(w[i]) * span);
  },

  randomGumbel(k0, k1, out) {
    // Uniforms are rounded to float32 first, as a float32 uniform tensor would be.
    const lo = 1e-6, span = (1 - 1e-6) - lo;
    const w = bitsFromWords(k0, k1, out.length);
    for (let i = 0; i < out.length; i++) out[i] = Math.fround(lo + span * unitFloat(w[i]));
    for (let i = 0; i < out.length; i++) out[i] = -Math.log(-Math.log(out[i]));
  },

  sgd(w, g, lr) {
    for (let i = 0; i < w.length; i++) w[i] = w[i] - lr * g[i];
  },

  momentum(w, g, v, mass, lr, wd, nesterov) {
    const keep = 1 - wd;
    for (let i = 0; i < w.length; i++) {
      const nv = mass * v[i] + g[i];
      v[i] = nv;
      const upd = nesterov ? mass * nv + g[i] : nv;
      w[i] = keep * w[i] - lr * upd;
    }
  },

  rmsprop(w, g, avg, gamma, eps, lr) {
    for (let i = 0; i < w.length; i++) {
      const a = avg[i] * gamma + g[i] * g[i] * (1 - gamma);
      avg[i] = a;
      w[i] = w[i] - lr * g[i] / (Math.sqrt(a) + eps);
    }
  },

  sm3(w, g, m, v1cat, v2cat, dims, lr, wd, beta1, beta2, momentumType) {
    sm3Update(w, g, m, v1cat, v2cat, dims, lr, wd, beta1, beta2, momentumType);
  },

  roundBfloat16(x) {
    const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
    for (let i = 0; i < u.length; i++) {
      const b = u[i];
      if ((b & 0x7f800000) === 0x7f800000) continue; // inf / nan stay as they are
      u[i] = ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
    }
  },
};

const SM3_TINY = 1e-16;

function sm3Precondition(acc: number): number {
  return acc > 0 ? 1 / (Math.sqrt(acc) + SM3_TINY) : 0;
}

function sm3Update(w: F32, g: F32, m: F32 | null, v1cat: F32, v2cat: F32 | null, dims: I32, lr: number, wd: number,
  beta1: number, beta2: number, momentumType: number): void {
  const n = w.length, rank = dims.length;
  const split = (cat: F32): F32[] => {
    const out: F32[] = [];
    for (let k = 0, off = 0; k < rank; off += dims[k], k++) out.push(cat.subarray(off, off + dims[k]));
    return out;
  };
  const v1 = split(v1cat), v2 = v2cat ? split(v2cat) : [];
  const mix = beta2 === 1 ? 1 : 1 - beta2;
  const diagonal = rank <= 1;
  // Pass 1: new accumulators (stored as float32, like the slots) and the
  // preconditioned gradient.
  const acc = new Float32Array(n);
  const acc2 = v2cat ? new Float32Array(n) : null;
  const pg = new Float64Array(n);
  const idx = new Int32Array(rank);
  let pgSq = 0, graftSq = 0;
  for (let i = 0; i < n; i++) {
    const gi = g[i], g2 = gi * gi;
    let a: number;
    if (diagonal) a = v1[0][i];
    else {
      a = Infinity;
      for (let k = 0; k < rank; k++) a = Math.min(a, v1[k][idx[k]]);
    }
    acc[i] = beta2 * a + mix * g2;
    pg[i] = gi * sm3Precondition(acc[i]);
    pgSq += pg[i] * pg[i];
    if (acc2) {
      let b: number;
      if (diagonal) b = v2[0][i];
      else {
        b = Infinity;
        for (let k = 0; k < rank; k++) b = Math.min(b, v2[k][idx[k]]);
      }
      acc2[i] = b + g2;
      const q = gi * sm3Precondition(acc2[i]);
      graftSq += q * q;
    }
    for (let k = rank - 1; k >= 0; k--) { // next multi-index
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
  const graftScale = acc2 ? Math.sqrt(graftSq) / (Math.sqrt(pgSq) + SM3_TINY) : 1;
  // Pass 2: weight decay, momentum and the weight update.
  for (let i = 0; i < n; i++) {
    const u0 = pg[i] * graftScale + w[i] * wd;
    let upd = u0;
    if (m) {
      if (momentumType === 0) { m[i] = (1 - beta1) * u0 + beta1 * m[i]; upd = m[i]; }
      else if (momentumType === 1) { m[i] = u0 + beta1 * m[i]; upd = m[i]; }
      else { m[i] = u0 + beta1 * m[i]; upd = u0 + beta1 * m[i]; }
    }
    w[i] = w[i] - lr * upd;
  }
  // New per-dimension accumulators.
  if (diagonal) {
    v1[0].set(acc);
    if (acc2) v2[0].set(acc2);
    return;
  }
  for (const vs of acc2 ? [v1, v2] : [v1]) for (const v of vs) v.fill(-Infinity);
  idx.fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < rank; k++) {
      const j = idx[k];
      if (acc[i] > v1[k][j]) v1[k][j] = acc[i];
      if (acc2 && acc2[i] > v2[k][j]) v2[k][j] = acc2[i];
    }
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
}

/** Uniform float in [0, 1) from 23 random mantissa bits (JAX's construction, exactly). */
function unitFloat(w: number): number {
  return (w >>> 9) * 1.1920928955078125e-7;
}

function normalInto(k0: number, k1: number, out: F32, n: number, mean: number, stddev: number): void {
  const w = bitsFromWords(k0, k1, 2 * Math.ceil(n / 2));
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - unitFloat(w[i]); // (0, 1]
    const u2 = unitFloat(w[i + 1]);
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = mean + stddev * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = mean + stddev * r * Math.sin(2 * Math.PI * u2);
  }
}

/** Sum of squares in float64 (the value sumSquares rounds to float32). */
export function sumSquaresF64(x: F32): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/** The pure TypeScript backend. */
export const jsBackend: Backend = {
  ...hostStorage,
  name: 'js',
  kernels: jsKernels,
  threads: () => 1,
  setThreads: () => { /* single-threaded by design */ },
};

/** Attention operand layout (see Kernels.attention): start of head h's row i. */
function attnLayout(d: number, heads?: number, qs?: number, ks?: number, vs?: number, os?: number) {
  const H = heads ?? 1;
  if (!(Number.isInteger(H) && H >= 1)) throw new RangeError(`attention: heads must be a positive integer, got ${heads}`);
  const L = { qs: qs ?? d, ks: ks ?? d, vs: vs ?? d, os: os ?? d };
  for (const [name, st] of Object.entries(L)) {
    if (st < H * d) throw new RangeError(`attention: ${name} ${st} is below heads*d = ${H * d}`);
  }
  return { ...L, row: (h: number, i: number, len: number, stride: number) => (Math.floor(h / H) * len + i) * stride + (h % H) * d };
}

export type { F32, I32 };
